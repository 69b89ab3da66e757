"""Background import jobs: ``GET /api/jobs/<id>`` (state, progress, report) and the form's
progress page ``/upload/jobs/<id>``, which becomes the report when the job is done."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from ..security import csrf
from . import job_queue
from .guards import login_required, token_required

bp = Blueprint("jobs", __name__)
csrf.exempt(bp)

#: Seconds between reloads of the progress page without JavaScript.
REFRESH_S = 2


@bp.get("/api/jobs/<int:job_id>")
@token_required
def job_api(job_id: int):
    """One job: ``state`` (queued, running, done, failed), ``progress``, and the
    ``report`` once done (or ``error``, with the report when the file was read)."""
    response = jsonify({"job": job_queue.job_json(job_queue.job_for(job_id))})
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/upload/jobs/<int:job_id>")
@login_required
def status(job_id: int):
    """The progress of an import sent from the form; its report once it is done."""
    job = job_queue.job_for(job_id)
    finished = job_queue.finished_page(job)
    if finished is not None:
        return finished
    response = render_template("upload/job.html", job=job_queue.job_json(job), refresh=REFRESH_S)
    return response, 200, {"Cache-Control": "no-store"}
