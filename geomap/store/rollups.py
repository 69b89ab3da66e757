"""A dataset's rollups: the grid (incident_grid_cells) and the days (incident_days).

Built from the table with two ``GROUP BY``s (`refresh_rollups`), or from the rows an import
wrote (`RollupAccumulator`: `replace_rollups`, `merge_rollups`); `write_rollups` picks.
Called in the transaction that changed the incidents (`datasets.incidents_changed`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .. import binning, db
from .bulk import _bulk_insert
from .columns import TEXT_DEFAULTS, stored_counts, utcnow
from .period_rollups import CellPeriods, drop_periods, insert_periods, refresh_periods


# Two per dataset, rebuilt or updated in the transaction that changes its incidents, so
# readers see incidents and rollups change together: the grid (incidents per 0.01-degree
# cell, for unfiltered heat and cluster maps) and the days (incidents per day and value of
# every filterable column, for stats and choropleths under any filter). A dataset's row in
# `incident_grids` says both are built; without it, readers query the incidents.

#: Cell size (degrees) of the grid rollup: `binning.ROLLUP_CELL` (the grid is binning's).
GRID_ROLLUP_CELL = binning.ROLLUP_CELL
#: Columns of the day rollup besides the day: every column a filter selects on (`filters`),
#: and the date's precision (migration 0010: a period counts only the records it admits),
#: and how the row was located (migration 0014: ``stats?by=location_precision``).
DAY_COLUMNS = ("type", "direction", "country", "admin1", "sector", "precision",
               "location_precision")


def day_of(conn: sa.Connection, column):
    """Return the SQL expression for the calendar day of a timestamp column (UTC)."""
    if conn.dialect.name == "postgresql":
        return sa.cast(column, sa.Date)
    return sa.func.date(column)  # 'YYYY-MM-DD', as SQLAlchemy stores a Date on SQLite


def rollup_cell(conn: sa.Connection, dataset_id: int) -> float | None:
    """Return the grid cell size of a dataset's rollups, or None when they are not built."""
    g = db.incident_grids.c
    return conn.execute(sa.select(g.cell).where(g.dataset_id == dataset_id)).scalar()


def write_rollups(conn: sa.Connection, dataset_id: int,
                  rollup: "RollupAccumulator | None" = None) -> int:
    """Bring a dataset's rollups up to date after its incidents changed; return its grid cells.

    Rebuilt from the table (`refresh_rollups`), or, when the caller accumulated every incident
    the dataset now holds (`rollup`), replaced by that (`replace_rollups`), or, when it
    accumulated only incidents it appended (``rollup.delta``), merged with it (`merge_rollups`).
    """
    if rollup is None:
        return refresh_rollups(conn, dataset_id)
    if rollup.delta:
        return merge_rollups(conn, dataset_id, rollup)
    return replace_rollups(conn, dataset_id, rollup)


def refresh_rollups(conn: sa.Connection, dataset_id: int) -> int:
    """Rebuild a dataset's rollups from its incidents (two GROUP BYs in SQL); return its cells.

    Called inside the transaction that changed the incidents (`bump_version`, and the import
    that creates a dataset), so readers see incidents and rollups change together.
    """
    c = db.incidents.c
    _drop_rollups(conn, dataset_id)
    gy = binning.sql_cell_key(conn, c.lat, binning.LAT_SHIFT)
    gx = binning.sql_cell_key(conn, c.lon, binning.LON_SHIFT)
    select = (sa.select(c.dataset_id, gy, gx, sa.func.count(),
                        sa.func.coalesce(sa.func.sum(c["count"]), 0),
                        sa.func.min(c.lat), sa.func.max(c.lat), sa.func.min(c.lon),
                        sa.func.max(c.lon))
              # Rows known only by sector or state have no coordinates: no cell (0009).
              .where(c.dataset_id == dataset_id, c.lat.isnot(None))
              .group_by(c.dataset_id, gy, gx))
    g = db.incident_grid_cells.c
    conn.execute(sa.insert(db.incident_grid_cells).from_select(
        [g.dataset_id, g.gy, g.gx, g.n, g.total, g.lat_min, g.lat_max, g.lon_min, g.lon_max],
        select))
    day = day_of(conn, c.occurred_at)
    keys = [c.dataset_id, day, *(c[name] for name in DAY_COLUMNS)]
    d = db.incident_days.c
    conn.execute(sa.insert(db.incident_days).from_select(
        [d.dataset_id, d.day, *(d[name] for name in DAY_COLUMNS), d.n, d.total],
        sa.select(*keys, sa.func.count(), sa.func.coalesce(sa.func.sum(c["count"]), 0))
        .where(c.dataset_id == dataset_id).group_by(*keys)))
    refresh_periods(conn, dataset_id)
    cells = conn.execute(sa.select(sa.func.count()).select_from(db.incident_grid_cells)
                         .where(g.dataset_id == dataset_id)).scalar_one()
    conn.execute(sa.insert(db.incident_grids).values(
        dataset_id=dataset_id, cell=GRID_ROLLUP_CELL, cells=cells, built_at=utcnow()))
    return cells


