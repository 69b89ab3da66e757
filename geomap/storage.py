"""Storage: datasets, incidents, imports, users and tokens on SQLite or PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import re
import sqlite3
import threading
from typing import Any, Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import db
from .errors import BadRequest, Conflict, NotFound

LOGGER = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
DATASET_FIELDS = ("title", "description", "source", "license", "correction", "min_public_count")
INCIDENT_COLUMNS = (
    "dataset_id", "import_id", "source_id", "occurred_at", "precision", "lat", "lon", "type",
    "count", "direction", "description", "attributes", "admin1", "country", "sector",
    "border_mile", "border_km", "at_border", "row_hash", "row_hash2",
)


def utcnow() -> dt.datetime:
    """Return the current UTC time as a naive datetime (the database stores UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


# --- datasets ---------------------------------------------------------------------------------

def check_slug(slug: str) -> str:
    """Return slug if it is URL-safe, else raise BadRequest saying what is allowed."""
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise BadRequest(
            f"dataset slug {slug!r} is not valid: use 1-100 lower-case letters, digits and "
            "hyphens, starting and ending with a letter or digit",
            details={"field": "slug", "value": slug})
    return slug


def create_dataset(conn: sa.Connection, slug: str, title: str, **fields: Any) -> dict:
    """Insert a dataset (draft unless published=True) and return it."""
    check_slug(slug)
    if get_dataset(conn, slug, missing_ok=True) is not None:
        raise Conflict(f"dataset {slug!r} already exists", details={"slug": slug})
    now = utcnow()
    values = {k: v for k, v in fields.items() if k in DATASET_FIELDS + ("published",)}
    conn.execute(sa.insert(db.datasets).values(
        slug=slug, title=title or slug, created_at=now, updated_at=now, version=1, **values))
    return get_dataset(conn, slug)


def get_dataset(conn: sa.Connection, slug: str, *, missing_ok: bool = False,
                published_only: bool = False) -> dict | None:
    """Return the dataset with this slug as a dict, or raise NotFound."""
    query = sa.select(db.datasets).where(db.datasets.c.slug == slug)
    if published_only:
        query = query.where(db.datasets.c.published.is_(True))
    row = conn.execute(query).mappings().first()
    if row is None:
        if missing_ok:
            return None
        raise NotFound(f"no dataset {slug!r}", details={"slug": slug})
    return dict(row)


def list_datasets(conn: sa.Connection, *, published_only: bool = True,
                  slug: str | None = None) -> list[dict]:
    """Return datasets (newest first), or the one with `slug`, with their incident totals."""
    query = sa.select(db.datasets).order_by(db.datasets.c.updated_at.desc(), db.datasets.c.slug)
    if published_only:
        query = query.where(db.datasets.c.published.is_(True))
    if slug is not None:
        query = query.where(db.datasets.c.slug == slug)
    rows = [dict(r) for r in conn.execute(query).mappings()]
    _attach_totals(conn, rows)
    return rows


# (database, dataset id) -> ((created_at, version), incidents, total count). Counting scans
# every incident, and every change of incidents bumps the version, so totals are recounted
# only then (created_at tells a re-created dataset that got the same id apart).
_TOTALS: dict[tuple[str, int], tuple[tuple, int, int]] = {}
_TOTALS_LOCK = threading.Lock()


def _attach_totals(conn: sa.Connection, rows: list[dict]) -> None:
    """Set ``incidents`` and ``total_count`` on dataset rows, counting only stale ones."""
    database = conn.engine.url.render_as_string(hide_password=True)
    with _TOTALS_LOCK:
        cached = {r["id"]: _TOTALS.get((database, r["id"])) for r in rows}
    stamps = {r["id"]: (r["created_at"], r["version"]) for r in rows}
    stale = [ident for ident, hit in cached.items() if hit is None or hit[0] != stamps[ident]]
    if stale:
        c = db.incidents.c
        counted = {row[0]: (row[1], row[2]) for row in conn.execute(
            sa.select(c.dataset_id, sa.func.count(), sa.func.coalesce(sa.func.sum(c["count"]), 0))
            .where(c.dataset_id.in_(stale)).group_by(c.dataset_id))}
        with _TOTALS_LOCK:
            for ident in stale:
                n, total = counted.get(ident, (0, 0))
                cached[ident] = _TOTALS[(database, ident)] = (stamps[ident], int(n), int(total))
    for row in rows:
        _stamp, row["incidents"], row["total_count"] = cached[row["id"]]


def has_datasets(conn: sa.Connection) -> bool:
    """Say whether the database holds any dataset at all."""
    return conn.execute(sa.select(db.datasets.c.id).limit(1)).first() is not None


def update_dataset(conn: sa.Connection, slug: str, **fields: Any) -> dict:
    """Change a dataset's descriptive fields or publication state and bump its version."""
    get_dataset(conn, slug)
    values = {k: v for k, v in fields.items() if k in DATASET_FIELDS + ("published",)}
    if values:
        conn.execute(sa.update(db.datasets).where(db.datasets.c.slug == slug).values(
            **values, version=db.datasets.c.version + 1, updated_at=utcnow()))
    return get_dataset(conn, slug)


def set_published(conn: sa.Connection, slug: str, published: bool) -> dict:
    """Publish or unpublish a dataset."""
    return update_dataset(conn, slug, published=published)


def bump_version(conn: sa.Connection, dataset_id: int,
                 rollup: "RollupAccumulator | None" = None) -> int:
    """Increment a dataset's version after its incidents changed; return the new version.

    Also brings the dataset's rollups up to date in the same transaction (`write_rollups`).
    """
    write_rollups(conn, dataset_id, rollup)
    conn.execute(sa.update(db.datasets).where(db.datasets.c.id == dataset_id).values(
        version=db.datasets.c.version + 1, updated_at=utcnow()))
    return conn.execute(sa.select(db.datasets.c.version)
                        .where(db.datasets.c.id == dataset_id)).scalar_one()


# --- rollups ---------------------------------------------------------------------------------
# Two per dataset, rebuilt or updated in the transaction that changes its incidents, so
# readers see incidents and rollups change together: the grid (incidents per 0.01-degree
# cell, for unfiltered heat and cluster maps) and the days (incidents per day and value of
# every filterable column, for stats and choropleths under any filter). A dataset's row in
# `incident_grids` says both are built; without it, readers query the incidents.

#: Cell size (degrees) of the grid rollup; every map cell size that is a multiple of it can
#: be summed from the rollup (all of `maps.CELL_SIZES` except the finest).
GRID_ROLLUP_CELL = 0.01
#: Rollup keys are shifted to be non-negative, so integer division is floor division on every
#: backend: gy = floor((lat + 90) / cell), gx = floor((lon + 180) / cell).
GRID_LAT_SHIFT, GRID_LON_SHIFT = 90.0, 180.0
#: Columns of the day rollup besides the day: every column a filter selects on (`filters`).
DAY_COLUMNS = ("type", "direction", "country", "admin1", "sector")


def grid_key(conn: sa.Connection, column, shift: float, cell: float = GRID_ROLLUP_CELL):
    """Return the SQL expression floor((column + shift) / cell) as an integer (non-negative input).

    1e-9 of a cell is added before the floor, as for map cells (`aggregate.grid`).
    """
    scaled = (column + shift) / cell + 1e-9
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.floor(scaled), sa.Integer)
    return sa.cast(scaled, sa.Integer)  # SQLite truncates, which is floor for x >= 0


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
    gy = grid_key(conn, c.lat, GRID_LAT_SHIFT)
    gx = grid_key(conn, c.lon, GRID_LON_SHIFT)
    select = (sa.select(c.dataset_id, gy, gx, sa.func.count(),
                        sa.func.coalesce(sa.func.sum(c["count"]), 0),
                        sa.func.min(c.lat), sa.func.max(c.lat), sa.func.min(c.lon),
                        sa.func.max(c.lon))
              .where(c.dataset_id == dataset_id).group_by(c.dataset_id, gy, gx))
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
    cells = conn.execute(sa.select(sa.func.count()).select_from(db.incident_grid_cells)
                         .where(g.dataset_id == dataset_id)).scalar_one()
    conn.execute(sa.insert(db.incident_grids).values(
        dataset_id=dataset_id, cell=GRID_ROLLUP_CELL, cells=cells, built_at=utcnow()))
    return cells


