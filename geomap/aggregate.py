"""Aggregation queries for maps: SQL GROUP BY over grid cells, regions and periods.

Every function takes a SQLAlchemy connection, a dataset id and the normalised filters of
`geomap.filters` and returns a small pandas frame, so a map of a million incidents never loads
a million rows. Grid cells are aligned to multiples of the cell size (stable across filters).
The SQL works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
import sqlalchemy as sa

from . import db, storage
from .storage import filter_clauses

PERIOD_FORMATS = ("month", "week")


def _where(dataset_id: int, filters: dict | None) -> list:
    return [db.incidents.c.dataset_id == dataset_id, *filter_clauses(filters or {})]


def _frame(result: sa.CursorResult) -> pd.DataFrame:
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def extent(conn: sa.Connection, dataset_id: int, filters: dict | None = None) -> dict[str, Any]:
    """Return ``n`` (incidents), ``total`` (sum of count) and the lat/lon bounds of a selection.

    Bounds are None when nothing matches.
    """
    c = db.incidents.c
    row = conn.execute(sa.select(
        sa.func.count().label("n"),
        sa.func.coalesce(sa.func.sum(c["count"]), 0).label("total"),
        sa.func.min(c.lat).label("lat_min"), sa.func.max(c.lat).label("lat_max"),
        sa.func.min(c.lon).label("lon_min"), sa.func.max(c.lon).label("lon_max"),
    ).where(*_where(dataset_id, filters))).mappings().one()
    out = dict(row)
    out["n"] = int(out["n"] or 0)
    out["total"] = int(out["total"] or 0)
    return out


def unfiltered(filters: dict | None) -> bool:
    """Say whether filters select every incident of the dataset."""
    return not filter_clauses(filters or {})


def rollup_extent(conn: sa.Connection, dataset_id: int) -> dict[str, Any] | None:
    """Return `extent` of the whole dataset from its grid rollup, or None when it has none.

    Exact (the rollup keeps each cell's count, total and lat/lon bounds).
    """
    cell = storage.rollup_cell(conn, dataset_id)
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
    out["rollup_cell"] = float(cell)
    return out


def rollup_factor(rollup_cell: float, cell: float) -> int | None:
    """Return how many rollup cells make one map cell, or None when cell is not a multiple."""
    k = round(cell / rollup_cell)
    if k >= 1 and abs(k * rollup_cell - cell) < 1e-9:
        return k
    return None


def grid_from_rollup(conn: sa.Connection, dataset_id: int, *, cell: float, lat0: float,
                     lon0: float, rollup_cell: float) -> pd.DataFrame:
    """Aggregate a whole dataset to a grid by summing its rollup cells (see `grid`).

    ``cell`` must be a multiple of ``rollup_cell`` and lat0/lon0 multiples of cell (as
    `grid_origin` returns them). Reads one row per rollup cell, never the incidents.
    """
    k = rollup_factor(rollup_cell, cell)
    if k is None:
        raise ValueError(f"cell {cell} is not a multiple of the rollup cell {rollup_cell}")
    g = db.incident_grid_cells.c
    # Rollup keys are floor((lat + 90) / rollup_cell); integer division by k gives the map
    # cell counted from -90 (non-negative, so floor on every backend); subtract the origin's.
    # Integers of our own inlined (not bound), so GROUP BY repeats the select's expressions.
    oy = int(round((lat0 + storage.GRID_LAT_SHIFT) / cell))
    ox = int(round((lon0 + storage.GRID_LON_SHIFT) / cell))
    cy = g.gy // sa.literal_column(str(int(k))) - sa.literal_column(str(oy))
    cx = g.gx // sa.literal_column(str(int(k))) - sa.literal_column(str(ox))
    query = (sa.select(cy.label("cy"), cx.label("cx"), sa.func.sum(g.n).label("n"),
                       sa.func.sum(g.total).label("total"))
             .where(g.dataset_id == dataset_id).group_by(cy, cx))
    frame = _frame(conn.execute(query)).rename(columns={"cy": "gy", "cx": "gx"})
    for col in ("gy", "gx", "n", "total"):
        frame[col] = frame[col].astype("int64") if len(frame) else pd.Series(dtype="int64")
    return frame


def grid(conn: sa.Connection, dataset_id: int, filters: dict | None, *, cell: float,
         lat0: float, lon0: float, period: str | None = None) -> pd.DataFrame:
    """Aggregate matching incidents to a grid.

    Parameters
    ----------
    cell : float
        Cell size in degrees.
    lat0, lon0 : float
        Grid origin; must not exceed the selection's minimum lat/lon (use `extent`).
    period : {"month", "week"}, optional
        Also group by period (for the time layer).

    Returns
    -------
    pandas.DataFrame
        Columns ``gy``, ``gx`` (cell row/column from the origin), ``n`` (incidents), ``total``
        (sum of count) and ``period`` when asked for.
    """
    c = db.incidents.c
    # floor((lat - lat0) / cell + 1e-9), as the rollup keys and the numpy path
    # (`maps._grid_keys`) compute it: a point on a cell line lands in the cell above.
    gy = storage.grid_key(conn, c.lat, -lat0, cell).label("gy")
    gx = storage.grid_key(conn, c.lon, -lon0, cell).label("gx")
    keys = [gy, gx]
    if period:
        keys.append(period_expr(conn, period).label("period"))
    query = (sa.select(*keys, sa.func.count().label("n"),
                       sa.func.coalesce(sa.func.sum(c["count"]), 0).label("total"))
             .where(*_where(dataset_id, filters)).group_by(*keys))
    frame = _frame(conn.execute(query))
    for col in ("gy", "gx", "n", "total"):
        frame[col] = frame[col].astype("int64") if len(frame) else pd.Series(dtype="int64")
    if period:
        frame["period"] = frame["period"].astype(str) if len(frame) else pd.Series(dtype=str)
    return frame


def period_expr(conn: sa.Connection, period: str, column=None):
    """Return a SQL expression giving 'YYYY-MM' (month) or the ISO week's Monday 'YYYY-MM-DD'.

    Of `column` (a timestamp or date column; default ``incidents.occurred_at``).
    """
    column = db.incidents.c.occurred_at if column is None else column
    if period not in PERIOD_FORMATS:
        raise ValueError(f"period must be one of {PERIOD_FORMATS}, got {period!r}")
    if conn.dialect.name == "postgresql":
        if period == "month":
            return sa.func.to_char(column, "YYYY-MM")
        if isinstance(column.type, sa.Date):
            # date_trunc of a date would go through timestamptz (the session's time zone).
            column = sa.cast(column, sa.DateTime)
        return sa.func.to_char(sa.func.date_trunc("week", column), "YYYY-MM-DD")
    if period == "month":
        # SQLite stores DateTime as ISO text ('YYYY-MM-DD HH:MM:SS...'): the prefix is the month
        # and substr is several times faster than strftime over a million rows.
        return sa.func.substr(column, 1, 7)
    # Monday on or before the date: step back six days, then forward to the next Monday.
    return sa.func.date(column, "-6 days", "weekday 1")


def _whole_day(value) -> dt.date | None:
    """Return the day a filter bound starts, or None if it falls inside a day."""
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time(0) and value.tzinfo is None else None
    return value if isinstance(value, dt.date) else None


def _day_rollup_where(conn: sa.Connection, dataset_id: int, filters: dict | None) -> list | None:
    """Return conditions on the day rollup selecting what `filter_clauses` selects.

    None when the rollup cannot answer: the dataset has none (no row in incident_grids, which
    marks both rollups built) or a date bound falls inside a day.
    """
    filters = filters or {}
    d = db.incident_days.c
    where = [d.dataset_id == dataset_id]
    for key, compare in (("from", d.day.__ge__), ("to", d.day.__lt__)):
        if filters.get(key):
            day = _whole_day(filters[key])
            if day is None:
                return None
            where.append(compare(day))
    for key in storage.DAY_COLUMNS:
        if filters.get(key):
            where.append(d[key].in_(list(filters[key])))
    return where if storage.rollup_cell(conn, dataset_id) is not None else None


def _counted(conn: sa.Connection, dataset_id: int, filters: dict | None, *, rollup: bool = True):
    """Return where to count a selection: (columns, date column, n, total, conditions).

    The day rollup when it can answer (sums of its counts) and `rollup` allows it, else the
    incidents themselves.
    """
    where = _day_rollup_where(conn, dataset_id, filters) if rollup else None
    if where is not None:
        d = db.incident_days.c
        return (d, d.day, sa.cast(sa.func.sum(d.n), sa.BigInteger),
                sa.cast(sa.func.coalesce(sa.func.sum(d.total), 0), sa.BigInteger), where)
    c = db.incidents.c
    return (c, c.occurred_at, sa.func.count(), sa.func.coalesce(sa.func.sum(c["count"]), 0),
            _where(dataset_id, filters))


def by_column(conn: sa.Connection, dataset_id: int, filters: dict | None, column: str,
              *, period: str | None = None) -> pd.DataFrame:
    """Count incidents per value of column (``admin1``, ``sector``, ``type``...), optionally per period.

    Read from the day rollup for the columns it holds (`storage.DAY_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        Columns ``key`` (None for rows without a value), ``period`` when asked for, ``n``, ``total``.
    """
    cols, when, n, total, where = _counted(conn, dataset_id, filters,
                                           rollup=column in storage.DAY_COLUMNS)
    keys = [cols[column].label("key")]
    if period:
        keys.append(period_expr(conn, period, when).label("period"))
    query = (sa.select(*keys, n.label("n"), total.label("total"))
             .where(*where).group_by(*keys).order_by(*keys))
    frame = _frame(conn.execute(query))
    if frame.empty:
        return pd.DataFrame({"key": pd.Series(dtype=object),
                             **({"period": pd.Series(dtype=str)} if period else {}),
                             "n": pd.Series(dtype="int64"), "total": pd.Series(dtype="int64")})
    frame["n"] = frame["n"].astype("int64")
    frame["total"] = frame["total"].astype("int64")
    return frame


def by_period(conn: sa.Connection, dataset_id: int, filters: dict | None,
              period: str = "month") -> pd.DataFrame:
    """Count incidents per month or week: columns ``period``, ``n``, ``total`` (oldest first)."""
    _cols, when, n, total, where = _counted(conn, dataset_id, filters)
    key = period_expr(conn, period, when).label("period")
    query = (sa.select(key, n.label("n"), total.label("total"))
             .where(*where).group_by(key).order_by(key))
    frame = _frame(conn.execute(query))
    if frame.empty:
        return pd.DataFrame({"period": pd.Series(dtype=str), "n": pd.Series(dtype="int64"),
                             "total": pd.Series(dtype="int64")})
    frame["period"] = frame["period"].astype(str)
    frame["n"] = frame["n"].astype("int64")
    frame["total"] = frame["total"].astype("int64")
    return frame


def by_border_mile(conn: sa.Connection, dataset_id: int, filters: dict | None) -> pd.DataFrame:
    """Count incidents per whole border mile: columns ``mile`` (int), ``n``, ``total``.

    At most one row per mile of border (~5,500), to be binned into segments by the caller.
    """
    c = db.incidents.c
    mile = sa.cast(c.border_mile, sa.Integer) if conn.dialect.name != "postgresql" else \
        sa.cast(sa.func.floor(c.border_mile), sa.Integer)
    mile = mile.label("mile")
    query = (sa.select(mile, sa.func.count().label("n"),
                       sa.func.coalesce(sa.func.sum(c["count"]), 0).label("total"))
             .where(*_where(dataset_id, filters), c.border_mile.is_not(None))
             .group_by(mile).order_by(mile))
    frame = _frame(conn.execute(query))
    for col in ("mile", "n", "total"):
        frame[col] = frame[col].astype("int64") if len(frame) else pd.Series(dtype="int64")
    return frame


def points(conn: sa.Connection, dataset_id: int, filters: dict | None,
           limit: int) -> pd.DataFrame:
    """Return up to limit matching incidents with the columns a marker popup shows."""
    from .storage import incident_frame

    return incident_frame(conn, dataset_id, filters,
                          columns=("occurred_at", "precision", "lat", "lon", "type", "count",
                                   "direction", "description", "admin1", "sector"),
                          limit=limit)


def grid_origin(value: float, cell: float) -> float:
    """Return the grid line at or below value (cells are aligned to multiples of cell)."""
    return math.floor(value / cell) * cell