def _drop_rollups(conn: sa.Connection, dataset_id: int) -> None:
    """Delete a dataset's rollups (grid cells, days, periods and its row in incident_grids)."""
    for table in (db.incident_grid_cells, db.incident_days, db.incident_grids):
        conn.execute(sa.delete(table).where(table.c.dataset_id == dataset_id))
    drop_periods(conn, dataset_id)


class _ValueCodes:
    """Small integer codes for one column's values, stable across blocks (-1: no value)."""

    def __init__(self):
        self._index: dict = {}
        self.values: list = []

    def _code(self, value) -> int:
        code = self._index.get(value)
        if code is None:
            code = self._index[value] = len(self.values)
            self.values.append(value)
        return code

    def encode(self, values: pd.Series) -> np.ndarray:
        codes, uniques = pd.factorize(values)  # vectorised; -1 for a missing value
        table = np.array([self._code(v) for v in uniques] + [-1], dtype=np.int64)
        return table[codes]  # code -1 picks the table's last entry, -1

    def decode(self, codes: np.ndarray) -> list:
        return np.array([*self.values, None], dtype=object)[codes].tolist()


class _Partials:
    """Partial aggregates of blocks, merged (by `merge` of their concatenation) as they grow.

    Memory stays a few rows per key instead of one part per block.
    """

    def __init__(self, merge):
        self._merge = merge
        self._parts: list[pd.DataFrame] = []
        self._rows = 0

    def add(self, part: pd.DataFrame) -> None:
        self._parts.append(part)
        self._rows += len(part)
        if len(self._parts) > 1 and self._rows > 4 * len(self._parts[0]) + 100_000:
            self._parts = [self.merged()]
            self._rows = len(self._parts[0])

    def merged(self) -> pd.DataFrame | None:
        """Return the parts merged into one frame, or None before any was added."""
        if len(self._parts) <= 1:
            return self._parts[0] if self._parts else None
        return self._merge(pd.concat(self._parts))


