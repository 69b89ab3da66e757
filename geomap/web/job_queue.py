"""The app's job queue: one `jobs.JobQueue` per app, made on first use (not a blueprint).

`queue_of(app)` builds the queue from the app's settings (``QUEUE_URL``, ``JOB_LEASE_S``,
the upload folder and shared store, the app's join layers) and starts its embedded worker
threads (``QUEUE_WORKERS``), so ``make run`` runs background imports with nothing more;
``flask --app geomap worker`` (`geomap.cli_jobs`) runs the same queue's consumer alone. Doors
call `submit_import` and `job_for` (who may see a job) and pass plain data to `jobs`.
"""

from __future__ import annotations

import atexit
import threading

from flask import Flask, current_app, g, redirect, render_template, url_for

from .. import access, ingest, jobs, jsontext, store
from ..db import get_db
from ..errors import NotFound
from . import layers as web_layers

EXTENSION = "geomap.job_queue"
_LOCK = threading.Lock()


def init_app(app: Flask) -> None:
    """Refuse at start a queue or shared store the settings name but this server cannot
    open (ConfigError), rather than on the first upload."""
    jobs.make_huey(app.config["QUEUE_URL"], app.instance_path)
    ingest.Settings.from_config(app.config)


def queue_of(app: Flask, *, embedded: bool = True) -> jobs.JobQueue:
    """The app's queue; with `embedded`, its in-process workers are running."""
    with _LOCK:
        queue = app.extensions.get(EXTENSION)
        if queue is None:
            runner = jobs.Runner(app.config["DATABASE_URL"],
                                 ingest.Settings.from_config(app.config),
                                 regions=web_layers.layers_of(app).join,
                                 lease_s=float(app.config["JOB_LEASE_S"]))
            queue = jobs.JobQueue(app.config["QUEUE_URL"], app.instance_path, runner)
            app.extensions[EXTENSION] = queue
            atexit.register(queue.stop)
    if embedded:
        queue.start_embedded(int(app.config["QUEUE_WORKERS"]))
    return queue


def submit_import(sha256: str, dataset: str, options: ingest.Options) -> dict:
    """Queue an import of a kept upload for the current user; return the job's row."""
    return jobs.submit_import(queue_of(current_app), sha256=sha256, dataset=dataset,
                              options=options, actor=g.user)


def job_for(job_id: int) -> dict:
    """A job the current user may follow: theirs, or one of a dataset they may write
    (admins: any). NotFound otherwise, so job ids reveal nothing."""
    queue = queue_of(current_app)
    job = jobs.get(queue.runner.engine, job_id)
    user = g.get("user")
    if job is None or user is None or not _may_see(job, user):
        raise NotFound(f"no job {job_id}")
    return job


def _may_see(job: dict, user: access.Actor) -> bool:
    if user.is_admin or (user.id is not None and job["user_id"] == user.id):
        return True
    dataset = store.get_dataset(get_db(), job["dataset"], missing_ok=True)
    return dataset is not None and access.can_write(get_db(), user, dataset)


def job_json(job: dict) -> dict:
    """A job as the API and the progress page's script read it, with its URLs: ``url`` (this
    JSON), ``page`` (the progress page) and ``report_url`` (the report, once done)."""
    body = jsontext.plain(jobs.public(job))
    body["url"] = url_for("jobs.job_api", job_id=job["id"])
    body["page"] = url_for("jobs.status", job_id=job["id"])
    body["report_url"] = (url_for("upload.report", slug=job["dataset"],
                                  import_id=job["import_id"])
                          if job["import_id"] is not None else None)
    return body


def finished_page(job: dict):
    """The page of an import job that has ended: a redirect to its report when done, the
    refusal (with the report, when the file was read) under the error's status when it
    failed; None while it is queued or running."""
    if job["state"] == "done" and job["import_id"] is not None:
        return redirect(url_for("upload.report", slug=job["dataset"],
                                import_id=job["import_id"]))
    if job["state"] == "failed":
        # As the import's request answered before imports were jobs.
        error = job["error"] or {}
        report = job["report"] or {"dataset": job["dataset"]}
        return render_template("upload/report.html", report=report,
                               failed=error.get("message", "the import failed"),
                               record=None), int(error.get("status") or 500)
    return None
