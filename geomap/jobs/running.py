"""Running an import job: claim it, import with progress written as it goes, record the end.

`Runner.run(job_id)` is what a queue worker calls (`jobs.queue`): it claims the job and its
dataset (`records.claim`), fetches the upload from the shared store, runs the one write path
(`ingest.import_file`) with a progress callback whose counts a `Heartbeat` thread writes at
most every `Heartbeat.interval` seconds (renewing the leases), and records the report or the
refusal (`records.finish`). `Busy` tells the queue to try again later. No Flask.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import Any, Callable

import sqlalchemy as sa

from .. import access, db, ingest
from ..errors import GeomapError
from . import records

LOGGER = logging.getLogger(__name__)


class Busy(Exception):
    """Another job holds the dataset's lease: the queue runs this one later."""


class LeaseLost(Exception):
    """This worker's lease on the job expired and the job was taken back (the worker hung
    for longer than the lease): its import stops, rolling back, as another run owns it."""


class Heartbeat:
    """Writes a running job's latest progress and renews its leases from its own thread;
    once the lease is found lost, the next progress call raises `LeaseLost` in the import."""

    interval = 0.5

    def __init__(self, engine: sa.Engine, job_id: int, owner: str, lease_s: float):
        self.engine, self.job_id, self.owner, self.lease_s = engine, job_id, owner, lease_s
        self.latest: dict | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"job-{job_id}-heartbeat",
                                        daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def update(self, counts: dict) -> None:
        """The import's progress callback: keep the latest counts (written by the thread)."""
        if self.lost:
            raise LeaseLost(self.job_id)
        self.latest = dict(counts)

    def _loop(self) -> None:
        written = None
        while True:
            stopping = self._stop.is_set()
            latest = self.latest
            try:
                if not records.progress(self.engine, self.job_id, self.owner, self.lease_s,
                                        latest if latest is not written else None):
                    self.lost = True
                    LOGGER.warning("job %s: lease lost; stopping its import", self.job_id)
                    return
                written = latest
            except sa.exc.SQLAlchemyError:  # a busy moment: the next beat tries again
                LOGGER.warning("job %s: progress not written", self.job_id, exc_info=True)
            # One last beat after the stop, so the final counts are recorded.
            if stopping or (self._stop.wait(min(self.interval, self.lease_s / 3))
                            and self.latest is written):
                return


class Runner:
    """Runs import jobs for one configuration (what a worker process or thread holds).

    Parameters
    ----------
    database_url : str
    settings : ingest.Settings
        Upload folder (this worker's working copies), shared store, border distances.
    regions : callable
        Returns the join layers (loaded once per process by the app's `RegionLayers`).
    lease_s : float
        How long a job's lease lasts without renewal (``JOB_LEASE_S``).
    """

    def __init__(self, database_url: str, settings: ingest.Settings,
                 regions: Callable[[], Any], lease_s: float = 60.0):
        self.database_url = database_url
        self.settings = settings
        self.regions = regions
        self.lease_s = float(lease_s)
        self.owner = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @property
    def engine(self) -> sa.Engine:
        return records.jobs_engine(self.database_url)

    def run(self, job_id: int) -> str:
        """Run one job if it is queued and its dataset is free; return its final state
        (``done`` or ``failed``) or ``gone`` when there was nothing to run. Raises `Busy`."""
        outcome = records.claim(self.engine, job_id, self.owner, self.lease_s)
        if outcome == "busy":
            raise Busy(job_id)
        if outcome == "gone":
            return "gone"
        job = records.get(self.engine, job_id)
        with Heartbeat(self.engine, job_id, self.owner, self.lease_s) as beat:
            try:
                report = self._import(job, beat.update)
            except LeaseLost:
                return "gone"  # rolled back; the run that took the job over records it
            except GeomapError as error:
                details = error.details if isinstance(error.details, dict) else {}
                report = details if "rows_total" in details else None
                body = {**error.to_dict()["error"], "status": error.status}
                if report is not None:
                    body["details"] = None  # the report is kept once, beside the error
                records.finish(self.engine, job_id, self.owner, report=report, error=body)
                return "failed"
            except Exception as exc:  # noqa: BLE001 - recorded for the editor, logged in full
                LOGGER.exception("job %s failed", job_id)
                records.finish(self.engine, job_id, self.owner, error={
                    "code": "internal", "message": f"the import failed: {type(exc).__name__}",
                    "details": None, "status": 500})
                return "failed"
        records.finish(self.engine, job_id, self.owner, report=report)
        return "done"

    def _import(self, job: dict, progress: Callable[[dict], None]) -> dict:
        params = job["params"]
        path = ingest.stored_upload(self.settings, params["sha256"])
        options = ingest.Options(**params["options"])
        return ingest.import_file(db.engine_for(self.database_url), path,
                                  dataset=job["dataset"], options=options,
                                  settings=self.settings, regions=self.regions(),
                                  user_name=job["user_name"] or None,
                                  actor=self._actor(params.get("actor")), progress=progress)

    def _actor(self, saved: dict | None) -> access.Actor | None:
        """Who started the job, as they are now (a disabled user imports nothing)."""
        if saved is None:
            return None
        if saved.get("id") is None:
            return access.Actor(**saved)
        users = db.users.c
        with db.engine_for(self.database_url).connect() as conn:
            row = conn.execute(sa.select(users.id, users.name, users.role).where(
                users.id == saved["id"], users.disabled_at.is_(None))).mappings().first()
        return access.actor_from(row) if row else None
