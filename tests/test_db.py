"""Migrations and connections on each backend."""

import sqlalchemy as sa

from geomap import db


def test_new_database_is_migrated_on_startup(any_app):
    engine = db.engine_for(any_app.config["DATABASE_URL"])
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert {"datasets", "incidents", "imports", "users", "api_tokens"} <= tables
        assert db.current_revision(conn) == db.head_revision()
        indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("incidents")}
    assert {"ix_incidents_dataset_date", "ix_incidents_dataset_admin1",
            "ix_incidents_dataset_sector"} <= indexes


def test_migrate_is_idempotent(any_app):
    url = any_app.config["DATABASE_URL"]
    db.migrate(url)
    with db.engine_for(url).connect() as conn:
        assert db.current_revision(conn) == db.head_revision()


def test_sqlite_uses_wal_and_busy_timeout(app):
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_get_db_is_per_request_and_closed(app):
    with app.app_context():
        first = db.get_db()
        assert db.get_db() is first
    assert first.closed
