"""Read API for incident data: downloads (CSV, GeoJSON), statistics, rejected rows of an import."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, request, stream_with_context

from .. import aggregate, exporting, filters, ingest, storage
from ..db import get_db, get_engine
from ..errors import BadRequest, Forbidden, NotFound
from ..security import csrf
from .auth import token_required

bp = Blueprint("api_data", __name__, url_prefix="/api")
csrf.exempt(bp)

MAX_LIMIT = 100_000
STATS_BY = ("admin1", "sector", "month", "border_segment")
SEGMENT_MILES = 25


def _visible_dataset(conn, slug: str) -> dict:
    """Return a published dataset (editors signed in also see drafts)."""
    return storage.get_dataset(conn, slug, published_only=not g.get("user_name"))


def _paging() -> tuple[int | None, int]:
    def number(name: str, low: int, high: int) -> int | None:
        raw = request.args.get(name, "").strip()
        if raw == "":
            return None
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise BadRequest(f"parameter {name!r} must be a whole number from {low} to {high}",
                             details={"parameter": name, "value": raw})
        return int(raw)

    return number("limit", 1, MAX_LIMIT), number("offset", 0, 10**12) or 0


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
    dataset = _visible_dataset(conn, slug)
    threshold = int(dataset.get("min_public_count") or 1)
    if threshold > 1 and not g.get("user_name"):
        raise Forbidden(f"this dataset is published only as totals of at least {threshold} "
                        f"incidents; use /api/datasets/{slug}/stats",
                        details={"min_public_count": threshold})
    total = storage.count_incidents(conn, dataset["id"], selection)
    engine = get_engine()
    published_only = not g.get("user_name")

    def generate():
        with engine.connect() as reader:
            yield from exporting.stream(reader, slug, fmt, filters=selection,
                                        published_only=published_only, limit=limit,
                                        offset=offset)

    mimetype = "text/csv" if fmt == "csv" else "application/geo+json"
    response = Response(stream_with_context(generate()), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{slug}.{fmt}"'
    response.headers["X-Total-Count"] = str(total)
    response.headers["Cache-Control"] = "public, max-age=60" if dataset["published"] else \
        "private, no-store"
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

    ``by``: admin1 (default), sector, month or border_segment (25-mile pieces of the border,
    counted from the Pacific). Groups with fewer incidents than the dataset's public threshold
    are merged into one ``hidden`` line.
    """
    by = (request.args.get("by") or "admin1").strip().lower()
    if by not in STATS_BY:
        raise BadRequest(f"parameter 'by' must be one of {', '.join(STATS_BY)}",
                         details={"parameter": "by", "value": by})
    params = {k: v for k, v in request.args.lists() if k != "by"}
    selection = filters.selection(filters.parse(params))
    conn = get_db()
    dataset = _visible_dataset(conn, slug)
    if by == "month":
        frame = aggregate.by_period(conn, dataset["id"], selection, "month")
        rows = [{"key": r.period, "n": int(r.n), "total": int(r.total)}
                for r in frame.itertuples()]
    elif by == "border_segment":
        frame = aggregate.by_border_mile(conn, dataset["id"], selection)
        groups: dict[int, list[int]] = {}
        for r in frame.itertuples():
            start = int(r.mile) // SEGMENT_MILES * SEGMENT_MILES
            cell = groups.setdefault(start, [0, 0])
            cell[0] += int(r.n)
            cell[1] += int(r.total)
        rows = [{"key": f"{s}-{s + SEGMENT_MILES}", "mile_from": s,
                 "mile_to": s + SEGMENT_MILES, "n": n, "total": t}
                for s, (n, t) in sorted(groups.items())]
    else:
        frame = aggregate.by_column(conn, dataset["id"], selection, by)
        rows = [{"key": r.key, "n": int(r.n), "total": int(r.total)} for r in frame.itertuples()]
    threshold = 1 if g.get("user_name") else int(dataset.get("min_public_count") or 1)
    hidden = [r for r in rows if r["n"] < threshold]
    rows = [r for r in rows if r["n"] >= threshold]
    out = {"dataset": slug, "version": dataset["version"], "by": by,
           "filters": filters.query_pairs(selection, keys=filters.SELECTION_KEYS),
           "groups": rows,
           "n": sum(r["n"] for r in rows), "total": sum(r["total"] for r in rows)}
    if hidden:
        out["hidden"] = {"groups": len(hidden), "min_public_count": threshold}
    return out


@bp.get("/datasets/<slug>/imports/<int:import_id>/rejected.csv")
@token_required
def rejected(slug: str, import_id: int):
    """The rejected rows of one import, with the original cells, line number and reason."""
    conn = get_db()
    dataset = storage.get_dataset(conn, slug)
    storage.get_import(conn, import_id, dataset)  # 404 unless it is this dataset's import
    path = ingest.rejected_path(current_app.config, import_id)
    body = rejected_csv(path)
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{slug}-import-{import_id}-rejected.csv"')
    response.headers["Cache-Control"] = "private, no-store"
    return response


def rejected_csv(path) -> str:
    """Return a rejected-rows file as formula-safe CSV text (a header only if none)."""
    import pandas as pd

    from ..csvfile import neutralise_frame

    if path is None:
        return "row,reason\n"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return neutralise_frame(frame).to_csv(index=False)
