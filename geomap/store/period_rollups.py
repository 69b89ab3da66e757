"""Time-keyed rollups (issue #20): incident_periods and incident_cell_periods.

``incident_periods`` is the day rollup summed per week and per month (grain ``w`` / ``m``,
``start`` the Monday or the first of the month); ``incident_cell_periods`` counts located
incidents per `TIME_ROLLUP_CELL` cell, week or month and date precision, for the time
layer. Both are written beside the grid and day rollups, in the same transaction, by the
same door (`rollups.write_rollups`): rebuilt with a GROUP BY (`refresh_periods`), or from
the rows an import wrote (`CellPeriods`, fed by `rollups.RollupAccumulator`, and
`insert_periods`). Like the day rollup, a key may have several rows (appends add rows);
readers sum them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .. import binning, db
from .bulk import _bulk_insert

#: Cell (degrees) of the time-layer rollup: a time map's cell must be a multiple of it (0.1,
#: 0.2, 0.5 ... degrees; `binning.fit_cell` gives 0.2 for the whole border). Finer cells cost
#: rows: at 1M generated incidents, 0.05 degrees made 256k week rows, 0.1 made 125k.
TIME_ROLLUP_CELL = 0.1
#: Grains: week (starting on Monday, as `aggregate.period_expr` labels weeks) and month.
GRAINS = ("w", "m")
_COLUMNS = ("type", "direction", "country", "admin1", "sector", "precision",
            "location_precision")  # `rollups.DAY_COLUMNS`


def week_start(days: np.ndarray) -> np.ndarray:
    """Return the Monday on or before each day (days since 1970-01-01, a Thursday)."""
    days = np.asarray(days, dtype=np.int64)
    return days - (days + 3) % 7


def month_start(days: np.ndarray) -> np.ndarray:
    """Return the first of the month of each day (days since 1970-01-01)."""
    months = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int64)


def grain_starts(days: np.ndarray) -> dict[str, np.ndarray]:
    return {"w": week_start(days), "m": month_start(days)}


def time_keys(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the time rollup's cell keys, as `binning.sql_cell_key` computes them."""
    return (np.floor((lat + binning.LAT_SHIFT) / TIME_ROLLUP_CELL + binning.EPS).astype(np.int64),
            np.floor((lon + binning.LON_SHIFT) / TIME_ROLLUP_CELL + binning.EPS).astype(np.int64))


class CellPeriods:
    """Located incidents counted per time-rollup cell, week or month and precision code.

    Fed block by block (`add`), partial counts merged as they grow, so memory is a few rows
    per key. Precisions are integer codes of the caller (`rollups._ValueCodes`). The five
    keys are packed into one integer (`_pack`) counted with ``np.unique``: grouping on five
    columns added 8.8 s to accumulating 1M rows, this 0.4 s (BENCHMARKS.md, "Exploration at
    5M").
    """

    def __init__(self):
        self._parts: list[pd.Series] = []
        self._rows = 0

    def add(self, lat: np.ndarray, lon: np.ndarray, days: np.ndarray, precision: np.ndarray,
            count: np.ndarray) -> None:
        if not len(lat):
            return
        gy, gx = time_keys(lat, lon)
        count = np.asarray(count, dtype=np.int64)
        for grain, starts in enumerate((week_start(days), month_start(days))):
            keys, inverse = np.unique(_pack(grain, starts, gy, gx, precision),
                                      return_inverse=True)
            inverse = inverse.ravel()
            n = np.bincount(inverse, minlength=len(keys)).astype(np.int64)
            total = np.bincount(inverse, weights=count, minlength=len(keys)).astype(np.int64)
            self._parts.append(pd.DataFrame({"n": n, "total": total}, index=keys))
            self._rows += len(keys)
        if len(self._parts) > 2 and self._rows > 4 * len(self._parts[0]) + 100_000:
            self._parts = [self._merge()]
            self._rows = len(self._parts[0])

    def _merge(self) -> pd.DataFrame:
        if len(self._parts) == 1:
            return self._parts[0]
        return pd.concat(self._parts).groupby(level=0, sort=True).sum()

    def merged(self) -> pd.DataFrame | None:
        """Return the counts as columns grain (0 week, 1 month), start (days since 1970),
        gy, gx, precision (codes), n and total; None before any was added."""
        if not self._parts:
            return None
        merged = self._merge()
        grain, start, gy, gx, precision = _unpack(merged.index.to_numpy(np.int64))
        return pd.DataFrame({"grain": grain, "start": start, "gy": gy, "gx": gx,
                             "precision": precision, "n": merged["n"].to_numpy(),
                             "total": merged["total"].to_numpy()})


