"""Migration 0009 (location precision) on each backend: up from 0007 with data, down again."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from db_helpers import migrate_to
from geomap import db, ingest, store
from ingest_helpers import FAKE_REGIONS, fake_regions  # noqa: F401  (fixture)

DATA = Path(__file__).parent / "data" / "ingest"


def _import(app, path, **options):
    return ingest.import_file(db.engine_for(app.config["DATABASE_URL"]), path, dataset="mig",
                              options=ingest.Options(**options),
                              settings=ingest.Settings.from_config(app.config),
                              regions=FAKE_REGIONS, user_name="tester")


def test_0009_up_keeps_points_and_hashes_down_drops_regional_rows(any_app, fake_regions,  # noqa: F811
                                                                  tmp_path):
    url = any_app.config["DATABASE_URL"]
    engine = db.engine_for(url)
    first = _import(any_app, DATA / "basic.csv")
    migrate_to(url, "0007", down=True)
    with engine.connect() as conn:
        columns = {c["name"]: c for c in sa.inspect(conn).get_columns("incidents")}
        assert "location_precision" not in columns and not columns["lat"]["nullable"]
    db.migrate(url)
    with engine.connect() as conn:
        columns = {c["name"]: c for c in sa.inspect(conn).get_columns("incidents")}
        assert columns["lat"]["nullable"] and columns["lon"]["nullable"]
        # The undo copy of replaced rows (0008) holds the incidents' columns too.
        kept = {c["name"]: c for c in sa.inspect(conn).get_columns("superseded_incidents")}
        assert {"location_precision", "place"} <= set(kept) and kept["lat"]["nullable"]
        rows = conn.execute(sa.select(db.incidents.c.location_precision,
                                      db.incidents.c.place)).all()
        assert rows and set(rows) == {("point", None)}
        if conn.dialect.name == "sqlite":  # the partial indexes kept their WHERE clauses
            sql = dict(conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'incidents'").all())
            assert "WHERE source_id IS NULL" in sql["ix_incidents_dataset_hash"]
            assert "WHERE source_id IS NOT NULL" in sql["ux_incidents_dataset_source_id"]
            assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type = "
                                        "'trigger'").scalar() >= 1
    # Hashes stored before 0009 still dedupe: the same file again changes nothing.
    again = _import(any_app, DATA / "basic.csv", again=True)  # confirmed (migration 0008)
    assert again["rows_imported"] == 0 and again["rows_unchanged"] == first["rows_imported"]
    # A row known only by sector (no coordinates), then down: it goes, the points stay.
    regional = tmp_path / "sector.csv"
    regional.write_text("date,sector,count\n2024-01-01,Blaine,4\n")
    assert _import(any_app, regional)["rows_imported"] == 1
    migrate_to(url, "0007", down=True)
    with engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(db.incidents)).scalar()
        assert left == first["rows_imported"]
        assert conn.execute(sa.text("SELECT count(*) FROM incidents WHERE lat IS NULL")
                            ).scalar() == 0
        # Its rollups went with the row: nothing counts the deleted row any more.
        assert conn.execute(sa.text("SELECT count(*) FROM incident_days")).scalar() == 0
    db.migrate(url)
    with engine.begin() as conn:  # the delete trigger survived the table copy
        dataset = store.get_dataset(conn, "mig")
        conn.execute(sa.delete(db.datasets).where(db.datasets.c.id == dataset["id"]))
        assert conn.execute(sa.select(sa.func.count()).select_from(db.incidents)).scalar() == 0
