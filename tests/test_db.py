"""Migrations and connections on each backend."""

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from db_helpers import day_rollup, migrate_to
from geomap import db, store
from ingest_helpers import FAKE_REGIONS, fake_regions  # noqa: F401  (fixture)


def test_new_database_is_migrated_on_startup(any_app):
    engine = db.engine_for(any_app.config["DATABASE_URL"])
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert {"datasets", "incidents", "imports", "users", "api_tokens"} <= tables
        assert db.current_revision(conn) == db.head_revision()
        indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("incidents")}
    assert "ix_incidents_dataset_date" in indexes
    # Region stats read the day rollup (migration 0005), not indexes on incidents.
    assert not {"ix_incidents_dataset_admin1", "ix_incidents_dataset_sector"} & indexes


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


def _schema_differences(conn) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(context, db.metadata)


def test_migrations_build_the_schema_the_code_declares(any_app):
    with db.engine_for(any_app.config["DATABASE_URL"]).connect() as conn:
        assert _schema_differences(conn) == []
        inspector = sa.inspect(conn)
        assert inspector.get_foreign_keys("incidents") == []
        columns = {c["name"]: c for c in inspector.get_columns("incidents")}
        assert isinstance(columns["row_hash"]["type"], sa.BigInteger)
        if conn.dialect.name == "postgresql":
            assert columns["source_id"]["type"].collation == "C"


def _import(app, path, engine, **options):
    from geomap import ingest

    return ingest.import_file(engine, path, dataset="mig", options=ingest.Options(**options),
                              settings=ingest.Settings.from_config(app.config),
                              regions=FAKE_REGIONS, user_name="tester")


def _hashes(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(sa.select(
            db.incidents.c.id, db.incidents.c.source_id, db.incidents.c.row_hash,
            db.incidents.c.row_hash2).order_by(db.incidents.c.id)).all())


def test_0003_rehashes_existing_rows_so_a_reupload_still_dedupes(any_app, fake_regions,  # noqa: F811
                                                                 tmp_path):
    """Down to 0002 (hex hashes recomputed) and up again: same hashes, and the same file
    uploaded after the upgrade changes nothing (keyed and unkeyed rows)."""
    url = any_app.config["DATABASE_URL"]
    engine = db.engine_for(url)
    path = tmp_path / "mixed.csv"
    path.write_text(
        "date,lat,lon,type,count,direction,description,incident_id,port\n"
        "2025-01-05,49.001,-122.75,crossing,2,N,\"seen, twice\",A1,0007\n"
        "2025-01-06,49.002,-122.74,crossing,1,S,,,0008\n"
        "Jan 2025,45.01,-73.45,sighting,3,north,ünïcode note,,\n"
        "2025-01-06 13:45,48.99,-122.7,,1,,,A2,\n"
        "2025-01-06,49.002,-122.74,crossing,1,S,,,0008\n", encoding="utf-8")
    first = _import(any_app, path, engine)
    assert (first["rows_imported"], first["rows_unchanged"]) == (4, 1), first
    before = _hashes(engine)
    migrate_to(url, "0002", down=True)
    with engine.connect() as conn:
        assert db.current_revision(conn) == "0002"
        old = conn.exec_driver_sql("SELECT row_hash FROM incidents").scalars().all()
        assert all(isinstance(h, str) and len(h) == 32 for h in old)
        assert sa.inspect(conn).get_foreign_keys("incidents")
    db.migrate(url)
    after = _hashes(engine)
    pd.testing.assert_frame_equal(before, after)
    with engine.connect() as conn:
        assert _schema_differences(conn) == []
    again = _import(any_app, path, engine, again=True)
    assert (again["rows_imported"], again["rows_updated"], again["rows_unchanged"]) == (0, 0, 5)
    assert len(_hashes(engine)) == 4


def test_deleting_a_dataset_deletes_its_incidents_and_rollup_and_keeps_its_imports(conn):
    """The trigger of migration 0003 does what the incidents' ON DELETE CASCADE did; the
    imports stay as the audit trail (0008), no longer linked to a dataset."""
    from maps_fixtures import incident_rows

    kept = store.create_dataset(conn, "kept", "Kept")
    gone = store.create_dataset(conn, "gone", "Gone")
    for dataset in (kept, gone):
        import_id = store.record_import(conn, dataset["id"], filename="a.csv")
        store.insert_incidents(conn, incident_rows(20, dataset_id=dataset["id"])
                               .assign(import_id=import_id))
        store.bump_version(conn, dataset["id"])
    conn.execute(sa.delete(db.datasets).where(db.datasets.c.id == gone["id"]))
    for table in (db.incidents, db.incident_grid_cells, db.incident_days,
                  db.incident_grids, db.superseded_incidents):
        left = conn.execute(sa.select(table.c.dataset_id).distinct()).scalars().all()
        assert left == ([kept["id"]] if table is not db.superseded_incidents else []), \
            table.name
    kept_imports = conn.execute(sa.select(db.imports.c.dataset_id)
                                .order_by(db.imports.c.id)).scalars().all()
    assert kept_imports == [kept["id"], None]
    assert store.count_incidents(conn, kept["id"]) == 20


