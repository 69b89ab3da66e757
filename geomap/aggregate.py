"""Aggregation queries: SQL GROUP BY over grid cells, regions, periods and border segments.

Every query takes a SQLAlchemy connection, a dataset id and the normalised filters of
`geomap.filters` and returns a small pandas frame, so a map of a million incidents never loads
a million rows. Grid cells are aligned to multiples of the cell size (stable across filters).
Border segments are the stored ``border_segments`` layer, binned exactly by `segment_steps`
(the same bins in SQL and, for an incident DataFrame, in numpy). The SQL works on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import binning, db, store
from .store import filter_clauses

#: Period -> its label's format (a week is labelled by its Monday).
PERIOD_FORMATS = {"month": "%Y-%m", "week": "%Y-%m-%d"}


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
    out["rollup_cell"] = float(cell)
    return out


def grid_from_rollup(conn: sa.Connection, dataset_id: int, *, cell: float, lat0: float,
                     lon0: float, rollup_cell: float) -> pd.DataFrame:
    """Aggregate a whole dataset to a grid by summing its rollup cells (see `grid`).

    ``cell`` must be a multiple of ``rollup_cell`` and lat0/lon0 multiples of cell (as
    `binning.grid_origin` returns them). Reads one row per rollup cell, never the incidents.
    """
    k = binning.rollup_factor(rollup_cell, cell)
    if k is None:
        raise ValueError(f"cell {cell} is not a multiple of the rollup cell {rollup_cell}")
    g = db.incident_grid_cells.c
    # Rollup keys are floor((lat + 90) / rollup_cell); integer division by k gives the map
    # cell counted from -90 (non-negative, so floor on every backend); subtract the origin's.
    # Integers of our own inlined (not bound), so GROUP BY repeats the select's expressions.
    oy = binning.origin_index(lat0, binning.LAT_SHIFT, cell)
    ox = binning.origin_index(lon0, binning.LON_SHIFT, cell)
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
    # The keys of `binning`, as the rollup and the numpy path compute them.
    gy = binning.sql_cell_key(conn, c.lat, -lat0, cell).label("gy")
    gx = binning.sql_cell_key(conn, c.lon, -lon0, cell).label("gx")
    keys = [gy, gx]
    truncated = bool(period) and conn.dialect.name == "postgresql"
    if period:
        _check_period(period)
        # PostgreSQL groups on the truncated timestamp, formatted once per group afterwards:
        # to_char on every row was a quarter of the time layer's query (5M rows 4.4 -> 3.1 s).
        label = (sa.func.date_trunc(period, c.occurred_at) if truncated
                 else period_expr(conn, period))
        keys.append(label.label("period"))
    query = (sa.select(*keys, sa.func.count().label("n"),
                       sa.func.coalesce(sa.func.sum(c["count"]), 0).label("total"))
             .where(*_where(dataset_id, filters)).group_by(*keys))
    frame = _frame(conn.execute(query))
    for col in ("gy", "gx", "n", "total"):
        frame[col] = frame[col].astype("int64") if len(frame) else pd.Series(dtype="int64")
    if truncated and len(frame):
        frame["period"] = pd.to_datetime(frame["period"]).dt.strftime(PERIOD_FORMATS[period])
    if period:
        frame["period"] = frame["period"].astype(str) if len(frame) else pd.Series(dtype=str)
    return frame


def period_expr(conn: sa.Connection, period: str, column=None):
    """Return a SQL expression giving 'YYYY-MM' (month) or the ISO week's Monday 'YYYY-MM-DD'.

    Of `column` (a timestamp or date column; default ``incidents.occurred_at``).
    """
    column = db.incidents.c.occurred_at if column is None else column
    _check_period(period)
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


def _check_period(period: str) -> None:
    if period not in PERIOD_FORMATS:
        raise ValueError(f"period must be one of {tuple(PERIOD_FORMATS)}, got {period!r}")


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
    for key in store.DAY_COLUMNS:
        if filters.get(key):
            where.append(d[key].in_(list(filters[key])))
    return where if store.rollup_cell(conn, dataset_id) is not None else None


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

    Read from the day rollup for the columns it holds (`store.DAY_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        Columns ``key`` (None for rows without a value), ``period`` when asked for, ``n``, ``total``.
    """
    cols, when, n, total, where = _counted(conn, dataset_id, filters,
                                           rollup=column in store.DAY_COLUMNS)
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


