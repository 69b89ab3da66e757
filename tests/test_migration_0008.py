"""Migration 0008 (natural keys, undo, deleted datasets): up from 0007 with data, and down."""

from __future__ import annotations

import sqlalchemy as sa

from db_helpers import migrate_to
from geomap import db


def _columns(conn, table) -> set[str]:
    return {c["name"] for c in sa.inspect(conn).get_columns(table)}


def test_0008_upgrade_keeps_imports_and_marks_what_cannot_be_undone(any_app):
    url = any_app.config["DATABASE_URL"]
    engine = db.engine_for(url)
    migrate_to(url, "0007", down=True)
    with engine.begin() as conn:
        assert "natural_key" not in _columns(conn, "datasets")
        ds = conn.execute(sa.text(
            "INSERT INTO datasets (slug, title, created_at, updated_at) VALUES "
            "('old', 'Old', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id")).scalar_one()
        for mode, updated in (("append", 0), ("append", 2), ("replace", 0)):
            conn.execute(sa.text(
                "INSERT INTO imports (dataset_id, created_at, filename, mode, rows_updated) "
                "VALUES (:ds, CURRENT_TIMESTAMP, 'f.csv', :mode, :updated)"),
                {"ds": ds, "mode": mode, "updated": updated})
    db.migrate(url)
    with engine.begin() as conn:
        rows = conn.execute(sa.select(db.imports.c.dataset_slug, db.imports.c.mode,
                                      db.imports.c.undo_dropped_at.is_not(None))
                            .order_by(db.imports.c.id)).all()
        # Imports made before 0008 kept nothing of what they replaced or updated.
        assert [tuple(r) for r in rows] == [("old", "append", False), ("old", "append", True),
                                            ("old", "replace", True)]
        # Deleting the dataset keeps its imports (ON DELETE SET NULL now, not CASCADE).
        conn.execute(sa.delete(db.datasets).where(db.datasets.c.id == ds))
        assert conn.execute(sa.select(db.imports.c.dataset_id)).scalars().all() == [None] * 3
    migrate_to(url, "0007", down=True)
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("superseded_incidents")
        assert not sa.inspect(conn).has_table("deleted_datasets")
        assert "dataset_slug" not in _columns(conn, "imports")
        # Records of deleted datasets cannot be kept under the old schema's NOT NULL link.
        assert conn.execute(sa.text("SELECT count(*) FROM imports")).scalar() == 0
    db.migrate(url)
    with engine.connect() as conn:
        assert db.current_revision(conn) == db.head_revision()
