"""Shared store and background-job benchmark (issue #19).

Usage::

    .venv/bin/python bench/storage.py [--rows 1000000] [--import-rows 300000] [--pg URL]

1. **Uploads in the shared store.** A generated CSV (``--rows``, about 50 MB at 1M rows) is
   stored the way each path keeps an upload, each in a fresh child process so that its peak
   RSS is its own: the baseline ``receive`` into a local upload folder (what one server did
   before: copy, hash, UTF-8 check), ``DatabaseStorage.put`` into SQLite and PostgreSQL
   (1 MB chunk rows, one transaction), and reading it back as a download does (``chunks``).
   Printed: seconds, MB/s, and the child's peak RSS next to that of a child that only
   imported the same modules (so the difference is what the step itself held).
2. **Async import overhead.** The same file (``--import-rows``) imported by
   ``ingest.import_file`` in the caller's thread, then as a job through a real queue
   (SQLite Huey file, one embedded worker thread: submit -> claim -> fetch from the store ->
   import with progress written twice a second -> report), into fresh databases; the
   overhead is the job's wall time (submit to ``done`` seen by a poller) minus the direct one.
   The region layers are the real ones, loaded once before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import sqlalchemy as sa  # noqa: E402

from geomap import access, config, db, ingest, jobs, store  # noqa: E402
from geomap.ingest.receiving import receive  # noqa: E402
from ingest import generate  # noqa: E402  (bench/ingest.py: the same synthetic incidents)


def _rss_mb() -> float:
    """This process's resident memory now (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssWatch:
    """The most resident memory seen above the starting level while the block runs (sampled
    every 2 ms: ru_maxrss cannot tell, as importing pandas peaks higher than any step)."""

    def __enter__(self) -> "RssWatch":
        import threading

        self.start, self.peak, self._stop = _rss_mb(), 0.0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss_mb() - self.start)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb() - self.start)


def child(step: str, path: str, url: str, workdir: str) -> None:
    """One measured step in this (child) process; prints JSON seconds and peak RSS."""
    size = os.path.getsize(path)
    if url:
        db.migrate(url)
    storage = store.DatabaseStorage(db.engine_for(url)) if url else None
    with RssWatch() as watch:
        start = time.perf_counter()
        if step == "receive":
            receive(path, workdir)
        elif step == "put":
            storage.put("uploads/bench.csv", path)
        elif step == "read":
            total = sum(len(c) for c in storage.chunks("uploads/bench.csv"))
            assert total == size, (total, size)
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "held_mb": watch.peak, "size": size}))


def _run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fresh_pg(base: str) -> tuple[str, sa.Engine]:
    url = sa.make_url(base)
    name = f"geomap_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False), admin


def _drop_pg(url: str, admin: sa.Engine) -> None:
    db.dispose_engine(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" '
                             "WITH (FORCE)")
    admin.dispose()


def storage_part(path: Path, workdir: Path, pg: str | None) -> None:
    mb = path.stat().st_size / 2**20
    print(f"\n1. Upload of {mb:.1f} MB into the shared store (a child process each; memory: "
          "the most resident memory the step added)")
    print(f"{'path':<46}{'seconds':>9}{'MB/s':>8}{'RSS added':>12}")

    def line(label: str, result: dict) -> None:
        print(f"{label:<46}{result['seconds']:>9.2f}{mb / result['seconds']:>8.0f}"
              f"{result['held_mb']:>9.1f} MB")

    line("local upload folder (receive: baseline)",
         _run_child("receive", str(path), "", str(workdir / "local")))
    targets = [("SQLite", f"sqlite:///{workdir / 'store.sqlite'}", None)]
    if pg:
        url, admin = _fresh_pg(pg)
        targets.append(("PostgreSQL", url, admin))
    for name, url, admin in targets:
        line(f"{name}: DatabaseStorage.put (1 MB chunks)", _run_child("put", str(path), url,
                                                                       str(workdir)))
        line(f"{name}: read back (chunks, as a download)", _run_child("read", str(path), url,
                                                                       str(workdir)))
        if admin is not None:
            _drop_pg(url, admin)


def _settings(url: str, folder: Path) -> ingest.Settings:
    return ingest.Settings.from_config({"UPLOAD_FOLDER": str(folder), "DATABASE_URL": url})


def async_part(path: Path, workdir: Path, pg: str | None, regions_obj) -> None:
    print(f"\n2. Import of {path.stat().st_size / 2**20:.1f} MB: in the caller's thread vs "
          "as a background job (SQLite queue, one embedded worker thread)")
    print(f"{'backend':<12}{'direct':>9}{'as a job':>10}{'overhead':>10}"
          f"{'progress writes':>17}")
    backends = [("SQLite", None)] + ([("PostgreSQL", pg)] if pg else [])
    for name, base in backends:
        times: dict[str, float] = {}
        writes = 0
        for way in ("direct", "job", "job", "direct"):  # each twice, order balanced: the best
            admin = None
            if base:
                url, admin = _fresh_pg(base)
            else:
                url = f"sqlite:///{workdir / f'{way}-{uuid.uuid4().hex[:6]}.sqlite'}"
            db.migrate(url)
            settings = _settings(url, workdir / f"uploads-{uuid.uuid4().hex[:6]}")
            options = ingest.Options(filename="bench.csv")
            start = time.perf_counter()
            if way == "direct":
                report = ingest.import_file(db.engine_for(url), path, dataset="bench",
                                            options=options, settings=settings,
                                            regions=regions_obj)
            else:
                runner = jobs.Runner(url, settings, regions=lambda: regions_obj, lease_s=60)
                queue_dir = workdir / f"q-{uuid.uuid4().hex[:6]}"
                queue_dir.mkdir()
                queue = jobs.JobQueue("", queue_dir, runner)
                queue.start_embedded(1)
                start = time.perf_counter()
                # As POST ...?async=1 does: keep the upload (checked, in the store), then queue.
                kept = ingest.preview(path, options, settings)
                job = jobs.submit_import(queue, sha256=kept["sha256"], dataset="bench",
                                         options=options, actor=access.OPERATOR)
                engine = jobs.jobs_engine(url)
                while (row := jobs.get(engine, job["id"]))["state"] not in ("done", "failed"):
                    time.sleep(0.02)
                report = row["report"]
                assert row["state"] == "done", row["error"]
                writes = round((row["finished_at"] - row["started_at"]).total_seconds() / 0.5)
                queue.stop()
            times[way] = min(times.get(way, 1e9), time.perf_counter() - start)
            assert report["rows_imported"] > 0
            if admin is not None:
                _drop_pg(url, admin)
        print(f"{name:<12}{times['direct']:>8.2f}s{times['job']:>9.2f}s"
              f"{times['job'] - times['direct']:>+9.2f}s{'~' + str(writes):>17}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--import-rows", type=int, default=300_000)
    parser.add_argument("--pg", default=os.environ.get("GEOMAP_TEST_DATABASE_URL"))
    parser.add_argument("--child", nargs=4, metavar=("STEP", "PATH", "URL", "DIR"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        big = workdir / "upload.csv"
        generate(big, args.rows)
        storage_part(big, workdir, args.pg)
        small = workdir / "import.csv"
        generate(small, args.import_rows, seed=2)
        from geomap import regions

        regions_obj = regions.load(config.SETTINGS_BY_NAME["REGIONS_PATH"].default)
        async_part(small, workdir, args.pg, regions_obj)


if __name__ == "__main__":
    main()
