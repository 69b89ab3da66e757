"""Write API: POST a CSV of incidents into a dataset, add to its corrections log, revert its
latest import, delete it (token or editor session)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from .. import access, corrections, ingest, store
from ..db import get_db, get_engine
from ..errors import BadRequest, UnsupportedMediaType
from ..security import csrf
from . import job_queue, layers as web_layers
from .guards import token_required

bp = Blueprint("api_write", __name__, url_prefix="/api")
# Exempt from the blanket form check, which would refuse scripts' bearer-token requests;
# requests that bring the editor's session cookie instead must carry the CSRF token, which
# guards.token_required checks (security.require_csrf_token).
csrf.exempt(bp)

#: Body types taken as CSV. Not text/plain: a page on any site may send that cross-origin
#: without a preflight (a CORS-simple type), as it may multipart/form-data, which needs the
#: token with a cookie like any other write.
CSV_TYPES = ("text/csv", "application/csv", "text/tab-separated-values",
             "application/octet-stream",
             # spreadsheets (read by ingest from their first bytes, whatever the type says)
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             # (lower case: werkzeug's request.mimetype is, and .xlsm's official type is not)
             "application/vnd.ms-excel.sheet.macroenabled.12", "application/vnd.ms-excel",
             "application/vnd.oasis.opendocument.spreadsheet",
             # compressed: .csv.gz, a .zip holding one CSV or spreadsheet
             "application/gzip", "application/zip")


def _options():
    """Merge query and form parameters into ingest options (query first, form overrides)."""
    values = {**request.args.to_dict(), **request.form.to_dict()}
    maps = request.args.getlist("map") + request.form.getlist("map")
    if maps:
        values["map"] = maps
    return values


@bp.post("/datasets/<slug>/incidents")
@token_required
def post_incidents(slug: str):
    """Import a CSV (body with Content-Type: text/csv, or multipart field ``file``).

    A .csv.gz or a .zip holding one file is decompressed first. A spreadsheet (.xlsx, .xlsm,
    .xls, .ods) is read from its sheet ``sheet`` (default: the
    first with data; an unknown sheet is a 400 listing the sheets with their rows).
    Query or form parameters: mode, strict, crs, no_header, publish, title, source, license,
    sheet, key (comma-separated columns identifying an incident; remembered by the dataset),
    again=1 (append a file already imported into the dataset: 409 without it),
    wide (one column per month holding counts: each cell becomes a record),
    map_<field>=<column> or map=<field>=<column> (repeatable). Returns the import report:
    201 when incidents were added or changed, 200 when nothing changed; 422 (the report in
    the error's details, nothing written) when every row was rejected (ingest decides).
    With ``async=1`` the file is kept (a file that cannot be read is refused at once) and
    imported by a background job: 202, ``Location`` and ``{"job": {id, url, state,
    progress}}``; follow it at ``GET /api/jobs/<id>``.
    """
    access.check_import_target(get_db(), g.user, slug)  # 403 before reading the body
    upload = request.files.get("file")
    if upload is not None:
        source, filename = upload.stream, upload.filename or "upload.csv"
    elif request.mimetype in CSV_TYPES:
        source, filename = request.stream, "api-upload.csv"
    else:
        raise UnsupportedMediaType(
            "send the CSV as the request body with Content-Type: text/csv, or as a "
            "multipart/form-data field named 'file'",
            details={"content_type": request.mimetype or None, "accepted": list(CSV_TYPES)})
    values = _options()
    background = _flag(values.pop("async", ""), "async")
    values["filename"] = filename
    options = ingest.options_from(values, door=ingest.doors.API)
    settings = ingest.Settings.from_config(current_app.config)
    if background:
        kept = ingest.preview(source, options, settings)
        # Refused now, not in the job: the client learns it from this answer.
        ingest.refuse_reimport_into(get_db(), slug, kept["sha256"], options)
        job = job_queue.job_json(job_queue.submit_import(kept["sha256"], slug, options))
        body = {"job": {key: job[key] for key in ("id", "url", "state", "progress")}}
        return body, 202, {"Location": job["url"]}
    report = ingest.import_file(get_engine(), source, dataset=slug, options=options,
                                settings=settings, regions=web_layers.join_layers(),
                                user_name=g.user.name, actor=g.user)
    changed = report["rows_imported"] + report["rows_updated"] > 0
    return report, 201 if changed else 200


@bp.post("/datasets/<slug>/corrections")
@token_required
def add_correction(slug: str):
    """Add an entry to the dataset's corrections log: a JSON object ``{"what": "...",
    "why": "...", "date": "YYYY-MM-DD", "import_id": 12}`` (``what`` required; ``date``
    defaults to today, UTC). 201 ``{"correction": {...}, "version": N}``; 400 naming the
    field, 415 for another body type."""
    if not request.is_json:
        raise UnsupportedMediaType(
            "send the entry as a JSON object with Content-Type: application/json",
            details={"content_type": request.mimetype or None,
                     "accepted": ["application/json"]})
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object such as {"what": "...", "why": "..."}',
                         details={"expected": "JSON object"})
    unknown = sorted(set(body) - set(store.CORRECTION_FIELDS))
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(map(repr, unknown))}; an entry has "
                         f"{', '.join(store.CORRECTION_FIELDS)}",
                         details={"fields": unknown, "expected": list(store.CORRECTION_FIELDS)})
    entry = corrections.add(get_engine(), slug, body, actor=g.user)
    return {"correction": corrections.public(entry, private=True),
            "version": entry["version"]}, 201


@bp.post("/datasets/<slug>/imports/<int:import_id>/revert")
@token_required
def revert_import(slug: str, import_id: int):
    """Revert the dataset's latest import (409 if this one is not it, or was reverted):
    ``{"dataset", "import_id", "removed", "restored", "version"}``."""
    return ingest.revert_import(get_engine(), slug, import_id, actor=g.user)


@bp.delete("/datasets/<slug>")
@token_required
def delete_dataset(slug: str):
    """Delete the dataset and its incidents (owners and admins); the records of its imports
    and its corrections log are kept. ``{"slug", "incidents", "imports", "corrections"}``."""
    return {"deleted": True, **ingest.delete_dataset(get_engine(), slug, actor=g.user)}


def _flag(raw: str, name: str) -> bool:
    text = str(raw or "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise BadRequest(f"{name} must be true or false, got {raw!r}", details={"parameter": name})
