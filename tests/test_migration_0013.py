"""Migration 0013: the correction note becomes the first entry of a corrections log, and back."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from db_helpers import migrate_to
from geomap import db, store
from test_db import _schema_differences


def _columns(conn, table) -> set[str]:
    return {c["name"] for c in sa.inspect(conn).get_columns(table)}


def test_0013_carries_the_note_over_dated_by_the_last_update(any_app):
    url = any_app.config["DATABASE_URL"]
    engine = db.engine_for(url)
    migrate_to(url, "0012", down=True)
    updated = dt.datetime(2026, 3, 14, 9, 26, 53)
    with engine.begin() as conn:
        assert not sa.inspect(conn).has_table("dataset_corrections")
        for slug, note in (("noted", "March counts revised <down>"), ("plain", "")):
            conn.execute(sa.text(
                "INSERT INTO datasets (slug, title, correction, created_at, updated_at) "
                "VALUES (:slug, :slug, :note, :at, :at)"),
                {"slug": slug, "note": note, "at": updated})
    db.migrate(url)
    with engine.begin() as conn:
        assert "correction" not in _columns(conn, "datasets")
        noted = store.get_dataset(conn, "noted")
        [entry] = store.list_corrections(conn, noted["id"])
        assert (entry["corrected_on"], entry["what"], entry["why"], entry["import_id"],
                entry["user_name"], entry["created_at"]) == (
            dt.date(2026, 3, 14), "March counts revised <down>", "", None, None, updated)
        assert store.list_corrections(conn, store.get_dataset(conn, "plain")["id"]) == []
        assert noted["version"] == 1  # carrying it over is no change readers see
        store.add_correction(conn, noted, corrected_on=dt.date(2026, 4, 1),
                             what="April too", why="late reports")
        store.add_correction(conn, noted, corrected_on=dt.date(2026, 2, 1), what="Older")
    migrate_to(url, "0012", down=True)
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("dataset_corrections")
        notes = dict(conn.execute(sa.text("SELECT slug, correction FROM datasets")).all())
        assert notes == {"noted": "April too — late reports", "plain": ""}
    db.migrate(url)
    with engine.connect() as conn:
        assert _schema_differences(conn) == []
        [entry] = store.list_corrections(conn, store.get_dataset(conn, "noted")["id"])
        assert entry["what"] == "April too — late reports"