def _drop_rollups(conn: sa.Connection, dataset_id: int) -> None:
    """Delete a dataset's rollups (grid cells, days and its row in incident_grids)."""
    for table in (db.incident_grid_cells, db.incident_days, db.incident_grids):
        conn.execute(sa.delete(table).where(table.c.dataset_id == dataset_id))


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

    def add(self, rows: pd.DataFrame) -> None:
        """Accumulate incidents (a frame with the incidents table's columns, as written)."""
        if not len(rows):
            return
        lat = rows["lat"].to_numpy(dtype=float)
        lon = rows["lon"].to_numpy(dtype=float)
        count = stored_counts(rows)
        frame = pd.DataFrame({
            "gy": np.floor((lat + GRID_LAT_SHIFT) / GRID_ROLLUP_CELL + 1e-9).astype(np.int64),
            "gx": np.floor((lon + GRID_LON_SHIFT) / GRID_ROLLUP_CELL + 1e-9).astype(np.int64),
            "count": count, "lat": lat, "lon": lon})
        self._cells.add(frame.groupby(["gy", "gx"], sort=False).agg(
            n=("lat", "size"), total=("count", "sum"), lat_min=("lat", "min"),
            lat_max=("lat", "max"), lon_min=("lon", "min"), lon_max=("lon", "max")))
        self._add_days(rows, count)

    def _add_days(self, rows: pd.DataFrame, count: np.ndarray) -> None:
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
    """Write accumulated day rows (appended: readers sum them, so a day may have several)."""
    days = rollup.days()
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


