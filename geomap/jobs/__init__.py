"""Background jobs: imports run by queue workers, followed from any app server.

Callers use ``from geomap import jobs`` and the names below; the modules import one way
(each only from those listed after it):

- `queue`: `JobQueue` (Huey on SQLite or Redis, the ``geomap.run_job`` task, the embedded
  consumer threads, ``flask worker``'s consumer, the sweep of dead workers' jobs)
- `running`: `Runner` (claim, import with progress, record the end), `Busy`, `Heartbeat`
- `records`: the ``jobs`` and ``job_leases`` rows: create, claim, progress, finish,
  recover_expired, public (what the API shows)

`submit_import` records a job for an upload already in the shared store and queues it. The
job's state, progress and report are in the database, so every server answers for every
job; the queue carries only job ids. No Flask.
"""

from __future__ import annotations

import dataclasses

from .. import access, ingest
from .records import (MAX_ATTEMPTS, STATES, create, get, jobs_engine, public,
                      recover_expired, unfinished)
from .running import Busy, Heartbeat, LeaseLost, Runner
from .queue import JobQueue, make_huey


def submit_import(queue: JobQueue, *, sha256: str, dataset: str, options: ingest.Options,
                  actor: access.Actor | None) -> dict:
    """Record an import of the upload `sha256` (kept by `ingest.preview`) into `dataset`
    and queue it; return the job's row (state ``queued``)."""
    ingest.stored_upload(queue.runner.settings, sha256)  # refuses a bad or lost reference
    params = {"sha256": sha256, "options": dataclasses.asdict(options),
              "actor": dataclasses.asdict(actor) if actor is not None else None}
    engine = queue.runner.engine
    # The same import sent twice (a double click, a resubmitted form) follows the first.
    same = unfinished(engine, dataset=dataset, params=params)
    if same is not None:
        return same
    job_id = create(engine, kind="import", dataset=dataset, params=params,
                    user_id=actor.id if actor else None, user_name=actor.name if actor else "")
    queue.enqueue(job_id)
    return get(engine, job_id)


__all__ = ["MAX_ATTEMPTS", "STATES", "create", "get", "jobs_engine", "public",
           "recover_expired", "Busy", "Heartbeat", "LeaseLost", "Runner", "JobQueue", "make_huey",
           "submit_import"]
