"""Read API for incident data: downloads (CSV, GeoJSON), statistics, import reports and rejected rows."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urlencode

from flask import (Blueprint, Response, current_app, g, jsonify, request, stream_with_context,
                   url_for)

from .. import (access, aggregate, disclosure, exporting, filters, ingest, jsontext, maps,
               store)
from ..db import get_db, get_engine
from ..errors import BadRequest, Forbidden, NotFound, Unavailable
from ..security import csrf
from . import layers as web_layers
from . import columnar, render_cache
from .guards import token_required

bp = Blueprint("api_data", __name__, url_prefix="/api")
csrf.exempt(bp)

MAX_LIMIT = 100_000
STATS_BY = ("admin1", "sector", "week", "month", "quarter", "year", "border_segment",
            "location_precision", "place")
#: The periods `stats` groups by (`aggregate.by_period`).
STATS_PERIODS = ("week", "month", "quarter", "year")


def _visible_dataset(conn, slug: str) -> tuple[dict, bool]:
    """Return a dataset the request may read and whether it sees everything in it.

    Drafts, exact counts below the public threshold and the full download are for whoever
    may write the dataset (`access.can_write`: its owners and collaborators, admins, and
    their tokens); `access.visible_dataset` answers 404 for others' drafts.
    """
    return access.visible_and_writable(conn, g.get("user"), slug)


def _paging() -> tuple[int | None, int]:
    limit = filters.whole_number("limit", request.args.get("limit"), low=1, high=MAX_LIMIT)
    offset = filters.whole_number("offset", request.args.get("offset"), low=0, high=10**12)
    return limit, offset or 0


@bp.get("/datasets/<slug>/incidents.<fmt>")
def incidents(slug: str, fmt: str):
    """Download the selected incidents as CSV or GeoJSON.

    Filters: from, to, type, direction, country, admin1, sector (as on map pages).
    ``limit``/``offset`` page through the result; without them the whole selection is
    streamed. CSV cells that a spreadsheet would run as formulas are neutralised.
    """
    if fmt not in ("csv", "geojson"):
        raise NotFound(f"no format {fmt!r}: use incidents.csv or incidents.geojson")
    selection = filters.selection(filters.parse(request.args))
    limit, offset = _paging()
    conn = get_db()
    dataset, privileged = _visible_dataset(conn, slug)
    threshold = disclosure.viewer_threshold(conn, g.get("user"), dataset, may_write=privileged)
    if not disclosure.rows_allowed(threshold):
        raise Forbidden(f"this dataset is published only as totals of at least {threshold} "
                        f"incidents; use {url_for('api_data.stats', slug=slug)}",
                        details={"min_public_count": threshold})
    total = store.count_incidents(conn, dataset["id"], selection)
    engine = get_engine()
    published_only = not privileged

    def generate():
        with engine.connect() as reader:
            yield from exporting.stream(reader, slug, fmt, filters=selection,
                                        published_only=published_only, limit=limit,
                                        offset=offset)

    mimetype = "text/csv" if fmt == "csv" else "application/geo+json"
    response = Response(stream_with_context(generate()), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{slug}.{fmt}"'
    response.headers["X-Total-Count"] = str(total)
    # A privileged download may hold what the public one hides: never in a shared cache.
    response.headers["Cache-Control"] = "public, max-age=60" \
        if dataset["published"] and not privileged else "private, no-store"
    digest = hashlib.sha256(request.query_string).hexdigest()[:16]
    response.headers["ETag"] = f'"{slug}-v{dataset["version"]}-{digest}"'
    if limit is not None and offset + limit < total:
        args = request.args.to_dict(flat=False)
        args["offset"] = [str(offset + limit)]
        response.headers["Link"] = f'<{request.base_url}?{urlencode(args, doseq=True)}>; rel="next"'
    return response


@bp.get("/datasets/<slug>/stats")
def stats(slug: str):
    """Counts of incidents (``n``) and of people/events (``total``) per group.

    ``by``: admin1 (default), sector, week, month, quarter, year (counting the records known
    at least that precisely; ``coarser`` says how many are not), location_precision (point,
    place, sector, admin1), place (the matched place or region) or border_segment (the segments of the
    ``border_segments`` layer that border-segment maps colour, with their code as ``key``).
    Groups with fewer incidents than the dataset's public threshold are merged into one
    ``hidden`` line. Answers are cached in the render cache and carry an ETag (a 304 for
    ``If-None-Match``), both keyed by the dataset's version.
    """
    by = (request.args.get("by") or "admin1").strip().lower()
    if by not in STATS_BY:
        raise BadRequest(f"parameter 'by' must be one of {', '.join(STATS_BY)}",
                         details={"parameter": "by", "value": by})
    params = {k: v for k, v in request.args.lists() if k != "by"}
    selection = filters.selection(filters.parse(params))
    conn = get_db()
    dataset, privileged = _visible_dataset(conn, slug)
    threshold = disclosure.viewer_threshold(conn, g.get("user"), dataset, may_write=privileged)
    # Cached like maps, in the render cache every worker shares: keyed by the dataset's
    # version (a change of its incidents bumps it, so no entry is ever stale), the grouping,
    # the canonical selection and the viewer's threshold (what the answer hides depends on it).
    query = f"by={by}&" + filters.canonical_query(selection, keys=filters.SELECTION_KEYS)
    etag = render_cache.etag_for(
        current_app.config, f"stats-{threshold}", slug, dataset["version"], query, "",
        render_cache.head_identity(dataset["id"], dataset.get("created_at")))
    age = None if dataset["published"] and not privileged else -1
    held = render_cache.matching_etag(request.if_none_match, etag)
    if held:
        response = Response(status=304)
    else:
        body = render_cache.cache().get_or_make(
            etag, lambda: _json_bytes(stats_body(columnar.connection(dataset), dataset, by,
                                                 selection, threshold)))
        response = Response(body, mimetype="application/json")
    response.set_etag(held or etag)
    response.headers["Cache-Control"] = render_cache.cache_control(age)
    return response


def _json_bytes(body: dict) -> bytes:
    return current_app.json.dumps(body).encode()  # as jsonify would answer it


def stats_body(conn, dataset: dict, by: str, selection: dict, threshold: int) -> dict:
    """The stats answer (see `stats`) of a dataset's selection for a viewer's threshold."""
    slug = dataset["slug"]
    if by in STATS_PERIODS:
        frame = aggregate.by_period(conn, dataset["id"], selection, by)
        rows = [{"key": r.period, "n": int(r.n), "total": int(r.total)}
                for r in frame.itertuples()]
    elif by == "border_segment":
        frame = aggregate.by_border_segment(conn, dataset["id"], selection, _segments())
        rows = [{"key": r.code, "name": r.name,
                 "mile_from": None if r.code is None else float(r.mile_from),
                 "mile_to": None if r.code is None else float(r.mile_to),
                 "n": int(r.n), "total": int(r.total)}
                for r in frame.itertuples() if r.n > 0]
    else:
        frame = aggregate.by_column(conn, dataset["id"], selection, by)
        rows = [{"key": r.key, "n": int(r.n), "total": int(r.total)} for r in frame.itertuples()]
    rows, hidden = disclosure.hide_small_rows(rows, threshold)
    out = {"dataset": slug, "version": dataset["version"], "by": by,
           "filters": filters.query_pairs(selection, keys=filters.SELECTION_KEYS),
           "groups": rows,
           "n": sum(r["n"] for r in rows), "total": sum(r["total"] for r in rows)}
    if hidden:
        out["hidden"] = {"groups": len(hidden), "min_public_count": threshold}
    if by in STATS_PERIODS:
        # Records known only at a coarser period (by quarter or year) are in none of these
        # periods: say how many.
        n, total, names = aggregate.coarser(
            aggregate.by_precision(conn, dataset["id"], selection), by)
        if n and not disclosure.is_hidden(n, threshold):
            out["coarser"] = {"n": n, "total": total, "precisions": names}
    return out


def _segments() -> aggregate.SegmentSteps:
    """Return the border segments maps colour; 503 when the regions file has none."""
    try:
        steps = maps.segment_steps(web_layers.region_layers())
        reason = "no border_segments layer"
    except ValueError as exc:
        steps, reason = None, str(exc)
    if steps is None:
        raise Unavailable("border segments are not available on this server: the regions "
                          "file (GEOMAP_REGIONS_PATH) has no usable border_segments layer",
                          details={"reason": reason})
    return steps


@bp.get("/datasets/<slug>/imports/<int:import_id>")
@token_required
def import_report(slug: str, import_id: int):
    """One import as recorded: who, when, which file, its counts and its full report."""
    conn = get_db()
    dataset, record, rejected_file = ingest.recorded_import(
        conn, ingest.Settings.from_config(current_app.config), slug, import_id)
    access.require_write(conn, g.user, dataset)
    fields = ("id", "created_at", "user_name", "filename", "sha256", "size_bytes", "mode",
              "rows_total", "rows_imported", "rows_updated", "rows_unchanged", "rows_rejected")
    body = {"dataset": slug, "import": jsontext.plain({k: record[k] for k in fields}),
            "report": record["report"],
            "rejected_csv": url_for("api_data.rejected", slug=slug, import_id=import_id)
            if rejected_file is not None else None}
    response = jsonify(body)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/datasets/<slug>/imports/<int:import_id>/rejected.csv")
@token_required
def rejected(slug: str, import_id: int):
    """The rejected rows of one import, with the original cells, line number and reason."""
    conn = get_db()
    dataset, _record, path = ingest.recorded_import(
        conn, ingest.Settings.from_config(current_app.config), slug, import_id)
    access.require_write(conn, g.user, dataset)
    body = rejected_csv(path)
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{slug}-import-{import_id}-rejected.csv"')
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/datasets/<slug>/imports/<int:import_id>/original")
@token_required
def original(slug: str, import_id: int):
    """The file of one import as it was uploaded, from the shared store (any server)."""
    conn = get_db()
    dataset = store.get_dataset(conn, slug)
    record = store.get_import(conn, import_id, dataset)
    access.require_write(conn, g.user, dataset)
    chunks = ingest.original_file(ingest.Settings.from_config(current_app.config), record)
    if chunks is None:
        raise NotFound("the original file of this import was not kept",
                       details={"import_id": import_id})
    suffix = "".join(Path(record["filename"] or "").suffixes[-2:]).lower()
    if not re.fullmatch(r"(\.[a-z0-9]{1,5}){1,2}", suffix):
        suffix = ".csv"
    response = Response(stream_with_context(chunks), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{slug}-import-{import_id}-original{suffix}"')
    response.headers["Cache-Control"] = "private, no-store"
    return response


def rejected_csv(path) -> str:
    """Return a rejected-rows file as formula-safe CSV text (a header only if none)."""
    import pandas as pd

    from ..csv_output import LINE_END, safe_csv

    if path is None:
        return "row,reason" + LINE_END
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return safe_csv(frame)
