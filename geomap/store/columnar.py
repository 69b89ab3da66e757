"""A dataset version's columnar copy: its incidents and rollups in a DuckDB file, read-only.

The SQL database stays the store of record; maps and stats read the copy instead when one of
the dataset's current version exists (issue #20: a filtered map at 5M incidents scans the row
store in seconds, DuckDB's columns in a tenth of that). The aggregation SQL is the same
(`geomap.aggregate` through SQLAlchemy's DuckDB dialect), over tables of the same names and
columns holding only this dataset's rows.

Why readers never see a copy out of step: a copy's file name holds the dataset's id, creation
time and ``incidents_version`` (the version its incidents last changed at), read in the same
snapshot as the rows it copies. A reader that has read the dataset row from the database
opens exactly that version's copy or, when there is none yet, reads the database; every
change of incidents moves ``incidents_version`` (`datasets.bump_version`), so an older copy is
never the answer to a newer version, while edits of a title or the corrections log (which
move ``version`` alone) keep the copy. A copy is written under a temporary name and renamed, so
a half-written one (a killed build) is never opened; the next build starts again.

Every app server keeps its copies in its own folder (or a shared one): each builds what it
lacks from the database, so several servers on one PostgreSQL need nothing else.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import hashlib
import importlib.metadata
import os
import threading
import uuid
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from .. import db

#: The tables a copy holds, with the columns `aggregate` reads (incidents: not the hashes,
#: the import, the source id or the free attributes, which no map or stats groups by).
COPIED = {
    "incidents": ("id", "dataset_id", "occurred_at", "precision", "lat", "lon", "type",
                  "count", "direction", "description", "admin1", "country", "sector",
                  "border_mile", "border_km", "at_border", "location_precision", "place"),
    "incident_grids": None,
    "incident_grid_cells": None,
    "incident_days": None,
    "incident_periods": None,
    "incident_cell_periods": None,
}

#: The order incidents are copied in. DuckDB keeps each column's min and max per block of
#: ~120k rows and skips the blocks a filter rules out: grouped by sector and state, a filter
#: on either reads its own blocks only (a twentieth of the rows for one sector), and by date
#: within them, so a date range still skips most of each group's blocks.
INCIDENT_ORDER = ("sector", "admin1", "occurred_at", "id")

#: Rows read from the database per step of a build (bounded memory at any size).
CHUNK_ROWS = 50_000

#: DuckDB settings while a copy is written: its buffer pool would otherwise keep every
#: block written (up to ``memory_limit``) in the building process.
BUILD_CONFIG = {"threads": 1, "memory_limit": "256MB", "preserve_insertion_order": True}

#: Settings of every DuckDB connection to a copy: reads use these threads and memory.
DUCKDB_CONFIG = {"threads": 2, "memory_limit": "1GB"}

_SUFFIX = ".duckdb"


def copy_name(dataset: dict) -> str:
    """Return the file name of a dataset version's copy: id, creation time, the version its
    incidents last changed at (``incidents_version``) and the copy's format (`copy_format`).

    The creation time tells a dataset made again under an id SQLite reuses from the deleted
    one; ``incidents_version`` moves with every change of its incidents (and rollups), not
    with edits of its title, publication or corrections, which leave the copy valid; the
    format changes with what a copy holds, so an upgrade never reads an older layout.
    """
    return (f"{_owner(dataset)}-v{int(dataset['incidents_version'])}"
            f"-{copy_format()}{_SUFFIX}")


def _owner(dataset: dict) -> str:
    """The start of every copy name of one dataset: its id and creation time."""
    created = dataset.get("created_at")
    stamp = (pd.Timestamp(created).strftime("%Y%m%dT%H%M%S%f") if created is not None
             else "0")
    return f"{int(dataset['id'])}-{stamp}"


@functools.cache
def copy_format() -> str:
    """Return a short digest of what a copy holds: the copied tables' columns and types, the
    incidents' order and DuckDB's version (a new DuckDB may write files an older one cannot
    read, and the other way round)."""
    layout = [(name, [(c.name, _duck_type(c)) for c in _columns(db.metadata.tables[name],
                                                                  names)])
              for name, names in COPIED.items()]
    text = repr((layout, INCIDENT_ORDER, importlib.metadata.version("duckdb")))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _columns(table: sa.Table, names) -> list[sa.Column]:
    return [table.c[name] for name in names] if names else list(table.c)


def copy_path(folder: str | os.PathLike, dataset: dict) -> Path:
    """Return where the copy of dataset's current version is (or would be) in folder."""
    return Path(folder) / copy_name(dataset)


