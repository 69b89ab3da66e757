"""Job records: state, progress, leases and the final report, where every server reads them.

A job is a row of ``jobs`` (`geomap.db`): ``queued`` -> ``running`` -> ``done`` or
``failed``. A worker `claim`s a queued job under a lease (``lease_owner`` until
``lease_expires_at``) and the job's dataset under the same lease (``job_leases``, one row
per dataset), so one dataset's jobs run one at a time and a job never runs twice at once;
the running worker renews both with each progress write (`progress`). A worker that dies
stops renewing: `recover_expired` puts its job back in the queue once (the import was one
transaction, so the dataset is as it was) and fails it the second time, with the reason.

On SQLite the records live in a companion file beside the database (`jobs_engine`): an
import holds SQLite's one write lock for its whole transaction, and progress is written
meanwhile. Every server that opens the database file reaches the companion too. No Flask.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from .. import db
from ..db import job_leases, jobs
from ..store import utcnow

STATES = ("queued", "running", "done", "failed")
#: Runs a job may start: the first, and one retry after a worker died mid-job.
MAX_ATTEMPTS = 2

def jobs_engine(database_url: str) -> sa.Engine:
    """The engine holding the job records: the database itself, or on SQLite its companion
    file ``<database>-jobs`` (`db.side_engine`)."""
    return db.side_engine(database_url, "jobs", [jobs, job_leases])


def create(engine: sa.Engine, *, kind: str, dataset: str, params: dict,
           user_id: int | None = None, user_name: str = "") -> int:
    """Record a queued job and return its id."""
    now = utcnow()
    with db.write_connection(engine) as conn, conn.begin():
        return conn.execute(sa.insert(jobs).values(
            kind=kind, dataset=dataset, state="queued", phase="queued", params=params,
            user_id=user_id, user_name=user_name[:100], created_at=now, updated_at=now)
        ).inserted_primary_key[0]


def get(engine: sa.Engine, job_id: int) -> dict | None:
    """One job's row as a dict, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
    return dict(row) if row else None


def claim(engine: sa.Engine, job_id: int, owner: str, lease_s: float) -> str:
    """Start a queued job under a lease for `owner`, if its dataset is free.

    Returns
    -------
    str
        ``claimed`` (run it), ``busy`` (another job holds the dataset's live lease: try
        later) or ``gone`` (not queued: done, failed, or running under another lease).
    """
    now = utcnow()
    expires = now + dt.timedelta(seconds=lease_s)
    try:
        with db.write_connection(engine) as conn, conn.begin():
            job = conn.execute(sa.select(jobs.c.state, jobs.c.dataset, jobs.c.attempts)
                               .where(jobs.c.id == job_id).with_for_update()).first()
            if job is None or job.state != "queued":
                return "gone"
            lease = conn.execute(sa.select(job_leases).where(
                job_leases.c.dataset == job.dataset).with_for_update()).mappings().first()
            if lease is not None and lease["expires_at"] > now and lease["job_id"] != job_id:
                return "busy"
            if lease is not None:
                conn.execute(sa.delete(job_leases).where(job_leases.c.dataset == job.dataset))
            conn.execute(sa.insert(job_leases).values(dataset=job.dataset, job_id=job_id,
                                                      owner=owner, expires_at=expires))
            conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(
                state="running", phase="starting", lease_owner=owner,
                lease_expires_at=expires, attempts=job.attempts + 1, started_at=now,
                updated_at=now, rows_read=0, rows_joined=0, rows_written=0))
    except sa.exc.IntegrityError:
        return "busy"  # PostgreSQL: another worker inserted the dataset's lease just now
    return "claimed"


def progress(engine: sa.Engine, job_id: int, owner: str, lease_s: float,
             counts: dict[str, Any] | None = None) -> bool:
    """Write a running job's progress (phase and counts) and renew its leases; False when
    the job is no longer this owner's (its lease expired and it was taken back)."""
    now = utcnow()
    expires = now + dt.timedelta(seconds=lease_s)
    values = {k: counts[k] for k in ("phase", "rows_expected", "rows_read", "rows_joined",
                                     "rows_written") if counts and k in counts}
    with db.write_connection(engine) as conn, conn.begin():
        done = conn.execute(sa.update(jobs).where(
            jobs.c.id == job_id, jobs.c.lease_owner == owner, jobs.c.state == "running")
            .values(lease_expires_at=expires, updated_at=now, **values)).rowcount
        conn.execute(sa.update(job_leases).where(
            job_leases.c.job_id == job_id, job_leases.c.owner == owner)
            .values(expires_at=expires))
    return bool(done)


