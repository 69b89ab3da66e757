"""Grid cells of a selection on `binning`'s grid.

`grid` groups the incidents (optionally per period too); `grid_from_rollup` sums a whole
dataset's grid rollup instead, reading one row per rollup cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .. import binning, db, store
from .periods import ADMITTED, check_period, period_expr, period_labels
from .selection import clauses, result_frame, unfiltered


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
             .where(g.dataset_id == dataset_id).group_by(cy, cx).order_by(cy, cx))
    frame = result_frame(conn.execute(query)).rename(columns={"cy": "gy", "cx": "gx"})
    return _cells(frame)


def grid(conn: sa.Connection, dataset_id: int, filters: dict | None, *, cell: float,
         lat0: float, lon0: float, period: str | None = None,
         precision: bool = False) -> pd.DataFrame:
    """Aggregate matching incidents to a grid.

    Parameters
    ----------
    cell : float
        Cell size in degrees.
    lat0, lon0 : float
        Grid origin; must not exceed the selection's minimum lat/lon (use `extent`).
    period : {"week", "month", "quarter", "year"}, optional
        Also group by period (for the time layer), counting only the records known at least
        that precisely (`periods.ADMITTED`: a record known by its year is in no month).
    precision : bool
        Also group by the date's precision, and count every record (the caller picks the
        precisions: monthly cells of every precision become quarters and years in pandas,
        `relabel`, without another query).

    Returns
    -------
    pandas.DataFrame
        Columns ``gy``, ``gx`` (cell row/column from the origin), ``n`` (incidents), ``total``
        (sum of count), ``period`` and ``precision`` when asked for.
    """
    if period and unfiltered(filters):
        check_period(period)
        frame = _grid_from_periods(conn, dataset_id, cell=cell, lat0=lat0, lon0=lon0,
                                   period=period, precision=precision)
        if frame is not None:
            return frame
    c = db.incidents.c
    # The keys of `binning`, as the rollup and the numpy path compute them.
    gy = binning.sql_cell_key(conn, c.lat, -lat0, cell).label("gy")
    gx = binning.sql_cell_key(conn, c.lon, -lon0, cell).label("gx")
    keys = [gy, gx]
    truncated = bool(period) and conn.dialect.name in ("postgresql", "duckdb")
    if period:
        check_period(period)
        # PostgreSQL (and DuckDB) groups on the truncated timestamp, formatted once per group afterwards:
        # to_char on every row was a quarter of the time layer's query (5M rows 4.4 -> 3.1 s).
        label = (sa.func.date_trunc(period, c.occurred_at) if truncated
                 else period_expr(conn, period))
        keys.append(label.label("period"))
    if precision:
        keys.append(c.precision.label("precision"))
    where = clauses(dataset_id, filters)
    if period and period != "year" and not precision:
        where.append(c.precision.in_(ADMITTED[period]))
    query = (sa.select(*keys, sa.func.count().label("n"),
                       sa.func.coalesce(sa.func.sum(c["count"]), 0).label("total"))
             .where(*where, c.lat.isnot(None)).group_by(*keys).order_by(*keys))
    frame = result_frame(conn.execute(query), raw=True)  # numbers, text, driver timestamps
    if truncated and len(frame):
        # Each period's label once (a hundred weeks), not once per cell and period.
        codes, starts = pd.factorize(frame["period"])
        frame["period"] = period_labels(pd.Series(starts), period).to_numpy()[codes]
    return _cells(frame)


def _grid_from_periods(conn: sa.Connection, dataset_id: int, *, cell: float, lat0: float,
                      lon0: float, period: str, precision: bool) -> pd.DataFrame | None:
    """`grid` of a whole dataset per period from the time rollup (incident_cell_periods).

    None when it cannot answer: no rollups, or cell not a multiple of its cell. Weeks sum the
    week rows; months, quarters and years the month rows (months nest in both).
    """
    k = binning.rollup_factor(store.TIME_ROLLUP_CELL, cell)
    if k is None or store.rollup_cell(conn, dataset_id) is None:
        return None
    q = db.incident_cell_periods.c
    oy = binning.origin_index(lat0, binning.LAT_SHIFT, cell)
    ox = binning.origin_index(lon0, binning.LON_SHIFT, cell)
    cy = q.gy // sa.literal_column(str(int(k))) - sa.literal_column(str(oy))
    cx = q.gx // sa.literal_column(str(int(k))) - sa.literal_column(str(ox))
    label = period_expr(conn, period, q.start)
    keys = [cy.label("gy"), cx.label("gx"), label.label("period")]
    where = [q.dataset_id == dataset_id, q.grain == ("w" if period == "week" else "m")]
    if precision:
        keys.append(q.precision.label("precision"))
    elif period != "year":
        where.append(q.precision.in_(ADMITTED[period]))
    query = (sa.select(*keys, sa.cast(sa.func.sum(q.n), sa.BigInteger).label("n"),
                       sa.cast(sa.func.sum(q.total), sa.BigInteger).label("total"))
             .where(*where).group_by(*keys).order_by(*keys))
    return _cells(result_frame(conn.execute(query), raw=True))  # integers and text


def _cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Grid cells typed: integer keys and counts, text period and precision.

    The queries ask for key order (``ORDER BY`` the grouping keys: a period's start orders
    as its label): each database, and the columnar copy, would hand groups back in its own
    order, and a map drawn from any of them must be the same bytes.
    """
    for col in ("gy", "gx", "n", "total"):
        frame[col] = frame[col].astype("int64") if len(frame) else pd.Series(dtype="int64")
    for col in ("period", "precision"):
        if col in frame:
            frame[col] = frame[col].astype(str) if len(frame) else pd.Series(dtype=str)
    return frame