# Bits of each packed key: precision code, gx (0-3600 at 0.1 degree), gy (0-1800), the
# period's first day (days since 1970, offset to stay positive back to year 1790) and grain.
_P, _X, _Y, _S = 6, 12, 11, 18
_OFFSET = 1 << 16


def _pack(grain: int, start, gy, gx, precision) -> np.ndarray:
    precision = np.asarray(precision, dtype=np.int64)
    if len(precision) and precision.max() >= 1 << _P:
        raise ValueError("too many distinct precisions to pack")
    key = np.int64(grain) << _S
    key = (key + (np.asarray(start, dtype=np.int64) + _OFFSET)) << _Y
    key = (key + np.asarray(gy, dtype=np.int64)) << _X
    key = (key + np.asarray(gx, dtype=np.int64)) << _P
    return key + precision


def _unpack(key: np.ndarray) -> tuple[np.ndarray, ...]:
    precision = key & ((1 << _P) - 1)
    key = key >> _P
    gx = key & ((1 << _X) - 1)
    key = key >> _X
    gy = key & ((1 << _Y) - 1)
    key = key >> _Y
    start = (key & ((1 << _S) - 1)) - _OFFSET
    return key >> _S, start, gy, gx, precision


def _dates(conn: sa.Connection, days: np.ndarray) -> list:
    dates = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    return (np.datetime_as_string(dates) if conn.dialect.name == "sqlite"
            else dates.astype(object)).tolist()


def insert_periods(conn: sa.Connection, dataset_id: int, days: dict, cells: CellPeriods,
                   precisions) -> None:
    """Write the period rows of accumulated day rows (`RollupAccumulator.days`) and cells.

    ``precisions`` decodes the cells' precision codes (`rollups._ValueCodes.decode`).
    """
    if len(days["day"]):
        frame = pd.DataFrame({name: days[name] for name in _COLUMNS})
        frame = frame.fillna({"type": "", "direction": "unknown"})
        frame["n"] = days["n"]
        frame["total"] = days["total"]
        parts = []
        for grain, starts in grain_starts(days["day"]).items():
            # None keys (a row without country, say) must group too: dropna=False.
            part = (frame.assign(start=starts)
                    .groupby(["start", *_COLUMNS], dropna=False, sort=True)[["n", "total"]]
                    .sum().reset_index())
            parts.append(part.assign(grain=grain))
        rows = pd.concat(parts, ignore_index=True)
        values = {"dataset_id": [int(dataset_id)] * len(rows), "grain": rows["grain"].tolist(),
                  "start": _dates(conn, rows["start"].to_numpy())}
        for name in _COLUMNS:
            values[name] = [None if pd.isna(v) else v for v in rows[name].tolist()]
        values["n"] = rows["n"].astype(np.int64).tolist()
        values["total"] = rows["total"].astype(np.int64).tolist()
        _bulk_insert(conn, "incident_periods", values, _PG_PERIOD_TYPES)
    rows = cells.merged()
    if rows is not None and len(rows):
        values = {"dataset_id": [int(dataset_id)] * len(rows),
                  "grain": [GRAINS[g] for g in rows["grain"].tolist()],
                  "start": _dates(conn, rows["start"].to_numpy()),
                  "gy": rows["gy"].astype(np.int64).tolist(),
                  "gx": rows["gx"].astype(np.int64).tolist(),
                  "precision": precisions(rows["precision"].to_numpy(np.int64)),
                  "n": rows["n"].astype(np.int64).tolist(),
                  "total": rows["total"].astype(np.int64).tolist()}
        _bulk_insert(conn, "incident_cell_periods", values, _PG_CELL_TYPES)


