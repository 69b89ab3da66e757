"""Writing an import's rows: dedupe by source_id and content hash, upsert, bulk insert.

Used by `pipeline` inside its one transaction, on one writer thread (`BlockWriter`, which
runs each block's `store_job` in order while the caller validates the next block). The bulk
paths are the backends' fast ones (sqlite3 ``executemany``, PostgreSQL binary ``COPY``),
built column by column.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from sqlalchemy.dialects.postgresql import ARRAY as postgresql_array

from .report import to_lines
from .seen import SeenKeys
from .. import db
from ..config import SETTINGS_BY_NAME
from ..store import (HASH_COLUMNS, INCIDENT_COLUMNS, IncidentWriter, RollupAccumulator,
                     add_row_hashes, incident_values, supersede)

#: SQLite: an import's page cache and index-sort memory unless the caller passes the
#: setting's value (`Settings.import_cache_mb`).
DEFAULT_CACHE_MB = SETTINGS_BY_NAME["IMPORT_CACHE_MB"].default
_LOOKUP_SLICE = 900
_PG_LOOKUP_SLICE = 10_000
SQLITE_SORT_THREADS = 2
BULK_MIN_ROWS = 50_000


@dataclass
class Totals:
    """Running counts and memory of what this import has already written."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    regions: dict = field(default_factory=dict)
    empty: bool = False
    seen_hashes: "SeenKeys" = field(default_factory=lambda: SeenKeys())
    seen_sources: "SeenKeys" = field(default_factory=lambda: SeenKeys())
    #: Writes the rows (`store.IncidentWriter`; its COPY ends before any other statement).
    writer: "IncidentWriter | None" = None
    #: Rollups of the rows written while no incident was rewritten: all of the dataset's
    #: incidents if it started empty, else (``rollup.delta``) what they add; None otherwise.
    rollup: "RollupAccumulator | None" = None


def _key64(values: pd.Series) -> np.ndarray:
    """Hash strings to uint64 (vectorised)."""
    return pd.util.hash_array(values.astype(object).to_numpy(), categorize=False)


def _pairs(rows: pd.DataFrame) -> pd.MultiIndex:
    """Return each row's 128-bit content hash as (row_hash, row_hash2) index entries."""
    return pd.MultiIndex.from_arrays([rows["row_hash"].to_numpy(), rows["row_hash2"].to_numpy()])


def store(conn: sa.Connection, dataset_id: int, import_id: int, rows: pd.DataFrame,
          lines: np.ndarray, totals: Totals, warnings: list[pd.DataFrame], write: bool) -> None:
    """Dedupe a block of accepted rows and write it: insert new rows, update changed ones."""
    if rows.empty:
        return
    if not all(name in rows for name in HASH_COLUMNS):
        add_row_hashes(rows)  # unless the caller hashed the block already
    rows["dataset_id"] = dataset_id
    rows["import_id"] = import_id
    rows["line"] = lines[rows["record"].to_numpy()]
    counts = rows["admin1"].fillna("none").value_counts()
    for code, k in counts.items():
        totals.regions[code] = totals.regions.get(code, 0) + int(k)
    keyed = rows["source_id"].notna().to_numpy()
    _store_keyed(conn, dataset_id, rows[keyed], totals, warnings, write)
    _store_unkeyed(conn, dataset_id, rows[~keyed], totals, warnings, write)


