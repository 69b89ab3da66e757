"""Database: one engine per URL, migrations, a connection per request on g; the tables are
`geomap.tables`, re-exported here."""

from __future__ import annotations

import contextlib
import threading
import logging
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from .tables import (  # noqa: F401  (the schema lives in tables.py; read as db.<table>)
    metadata, INCIDENTS_CASCADE_TRIGGER, datasets, users, dataset_members, api_tokens,
    imports, stored_files, stored_file_chunks, jobs, job_leases, incidents,
    superseded_incidents, deleted_datasets, incident_grids, incident_grid_cells,
    incident_days, incident_periods, incident_cell_periods, login_attempts, dataset_corrections)

LOGGER = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

_ENGINES: dict[str, sa.Engine] = {}
#: How long a SQLite statement waits for another connection's lock before failing.
SQLITE_BUSY_MS = 30_000
_ENGINES_LOCK = threading.Lock()


def engine_for(url: str) -> sa.Engine:
    """Return the process-wide engine for a database URL (SQLite gets WAL and a busy timeout)."""
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = _create_engine(url)
        return _ENGINES[url]


_SIDE_READY: set[str] = set()
_SIDE_LOCK = threading.Lock()


def side_engine(url: str, suffix: str, tables: list[sa.Table]) -> sa.Engine:
    """The engine for tables written while an import runs: the database itself, or on SQLite
    a companion file ``<database>-<suffix>`` holding `tables` (created on first use).

    An import holds SQLite's one write lock for its whole transaction (tens of seconds for a
    large file); progress, and uploads kept meanwhile, must not wait for it. A companion file
    beside the database is reached by every process that reaches the database.
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return engine_for(url)
    side = parsed.set(database=f"{parsed.database}-{suffix}").render_as_string(
        hide_password=False)
    engine = engine_for(side)
    with _SIDE_LOCK:
        if side not in _SIDE_READY:
            # BEGIN IMMEDIATE: another process creating them waits its turn (a deferred
            # transaction upgraded to a write would fail at once instead).
            with write_connection(engine) as conn, conn.begin():
                metadata.create_all(conn, tables=tables)
            _SIDE_READY.add(side)
    return engine


def reader_for(url: str) -> sa.Engine:
    """Return the process-wide autocommit engine for one-statement reads on hot paths.

    The main engine pings each connection on checkout and rolls it back on return: three
    round trips on PostgreSQL for one SELECT (0.6 ms against 0.09 ms here). This one does
    neither; its callers retry once on a fresh connection when a pooled one has died
    (`read_one`).
    """
    key = "reader:" + url
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            options = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
            _ENGINES[key] = sa.create_engine(url, isolation_level="AUTOCOMMIT",
                                             pool_reset_on_return=None, **options)
        return _ENGINES[key]


def read_one(url: str, sql: str, params: tuple) -> tuple | None:
    """Run one read-only statement on the reader engine and return its first row (or None)."""
    engine = reader_for(url)
    dbapi_error = engine.dialect.loaded_dbapi.Error
    for attempt in (1, 2):
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(sql, params)
                return cursor.fetchone()
            finally:
                cursor.close()
        except dbapi_error:
            raw.invalidate()  # e.g. the server restarted: never hand this connection out again
            if attempt == 2:
                raise
        finally:
            raw.close()
    return None


def dispose_engine(url: str) -> None:
    """Close the pooled connections of a URL's engines and forget them."""
    with _ENGINES_LOCK:
        engines = [_ENGINES.pop(key, None) for key in (url, "reader:" + url)]
    for engine in engines:
        if engine is not None:
            engine.dispose()


def reset_after_fork() -> None:
    """Drop pooled connections inherited from a parent process without closing them."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose(close=False)


def _create_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling is off (see _sqlite_pragmas) so that SQLAlchemy
        # emits BEGIN itself; writers ask for BEGIN IMMEDIATE and queue on the busy timeout
        # instead of failing when a deferred read transaction tries to upgrade to a write.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get("write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


#: What a write refused by SQLite's lock says: one import at a time holds it.
BUSY_MESSAGE = "an import is writing to the database; try again when it has finished"


@contextlib.contextmanager
def busy_is_conflict(dataset: str, message: str = BUSY_MESSAGE):
    """Turn SQLite's "database is locked" (another writer, an import, holds the write lock
    past the busy timeout) into a 409 `Conflict` naming the dataset; other errors pass."""
    from .errors import Conflict

    try:
        yield
    except sa.exc.OperationalError as exc:
        if "locked" not in str(exc).lower():
            raise
        raise Conflict(message, details={"dataset": dataset}) from None


@contextlib.contextmanager
def sqlite_pragmas(conn: sa.Connection, **values: int):
    """Set SQLite pragmas on conn for the with-block, then restore them; no-op elsewhere.

    Set on the DBAPI connection: a statement through SQLAlchemy would begin its transaction.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    previous = {name: raw.execute(f"PRAGMA {name}").fetchone()[0] for name in values}
    for name, value in values.items():
        raw.execute(f"PRAGMA {name}={int(value)}")
    try:
        yield
    finally:
        for name, value in previous.items():
            raw.execute(f"PRAGMA {name}={int(value)}")


def write_connection(engine: sa.Engine) -> sa.Connection:
    """Return a connection whose transactions take the write lock up front (SQLite)."""
    return engine.connect().execution_options(write=True)


def alembic_config(url: str | None = None):
    """Return an Alembic config for geomap's migrations (on the database at `url`, if given)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Apply every Alembic migration to the database at url (idempotent)."""
    from alembic import command

    cfg = alembic_config(url)
    engine = engine_for(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def head_revision() -> str:
    """Return the newest migration's revision (what `migrate` upgrades to)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: sa.Connection) -> str | None:
    """Return the schema revision recorded in the database, or None if unmigrated."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


# --- Flask glue -------------------------------------------------------------------------------

def get_engine() -> sa.Engine:
    """Return the engine of the current app."""
    from flask import current_app

    return engine_for(current_app.config["DATABASE_URL"])


def get_db() -> sa.Connection:
    """Return this request's connection, opened on first use."""
    from flask import g

    if "db" not in g:
        g.db = get_engine().connect()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    """Close the request's connection, rolling back anything not committed."""
    from flask import g

    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def init_app(app) -> None:
    """Migrate the database on startup and close connections after each request."""
    app.teardown_appcontext(close_db)
    migrate(app.config["DATABASE_URL"])