def relabel(cells: pd.DataFrame, period: str) -> pd.DataFrame:
    """Monthly grid cells with their precision (`grid(period="month", precision=True)`) as
    cells of `period` (month, quarter or year), counting the records it admits; no query.

    Monthly counts without cells (`periods.regional(precision=True)`) are relabelled alike.
    """
    if period not in ("month", "quarter", "year"):
        raise ValueError(f"monthly cells cannot be relabelled by {period!r}")
    cells = cells[cells["precision"].isin(ADMITTED[period]).to_numpy()]
    # Each distinct month is relabelled once (a few dozen), and the rows are grouped on
    # integer codes of the new labels, numbered in label order so that the groups come out
    # in the order grouping by the labels themselves would give.
    month_codes, months = pd.factorize(cells["period"].astype(str))
    months = pd.Series(np.asarray(months, dtype=str), dtype=str)
    if period == "quarter":
        month = months.str.slice(5, 7).astype(int)
        labels = months.str.slice(0, 4) + "-Q" + ((month - 1) // 3 + 1).astype(str)
    elif period == "year":
        labels = months.str.slice(0, 4)
    else:
        labels = months
    names = np.unique(np.asarray(labels, dtype=str))  # sorted
    rank = np.searchsorted(names, np.asarray(labels, dtype=str))
    # Cells (gy, gx) or counts per period alone (`periods.regional`).
    keys = [k for k in ("gy", "gx") if k in cells]
    frame = pd.DataFrame({**{k: cells[k].to_numpy(dtype=np.int64) for k in keys},
                          "pcode": rank[month_codes].astype(np.int64),
                          "n": cells["n"].to_numpy(dtype=np.int64),
                          "total": cells["total"].to_numpy(dtype=np.int64)})
    out = frame.groupby(keys + ["pcode"], as_index=False, sort=True)[["n", "total"]].sum()
    out["period"] = pd.Series(names[out["pcode"].to_numpy()], dtype=str, index=out.index)
    for col in keys + ["n", "total"]:
        out[col] = out[col].astype("int64")
    return out[keys + ["period", "n", "total"]]