def _store_keyed(conn, dataset_id, rows, totals: Totals, warnings, write: bool) -> None:
    if rows.empty:
        return
    later = rows.duplicated("source_id", keep="last").to_numpy()
    if later.any():
        dropped = rows[later]
        kept = rows[~later].set_index("source_id")[list(HASH_COLUMNS)]
        kept = kept.loc[dropped["source_id"]]
        same = np.ones(len(dropped), dtype=bool)
        for name in HASH_COLUMNS:
            same &= dropped[name].to_numpy() == kept[name].to_numpy()
        totals.unchanged += int(same.sum())
        totals.updated += int((~same).sum())
        warnings.append(pd.DataFrame({
            "record": dropped["record"].to_numpy(), "column": None,
            "value": dropped["source_id"].to_numpy(),
            "message": "the same source_id appears again on a later row of the file; the "
                       "later row is kept"}))
        rows = rows[~later]
    ids = rows["source_id"]
    keys = _key64(ids)
    if totals.empty:  # only rows this import already wrote can exist
        need = ids[totals.seen_sources.find(keys) >= 0].tolist()
    else:
        need = ids.tolist()
    existing = _lookup(conn, dataset_id, db.incidents.c.source_id, need)
    if totals.empty:  # only read above: a dataset with rows has every id looked up
        totals.seen_sources.add(keys, rows["line"].to_numpy())
    # Positions in `existing` (-1: new); hashes stay exact int64 (no NaN-padded floats).
    # Nothing found (a new dataset): no index of the block's ids to build (~50 ms a block).
    pos = (pd.Index(existing["key"]).get_indexer(ids.to_numpy()) if len(existing["id"])
           else np.full(len(rows), -1, dtype=np.intp))
    new = pos < 0
    changed = np.zeros(len(rows), dtype=bool)
    if len(existing["id"]):
        for name in HASH_COLUMNS:
            changed |= existing[name][pos] != rows[name].to_numpy()
        changed &= ~new
    totals.imported += int(new.sum())
    totals.updated += int(changed.sum())
    totals.unchanged += int((~new & ~changed).sum())
    if write:
        _insert(conn, rows[new], totals)
        if changed.any():
            totals.rollup = None  # a rewritten incident: rollups are rebuilt from the table
            _update(conn, rows[changed], existing["id"][pos[changed]])


def _store_unkeyed(conn, dataset_id, rows, totals: Totals, warnings, write: bool) -> None:
    if rows.empty:
        return
    pairs = _pairs(rows)
    dup = pairs.duplicated(keep="first")
    keys = rows["row_hash"].to_numpy()
    checks = rows["row_hash2"].to_numpy()
    earlier_line = totals.seen_hashes.find(keys, checks)
    within = dup | (earlier_line >= 0)
    if within.any():
        firsts = pd.Series(rows["line"].to_numpy()[~dup], index=pairs[~dup])
        refs = np.where(earlier_line[within] >= 0, earlier_line[within],
                        firsts.reindex(pairs[within]).to_numpy(dtype=float))
        warnings.append(pd.DataFrame({
            "record": rows["record"].to_numpy()[within], "column": None, "value": None,
            "message": "same content as row {ref}; imported once", "ref": refs,
            "reason": "same content as an earlier row; imported once"}))
    fresh = rows[~within]
    totals.seen_hashes.add(keys[~within], fresh["line"].to_numpy(), checks[~within])
    present = np.zeros(len(fresh), dtype=bool)
    if not totals.empty and len(fresh):
        found = _lookup(conn, dataset_id, db.incidents.c.row_hash,
                        fresh["row_hash"].tolist())
        if len(found["id"]):
            known = pd.MultiIndex.from_arrays([found["row_hash"], found["row_hash2"]])
            present = _pairs(fresh).isin(known)
    totals.unchanged += int(within.sum()) + int(present.sum())
    totals.imported += int((~present).sum())
    if write:
        _insert(conn, fresh[~present], totals)


def _insert(conn, rows: pd.DataFrame, totals: Totals) -> None:
    # In time order (stable: equal times keep file order, so incident_frame's ORDER BY
    # occurred_at, id is unchanged): the date index and, per state or sector, the two
    # covering ones then take this block's keys in ascending runs instead of at random.
    times = rows["occurred_at"].to_numpy()
    if len(times) > 1 and (times[1:] < times[:-1]).any():
        rows = rows.iloc[np.argsort(times, kind="stable")]
    insert_rows(totals.writer, rows)
    if totals.rollup is not None:
        totals.rollup.add(rows)