# --- incidents --------------------------------------------------------------------------------

def insert_incidents(conn: sa.Connection, frame: pd.DataFrame) -> int:
    """Bulk-insert incidents with the backend's fast path: sqlite3 ``executemany`` or
    PostgreSQL binary ``COPY``, built column by column (a million rows take seconds).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        An open connection inside a transaction.
    frame : pandas.DataFrame
        One row per incident, columns named as in the table (``dataset_id``, ``occurred_at``,
        ``lat`` and ``lon`` required); missing optional columns get their defaults, and
        missing content hashes (``row_hash``, ``row_hash2``) are computed (`row_hashes`).

    Returns
    -------
    int
        The number of rows written.
    """
    if frame.empty:
        return 0
    _bulk_insert(conn, "incidents", _written_values(frame, conn.dialect.name), _PG_TYPES)
    return len(frame)


def _written_values(frame: pd.DataFrame, dialect: str) -> dict[str, list]:
    """Return the INCIDENT_COLUMNS of incidents to write, hashing them if not hashed yet."""
    if not all(name in frame for name in HASH_COLUMNS):
        frame = add_row_hashes(frame.copy())
    values = incident_values(frame, dialect)
    return {name: values[name] for name in INCIDENT_COLUMNS}


class IncidentWriter:
    """Bulk-insert blocks of incidents; on PostgreSQL through one COPY kept open across blocks.

    With a COPY per block the client and the server took turns: the server loaded a block
    while the client waited, then the client prepared the next while the server idled. One
    open COPY lets the server load a block while the caller validates and prepares the next
    (psycopg's queued writer sends the data from its own thread). Nothing else may run on
    the connection while the COPY is open (psycopg holds its lock): any statement executed
    through the SQLAlchemy connection inside the ``with`` block ends the COPY first (`flush`,
    from a connection event); code using the driver connection directly must call `flush`
    itself. On exit the COPY ends, or fails (and the transaction with it) on an error.
    SQLite: `insert_incidents` per block.
    """

    def __init__(self, conn: sa.Connection):
        self.conn = conn
        self._stack: contextlib.ExitStack | None = None
        self._copy = None

    def insert(self, frame: pd.DataFrame) -> int:
        """Insert incidents as `insert_incidents` does; return the number of rows written."""
        if self.conn.dialect.name != "postgresql" or frame.empty:
            return insert_incidents(self.conn, frame)
        values = _written_values(frame, "postgresql")
        copy = self._copy or self._open()
        for row in zip(*values.values()):
            copy.write_row(row)
        return len(frame)

    def _open(self):
        from psycopg.copy import QueuedLibpqWriter

        stack = contextlib.ExitStack()
        cur = stack.enter_context(self.conn.connection.driver_connection.cursor())
        self._copy = stack.enter_context(_pg_copy(cur, "incidents", INCIDENT_COLUMNS, _PG_TYPES,
                                                  writer=QueuedLibpqWriter(cur)))
        self._stack = stack
        return self._copy

    def _before_statement(self, *_args, **_kwargs) -> None:
        self.flush()

    def flush(self) -> None:
        """End the open COPY (waits until the server has loaded every row sent)."""
        self._end(None, None, None)

    def _end(self, *exc_info) -> None:
        stack, self._stack, self._copy = self._stack, None, None
        if stack is not None:
            stack.__exit__(*exc_info)

    def __enter__(self) -> "IncidentWriter":
        # Listening for the whole block (removing a listener while it runs is not allowed).
        sa.event.listen(self.conn, "before_cursor_execute", self._before_statement)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._end(exc_type, exc, tb)
        finally:
            sa.event.remove(self.conn, "before_cursor_execute", self._before_statement)