def finish(engine: sa.Engine, job_id: int, owner: str, *, report: dict | None = None,
           error: dict | None = None) -> None:
    """Close a running job: ``done`` with its report, or ``failed`` with the error (and the
    report, when the import was refused after reading the file); its leases are freed."""
    now = utcnow()
    values: dict[str, Any] = {"state": "failed" if error else "done", "phase": "finished",
                              "finished_at": now, "updated_at": now, "lease_owner": None,
                              "lease_expires_at": None, "report": report, "error": error}
    if report and report.get("import_id") is not None and not error:
        values["import_id"] = int(report["import_id"])
    with db.write_connection(engine) as conn, conn.begin():
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id, jobs.c.lease_owner == owner)
                     .values(**values))
        conn.execute(sa.delete(job_leases).where(job_leases.c.job_id == job_id))


def recover_expired(engine: sa.Engine, now: dt.datetime | None = None) -> list[int]:
    """Take back the running jobs whose lease has expired (their worker died or hung).

    A job that has started fewer than `MAX_ATTEMPTS` times is queued again (the caller
    enqueues the returned ids); otherwise it fails with the reason. The import it was
    running was one transaction, never committed, so its dataset is as it was.
    """
    now = now or utcnow()
    requeued = []
    with db.write_connection(engine) as conn, conn.begin():
        expired = conn.execute(sa.select(jobs.c.id, jobs.c.attempts).where(
            jobs.c.state == "running", jobs.c.lease_expires_at < now).with_for_update()).all()
        for job_id, attempts in expired:
            conn.execute(sa.delete(job_leases).where(job_leases.c.job_id == job_id))
            common = {"lease_owner": None, "lease_expires_at": None, "updated_at": now}
            if attempts < MAX_ATTEMPTS:
                conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(
                    state="queued", phase="queued", rows_read=0, rows_joined=0,
                    rows_written=0, **common))
                requeued.append(job_id)
            else:
                conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(
                    state="failed", phase="finished", finished_at=now, error={
                        "code": "worker_lost",
                        "message": f"the worker running this import stopped {attempts} "
                                   "times before it finished (its lease expired); nothing "
                                   "was imported and the dataset is as it was",
                        "details": {"attempts": attempts}}, **common))
    return requeued


def public(job: dict, now: dt.datetime | None = None) -> dict:
    """A job as the API shows it: id, kind, dataset, state, phase, progress (counts,
    percent, seconds elapsed and left), attempts, and the report or error when it ended."""
    now = now or utcnow()
    expected, read = job["rows_expected"] or 0, job["rows_read"] or 0
    percent = None
    if job["state"] == "done":
        percent = 100.0
    elif job["state"] == "running" and expected:
        # Reading is most of the work; the last 5% is the report, rollups and commit.
        percent = round(min(read / expected, 1.0) * 95.0, 1)
        if job["phase"] == "finishing":
            percent = 95.0
    elapsed = left = None
    if job["started_at"] is not None:
        elapsed = round(((job["finished_at"] or now) - job["started_at"]).total_seconds(), 1)
        if job["state"] == "running" and percent:
            left = round(elapsed * (100.0 - percent) / percent, 1)
    return {
        "id": job["id"], "kind": job["kind"], "dataset": job["dataset"],
        "state": job["state"], "attempts": job["attempts"],
        "progress": {"phase": job["phase"], "rows_expected": expected, "rows_read": read,
                     "rows_joined": job["rows_joined"] or 0,
                     "rows_written": job["rows_written"] or 0, "percent": percent,
                     "elapsed_s": elapsed, "left_s": left},
        "import_id": job["import_id"],
        "report": job["report"], "error": job["error"],
        "created_at": job["created_at"], "finished_at": job["finished_at"],
    }


def stale_queued(engine: sa.Engine, before: dt.datetime) -> list[int]:
    """Ids of queued jobs untouched since `before` (their queue message may be lost); each
    is marked touched now, so a sweep queues it again at most once per period."""
    now = utcnow()
    with db.write_connection(engine) as conn, conn.begin():
        ids = [i for (i,) in conn.execute(sa.select(jobs.c.id).where(
            jobs.c.state == "queued", jobs.c.updated_at < before))]
        if ids:
            conn.execute(sa.update(jobs).where(jobs.c.id.in_(ids)).values(updated_at=now))
    return ids


def unfinished(engine: sa.Engine, *, dataset: str, params: dict) -> dict | None:
    """The queued or running job of `dataset` with exactly these parameters, if any."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(jobs).where(
            jobs.c.dataset == dataset, jobs.c.state.in_(("queued", "running")))
            .order_by(jobs.c.id)).mappings().all()
    return next((dict(row) for row in rows if row["params"] == params), None)