def _lookup(conn, dataset_id: int, column, values: list) -> dict[str, np.ndarray]:
    """Return the dataset's incidents whose `column` is in values: key, id and both hashes.

    By source_id: keyed incidents (at most one per key); by row_hash: unkeyed incidents only
    (``source_id IS NULL``, the rows its partial index holds), one entry per incident.
    """
    c = db.incidents.c
    found: list[tuple] = []
    unique = list(dict.fromkeys(values))
    by_hash = column is c.row_hash
    if conn.dialect.name == "postgresql":
        # One array parameter (= ANY) per slice of 10k keys instead of 900 bound values to
        # parse and plan per query.
        for start in range(0, len(unique), _PG_LOOKUP_SLICE):
            keys = sa.bindparam("keys", unique[start:start + _PG_LOOKUP_SLICE],
                                type_=postgresql_array(column.type))
            where = [c.dataset_id == dataset_id, column == sa.any_(keys)]
            if by_hash:
                where.append(c.source_id.is_(None))
            found.extend(conn.execute(sa.select(column, c.id, c.row_hash, c.row_hash2)
                                      .where(*where)).all())
    else:
        # SQLite caps bound variables: IN lists of 900, on the driver's cursor (the same
        # connection and transaction) without rendering a statement per slice.
        unkeyed = " AND source_id IS NULL" if by_hash else ""
        cursor = conn.connection.driver_connection.cursor()
        try:
            for start in range(0, len(unique), _LOOKUP_SLICE):
                part = unique[start:start + _LOOKUP_SLICE]
                marks = ", ".join("?" * len(part))
                cursor.execute(f"SELECT {column.name}, id, row_hash, row_hash2 FROM incidents "
                               f"WHERE dataset_id = ? AND {column.name} IN ({marks}){unkeyed}",
                               [dataset_id, *part])
                found.extend(cursor.fetchall())
        finally:
            cursor.close()
    columns = list(zip(*found)) if found else [(), (), (), ()]
    keys = np.empty(len(found), dtype=object)
    keys[:] = columns[0]
    return {"key": keys, "id": np.array(columns[1], dtype=np.int64),
            "row_hash": np.array(columns[2], dtype=np.int64),
            "row_hash2": np.array(columns[3], dtype=np.int64)}


def insert_rows(writer: "IncidentWriter", rows: pd.DataFrame) -> int:
    """Bulk-insert validated rows (the store's fast path; a seam the crash tests stall)."""
    return writer.insert(rows)


UPDATED_COLUMNS = tuple(c for c in INCIDENT_COLUMNS if c not in ("dataset_id",))


def _update(conn, rows: pd.DataFrame, ids: np.ndarray) -> None:
    """Rewrite changed incidents (same id) with their new content, keeping them as they
    were for undo (`store.supersede`)."""
    supersede(conn, int(rows["dataset_id"].iloc[0]), int(rows["import_id"].iloc[0]), ids)
    values = incident_values(rows, "generic")
    params = [{**{f"v_{k}": values[k][i] for k in UPDATED_COLUMNS}, "b_id": int(ident)}
              for i, ident in enumerate(ids)]
    c = db.incidents.c
    statement = (sa.update(db.incidents).where(c.id == sa.bindparam("b_id"))
                 .values({k: sa.bindparam(f"v_{k}") for k in UPDATED_COLUMNS}))
    conn.execute(statement, params)