#: Rows per INSERT statement of the SQLite bulk path (fewer if the bound values would exceed
#: SQLite's limit on parameters).
SQLITE_ROWS_PER_INSERT = 64


def _bulk_insert(conn: sa.Connection, table: str, values: dict[str, list],
                 pg_types: dict[str, str]) -> None:
    """Insert columns of plain values with the backend's fast path (binary COPY/executemany).

    SQLAlchemy's executemany of one dict per row costs ~20 us a row; these paths a few.
    """
    names = list(values)
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, _pg_copy(cur, table, names, pg_types) as copy:
            # Rows are built lazily as the driver consumes them (no list of every tuple).
            for row in zip(*(values[c] for c in names)):
                copy.write_row(row)
    else:
        # Binding costs sqlite3 about half a microsecond per value, so a column that holds one
        # value in every row (the dataset and import ids, defaults of absent columns) is
        # written into the statement instead.
        literals = {c: _sqlite_literal(values[c]) for c in names}
        bound = [c for c in names if literals[c] is None]
        row = "(" + ", ".join(literals[c] or "?" for c in names) + ")"
        quoted = ", ".join(f'"{c}"' for c in names)
        insert = f"INSERT INTO {table} ({quoted}) VALUES "
        n = len(values[names[0]])
        # Several rows per statement: sqlite3 releases and retakes the GIL around every
        # statement it steps, and while the import's other thread runs Python each retake
        # waits for it; per row, that made the writer crawl whenever validation ran.
        per = min(SQLITE_ROWS_PER_INSERT,
                  raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // max(len(bound), 1))
        full = n - n % per if bound and per > 1 else 0
        cursor = raw.cursor()
        try:
            if full:
                flat = itertools.chain.from_iterable(zip(*(values[c][:full] for c in bound)))
                cursor.executemany(insert + ", ".join([row] * per),
                                   zip(*[flat] * (per * len(bound))))
            rest = zip(*(values[c][full:] for c in bound)) if bound else ((),) * n
            cursor.executemany(insert + row, rest)
        finally:
            cursor.close()


@contextlib.contextmanager
def _pg_copy(cur, table: str, names, pg_types: dict[str, str], writer=None):
    """Open a binary COPY into table's columns `names` on a psycopg cursor, types set."""
    quoted = ", ".join(f'"{c}"' for c in names)
    # Binary COPY: ~40 % faster than text COPY, no quoting or NULL-marker rules.
    with cur.copy(f"COPY {table} ({quoted}) FROM STDIN (FORMAT BINARY)", writer=writer) as copy:
        copy.set_types([pg_types[c] for c in names])
        yield copy


def _sqlite_literal(column: list) -> str | None:
    """Return the SQL literal of the one value every row of column holds, else None.

    Only values whose literal stores exactly what binding them would: NULL, 64-bit ints and
    ASCII text without NUL (floats are left bound: SQLite's parse of decimal text may be
    off by one bit).
    """
    if not column:
        return None
    first = column[0]
    kind = type(first)
    if first is None:
        text = "NULL"
    elif kind is int and -(2 ** 63) < first < 2 ** 63:
        text = str(first)
    elif kind is str and first.isascii() and "\x00" not in first:
        text = "'" + first.replace("'", "''") + "'"
    else:
        return None
    # Cheap probes first: most columns differ between their first, middle and last rows.
    if column[-1] != first or column[len(column) // 2] != first:
        return None
    if column.count(first) != len(column):
        return None
    # Floats and bools can equal an int; text equals only text, None only None.
    if kind is int and set(map(type, column)) != {int}:
        return None
    return text


_PG_TYPES = {"dataset_id": "int4", "import_id": "int4", "source_id": "text",
             "occurred_at": "timestamp", "precision": "text", "lat": "float8", "lon": "float8",
             "type": "text", "count": "int4", "direction": "text", "description": "text",
             "attributes": "json", "admin1": "text", "country": "text", "sector": "text",
             "border_mile": "float8", "border_km": "float8", "at_border": "bool",
             "row_hash": "int8", "row_hash2": "int8"}
_PG_GRID_TYPES = {"dataset_id": "int4", "gy": "int4", "gx": "int4", "n": "int8", "total": "int8",
                  "lat_min": "float8", "lat_max": "float8", "lon_min": "float8",
                  "lon_max": "float8"}
_PG_DAY_TYPES = {"dataset_id": "int4", "day": "date", "type": "text", "direction": "text",
                 "country": "text", "admin1": "text", "sector": "text", "n": "int8",
                 "total": "int8"}


#: What a text column stores when a row has no value (None: NULL).
TEXT_DEFAULTS = {"source_id": None, "precision": "day", "type": "", "direction": "unknown",
                 "description": "", "admin1": None, "country": None, "sector": None}


def stored_text(rows: pd.DataFrame, name: str) -> np.ndarray:
    """Return a text column as stored: objects, a missing value as the column's default."""
    default = TEXT_DEFAULTS[name]
    if name not in rows:
        return np.full(len(rows), default, dtype=object)
    values = rows[name].to_numpy(dtype=object)
    # The Series knows its missing values without a pass over the objects (Arrow strings).
    missing = rows[name].isna().to_numpy()
    return np.where(missing, default, values) if missing.any() else values


def stored_counts(rows: pd.DataFrame) -> np.ndarray:
    """Return the ``count`` column as stored (int64; a missing count is 1)."""
    if "count" not in rows:
        return np.ones(len(rows), dtype=np.int64)
    values = rows["count"]
    if values.notna().all():
        return values.to_numpy().astype(np.int64)
    return np.array([1 if pd.isna(v) else int(v) for v in values.tolist()], dtype=np.int64)


def incident_values(rows: pd.DataFrame, dialect: str) -> dict[str, list]:
    """Return each incident column of `rows` as a list of plain Python values (None for NULL).

    Built column by column with numpy/pandas (no per-row dict), in the form the backend's
    bulk path takes: timestamps as text in SQLAlchemy's SQLite format, attributes as JSON;
    any other `dialect` gets datetimes and dicts as SQLAlchemy binds them.
    """
    import json

    n = len(rows)

    def number(name: str) -> list:
        if name not in rows:
            return [None] * n
        values = rows[name].to_numpy(dtype=float)
        return np.where(np.isfinite(values), values, None).tolist()

    def integer(name: str, default: int | None) -> list:
        if name not in rows:
            return [default] * n
        values = rows[name]
        if values.notna().all():
            return values.astype(np.int64).tolist()
        return [default if pd.isna(v) else int(v) for v in values.tolist()]

    when = pd.to_datetime(rows["occurred_at"])
    if dialect == "sqlite":
        # Each distinct time formatted once: strftime costs ~1 us a row and a file's rows
        # mostly share their dates.
        codes, uniques = pd.factorize(when, use_na_sentinel=False)
        formatted = np.asarray(uniques.strftime("%Y-%m-%d %H:%M:%S.%f"), dtype=object)
        when = pd.Series(formatted[codes])
    else:
        when = pd.Series(when.dt.to_pydatetime(), dtype=object)
    if dialect == "postgresql":
        from psycopg.types.json import Json

        def encode(value):
            return Json(value) if isinstance(value, dict) else None
    elif dialect == "sqlite":
        def encode(value):
            return json.dumps(value, ensure_ascii=False, sort_keys=True) \
                if isinstance(value, dict) else None
    else:
        def encode(value):
            return value if isinstance(value, dict) else None
    attributes = rows["attributes"] if "attributes" in rows else pd.Series([None] * n)
    at_border = (rows["at_border"].fillna(False).astype(bool).to_numpy() if "at_border" in rows
                 else np.zeros(n, dtype=bool))
    values = {
        "dataset_id": integer("dataset_id", None), "import_id": integer("import_id", None),
        "occurred_at": when.tolist(), "lat": number("lat"), "lon": number("lon"),
        "count": stored_counts(rows).tolist(),
        "attributes": ([None] * n if attributes.isna().all()  # no extra columns: no per-row call
                       else [encode(v) for v in attributes.tolist()]),
        "border_mile": number("border_mile"), "border_km": number("border_km"),
        "at_border": (at_border.astype(int) if dialect == "sqlite" else at_border).tolist(),
        "row_hash": rows["row_hash"].astype(np.int64).tolist(),
        "row_hash2": rows["row_hash2"].astype(np.int64).tolist(),
    }
    for name in TEXT_DEFAULTS:
        values[name] = stored_text(rows, name).tolist()
    return values


def incident_frame(conn: sa.Connection, dataset_id: int,
                   filters: dict | None = None, columns: Iterable[str] | None = None,
                   limit: int | None = None, offset: int = 0) -> pd.DataFrame:
    """Return the dataset's incidents matching filters as a DataFrame (oldest first)."""
    cols = [db.incidents.c[name] for name in (columns or INCIDENT_COLUMNS[2:])]
    query = (sa.select(db.incidents.c.id, *cols)
             .where(db.incidents.c.dataset_id == dataset_id,
                    *filter_clauses(filters or {}))
             .order_by(db.incidents.c.occurred_at, db.incidents.c.id))
    if limit is not None:
        query = query.limit(limit).offset(offset)
    result = conn.execute(query)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    if "occurred_at" in frame:
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"])
    return frame


def filter_clauses(filters: dict) -> list:
    """Translate normalised filters (see maps/web) into SQL conditions."""
    c = db.incidents.c
    clauses = []
    if filters.get("from"):
        clauses.append(c.occurred_at >= filters["from"])
    if filters.get("to"):
        clauses.append(c.occurred_at < filters["to"])
    for key, column in (("type", c.type), ("direction", c.direction), ("country", c.country),
                        ("admin1", c.admin1), ("sector", c.sector)):
        values = filters.get(key)
        if values:
            clauses.append(column.in_(list(values)))
    return clauses


def count_incidents(conn: sa.Connection, dataset_id: int, filters: dict | None = None) -> int:
    """Return the number of incidents matching filters."""
    return conn.execute(sa.select(sa.func.count()).select_from(db.incidents).where(
        db.incidents.c.dataset_id == dataset_id, *filter_clauses(filters or {}))).scalar_one()


def delete_incidents(conn: sa.Connection, dataset_id: int) -> int:
    """Delete all of a dataset's incidents; return how many there were."""
    return conn.execute(sa.delete(db.incidents)
                        .where(db.incidents.c.dataset_id == dataset_id)).rowcount


# --- imports ----------------------------------------------------------------------------------

def list_imports(conn: sa.Connection, dataset_id: int) -> list[dict]:
    """Return a dataset's imports, newest first, without their full reports."""
    c = db.imports.c
    query = (sa.select(*[col for col in db.imports.c if col.name != "report"])
             .where(c.dataset_id == dataset_id).order_by(c.id.desc()))
    return [dict(r) for r in conn.execute(query).mappings()]


def record_import(conn: sa.Connection, dataset_id: int, **fields: Any) -> int:
    """Insert one import row and return its id."""
    fields.setdefault("created_at", utcnow())
    return conn.execute(sa.insert(db.imports).values(dataset_id=dataset_id, **fields)
                        .returning(db.imports.c.id)).scalar_one()


def get_import(conn: sa.Connection, import_id: int, dataset: dict | None = None) -> dict:
    """Return one import with its report; with `dataset`, it must belong to that dataset."""
    row = conn.execute(sa.select(db.imports).where(db.imports.c.id == import_id)).mappings().first()
    if row is None or (dataset is not None and row["dataset_id"] != dataset["id"]):
        where = f" in dataset {dataset['slug']!r}" if dataset is not None else ""
        raise NotFound(f"no import {import_id}{where}")
    return dict(row)


def database_status(conn: sa.Connection) -> dict:
    """Return the backend name, schema revision and whether a trivial query succeeds."""
    conn.execute(sa.text("SELECT 1")).scalar_one()
    return {"ok": True, "backend": conn.dialect.name, "revision": db.current_revision(conn)}


def as_json_safe(value: Any) -> Any:
    """Convert numpy/pandas/datetime values into JSON-serialisable ones."""
    if isinstance(value, dict):
        return {k: as_json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json_safe(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value




#: What the content hash covers. ``keyed`` (whether the row has a source_id) stands for the
#: source_id itself: hashes are only ever compared between rows with the same source_id
#: (upserts) or between rows without one (dedupe), so hashing a million unique ids twice
#: would add nothing but time.
HASHED_COLUMNS = ("keyed", "occurred_at", "precision", "lat", "lon", "type", "count",
                  "direction", "description", "attributes")
#: Text columns with few distinct values: hashed once per distinct value (factorised first).
_FEW_VALUES = frozenset({"precision", "type", "direction"})
HASH_COLUMNS = ("row_hash", "row_hash2")


def row_hashes(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the 128-bit content hash of each incident as two signed 64-bit integer columns.

    The hash covers what an incident says (time, place rounded to 1e-6 degrees, type, count,
    direction, description, extra attributes, and whether it has a source_id), not what the
    import computed from it, so the same row uploaded twice hashes the same: it is the dedupe
    key of rows without source_id, and tells an upsert whether a keyed row changed. ``row_hash`` (indexed) and
    ``row_hash2`` are two independently keyed hashes, so dedupe is as exact as a 128-bit
    digest while the index holds an 8-byte integer, and no Python string is made per row.

    Parameters
    ----------
    frame : pandas.DataFrame
        Incidents with (some of) the `HASHED_COLUMNS`; a missing column hashes as empty.

    Returns
    -------
    pandas.DataFrame
        ``row_hash`` and ``row_hash2`` (int64), on the frame's index.
    """
    n = len(frame)
    accumulators = [np.full(n, seed, dtype=np.uint64) for seed in _HASH_SEEDS]
    for position, column in enumerate(HASHED_COLUMNS):
        values = _hash_column(frame, column)  # normalised once, hashed with both keys
        # Position-dependent multipliers: the same value in two columns hashes differently.
        multiplier = np.uint64(1000003 + 2 * position * 82520)
        for acc, key in zip(accumulators, _HASH_KEYS):
            acc ^= _column_hash(values, column, key)
            acc *= multiplier
    return pd.DataFrame({name: _mix(acc).view(np.int64)
                         for name, acc in zip(HASH_COLUMNS, accumulators)}, index=frame.index)


def add_row_hashes(frame: pd.DataFrame) -> pd.DataFrame:
    """Set ``row_hash`` and ``row_hash2`` on frame (in place) and return it."""
    hashes = row_hashes(frame)
    for name in HASH_COLUMNS:
        frame[name] = hashes[name].to_numpy()
    return frame


_HASH_KEYS = ("geomap-rowhash-1", "geomap-rowhash-2")
_HASH_SEEDS = (0x345678, 0x9E3779B97F4A7C15)


def _mix(values: np.ndarray) -> np.ndarray:
    """Return splitmix64's finaliser of uint64 values (a bijection that spreads every bit)."""
    values = values.copy()
    values ^= values >> np.uint64(30)
    values *= np.uint64(0xBF58476D1CE4E5B9)
    values ^= values >> np.uint64(27)
    values *= np.uint64(0x94D049BB133111EB)
    values ^= values >> np.uint64(31)
    return values


def _column_hash(values: pd.Series, column: str, key: str) -> np.ndarray:
    """Return a uint64 hash per row of one normalised column (`_hash_column`).

    Text is hashed with the key; numbers by pandas' keyless mixer, so the second key
    re-mixes them to keep the two halves of the hash independent.
    """
    if values.dtype != object:
        hashed = pd.util.hash_array(values.to_numpy())
        return hashed if key == _HASH_KEYS[0] else _mix(hashed ^ np.uint64(0x5BD1E9955BD1E995))
    cells = values.to_numpy()
    if len(cells) and (cells == cells[0]).all():
        # One value in every row (an absent description or attributes column): hash it once.
        one = pd.util.hash_array(cells[:1], hash_key=key, categorize=False)
        return np.full(len(cells), one[0], dtype=np.uint64)
    if column in _FEW_VALUES:
        codes, uniques = pd.factorize(cells, sort=False)
        return pd.util.hash_array(np.asarray(uniques, dtype=object), hash_key=key,
                                  categorize=False)[codes]
    return pd.util.hash_array(cells, hash_key=key, categorize=False)


def _hash_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return one column in a canonical dtype, so equal content always hashes equal."""
    import json

    if column == "keyed":
        if "source_id" not in frame:
            return pd.Series(0, index=frame.index, dtype=np.int64)
        return frame["source_id"].notna().astype(np.int64)
    if column not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[column]
    if column in ("lat", "lon"):
        return values.astype(float).round(6)
    if column == "count":
        return values.astype("int64")
    if column == "occurred_at":
        return pd.to_datetime(values).astype("datetime64[s]").astype("int64")
    if column == "attributes":
        # Only dicts with something in them count; most files have no extra columns at all.
        out = np.full(len(values), "", dtype=object)
        cells = values.to_numpy(dtype=object)
        present = np.flatnonzero(pd.notna(cells))
        if len(present):
            out[present] = [json.dumps(v, sort_keys=True) if isinstance(v, dict) and v else ""
                            for v in cells[present]]
        return pd.Series(out, index=frame.index, dtype=object)
    values = values.astype(object)
    missing = values.isna().to_numpy()
    if missing.any():
        values = values.where(~missing, "")
    # Non-text cells (numbers in an object column) are hashed as their str(), like text.
    return values.map(str) if not _all_text(values) else values


def _all_text(values: pd.Series) -> bool:
    """Say whether every cell of an object column is a str (the usual case: no conversion)."""
    from pandas.api.types import infer_dtype

    return infer_dtype(values, skipna=False) in ("string", "empty")
