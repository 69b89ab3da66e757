"""Storage round-trips on SQLite and PostgreSQL."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from db_helpers import day_rollup
from geomap import storage
from geomap.errors import BadRequest, Conflict, NotFound


def _frame(dataset_id, n=3):
    frame = pd.DataFrame({
        "dataset_id": dataset_id,
        "source_id": [f"id-{i}" for i in range(n)],
        "occurred_at": pd.to_datetime(["2025-01-05 10:00", "2025-02-01 00:00", "2025-02-03 23:59"][:n]),
        "precision": ["second", "day", "second"][:n],
        "lat": [49.0021, 45.0093, 62.615][:n], "lon": [-122.7566, -73.4525, -141.0013][:n],
        "type": ["apprehension", "sighting", "apprehension"][:n],
        "count": [2, 0, 5][:n], "direction": ["northbound", "southbound", "unknown"][:n],
        "description": ["Line one\nline two", "quote \" and <tag>", "ünïcode"][:n],
        "attributes": [{"Port Code": "0007"}, {}, {"x": 1}][:n],
        "admin1": ["US-WA", "US-NY", "US-AK"][:n], "country": ["US", "US", "US"][:n],
        "sector": ["Blaine", "Swanton", "Blaine"][:n],
        "border_mile": [10.5, 2500.25, 4400.0][:n], "border_km": [-0.02, -0.1, -0.3][:n],
        "at_border": [True, False, False][:n],
    })
    return storage.add_row_hashes(frame)


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
        storage._bulk_insert(conn, "literal_check", {"tag": [tag] * 3, **columns}, {})
        probes = ", ".join(f'typeof("{c}"), quote("{c}")' for c in columns)
        return conn.exec_driver_sql(f"SELECT {probes} FROM literal_check WHERE tag = '{tag}' "
                                    "ORDER BY rowid").fetchall()

    assert [storage._sqlite_literal(columns[c]) for c in columns] == [
        "7", "-3", str(2 ** 63 - 1), "NULL", "'it''s'", "''", None, None, None, None, None]
    literal = stored("literal")
    monkeypatch.setattr(storage, "_sqlite_literal", lambda column: None)
    assert stored("bound") == literal


def test_sqlite_rows_inserted_several_per_statement_keep_their_order(conn, monkeypatch):
    if conn.dialect.name != "sqlite":
        pytest.skip("SQLite's bulk path")
    conn.exec_driver_sql("CREATE TEMP TABLE multi_check (tag, i, x, s)")
    n = 2 * storage.SQLITE_ROWS_PER_INSERT + 3
    values = {"i": list(range(n)), "x": [i / 7 for i in range(n)],
              "s": [None if i % 5 else f"r{i}" for i in range(n)]}

    def stored(tag):
        storage._bulk_insert(conn, "multi_check", {"tag": [tag] * n, **values}, {})
        return conn.exec_driver_sql("SELECT rowid - min(rowid) OVER (), i, x, s FROM "
                                    f"multi_check WHERE tag = '{tag}' ORDER BY rowid").fetchall()

    several = stored("several")
    monkeypatch.setattr(storage, "SQLITE_ROWS_PER_INSERT", 1)
    assert stored("one") == several
    assert [row[:2] for row in several] == [(i, i) for i in range(n)]


def test_dataset_round_trip(conn):
    created = storage.create_dataset(conn, "wa-bc", "WA → BC", description="d", source="RCMP",
                                     license="CC-BY-4.0")
    assert created["version"] == 1 and created["published"] is False
    assert storage.get_dataset(conn, "wa-bc")["title"] == "WA → BC"
    assert storage.list_datasets(conn) == []
    published = storage.set_published(conn, "wa-bc", True)
    assert published["published"] is True and published["version"] == 2
    [listed] = storage.list_datasets(conn)
    assert listed["slug"] == "wa-bc" and listed["incidents"] == 0


def test_dataset_errors(conn):
    storage.create_dataset(conn, "one", "One")
    with pytest.raises(Conflict):
        storage.create_dataset(conn, "one", "Again")
    with pytest.raises(BadRequest) as info:
        storage.create_dataset(conn, "Bad Slug!", "x")
    assert "Bad Slug!" in info.value.message
    with pytest.raises(NotFound):
        storage.get_dataset(conn, "missing")


def test_incident_round_trip_keeps_every_field(conn):
    ds = storage.create_dataset(conn, "rt", "Round trip")
    frame = _frame(ds["id"])
    assert storage.insert_incidents(conn, frame) == 3
    back = storage.incident_frame(conn, ds["id"])
    assert list(back["source_id"]) == ["id-0", "id-1", "id-2"]
    assert back["occurred_at"].iloc[2] == pd.Timestamp("2025-02-03 23:59")
    assert list(back["count"]) == [2, 0, 5]
    assert back["description"].iloc[0] == "Line one\nline two"
    assert back["description"].iloc[1] == 'quote " and <tag>'
    assert back["attributes"].iloc[0] == {"Port Code": "0007"}
    assert list(back["at_border"]) == [True, False, False]
    assert back["lat"].iloc[0] == pytest.approx(49.0021)
    assert list(back["row_hash"]) == list(frame["row_hash"])
    assert list(back["row_hash2"]) == list(frame["row_hash2"])
    # What was stored hashes back to the stored hash (what migration 0003 relies on).
    pd.testing.assert_frame_equal(storage.row_hashes(back), frame[["row_hash", "row_hash2"]],
                                  check_index_type=False)


def test_filters(conn):
    ds = storage.create_dataset(conn, "f", "Filters")
    storage.insert_incidents(conn, _frame(ds["id"]))
    count = lambda **f: storage.count_incidents(conn, ds["id"], f)  # noqa: E731
    assert count() == 3
    assert count(**{"from": dt.datetime(2025, 2, 1)}) == 2
    assert count(**{"to": dt.datetime(2025, 2, 1)}) == 1
    assert count(admin1=["US-WA", "US-NY"]) == 2
    assert count(sector=["Blaine"], direction=["northbound"]) == 1
    assert count(type=["nothing"]) == 0


def test_delete_and_version_bump(conn):
    ds = storage.create_dataset(conn, "d", "Delete")
    storage.insert_incidents(conn, _frame(ds["id"]))
    assert storage.delete_incidents(conn, ds["id"]) == 3
    assert storage.bump_version(conn, ds["id"]) == 2


def test_imports_are_recorded_with_report(conn):
    ds = storage.create_dataset(conn, "imp", "Imports")
    import_id = storage.record_import(conn, ds["id"], filename="a.csv", sha256="0" * 64,
                                      rows_total=3, report={"errors": [{"row": 2}]})
    assert storage.get_import(conn, import_id)["report"] == {"errors": [{"row": 2}]}
    [listed] = storage.list_imports(conn, ds["id"])
    assert listed["filename"] == "a.csv" and "report" not in listed


def test_row_hash_ignores_computed_columns_and_sees_content():
    a = _frame(1)
    b = a.copy()
    b["admin1"] = "CA-BC"
    pd.testing.assert_frame_equal(storage.row_hashes(a), storage.row_hashes(b))
    b.loc[0, "count"] = 3
    ha, hb = storage.row_hashes(a), storage.row_hashes(b)
    assert (ha.iloc[0] != hb.iloc[0]).all()  # both halves change
    assert (ha.iloc[1:] == hb.iloc[1:]).all().all()
    assert list(ha.dtypes) == [np.int64, np.int64]


def test_row_hash_is_the_same_for_any_dtype_of_equal_content():
    a = _frame(1)
    b = a.copy()
    for name in ("source_id", "type", "direction", "precision", "description"):
        b[name] = b[name].astype("string")
    b["type"] = b["type"].astype("category")
    b["count"] = b["count"].astype("int32")
    pd.testing.assert_frame_equal(storage.row_hashes(a), storage.row_hashes(b))
    # Missing text is the empty string; a value moved to another column is new content.
    c = a.copy()
    c.loc[0, "description"] = None
    d = a.copy()
    d.loc[0, "description"] = ""
    pd.testing.assert_series_equal(storage.row_hashes(c)["row_hash"],
                                   storage.row_hashes(d)["row_hash"])
    e = a.copy()
    e.loc[0, ["type", "direction"]] = [a.loc[0, "direction"], a.loc[0, "type"]]
    assert storage.row_hashes(e)["row_hash"][0] != storage.row_hashes(a)["row_hash"][0]


def test_insert_hashes_rows_that_come_without_hashes(conn):
    ds = storage.create_dataset(conn, "nohash", "No hash")
    frame = _frame(ds["id"]).drop(columns=["row_hash", "row_hash2"])
    storage.insert_incidents(conn, frame)
    back = storage.incident_frame(conn, ds["id"])
    expected = storage.row_hashes(frame)
    assert list(back["row_hash"]) == list(expected["row_hash"])
    assert list(back["row_hash2"]) == list(expected["row_hash2"])


def test_list_datasets_totals_follow_the_version(conn):
    ds = storage.create_dataset(conn, "tot", "Totals", published=True)
    storage.create_dataset(conn, "other", "Other", published=True)
    assert storage.list_datasets(conn, slug="tot")[0]["incidents"] == 0
    storage.insert_incidents(conn, _frame(ds["id"]))
    storage.bump_version(conn, ds["id"])  # every change of incidents bumps the version
    [row] = storage.list_datasets(conn, slug="tot")
    assert (row["incidents"], row["total_count"]) == (3, 7)
    assert {r["slug"] for r in storage.list_datasets(conn)} == {"tot", "other"}
    assert storage.has_datasets(conn)


def _rollup(conn, dataset_id):
    from geomap import db
    import sqlalchemy as sa

    cells = db.incident_grid_cells
    rows = conn.execute(sa.select(cells).where(cells.c.dataset_id == dataset_id)
                        .order_by(cells.c.gy, cells.c.gx)).all()
    grid = conn.execute(sa.select(db.incident_grids.c.cells)
                        .where(db.incident_grids.c.dataset_id == dataset_id)).scalar_one()
    return [tuple(r) for r in rows], grid, day_rollup(conn, dataset_id)


def test_merged_rollup_of_an_append_equals_a_rebuild(conn):
    from maps_fixtures import incident_rows

    ds = storage.create_dataset(conn, "merge", "Merge")
    first = incident_rows(300, seed=1, dataset_id=ds["id"])
    storage.insert_incidents(conn, first)
    storage.bump_version(conn, ds["id"])  # full rebuild
    # Appended rows: some in cells the rollup has (new extremes), some in new cells.
    added = incident_rows(200, seed=2, dataset_id=ds["id"])
    added.loc[:49, "lat"] = added.loc[:49, "lat"] + 1.5
    added.loc[50:52, ["lat", "lon"]] = [[49.0, -122.0], [48.9, -122.7], [49.2, -121.9]]
    rollup = storage.RollupAccumulator(delta=True)
    rollup.add(added)
    storage.insert_incidents(conn, added)
    storage.bump_version(conn, ds["id"], rollup=rollup)
    merged = _rollup(conn, ds["id"])
    storage.refresh_rollups(conn, ds["id"])
    assert merged == _rollup(conn, ds["id"])
    assert merged[1] == len(merged[0])


def test_merge_without_a_rollup_rebuilds_it(conn):
    from maps_fixtures import incident_rows

    ds = storage.create_dataset(conn, "norollup", "No rollup")
    rows = incident_rows(50, dataset_id=ds["id"])
    storage.insert_incidents(conn, rows)
    rollup = storage.RollupAccumulator(delta=True)  # saw none of the rows already there
    assert storage.merge_rollups(conn, ds["id"], rollup) > 0
    merged = _rollup(conn, ds["id"])
    storage.refresh_rollups(conn, ds["id"])
    assert merged == _rollup(conn, ds["id"])


def test_incident_writer_streams_blocks_and_flushes_before_other_statements(any_app):
    """One COPY across blocks on PostgreSQL: rows are visible after `flush`, later blocks
    go into a new COPY, and an error inside the block fails the COPY and the transaction."""
    from maps_fixtures import incident_rows

    from geomap import db

    engine = db.engine_for(any_app.config["DATABASE_URL"])
    with engine.begin() as conn:
        ds = storage.create_dataset(conn, "stream", "Stream")
        with storage.IncidentWriter(conn) as writer:
            assert writer.insert(incident_rows(30, seed=1, dataset_id=ds["id"])) == 30
            assert writer.insert(incident_rows(20, seed=2, dataset_id=ds["id"])) == 20
            writer.flush()
            assert storage.count_incidents(conn, ds["id"]) == 50
            writer.insert(incident_rows(5, seed=3, dataset_id=ds["id"]))
        assert storage.count_incidents(conn, ds["id"]) == 55
        written = storage.incident_frame(conn, ds["id"])
        expected = pd.concat([incident_rows(30, seed=1), incident_rows(20, seed=2),
                              incident_rows(5, seed=3)])
        assert sorted(written["row_hash"]) == sorted(expected["row_hash"])
    with pytest.raises(ValueError, match="mid-import"):
        with engine.begin() as conn:
            with storage.IncidentWriter(conn) as writer:
                writer.insert(incident_rows(10, seed=4, dataset_id=ds["id"]))
                raise ValueError("mid-import")
    with engine.connect() as conn:
        assert storage.count_incidents(conn, ds["id"]) == 55


def test_row_hashes_of_constant_columns_equal_the_frozen_reference():
    """Columns with one value in every row are hashed once and broadcast; the hashes must be
    those of migration 0003's frozen per-row copy (what existing rows were hashed with)."""
    import importlib

    from maps_fixtures import incident_rows

    frozen = importlib.import_module(
        "geomap.migrations.versions.0003_integer_hash_no_incident_fks")
    frame = incident_rows(50, seed=4).drop(columns=["row_hash", "row_hash2"])
    frame["description"] = "same everywhere"
    frame["source_id"] = None
    for variant in (frame, frame.drop(columns=["description"]),
                    frame.assign(type="crossing", direction="northbound")):
        expected = frozen._new_hashes(variant)
        got = storage.row_hashes(variant)
        assert (got["row_hash"].to_numpy() == expected[0]).all()
        assert (got["row_hash2"].to_numpy() == expected[1]).all()
