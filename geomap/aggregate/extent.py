"""A selection's extent: incidents, total and lat/lon bounds, from incidents or grid rollup."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .. import db, store
from .selection import clauses


def extent(conn: sa.Connection, dataset_id: int, filters: dict | None = None) -> dict[str, Any]:
    """Return ``n`` (incidents), ``total`` (sum of count) and the lat/lon bounds of a selection,
    and ``regional_n`` / ``regional_total``: those of them without coordinates (known only by
    sector or state/province; in ``n`` but not in the bounds).

    Bounds are None when nothing matches.
    """
    c = db.incidents.c
    regional = c.lat.is_(None)
    row = conn.execute(sa.select(
        sa.func.coalesce(sa.func.sum(sa.case((regional, 1), else_=0)), 0).label("regional_n"),
        sa.func.coalesce(sa.func.sum(sa.case((regional, c["count"]), else_=0)), 0)
        .label("regional_total"),
        sa.func.count().label("n"),
        sa.func.coalesce(sa.func.sum(c["count"]), 0).label("total"),
        sa.func.min(c.lat).label("lat_min"), sa.func.max(c.lat).label("lat_max"),
        sa.func.min(c.lon).label("lon_min"), sa.func.max(c.lon).label("lon_max"),
    ).where(*clauses(dataset_id, filters))).mappings().one()
    out = dict(row)
    for name in ("n", "total", "regional_n", "regional_total"):
        out[name] = int(out[name] or 0)
    return out


def rollup_extent(conn: sa.Connection, dataset_id: int) -> dict[str, Any] | None:
    """Return `extent` of the whole dataset from its grid rollup, or None when it has none.

    Exact (the rollup keeps each cell's count, total and lat/lon bounds).
    """
    cell = store.rollup_cell(conn, dataset_id)
    if cell is None:
        return None
    g = db.incident_grid_cells.c
    row = conn.execute(sa.select(
        sa.func.coalesce(sa.func.sum(g.n), 0).label("n"),
        sa.func.coalesce(sa.func.sum(g.total), 0).label("total"),
        sa.func.min(g.lat_min).label("lat_min"), sa.func.max(g.lat_max).label("lat_max"),
        sa.func.min(g.lon_min).label("lon_min"), sa.func.max(g.lon_max).label("lon_max"),
    ).where(g.dataset_id == dataset_id)).mappings().one()
    out = dict(row)
    out["n"] = int(out["n"] or 0)
    out["total"] = int(out["total"] or 0)
    # The grid holds the rows with coordinates; the months (the day rollup summed per month,
    # a few rows where the days have one per day) hold every row: the difference is the rows
    # known only by sector or state/province.
    m = db.incident_periods.c
    days = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(m.n), 0),
                                  sa.func.coalesce(sa.func.sum(m.total), 0))
                        .where(m.dataset_id == dataset_id, m.grain == "m")).one()
    out["regional_n"] = max(int(days[0]) - out["n"], 0)
    out["regional_total"] = max(int(days[1]) - out["total"], 0)
    out["n"] += out["regional_n"]
    out["total"] += out["regional_total"]
    out["rollup_cell"] = float(cell)
    return out