def start_of(conn: sa.Connection, grain: str, day):
    """Return the SQL date starting the week ('w') or month ('m') of a date expression."""
    if conn.dialect.name == "postgresql":
        if grain == "w":  # date minus days: no time zone on the way (date_trunc would)
            return day - (sa.cast(sa.extract("isodow", day), sa.Integer) - 1)
        return sa.cast(sa.func.date_trunc("month", sa.cast(day, sa.DateTime)), sa.Date)
    return (sa.func.date(day, "-6 days", "weekday 1") if grain == "w"
            else sa.func.date(day, "start of month"))


def refresh_periods(conn: sa.Connection, dataset_id: int) -> None:
    """Rebuild a dataset's period rollups: from its day rollup (written first) and, for the
    cells, from its incidents (one GROUP BY per grain)."""
    drop_periods(conn, dataset_id)
    d = db.incident_days.c
    p = db.incident_periods.c
    for grain in GRAINS:
        start = start_of(conn, grain, d.day)
        keys = [d.dataset_id, start, *(d[name] for name in _COLUMNS)]
        conn.execute(sa.insert(db.incident_periods).from_select(
            [p.dataset_id, p.start, *(p[name] for name in _COLUMNS), p.grain, p.n, p.total],
            sa.select(*keys, sa.literal(grain), sa.cast(sa.func.sum(d.n), sa.BigInteger),
                      sa.cast(sa.func.sum(d.total), sa.BigInteger))
            .where(d.dataset_id == dataset_id).group_by(*keys)))
    # One pass over the incidents into cells per day (a scratch table), then each grain from
    # that: two passes with the period computed per row took twice as long.
    c = db.incidents.c
    gy = binning.sql_cell_key(conn, c.lat, binning.LAT_SHIFT, TIME_ROLLUP_CELL)
    gx = binning.sql_cell_key(conn, c.lon, binning.LON_SHIFT, TIME_ROLLUP_CELL)
    day = (sa.cast(c.occurred_at, sa.Date) if conn.dialect.name == "postgresql"
           else sa.func.date(c.occurred_at))  # as `rollups.day_of`
    keys = [day, gy, gx, c.precision]
    daily = sa.select(*keys, sa.func.count(), sa.func.coalesce(sa.func.sum(c["count"]), 0)
                      ).where(c.dataset_id == dataset_id, c.lat.isnot(None)).group_by(*keys)
    scratch = ("CREATE TEMPORARY TABLE cell_days (day date, gy integer, gx integer, "
               "precision varchar(8), n bigint, total bigint)")
    if conn.dialect.name == "postgresql":
        scratch += " ON COMMIT DROP"
    conn.exec_driver_sql(scratch)
    t = sa.table("cell_days", sa.column("day", sa.Date), sa.column("gy"), sa.column("gx"),
                 sa.column("precision"), sa.column("n"), sa.column("total"))
    conn.execute(sa.insert(t).from_select(["day", "gy", "gx", "precision", "n", "total"],
                                          daily))
    q = db.incident_cell_periods.c
    for grain in GRAINS:
        start = start_of(conn, grain, t.c.day)
        keys = [start, t.c.gy, t.c.gx, t.c.precision]
        conn.execute(sa.insert(db.incident_cell_periods).from_select(
            [q.start, q.gy, q.gx, q.precision, q.dataset_id, q.grain, q.n, q.total],
            sa.select(*keys, sa.literal(int(dataset_id)), sa.literal(grain),
                      sa.cast(sa.func.sum(t.c.n), sa.BigInteger),
                      sa.cast(sa.func.sum(t.c.total), sa.BigInteger)).group_by(*keys)))
    conn.exec_driver_sql("DROP TABLE cell_days")


def drop_periods(conn: sa.Connection, dataset_id: int) -> None:
    for table in (db.incident_periods, db.incident_cell_periods):
        conn.execute(sa.delete(table).where(table.c.dataset_id == dataset_id))


_PG_PERIOD_TYPES = {"dataset_id": "int4", "grain": "text", "start": "date", "type": "text",
                    "direction": "text", "country": "text", "admin1": "text", "sector": "text",
                    "precision": "text", "location_precision": "text", "n": "int8",
                    "total": "int8"}
_PG_CELL_TYPES = {"dataset_id": "int4", "grain": "text", "start": "date", "gy": "int4",
                  "gx": "int4", "precision": "text", "n": "int8", "total": "int8"}
