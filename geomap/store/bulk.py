"""Bulk writing of incidents: sqlite3 ``executemany`` and PostgreSQL binary ``COPY``.

Built column by column (no per-row dict); `IncidentWriter` keeps one COPY open across an
import's blocks. `_bulk_insert` is also the rollups' writer (`rollups`).
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .columns import INCIDENT_COLUMNS, TEXT_DEFAULTS, stored_counts, stored_text
from .hashing import HASH_COLUMNS, add_row_hashes


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
    for part in _slices(frame):
        _bulk_insert(conn, "incidents", _written_values(part, conn.dialect.name), _PG_TYPES)
    return len(frame)


#: Rows turned into Python values at a time by the bulk paths: a block of 130k rows as lists
#: of Python objects (22 columns) held ~150 MB at once; slices hold a tenth of that, and
#: each slice costs a few column conversions more (milliseconds).
WRITE_SLICE_ROWS = 16_384


def _slices(frame: pd.DataFrame):
    """Yield frame in consecutive slices of at most `WRITE_SLICE_ROWS` rows."""
    if len(frame) <= WRITE_SLICE_ROWS:
        yield frame
        return
    for start in range(0, len(frame), WRITE_SLICE_ROWS):
        yield frame.iloc[start:start + WRITE_SLICE_ROWS]


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
        copy = self._copy or self._open()
        for part in _slices(frame):
            values = _written_values(part, "postgresql")
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
             "row_hash": "int8", "row_hash2": "int8", "location_precision": "text",
             "place": "text"}


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