#: Segment ends are stored to 0.001 mile, so the line's own ends (where `regions.border_position`
#: puts points beyond them) can measure up to half that outside their segment's stored end.
SEGMENT_SLACK_MILES = 0.001


@dataclass(frozen=True)
class _Join:
    """Two parts of the border meeting at one mile: the nearer end point picks the segment."""

    first: int              # ends at the join; taken when a * lon + b * lat < c
    second: int             # starts at the join; taken otherwise
    a: float
    b: float
    c: float


@dataclass(frozen=True, eq=False)
class SegmentSteps:
    """Stored border segments as a step function of border mile (see `segment_steps`)."""

    table: pd.DataFrame     # code, name, mile_from, mile_to; one row per segment, mile order
    cuts: np.ndarray        # ascending border miles
    labels: tuple           # per [cuts[j], cuts[j + 1]): a row of table, None or a _Join


def _part(code: str) -> str:
    return code.rsplit("-", 1)[0] if "-" in code else ""


def _ends(segments, first: int, second: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the end point of segment first and the start point of second, if both have one."""
    import shapely

    if "geometry" not in segments:
        return None
    geoms = segments["geometry"].to_numpy()
    a, b = geoms[first], geoms[second]
    if a is None or b is None or a.is_empty or b.is_empty:
        return None
    return shapely.get_coordinates(a)[-1], shapely.get_coordinates(b)[0]


def segment_steps(segments: pd.DataFrame) -> SegmentSteps:
    """Turn the ``border_segments`` layer into the step function every count bins by.

    Parameters
    ----------
    segments : pandas.DataFrame or geopandas.GeoDataFrame
        Columns ``code`` (``L48-001``: the part before the last ``-`` names the part of the
        border), ``mile_from``, ``mile_to``, optionally ``name`` and ``geometry``.

    Returns
    -------
    SegmentSteps
        A mile belongs to the segment with ``mile_from <= mile < mile_to``. A mile within
        `SEGMENT_SLACK_MILES` before the first or after the last segment of a run (a part's
        ends, or either side of a gap) belongs to that end segment. Where two parts meet at
        one mile (the lower 48's Atlantic end and Alaska's start at Dixon Entrance have the
        same mile), a mile within the slack of the join goes to whichever of the two
        segments' end points is nearer (in degrees) to the incident. Any other mile, and no
        mile, belongs to no segment.

    Raises
    ------
    ValueError
        When there are no segments, a column is missing, or segments are empty or overlap.
    """
    missing = {"code", "mile_from", "mile_to"} - set(segments.columns)
    if missing or not len(segments):
        raise ValueError("the border segments layer is empty or lacks columns "
                         + ", ".join(sorted(missing)))
    order = np.argsort(segments["mile_from"].to_numpy(dtype=float), kind="stable")
    segments = segments.iloc[order].reset_index(drop=True)
    lo = segments["mile_from"].to_numpy(dtype=float)
    hi = segments["mile_to"].to_numpy(dtype=float)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (lo < hi).all()):
        raise ValueError("border segments need finite miles with mile_from < mile_to")
    if (lo[1:] < hi[:-1]).any():
        raise ValueError("border segments overlap")
    codes = [str(code) for code in segments["code"]]
    names = (list(segments["name"]) if "name" in segments else
             [f"Border miles {a:,.0f}–{b:,.0f}" for a, b in zip(lo, hi)])
    table = pd.DataFrame({"code": pd.Series(codes, dtype=object),
                          "name": pd.Series(names, dtype=object),
                          "mile_from": lo, "mile_to": hi})
    slack = SEGMENT_SLACK_MILES
    # Zones that extend or override the segments' own [mile_from, mile_to).
    joins: list[tuple[float, float, _Join]] = []
    edges: list[tuple[float, float, int]] = [(lo[0] - slack, lo[0], 0),
                                             (hi[-1], hi[-1] + slack, len(lo) - 1)]
    for i in range(len(lo) - 1):
        if hi[i] == lo[i + 1]:
            ends = _ends(segments, i, i + 1) if _part(codes[i]) != _part(codes[i + 1]) else None
            if ends is not None:
                p, q = ends
                # Nearer to p than to q: |x - p|^2 < |x - q|^2, a half-plane in lon/lat.
                joins.append((hi[i] - slack, hi[i] + slack,
                              _Join(i, i + 1, *map(float, 2 * (q - p)), float(q @ q - p @ p))))
            continue
        middle = (hi[i] + lo[i + 1]) / 2
        edges.append((hi[i], min(hi[i] + slack, middle), i))
        edges.append((max(lo[i + 1] - slack, middle), lo[i + 1], i + 1))
    points = np.unique(np.concatenate([lo, hi, [z for zone in joins + edges
                                                 for z in zone[:2]]]))
    labels: list = []
    for x in (points[:-1] + points[1:]) / 2:
        label = next((j for a, b, j in joins if a <= x < b), None)
        if label is None:
            k = int(np.searchsorted(lo, x, side="right")) - 1
            label = k if k >= 0 and x < hi[k] else None
        if label is None:
            label = next((k for a, b, k in edges if a <= x < b), None)
        labels.append(label)
    keep = [0] + [j for j in range(1, len(labels)) if labels[j] != labels[j - 1]]
    cuts = np.append(points[keep], points[-1])
    return SegmentSteps(table, cuts, tuple(labels[j] for j in keep))


def segment_rows(steps: SegmentSteps, mile, lon, lat) -> np.ndarray:
    """Return each incident's row of ``steps.table`` (-1: no segment); numpy twin of the SQL.

    Parameters
    ----------
    steps : SegmentSteps
    mile, lon, lat : array_like
        Border miles (NaN for none) and coordinates of the incidents.

    Returns
    -------
    numpy.ndarray of int64
    """
    mile = np.asarray(mile, dtype=float)
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    step = np.searchsorted(steps.cuts, mile, side="right") - 1
    inside = (step >= 0) & (step < len(steps.labels)) & ~np.isnan(mile)
    plain = np.asarray([label if isinstance(label, int) else -1 for label in steps.labels]
                       + [-1], dtype=np.int64)
    rows = np.where(inside, plain[np.where(inside, step, -1)], -1)
    for j, label in enumerate(steps.labels):
        if isinstance(label, _Join):
            here = inside & (step == j)
            first = label.a * lon[here] + label.b * lat[here] < label.c
            rows[here] = np.where(first, label.first, label.second)
    return rows


def _segment_sql(steps: SegmentSteps, mile, lon, lat):
    """Return a SQL expression giving what `segment_rows` gives: a binary search in CASEs."""
    def value(x: float):
        return sa.literal(float(x), sa.Float)

    def row(label):
        if isinstance(label, _Join):
            return sa.case((value(label.a) * lon + value(label.b) * lat < value(label.c),
                            sa.literal_column(str(label.first))),
                           else_=sa.literal_column(str(label.second)))
        return sa.literal_column(str(-1 if label is None else int(label)))

    def search(low: int, high: int):
        # cuts[low] <= mile < cuts[high]: about log2(segments) comparisons per incident.
        if high - low == 1:
            return row(steps.labels[low])
        middle = (low + high) // 2
        return sa.case((mile < value(steps.cuts[middle]), search(low, middle)),
                       else_=search(middle, high))

    cuts = steps.cuts
    return sa.case((sa.and_(mile >= value(cuts[0]), mile < value(cuts[-1])),
                    search(0, len(cuts) - 1)), else_=sa.literal_column("-1"))


def _segment_counts(steps: SegmentSteps, rows, n, total) -> pd.DataFrame:
    """Put counts per row of steps.table (row -1: no segment) into the result frame."""
    rows = np.asarray(rows, dtype=np.int64)
    n, total = np.asarray(n, dtype=float), np.asarray(total, dtype=float)
    size = len(steps.table) + 1
    out = steps.table.assign(
        n=np.bincount(rows + 1, weights=n, minlength=size)[1:].astype(np.int64),
        total=np.bincount(rows + 1, weights=total, minlength=size)[1:].astype(np.int64))
    outside = rows == -1
    if outside.any():
        rest = pd.DataFrame({"code": [None], "name": [None], "mile_from": [np.nan],
                             "mile_to": [np.nan], "n": [int(np.sum(n[outside]))],
                             "total": [int(np.sum(total[outside]))]})
        out = pd.concat([out, rest.astype(out.dtypes.to_dict())], ignore_index=True)
    return out


def by_border_segment(conn: sa.Connection, dataset_id: int, filters: dict | None,
                      segments: pd.DataFrame | SegmentSteps) -> pd.DataFrame:
    """Count matching incidents per stored border segment, exactly by each one's border mile.

    Binned in SQL (a CASE binary search over the segments' stored ends), so any number of
    incidents returns at most one row per segment.

    Parameters
    ----------
    segments : pandas.DataFrame or SegmentSteps
        The ``border_segments`` layer; see `segment_steps` for which mile goes where.

    Returns
    -------
    pandas.DataFrame
        Columns ``code``, ``name``, ``mile_from``, ``mile_to``, ``n``, ``total``: every segment
        in mile order (zeros included), then, when any match, one row with ``code`` None for
        incidents in no segment (no border mile, or beyond the segments) so totals add up.
    """
    steps = segments if isinstance(segments, SegmentSteps) else segment_steps(segments)
    c = db.incidents.c
    if conn.dialect.name == "postgresql":
        # PostgreSQL's JIT compiles the CASE (hundreds of branches) for a large table, which
        # took longer than running it: 2.8 s of a 3.2 s query at 5M incidents. For the rest
        # of this transaction only.
        conn.exec_driver_sql("SET LOCAL jit = off")
    # Grouped by an outer query: PostgreSQL would not match a GROUP BY that repeats the CASE
    # (its bound parameters get new placeholders) with the select's.
    inner = (sa.select(_segment_sql(steps, c.border_mile, c.lon, c.lat).label("row"),
                       c["count"].label("weight"))
             .where(*_where(dataset_id, filters)).subquery())
    query = (sa.select(inner.c.row, sa.func.count().label("n"),
                       sa.func.coalesce(sa.func.sum(inner.c.weight), 0).label("total"))
             .group_by(inner.c.row))
    frame = _frame(conn.execute(query))
    return _segment_counts(steps, frame["row"], frame["n"].to_numpy(dtype=float),
                           frame["total"].to_numpy(dtype=float))


def by_border_segment_frame(frame: pd.DataFrame,
                            segments: pd.DataFrame | SegmentSteps) -> pd.DataFrame:
    """Count the incidents of a DataFrame per border segment, as `by_border_segment` does.

    Parameters
    ----------
    frame : pandas.DataFrame
        Needs ``border_mile``, ``lon``, ``lat``; uses ``count`` (default 1).
    segments : pandas.DataFrame or SegmentSteps

    Returns
    -------
    pandas.DataFrame
        As `by_border_segment`.
    """
    steps = segments if isinstance(segments, SegmentSteps) else segment_steps(segments)
    mile = pd.to_numeric(frame["border_mile"], errors="coerce").to_numpy(dtype=float)
    rows = segment_rows(steps, mile, frame["lon"], frame["lat"])
    counts = (frame["count"].to_numpy(dtype=float) if "count" in frame
              else np.ones(len(frame)))
    return _segment_counts(steps, rows, np.ones(len(frame)), counts)


def points(conn: sa.Connection, dataset_id: int, filters: dict | None,
           limit: int) -> pd.DataFrame:
    """Return up to limit matching incidents with the columns a marker popup shows."""
    from .store import incident_frame

    return incident_frame(conn, dataset_id, filters,
                          columns=("occurred_at", "precision", "lat", "lon", "type", "count",
                                   "direction", "description", "admin1", "sector"),
                          limit=limit)
