"""The task queue: Huey on SQLite (the instance folder) by default, or Redis at scale.

`JobQueue(url, runner)` holds one Huey instance and its one task, ``geomap.run_job(job_id)``,
which calls `Runner.run` (a busy dataset re-queues the task a second later). Job records are
the database's (`records`); the queue only carries job ids, so losing a queued message loses
no state: `sweep` (run at a worker's start and then every third of a lease) queues again
the jobs whose worker died and the queued jobs nobody has taken for a while.

Consumers: `start_embedded` runs worker threads inside the app process (what ``make run``
gets with no setup); ``flask --app geomap worker`` runs `run_worker`, Huey's consumer in the
foreground, on any machine that reaches the database and the queue. No Flask.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.exceptions import RetryTask

from ..errors import ConfigError
from ..store import utcnow
from . import records
from .running import Busy, Runner

LOGGER = logging.getLogger(__name__)
#: Seconds before a job whose dataset is busy is tried again.
BUSY_DELAY_S = 1.0
#: A queued job nobody has claimed for this long is queued again by `sweep` (its message
#: was lost, e.g. a SQLite queue file removed, or Redis restarted without persistence).
STALE_QUEUED = dt.timedelta(minutes=10)


def make_huey(url: str, instance_path: str | Path):
    """The Huey instance for a ``QUEUE_URL``: empty or ``sqlite`` for ``queue.sqlite`` in the
    instance folder, ``sqlite:///path`` for another file, ``redis://host:port/db`` for Redis,
    ``immediate`` to run each job in the thread that submits it (tests, debugging)."""
    url = (url or "").strip()
    if url == "immediate":
        return Huey("geomap", immediate=True, results=False)
    if url in ("", "sqlite"):
        return SqliteHuey("geomap", filename=str(Path(instance_path) / "queue.sqlite"),
                          results=False)
    if url.startswith("sqlite:///"):
        return SqliteHuey("geomap", filename=url[len("sqlite:///"):], results=False)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("geomap", url=url, results=False)
    raise ConfigError(f"GEOMAP_QUEUE_URL={url!r} is not a queue: use sqlite, "
                      "sqlite:///path, redis://host:port/db or immediate")


class JobQueue:
    """One queue (a Huey instance) and the runner its workers use."""

    def __init__(self, url: str, instance_path: str | Path, runner: Runner):
        self.huey = make_huey(url, instance_path)
        self.runner = runner
        self._consumer: Consumer | None = None
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

        @self.huey.task(name="geomap.run_job")
        def run_job(job_id: int) -> str:
            try:
                return self.runner.run(job_id)
            except Busy:
                raise RetryTask(delay=BUSY_DELAY_S) from None

        self.task = run_job

    def enqueue(self, job_id: int) -> None:
        """Put a recorded job on the queue."""
        self.task(job_id)

    def sweep(self) -> list[int]:
        """Queue again the jobs whose lease expired (or fail them, `records.recover_expired`)
        and queued jobs left unclaimed for `STALE_QUEUED`; return their ids."""
        engine = self.runner.engine
        ids = records.recover_expired(engine)
        ids += records.stale_queued(engine, utcnow() - STALE_QUEUED)
        for job_id in ids:
            self.enqueue(job_id)
        return ids

    def start_embedded(self, workers: int) -> None:
        """Run `workers` consumer threads (and the sweeper) in this process, once."""
        with self._lock:
            if self._consumer is not None or workers <= 0 or self.huey.immediate:
                return
            consumer = _EmbeddedConsumer(self.huey, workers=workers, worker_type="thread",
                                         periodic=False, initial_delay=0.05, max_delay=0.5,
                                         check_worker_health=False)
            consumer.start()
            self._consumer = consumer
            self._start_sweeper()

    def run_worker(self, workers: int) -> None:
        """Run Huey's consumer in the foreground until SIGINT/SIGTERM (``flask worker``)."""
        self._start_sweeper()
        consumer = self.huey.create_consumer(workers=workers, worker_type="thread",
                                             periodic=False, initial_delay=0.05,
                                             max_delay=0.5)
        try:
            consumer.run()
        finally:
            self._stop.set()

    def _start_sweeper(self) -> None:
        interval = max(self.runner.lease_s / 3, 0.5)

        def loop():
            while True:
                try:
                    swept = self.sweep()
                    if swept:
                        LOGGER.warning("jobs queued again after their worker stopped: %s",
                                       swept)
                except Exception:  # noqa: BLE001 - the database may be away for a while
                    LOGGER.exception("sweeping expired jobs failed")
                if self._stop.wait(interval):
                    return

        self._sweeper = threading.Thread(target=loop, name="geomap-job-sweeper", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        """Stop the embedded consumer and the sweeper (tests; interpreter exit)."""
        self._stop.set()
        with self._lock:
            if self._consumer is not None:
                self._consumer.stop(graceful=True)
                self._consumer = None


class _EmbeddedConsumer(Consumer):
    """Huey's consumer started from a thread of the app: the app's process owns signals."""

    def _set_signal_handlers(self) -> None:
        pass
