"""Migration 0015: datasets gain incidents_version, equal to their version, and back."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from db_helpers import migrate_to
from geomap import db, store
from test_db import _schema_differences


def test_0015_starts_incidents_version_at_the_version(any_app):
    url = any_app.config["DATABASE_URL"]
    engine = db.engine_for(url)
    migrate_to(url, "0014", down=True)
    now = dt.datetime(2026, 12, 1, 8, 0, 0)
    with engine.begin() as conn:
        for slug, version in (("old", 7), ("new", 1)):
            conn.execute(sa.text(
                "INSERT INTO datasets (slug, title, version, created_at, updated_at) "
                "VALUES (:slug, :slug, :version, :at, :at)"),
                {"slug": slug, "version": version, "at": now})
    db.migrate(url)
    with engine.begin() as conn:
        assert _schema_differences(conn) == []
        old = store.get_dataset(conn, "old")
        assert (old["version"], old["incidents_version"]) == (7, 7)
        assert store.get_dataset(conn, "new")["incidents_version"] == 1
        store.bump_version(conn, old["id"])
        assert store.get_dataset(conn, "old")["incidents_version"] == 8
    migrate_to(url, "0014", down=True)
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("datasets")}
        assert "incidents_version" not in columns and "version" in columns


def test_0015_keeps_the_trigger_that_deletes_a_datasets_incidents(any_app):
    url = any_app.config["DATABASE_URL"]
    engine = db.engine_for(url)
    migrate_to(url, "0014", down=True)
    db.migrate(url)
    with engine.begin() as conn:
        dataset = store.create_dataset(conn, "gone", "Gone")
        conn.execute(sa.text(
            "INSERT INTO incidents (dataset_id, occurred_at, lat, lon, row_hash, row_hash2) "
            "VALUES (:id, :at, 49.0, -122.7, 1, 2)"), {"id": dataset["id"],
                                                     "at": dt.datetime(2025, 1, 1)})
        conn.execute(sa.delete(db.datasets).where(db.datasets.c.id == dataset["id"]))
        assert conn.execute(sa.select(sa.func.count()).select_from(db.incidents)).scalar() == 0