def build_copy(engine: sa.Engine, dataset_id: int, folder: str | os.PathLike) -> Path | None:
    """Write the copy of a dataset's current version into folder, unless it is there.

    Reads the dataset row and every copied table in one snapshot (REPEATABLE READ on
    PostgreSQL, one read transaction on SQLite), so the copy holds exactly the rows of the
    version its name says. Older copies of the dataset are removed afterwards. One build
    per dataset at a time among every process using the folder (a file lock, released by
    the system when a builder dies): the others return None at once.

    Returns
    -------
    pathlib.Path or None
        The copy, or None when the dataset no longer exists or another process is building
        one of its copies.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{int(dataset_id)}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        return _build_locked(engine, dataset_id, folder)


def _build_locked(engine: sa.Engine, dataset_id: int, folder: Path) -> Path | None:
    import duckdb  # only where copies are built or read

    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            dataset = _dataset_head(conn, dataset_id)
            if dataset is None:
                return None
            target = copy_path(folder, dataset)
            if target.exists():
                return target
            # Partial files of this dataset's builds that were stopped (the lock is ours,
            # so no build is writing one).
            for stale in folder.glob(f".{int(dataset_id)}-*.partial*"):
                stale.unlink(missing_ok=True)
            partial = folder / f".{target.name}.{uuid.uuid4().hex}.partial"
            try:
                out = duckdb.connect(str(partial), config=BUILD_CONFIG)
                try:
                    for name, columns in COPIED.items():
                        _copy_table(conn, out, db.metadata.tables[name], columns, dataset_id)
                    out.execute("CHECKPOINT")
                finally:
                    out.close()
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
                Path(f"{partial}.wal").unlink(missing_ok=True)
    prune_copies(folder, dataset)
    return target


def prune_copies(folder: str | os.PathLike, dataset: dict) -> int:
    """Remove copies of dataset's earlier versions from folder; return how many.

    A reader that opened one keeps reading it (POSIX keeps an open file until closed);
    `CopyReader` drops its engines for files that are gone.
    """
    keep = copy_name(dataset)
    prefix = f"{int(dataset['id'])}-"
    removed = 0
    for path in Path(folder).glob(f"{prefix}*{_SUFFIX}"):
        if path.name != keep:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def prune_deleted(conn: sa.Connection, folder: str | os.PathLike) -> int:
    """Remove from folder the copies of datasets that no longer exist; return how many.

    A copy belongs to a living dataset when its name starts with that dataset's id and
    creation time (a dataset made again under a reused id has another creation time).
    """
    d = db.datasets.c
    rows = conn.execute(sa.select(d.id, d.created_at)).mappings().all()
    living = {_owner(row) for row in rows}
    removed = 0
    for path in Path(folder).glob(f"*{_SUFFIX}"):
        if path.name.split("-v")[0] not in living:
            path.unlink(missing_ok=True)
            removed += 1
    # And their build locks (empty files; an id SQLite reuses makes a new one).
    ids = {str(row["id"]) for row in rows}
    for lock in Path(folder).glob(".*.lock"):
        if lock.name[1:-len(".lock")] not in ids:
            lock.unlink(missing_ok=True)
    return removed


class CopyReader:
    """Opens the copies in one folder read-only, one SQLAlchemy engine per copy file.

    Engines are kept for the few copies readers use; a copy whose file is gone (pruned
    after a newer version) is disposed of. Thread-safe (one per app process).
    """

    def __init__(self, folder: str | os.PathLike, keep: int = 8) -> None:
        self.folder = Path(folder)
        self.keep = keep
        self._engines: dict[Path, sa.Engine] = {}
        self._lock = threading.Lock()

    def engine(self, dataset: dict) -> sa.Engine | None:
        """Return an engine on the copy of dataset's version, or None when there is none."""
        path = copy_path(self.folder, dataset)
        with self._lock:
            engine = self._engines.get(path)
            if not path.exists():  # never built, or pruned after a newer version
                if engine is not None:
                    self._engines.pop(path).dispose()
                return None
            if engine is not None:
                return engine
            engine = sa.create_engine(
                f"duckdb:///{path}", poolclass=sa.pool.QueuePool, pool_size=2,
                connect_args={"read_only": True, "config": dict(DUCKDB_CONFIG)})
            self._engines[path] = engine
            self._forget_gone()
            return engine

    def discard(self, dataset: dict) -> None:
        """Drop the copy of dataset's version: its engine and its file (it could not be
        opened; the next build writes it again)."""
        path = copy_path(self.folder, dataset)
        with self._lock:
            engine = self._engines.pop(path, None)
            if engine is not None:
                engine.dispose()
            path.unlink(missing_ok=True)

    def _forget_gone(self) -> None:
        for path in [p for p in self._engines if not p.exists()]:
            self._engines.pop(path).dispose()
        while len(self._engines) > self.keep:
            self._engines.pop(next(iter(self._engines))).dispose()

    def close(self) -> None:
        """Dispose of every engine."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def _dataset_head(conn: sa.Connection, dataset_id: int) -> dict | None:
    d = db.datasets.c
    row = conn.execute(sa.select(d.id, d.incidents_version, d.created_at)
                       .where(d.id == dataset_id)).mappings().first()
    return dict(row) if row else None


#: DuckDB column types of the SQLAlchemy types the copied tables use.
_TYPES = ((sa.BigInteger, "BIGINT"), (sa.Integer, "INTEGER"), (sa.Float, "DOUBLE"),
          (sa.Boolean, "BOOLEAN"), (sa.DateTime, "TIMESTAMP"), (sa.Date, "DATE"),
          (sa.String, "VARCHAR"))


def _duck_type(column: sa.Column) -> str:
    for sa_type, name in _TYPES:
        if isinstance(column.type, sa_type):
            return name
    raise TypeError(f"no DuckDB type for {column.table.name}.{column.name} ({column.type})")


def _copy_table(conn: sa.Connection, out, table: sa.Table, names, dataset_id: int) -> None:
    """Create table in the DuckDB file and copy the dataset's rows into it, in chunks
    (`INCIDENT_ORDER` for incidents)."""
    columns = _columns(table, names)
    types = [_duck_type(c) for c in columns]
    out.execute(f'CREATE TABLE "{table.name}" ('
                + ", ".join(f'"{c.name}" {t}' for c, t in zip(columns, types)) + ")")
    # The dataset id inlined: the statement goes to a DBAPI cursor of our own, without binds.
    query = sa.select(*columns).where(
        table.c.dataset_id == sa.literal_column(str(int(dataset_id))))
    if table.name == "incidents":
        query = query.order_by(*(table.c[name] for name in INCIDENT_ORDER))
    select = ", ".join(f'CAST("{c.name}" AS {t})' for c, t in zip(columns, types))
    # The driver's own cursor, in this connection's transaction (its snapshot): SQLAlchemy's
    # Row objects cost most of a copy, and PostgreSQL's named cursor streams from the server.
    driver = conn.connection.driver_connection
    cursor = (driver.cursor(name=f"geomap_copy_{uuid.uuid4().hex[:8]}")
              if conn.dialect.name == "postgresql" else driver.cursor())
    try:
        cursor.execute(str(query.compile(dialect=conn.dialect)))
        while True:
            rows = cursor.fetchmany(CHUNK_ROWS)
            if not rows:
                break
            chunk = pd.DataFrame.from_records(rows, columns=[c.name for c in columns])
            for column, kind in zip(columns, types):
                if kind in ("TIMESTAMP", "DATE"):
                    chunk[column.name] = _as_datetime(chunk[column.name])
            out.register("chunk", chunk)
            out.execute(f'INSERT INTO "{table.name}" SELECT {select} FROM chunk')
            out.unregister("chunk")
    finally:
        cursor.close()


def _as_datetime(values: pd.Series) -> pd.Series:
    """Timestamps as pandas datetimes (SQLite hands back ISO text, PostgreSQL datetimes)."""
    if len(values) and isinstance(values.iloc[0], (dt.datetime, dt.date)):
        return pd.to_datetime(values)
    return pd.to_datetime(values, format="ISO8601")