class RollupAccumulator:
    """A dataset's rollups computed in Python from incidents as they are written (imports).

    Gives exactly the grid cells and day rows `refresh_rollups` would compute from the same
    incidents (grid keys floor((coordinate + shift) / cell + 1e-9) in IEEE doubles; exact
    counts, sums, minima and maxima; days and column values as stored), without scanning the
    table again. Valid only when the accumulated rows are all of the dataset's incidents (an
    import into an empty dataset that rewrote none of them), or, with ``delta``, all the rows
    added to it (an append that rewrote none). Partial aggregates per block are merged as
    they come, so memory is a few rows per cell and per day and value.
    """

    _COLUMNS = ["n", "total", "lat_min", "lat_max", "lon_min", "lon_max"]
    _DAY_KEYS = ["day", *DAY_COLUMNS]

    def __init__(self, delta: bool = False):
        #: The rows are appended to incidents the dataset already had: `bump_version`
        #: merges them into the existing rollups (`merge_rollups`) instead of replacing them.
        self.delta = delta
        self._cells = _Partials(lambda parts: parts.groupby(level=["gy", "gx"], sort=False).agg(
            {"n": "sum", "total": "sum", "lat_min": "min", "lat_max": "max",
             "lon_min": "min", "lon_max": "max"}))
        # Day rows are grouped on integer codes (days since 1970, codes of the values):
        # grouping a million rows on five text columns cost seconds.
        self._codes = {name: _ValueCodes() for name in DAY_COLUMNS}
        self._days = _Partials(
            lambda parts: parts.groupby(level=self._DAY_KEYS, sort=False).sum())
        # Located rows per time-rollup cell, week or month and precision (issue #20).
        self.cell_periods = CellPeriods()

    def add(self, rows: pd.DataFrame) -> None:
        """Accumulate incidents (a frame with the incidents table's columns, as written)."""
        if not len(rows):
            return
        lat = rows["lat"].to_numpy(dtype=float)
        lon = rows["lon"].to_numpy(dtype=float)
        count = stored_counts(rows)
        keys = self._add_days(rows, count)
        day, precision = keys["day"], keys["precision"]
        # Rows known only by sector or state (no coordinates) are in the days, not the grid.
        located = np.isfinite(lat) & np.isfinite(lon)
        if not located.all():
            lat, lon, count = lat[located], lon[located], count[located]
            day, precision = day[located], precision[located]
            if not len(lat):
                return
        gy, gx = binning.rollup_keys(lat, lon)
        frame = pd.DataFrame({"gy": gy, "gx": gx, "count": count, "lat": lat, "lon": lon})
        self._cells.add(frame.groupby(["gy", "gx"], sort=False).agg(
            n=("lat", "size"), total=("count", "sum"), lat_min=("lat", "min"),
            lat_max=("lat", "max"), lon_min=("lon", "min"), lon_max=("lon", "max")))
        self.cell_periods.add(lat, lon, day, precision, count)

    def _add_days(self, rows: pd.DataFrame, count: np.ndarray) -> dict[str, np.ndarray]:
        """Accumulate the rows' day rollup; return their keys (day number, value codes)."""
        when = pd.to_datetime(rows["occurred_at"]).to_numpy(dtype="datetime64[ns]")
        keys = {"day": when.astype("datetime64[D]").astype(np.int64)}
        for name in DAY_COLUMNS:
            default = TEXT_DEFAULTS[name]
            if name not in rows:
                values = pd.Series(np.full(len(rows), default, dtype=object))
            else:
                values = rows[name] if default is None else rows[name].fillna(default)
            keys[name] = self._codes[name].encode(values)
        frame = pd.DataFrame({**keys, "count": count})
        self._days.add(
            frame.groupby(self._DAY_KEYS, sort=False)["count"].agg(n="size", total="sum"))
        return keys

    def decode_precisions(self, codes: np.ndarray) -> list:
        """Return the precisions of codes (as `CellPeriods` holds them)."""
        return self._codes["precision"].decode(codes)

    def cells(self) -> pd.DataFrame:
        """Return the merged grid cells, indexed by (gy, gx)."""
        cells = self._cells.merged()
        if cells is None:
            index = pd.MultiIndex.from_arrays([[], []], names=["gy", "gx"])
            return pd.DataFrame({c: [] for c in self._COLUMNS}, index=index)
        return cells

    def days(self) -> dict[str, np.ndarray | list]:
        """Return the merged day rows as columns: ``day`` (days since 1970), the values of
        DAY_COLUMNS (None for none), ``n`` and ``total``."""
        merged = self._days.merged()
        if merged is None:
            return {"day": np.array([], dtype=np.int64), **{name: [] for name in DAY_COLUMNS},
                    "n": np.array([], dtype=np.int64), "total": np.array([], dtype=np.int64)}
        merged = merged.reset_index()
        out: dict[str, np.ndarray | list] = {"day": merged["day"].to_numpy(np.int64)}
        for name in DAY_COLUMNS:
            out[name] = self._codes[name].decode(merged[name].to_numpy(np.int64))
        out["n"] = merged["n"].to_numpy(np.int64)
        out["total"] = merged["total"].to_numpy(np.int64)
        return out


def replace_rollups(conn: sa.Connection, dataset_id: int, rollup: RollupAccumulator) -> int:
    """Replace a dataset's rollups by accumulated ones (see `RollupAccumulator`)."""
    _drop_rollups(conn, dataset_id)
    # In primary-key order: each index insert lands on the rightmost leaf (no random descent).
    cells = rollup.cells().sort_index().reset_index()
    if len(cells):
        values = _grid_values(dataset_id, cells)
        _bulk_insert(conn, "incident_grid_cells", values, _PG_GRID_TYPES)
    _insert_days(conn, dataset_id, rollup)
    conn.execute(sa.insert(db.incident_grids).values(
        dataset_id=dataset_id, cell=GRID_ROLLUP_CELL, cells=len(cells), built_at=utcnow()))
    return len(cells)


def _grid_values(dataset_id: int, cells: pd.DataFrame) -> dict[str, list]:
    """Return rollup cells as column lists for `_bulk_insert` (plain ints and floats)."""
    values = {"dataset_id": [int(dataset_id)] * len(cells)}
    for name in ("gy", "gx", "n", "total"):
        values[name] = cells[name].astype(np.int64).tolist()
    for name in ("lat_min", "lat_max", "lon_min", "lon_max"):
        values[name] = cells[name].astype(float).tolist()
    return values


