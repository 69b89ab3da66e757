"""Upload form: choose a file and options, preview how it will be read, import, see the report."""

from __future__ import annotations

import dataclasses

from flask import (Blueprint, current_app, g, redirect, render_template, request, url_for)

from .. import access, ingest, store
from ..db import get_db
from ..errors import BadRequest, GeomapError
from . import job_queue, layers as web_layers
from .guards import login_required

bp = Blueprint("upload", __name__)
# Reports recorded before issues were counted by reason are grouped from their listed rows.
bp.app_template_global("reason_groups")(ingest.reason_groups)

OPTION_FIELDS = ("mode", "crs", "no_header", "strict", "publish", "title", "source", "license",
                 "sheet", "again", "wide")
FIELD_LABELS = {
    "lat": "Latitude", "lon": "Longitude", "location": "Location (WKT, \"lat, lon\" or DMS)",
    "occurred_at": "Date", "type": "Type", "count": "Count", "direction": "Direction",
    "description": "Description", "source_id": "Source id", "region": "Declared state/province",
    "place": "Port or town (rows without coordinates)",
    "sector": "Border Patrol sector (rows without coordinates)",
    "border": "Border (rows on the US–Mexico border are refused)",
    "year": "Year (calendar)", "fiscal_year": "Fiscal year (US federal, October start)",
    "month": "Month (with a year or fiscal year column)",
}


def _form_values() -> dict:
    """Read the options, the mapping and the target dataset from the submitted form."""
    form = request.form
    values = {name: form.get(name, "") for name in OPTION_FIELDS}
    for name in ingest.FIELDS:
        values[f"map_{name}"] = form.get(f"map_{name}", "")
    values["key"] = form.getlist("key")  # the key columns ticked on the preview
    values["filename"] = form.get("filename", "")  # the previewed file's name (audit, title)
    choice = form.get("dataset", "").strip()
    values["slug"] = form.get("new_slug", "").strip().lower() if choice in ("", "__new__") \
        else choice
    values["dataset_choice"] = choice or "__new__"
    return values


def _render_form(values: dict | None = None, error: GeomapError | None = None,
                 status: int = 200):
    conn = get_db()
    datasets = access.writable(conn, g.user, store.list_datasets(conn, published_only=False))
    return render_template("upload/form.html", datasets=datasets, values=values or {},
                           error=error, fields=FIELD_LABELS), status


@bp.get("/upload")
@login_required
def form():
    """The upload form."""
    values = {"dataset_choice": request.args.get("dataset", "")}
    return _render_form(values)


@bp.post("/upload")
@login_required
def submit():
    """Step 1 (``action=preview``): store the file and show how it will be read; again
    (``action=repreview``) for the stored file with the sheet, header or mapping changed.
    Step 2 (``action=import``): import the stored file and show the report."""
    values = _form_values()
    settings = ingest.Settings.from_config(current_app.config)
    try:
        if not values["slug"]:
            raise BadRequest("choose a dataset or give the new dataset a slug",
                             details={"field": "dataset"})
        store.check_slug(values["slug"])
        access.check_import_target(get_db(), g.user, values["slug"])  # before reading the file
        # bad options are reported before any reading
        options = ingest.options_from(values, door=ingest.doors.WEB)
        if request.form.get("action") == "import":
            return _import(values, options)
        if request.form.get("action") == "repreview":
            return _repreview(values, options, settings)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise BadRequest("choose a CSV file or spreadsheet to upload", details={"field": "file"})
        # The first reading: a first row that looks like data is offered as a row.
        info = ingest.preview(upload.stream, _named(options, upload.filename), settings,
                              check=_check(values), guess_header=True, lenient=True)
    except GeomapError as error:
        return _render_form(values, error, error.status)
    values["filename"] = upload.filename
    if info["header_guessed"]:
        values["no_header"] = "on"
    return _render_preview(info, values)


def _check(values: dict) -> ingest.Check:
    """The preview's dry run: the app's region layers, the dataset's remembered key (used
    when no key is ticked, as the import would), bounded by ``PREVIEW_CHECK_ROWS``."""
    dataset = store.get_dataset(get_db(), values["slug"], missing_ok=True)
    limit = int(current_app.config.get("PREVIEW_CHECK_ROWS", 0) or 0)
    return ingest.Check(regions=web_layers.join_layers(),
                        key=(dataset or {}).get("natural_key") or None,
                        max_rows=limit or None)


def _render_preview(info: dict, values: dict, error: GeomapError | None = None):
    """The preview, with the dataset's key and any earlier import of the same file. A
    preview whose columns could not be resolved (``problem``: no usable columns, a mapping
    that does not fit) shows why and the columns to map, and no Import."""
    values["sha256"] = info["sha256"]
    values["sheet"] = info["sheet"] or ""
    problem = info.get("problem")
    error = error or problem
    status = ingest.reimport_status(get_db(), values["slug"], info["sha256"])
    return render_template("upload/preview.html", info=info, values=values, error=error,
                           fields=FIELD_LABELS, unmapped=problem is not None,
                           check=info.get("check"), **status), error.status if error else 200


def _repreview(values: dict, options: ingest.Options, settings: ingest.Settings):
    """Preview the stored upload again (its sha256 from the preview) with the options changed
    there: another sheet, no header row, the column mapping; with the dry run's counts."""
    path = ingest.stored_upload(settings, request.form.get("sha256", ""))
    options = _named(options, values["filename"])
    info = ingest.preview(path, options, settings, check=_check(values), lenient=True)
    if info["problem"] is not None and options.mapping:
        # A mapping that does not fit (a column of another sheet, a name where the header
        # is off): stay on the preview, the fields detected without it, the mapping kept
        # in the selects to fix.
        detected = ingest.preview(path, dataclasses.replace(options, mapping={}), settings,
                                  lenient=True)
        info = {**detected, "problem": info["problem"], "check": None}
    return _render_preview(info, values)


def _named(options: ingest.Options, filename: str) -> ingest.Options:
    """The options with the uploaded file's name (audit trail only; never used as a path)."""
    return dataclasses.replace(options, filename=filename[:300])


def _import(values: dict, options: ingest.Options):
    """Queue the import of the previewed file and show its progress (`web.jobs.status`), or
    its outcome if it has already ended (``QUEUE_URL=immediate``)."""
    options = _named(options, request.form.get("filename", ""))
    sha256 = request.form.get("sha256", "")
    try:  # refused before queueing: shown on the preview, with the checkbox
        ingest.refuse_reimport_into(get_db(), values["slug"], sha256, options)
    except ingest.AlreadyImported as error:  # its message says how, in the form's terms
        settings = ingest.Settings.from_config(current_app.config)
        path = ingest.stored_upload(settings, sha256)
        info = ingest.preview(path, options, settings, check=_check(values), lenient=True)
        return _render_preview(info, values, error)
    job = job_queue.submit_import(sha256, values["slug"], options)
    return (job_queue.finished_page(job)
            or redirect(url_for("jobs.status", job_id=job["id"])))


@bp.get("/upload/<slug>/imports/<int:import_id>")
@login_required
def report(slug: str, import_id: int):
    """The report of one import: counts, regions, row-level errors and warnings."""
    conn = get_db()
    dataset, record, rejected_file = ingest.recorded_import(
        conn, ingest.Settings.from_config(current_app.config), slug, import_id)
    access.require_write(conn, g.user, dataset)
    return render_template("upload/report.html", report=record["report"] or {}, record=record,
                           dataset=dataset, failed=None, has_rejected=rejected_file is not None)
