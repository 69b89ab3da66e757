"""Bulk writes: the SQLite literal and multi-row paths, hashing on insert, IncidentWriter."""

import pandas as pd
import pytest

from geomap import store
from geomap.store import bulk
from store_helpers import three_incidents


def test_sqlite_columns_written_as_literals_store_what_binding_stores(conn, monkeypatch):
    if conn.dialect.name != "sqlite":
        pytest.skip("SQLite's bulk path")
    columns = {"i": [7] * 3, "neg": [-3] * 3, "big": [2 ** 63 - 1] * 3, "absent": [None] * 3,
               "quote": ["it's"] * 3, "empty": [""] * 3, "accents": ["ünï"] * 3,
               "bools": [1, True, 1], "floaty": [1, 1.0, 1], "tenth": [0.1] * 3,
               "varies": ["a", "b", "a"]}
    names = ", ".join(f'"{c}"' for c in columns)
    conn.exec_driver_sql(f"CREATE TEMP TABLE literal_check (tag, {names})")

    def stored(tag):
        bulk._bulk_insert(conn, "literal_check", {"tag": [tag] * 3, **columns}, {})
        probes = ", ".join(f'typeof("{c}"), quote("{c}")' for c in columns)
        return conn.exec_driver_sql(f"SELECT {probes} FROM literal_check WHERE tag = '{tag}' "
                                    "ORDER BY rowid").fetchall()

    assert [bulk._sqlite_literal(columns[c]) for c in columns] == [
        "7", "-3", str(2 ** 63 - 1), "NULL", "'it''s'", "''", None, None, None, None, None]
    literal = stored("literal")
    monkeypatch.setattr(bulk, "_sqlite_literal", lambda column: None)
    assert stored("bound") == literal


def test_sqlite_rows_inserted_several_per_statement_keep_their_order(conn, monkeypatch):
    if conn.dialect.name != "sqlite":
        pytest.skip("SQLite's bulk path")
    conn.exec_driver_sql("CREATE TEMP TABLE multi_check (tag, i, x, s)")
    n = 2 * bulk.SQLITE_ROWS_PER_INSERT + 3
    values = {"i": list(range(n)), "x": [i / 7 for i in range(n)],
              "s": [None if i % 5 else f"r{i}" for i in range(n)]}

    def stored(tag):
        bulk._bulk_insert(conn, "multi_check", {"tag": [tag] * n, **values}, {})
        return conn.exec_driver_sql("SELECT rowid - min(rowid) OVER (), i, x, s FROM "
                                    f"multi_check WHERE tag = '{tag}' ORDER BY rowid").fetchall()

    several = stored("several")
    monkeypatch.setattr(bulk, "SQLITE_ROWS_PER_INSERT", 1)
    assert stored("one") == several
    assert [row[:2] for row in several] == [(i, i) for i in range(n)]


def test_insert_hashes_rows_that_come_without_hashes(conn):
    ds = store.create_dataset(conn, "nohash", "No hash")
    frame = three_incidents(ds["id"]).drop(columns=["row_hash", "row_hash2"])
    store.insert_incidents(conn, frame)
    back = store.incident_frame(conn, ds["id"])
    expected = store.row_hashes(frame)
    assert list(back["row_hash"]) == list(expected["row_hash"])
    assert list(back["row_hash2"]) == list(expected["row_hash2"])


def test_incident_writer_streams_blocks_and_flushes_before_other_statements(any_app):
    """One COPY across blocks on PostgreSQL: rows are visible after `flush`, later blocks
    go into a new COPY, and an error inside the block fails the COPY and the transaction."""
    from maps_fixtures import incident_rows

    from geomap import db

    engine = db.engine_for(any_app.config["DATABASE_URL"])
    with engine.begin() as conn:
        ds = store.create_dataset(conn, "stream", "Stream")
        with store.IncidentWriter(conn) as writer:
            assert writer.insert(incident_rows(30, seed=1, dataset_id=ds["id"])) == 30
            assert writer.insert(incident_rows(20, seed=2, dataset_id=ds["id"])) == 20
            writer.flush()
            assert store.count_incidents(conn, ds["id"]) == 50
            writer.insert(incident_rows(5, seed=3, dataset_id=ds["id"]))
        assert store.count_incidents(conn, ds["id"]) == 55
        written = store.incident_frame(conn, ds["id"])
        expected = pd.concat([incident_rows(30, seed=1), incident_rows(20, seed=2),
                              incident_rows(5, seed=3)])
        assert sorted(written["row_hash"]) == sorted(expected["row_hash"])
    with pytest.raises(ValueError, match="mid-import"):
        with engine.begin() as conn:
            with store.IncidentWriter(conn) as writer:
                writer.insert(incident_rows(10, seed=4, dataset_id=ds["id"]))
                raise ValueError("mid-import")
    with engine.connect() as conn:
        assert store.count_incidents(conn, ds["id"]) == 55