def _insert_days(conn: sa.Connection, dataset_id: int, rollup: RollupAccumulator) -> None:
    """Write accumulated day rows (appended: readers sum them, so a day may have several),
    and the period rows summed from them and from the accumulated cells."""
    days = rollup.days()
    insert_periods(conn, dataset_id, days, rollup.cell_periods,
                   rollup.decode_precisions)
    if not len(days["day"]):
        return
    dates = days["day"].astype("datetime64[D]")
    values = {"dataset_id": [int(dataset_id)] * len(dates),
              "day": (np.datetime_as_string(dates) if conn.dialect.name == "sqlite"
                      else dates.astype(object)).tolist()}
    for name in DAY_COLUMNS:
        values[name] = days[name]
    values["n"] = days["n"].tolist()
    values["total"] = days["total"].tolist()
    _bulk_insert(conn, "incident_days", values, _PG_DAY_TYPES)


def merge_rollups(conn: sa.Connection, dataset_id: int, rollup: RollupAccumulator) -> int:
    """Add appended incidents to a dataset's rollups; return its grid cell count.

    Grid counts and totals add up, bounds take the minimum and maximum; day rows are appended
    (readers sum them). The result answers exactly as `refresh_rollups` would from the table,
    in time proportional to the appended rows instead of the whole dataset. A dataset
    without rollups yet gets `refresh_rollups`.
    """
    if rollup_cell(conn, dataset_id) is None:
        return refresh_rollups(conn, dataset_id)
    cells = rollup.cells().sort_index().reset_index()
    if len(cells):
        values = _grid_values(dataset_id, cells)
        names = ", ".join(values)
        postgresql = conn.dialect.name == "postgresql"
        least, greatest = ("LEAST", "GREATEST") if postgresql else ("min", "max")
        merge = ("ON CONFLICT (dataset_id, gy, gx) DO UPDATE SET "
                 "n = incident_grid_cells.n + excluded.n, "
                 "total = incident_grid_cells.total + excluded.total, "
                 f"lat_min = {least}(incident_grid_cells.lat_min, excluded.lat_min), "
                 f"lat_max = {greatest}(incident_grid_cells.lat_max, excluded.lat_max), "
                 f"lon_min = {least}(incident_grid_cells.lon_min, excluded.lon_min), "
                 f"lon_max = {greatest}(incident_grid_cells.lon_max, excluded.lon_max)")
        if postgresql:
            # COPY into a scratch table, then one set-based upsert (no statement per cell).
            conn.exec_driver_sql("CREATE TEMPORARY TABLE grid_delta "
                                 "(LIKE incident_grid_cells) ON COMMIT DROP")
            _bulk_insert(conn, "grid_delta", values, _PG_GRID_TYPES)
            conn.exec_driver_sql(f"INSERT INTO incident_grid_cells ({names}) "
                                 f"SELECT {names} FROM grid_delta {merge}")
            conn.exec_driver_sql("DROP TABLE grid_delta")
        else:
            marks = ", ".join("?" for _ in values)
            cursor = conn.connection.driver_connection.cursor()
            try:
                cursor.executemany(f"INSERT INTO incident_grid_cells ({names}) "
                                   f"VALUES ({marks}) {merge}", zip(*values.values()))
            finally:
                cursor.close()
    _insert_days(conn, dataset_id, rollup)
    count = conn.execute(sa.select(sa.func.count()).select_from(db.incident_grid_cells)
                         .where(db.incident_grid_cells.c.dataset_id == dataset_id)).scalar_one()
    conn.execute(sa.update(db.incident_grids).where(db.incident_grids.c.dataset_id == dataset_id)
                 .values(cells=count, built_at=utcnow()))
    return count


_PG_GRID_TYPES = {"dataset_id": "int4", "gy": "int4", "gx": "int4", "n": "int8", "total": "int8",
                  "lat_min": "float8", "lat_max": "float8", "lon_min": "float8",
                  "lon_max": "float8"}
_PG_DAY_TYPES = {"dataset_id": "int4", "day": "date", "type": "text", "direction": "text",
                 "country": "text", "admin1": "text", "sector": "text", "precision": "text",
                 "location_precision": "text", "n": "int8",
                 "total": "int8"}