class BulkIndexes:
    """Big imports: SQLite drops the incidents indexes and rebuilds them after; PostgreSQL
    refreshes the planner's statistics after.

    SQLite: rebuilding an index by sorting is several times faster than a million scattered
    B-tree inserts. It runs inside the import's transaction (SQLite DDL is transactional), so
    readers keep seeing the old table with its indexes until the commit, and a failure or
    kill rolls the drop back. Only used when the dataset starts empty (no dedupe lookups need
    the indexes) and the file is at least as big as the whole table.

    PostgreSQL never drops them (DROP INDEX would lock out readers). Instead, a big import
    ends with ``ANALYZE incidents`` (a sample of ~30k rows, committed with the import): until
    autovacuum got round to it, the planner took a new dataset for a few thousand rows and
    answered the next import's source_id lookups by scanning the dataset (re-uploading 300k
    unchanged rows: 20 s of lookups instead of about one).
    """

    def __init__(self, conn: sa.Connection, expected_rows: int, empty: bool,
                 cache_mb: float = DEFAULT_CACHE_MB):
        self.conn = conn
        self.cache_mb = cache_mb
        self.statements: list[str] = []
        self.analyze = conn.dialect.name == "postgresql" and expected_rows >= BULK_MIN_ROWS
        if conn.dialect.name != "sqlite" or not empty or expected_rows < BULK_MIN_ROWS:
            return
        total = conn.execute(sa.select(sa.func.count()).select_from(db.incidents)).scalar()
        if total > expected_rows:
            return
        found = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'incidents' AND sql IS NOT NULL").fetchall()
        for name, sql in found:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
            self.statements.append(sql)

    def restore(self) -> None:
        # SQLite sorts each index in lists of up to the page cache's size, one per sort
        # thread and one on this thread, all in memory at once: with the import's cache
        # that was 3 x 128 MB at 5M rows, above the page cache itself. Each list gets a
        # share of the import's memory instead (more, smaller sorted runs to merge).
        sort_kb = int(self.cache_mb * 1024) // (SQLITE_SORT_THREADS + 1)
        with db.sqlite_pragmas(self.conn, cache_size=-max(sort_kb, 2048)):
            for sql in self.statements:
                self.conn.exec_driver_sql(sql)
        self.statements = []
        if self.analyze:
            self.conn.exec_driver_sql("ANALYZE incidents")
            self.analyze = False


def big_cache(conn: sa.Connection, cache_mb: float = DEFAULT_CACHE_MB):
    """Give SQLite a page cache big enough for index inserts in bulk, for this import only.

    With the default 2 MB cache, inserting a million rows into the incidents indexes thrashes
    (random row_hash keys); tens of MB keep the hot index pages resident (``IMPORT_CACHE_MB``,
    64 by default; it was 128 MB). Helper threads sort for CREATE INDEX and GROUP BY (index
    rebuild, rollups). PostgreSQL: no-op.
    """
    return db.sqlite_pragmas(conn, cache_size=-int(cache_mb * 1024),
                             threads=SQLITE_SORT_THREADS)


# --- the writer thread ----------------------------------------------------------------------

def store_job(conn, dataset_id, import_id, rows, batch, totals, block_warnings,
               warning_parts, write):
    """Return the work of storing one validated block (run in order by `BlockWriter`).

    The block's validation warnings are logged before its storage warnings, as when the
    pipeline ran on one thread, so the issues kept for the report are the same.
    """
    def job():
        warning_parts.append(block_warnings)
        found: list[pd.DataFrame] = []
        store(conn, dataset_id, import_id, rows, batch.lines, totals, found, write)
        warning_parts.extend(to_lines(w, batch) for w in found)

    return job


class BlockWriter:
    """Run jobs in submission order on one background thread, at most `depth` unfinished.

    While the writer hashes, dedupes and writes a block (sqlite3 and psycopg release the GIL
    while the database works; PostgreSQL's COPY and index maintenance run in the server
    process), the caller's thread parses and validates the next one; `submit` waits while
    `depth` jobs are unfinished, which bounds memory to depth + 1 blocks. The first error stops further jobs and is raised in the caller's
    thread (on the next `submit` or on exit); on exit the thread is always joined, so the
    connection is never used by two threads at once and the transaction can end normally.
    """

    def __init__(self, depth: int = 1):
        self._queue: queue.Queue = queue.Queue()
        # A slot per job submitted and not finished: with depth 1 the caller validates at
        # most one block ahead of the one being written (two blocks in memory, not three).
        self._slots = threading.Semaphore(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="geomap-import-writer",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self._error is None:
                try:
                    job()
                except BaseException as exc:  # re-raised in the submitting thread
                    self._error = exc
            self._slots.release()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, job) -> None:
        self._raise()
        self._slots.acquire()
        self._raise()
        self._queue.put(job)

    def __enter__(self) -> "BlockWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._queue.put(None)
        self._thread.join()
        if exc_type is None:
            self._raise()