def test_0005_fills_the_day_rollup_and_drops_the_region_indexes(any_app, fake_regions,  # noqa: F811
                                                                tmp_path):
    """Up from 0004: every dataset's day rows equal a rebuild; down again: the covering
    indexes are back and the table is gone."""
    url = any_app.config["DATABASE_URL"]
    engine = db.engine_for(url)
    path = tmp_path / "days.csv"
    path.write_text(
        "date,lat,lon,type,count,direction,incident_id\n"
        "2025-01-05,49.001,-122.75,crossing,2,N,A1\n"
        "2025-01-05 23:59,49.002,-122.74,crossing,1,S,A2\n"
        "Jan 2025,45.01,-73.45,sighting,3,north,A3\n"
        "2025-01-06 00:00,48.99,-122.7,,,,A4\n", encoding="utf-8")
    _import(any_app, path, engine)
    with engine.connect() as conn:
        dataset_id = store.get_dataset(conn, "mig")["id"]
        expected = day_rollup(conn, dataset_id)
    assert [(r[0], r[-2], r[-1]) for r in expected] == [
        (dt.date(2025, 1, 1), 1, 3), (dt.date(2025, 1, 5), 1, 2), (dt.date(2025, 1, 5), 1, 1),
        (dt.date(2025, 1, 6), 1, 1)]
    migrate_to(url, "0004", down=True)
    with engine.connect() as conn:
        names = {i["name"] for i in sa.inspect(conn).get_indexes("incidents")}
        assert {"ix_incidents_dataset_admin1", "ix_incidents_dataset_sector"} <= names
        assert not sa.inspect(conn).has_table("incident_days")
    db.migrate(url)
    with engine.connect() as conn:
        assert _schema_differences(conn) == []
        assert day_rollup(conn, dataset_id) == expected


def test_read_one_is_autocommit_and_survives_a_dead_connection(any_app):
    url = any_app.config["DATABASE_URL"]
    with db.engine_for(url).begin() as conn:
        store.create_dataset(conn, "hot", "Hot path")
    sql = "SELECT slug, version FROM datasets WHERE slug = " + (
        "?" if url.startswith("sqlite") else "%s")
    assert db.read_one(url, sql, ("hot",)) == ("hot", 1)
    assert db.read_one(url, sql, ("nope",)) is None
    with db.engine_for(url).begin() as conn:
        store.bump_version(conn, store.get_dataset(conn, "hot")["id"])
    # No snapshot is held between reads: the new version is seen at once.
    assert db.read_one(url, sql, ("hot",)) == ("hot", 2)
    if url.startswith("postgresql"):
        # The server drops the pooled reader connection (a restart, a proxy timeout): the
        # next read notices, discards it and retries on a new one.
        pid = db.read_one(url, "SELECT pg_backend_pid() WHERE %s", (True,))[0]
        with db.engine_for(url).begin() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert db.read_one(url, sql, ("hot",)) == ("hot", 2)
        assert db.read_one(url, "SELECT pg_backend_pid() WHERE %s", (True,))[0] != pid
    db.dispose_engine(url)
    assert "reader:" + url not in db._ENGINES


def test_0007_roles_and_ownership_upgrade_and_downgrade_keep_users_and_tokens(any_app):
    """Up from 0006 with data: every user becomes an admin, a dataset's first importer (when
    a user) its owner; down again: users and tokens are kept, the new parts are gone."""
    from geomap import access, accounts

    url = any_app.config["DATABASE_URL"]
    engine = db.engine_for(url)
    migrate_to(url, "0006", down=True)
    with engine.begin() as conn:
        assert "role" not in {c["name"] for c in sa.inspect(conn).get_columns("users")}
        for name in ("ana", "bo"):
            conn.execute(sa.insert(db.users).values(name=name, password_hash="x",
                                                    created_at=store.utcnow()))
        token = accounts.create_token(conn, "script", "ana")
        ids = {}
        for slug, importers in (("by-ana", ["ana", "bo"]), ("by-gone", ["gone", "ana"]),
                                ("no-imports", [])):
            # Only the columns of 0006 (the store's queries read the newest schema).
            ids[slug] = conn.execute(sa.text(
                "INSERT INTO datasets (slug, title, created_at, updated_at) "
                "VALUES (:s, :s, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"),
                {"s": slug}).scalar_one()
            for name in importers:
                store.record_import(conn, ids[slug], user_name=name, filename="a.csv")
    db.migrate(url)
    with engine.connect() as conn:
        assert _schema_differences(conn) == []
        users = {u["name"]: u for u in accounts.list_users(conn)}
        assert {u["role"] for u in users.values()} == {"admin"}
        assert all(u["disabled_at"] is None for u in users.values())
        members = {slug: access.list_members(conn, ident) for slug, ident in ids.items()}
        assert members == {"by-ana": [{"user_name": "ana", "role": "owner"}],
                           "by-gone": [], "no-imports": []}
        assert accounts.check_token(conn, token)["role"] == "admin"
        assert conn.execute(sa.select(db.users.c.session_generation)).scalars().all() == [0, 0]
    migrate_to(url, "0006", down=True)
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert not inspector.has_table("dataset_members")
        assert {c["name"] for c in inspector.get_columns("users")} == {
            "id", "name", "password_hash", "created_at"}
        assert conn.execute(sa.text("SELECT name FROM users ORDER BY name")).scalars().all() \
            == ["ana", "bo"]
        assert conn.execute(sa.text("SELECT count(*) FROM api_tokens")).scalar() == 1
    db.migrate(url)
    with engine.connect() as conn:
        assert _schema_differences(conn) == []
