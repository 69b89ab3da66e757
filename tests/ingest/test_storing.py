"""Dedupe and upsert in ingest.storing: exact on the full 128-bit content hash, both backends."""

import numpy as np
import pandas as pd

from db_helpers import day_rollup
from geomap import store
from geomap.ingest import storing

from ingest_helpers import FAKE_REGIONS, fake_regions  # noqa: F401  (fixture)
from maps_fixtures import incident_rows


def test_seen_keys_match_the_check_value_too():
    seen = storing.SeenKeys()
    seen.add(np.array([5, 5, 7], dtype=np.int64), np.array([10, 11, 12]),
             np.array([1, 2, 3], dtype=np.int64))
    found = seen.find(np.array([5, 5, 5, 7, 8], dtype=np.int64),
                      np.array([2, 1, 9, 3, 3], dtype=np.int64))
    assert list(found) == [11, 10, -1, 12, -1]
    # Without check values a key alone is a (candidate) hit.
    keys = storing.SeenKeys()
    keys.add(np.array([3, 9], dtype=np.int64), np.array([4, 5]))
    assert list(keys.find(np.array([9, 1, 3], dtype=np.int64))) == [5, -1, 4]


def test_seen_keys_over_many_blocks_find_the_first_occurrence():
    # Blocks of uneven sizes get merged; small key and check ranges make repeats and
    # collisions (same key, other check) within and across blocks.
    rng = np.random.default_rng(3)
    seen, plain = storing.SeenKeys(), storing.SeenKeys()
    first_line, first_key_line = {}, {}
    line = 0
    for size in [50, 7, 30, 30, 1, 0, 64, 12, 90, 5]:
        keys = rng.integers(0, 40, size).astype(np.int64)
        checks = rng.integers(0, 3, size).astype(np.int64)
        queries = rng.integers(0, 45, 60).astype(np.int64)
        query_checks = rng.integers(0, 3, 60).astype(np.int64)
        assert list(seen.find(queries, query_checks)) == [
            first_line.get((k, c), -1) for k, c in zip(queries.tolist(), query_checks.tolist())]
        assert list(plain.find(queries)) == [first_key_line.get(k, -1) for k in queries.tolist()]
        lines = np.arange(line, line + size)
        seen.add(keys, lines, checks)
        plain.add(keys, lines)
        for k, c, n in zip(keys.tolist(), checks.tolist(), lines.tolist()):
            first_line.setdefault((k, c), n)
            first_key_line.setdefault(k, n)
        line += size
    assert len(seen.keys) < 4


def _block(dataset_id, hashes, source_ids=None):
    """Rows as validation hands them to storage, with chosen content hashes."""
    n = len(hashes)
    rows = incident_rows(n, dataset_id=dataset_id)
    rows["source_id"] = source_ids if source_ids is not None else [None] * n
    rows["row_hash"] = np.array([h[0] for h in hashes], dtype=np.int64)
    rows["row_hash2"] = np.array([h[1] for h in hashes], dtype=np.int64)
    rows["record"] = np.arange(n)
    return rows


def _store(conn, dataset_id, import_id, blocks, empty):
    totals = storing.Totals(empty=empty)
    warnings = []
    first = 2
    with store.IncidentWriter(conn) as totals.writer:
        for rows in blocks:
            lines = np.arange(first, first + len(rows))
            storing.store(conn, dataset_id, import_id, rows, lines, totals, warnings, True)
            first += len(rows)
    return totals, warnings


def test_rows_whose_hashes_share_the_first_half_are_not_duplicates(conn):
    ds = store.create_dataset(conn, "collide", "Collisions")
    import_id = store.record_import(conn, ds["id"])
    # (1, 1) and (1, 2) differ: both kept; (1, 2) again (next block) is a duplicate.
    totals, warnings = _store(conn, ds["id"], import_id, [
        _block(ds["id"], [(1, 1), (1, 2)]), _block(ds["id"], [(1, 2), (1, 3)])], empty=True)
    assert (totals.imported, totals.unchanged) == (3, 1)
    [warning] = warnings
    assert list(warning["ref"]) == [3] and list(warning["record"]) == [0]
    assert store.count_incidents(conn, ds["id"]) == 3
    # A second import looks the hashes up in the database: same first half, other second.
    totals, _ = _store(conn, ds["id"], import_id, [_block(ds["id"], [(1, 1), (1, 4), (1, 4)])],
                       empty=False)
    assert (totals.imported, totals.unchanged) == (1, 2)
    frame = store.incident_frame(conn, ds["id"])
    assert sorted(frame["row_hash2"]) == [1, 2, 3, 4]


def test_upsert_compares_both_halves_of_the_hash(conn):
    ds = store.create_dataset(conn, "upsert", "Upsert")
    import_id = store.record_import(conn, ds["id"])
    _store(conn, ds["id"], import_id, [_block(ds["id"], [(5, 6), (7, 8)], ["K", "L"])],
           empty=True)
    block = _block(ds["id"], [(5, 7), (7, 8), (9, 9)], ["K", "L", "M"])
    block.loc[0, "count"] = 42
    totals, _ = _store(conn, ds["id"], import_id, [block], empty=False)
    assert (totals.imported, totals.updated, totals.unchanged) == (1, 1, 1)
    frame = store.incident_frame(conn, ds["id"]).set_index("source_id")
    assert frame.loc["K", "count"] == 42 and frame.loc["K", "row_hash2"] == 7
    assert len(frame) == 3


def test_hash_columns_survive_a_round_trip_as_exact_integers(conn):
    ds = store.create_dataset(conn, "big", "Big hashes")
    extreme = [(np.iinfo(np.int64).min, np.iinfo(np.int64).max), (-1, 2**62 + 1)]
    import_id = store.record_import(conn, ds["id"])
    _store(conn, ds["id"], import_id, [_block(ds["id"], extreme)], empty=True)
    frame = store.incident_frame(conn, ds["id"])
    assert sorted(zip(frame["row_hash"], frame["row_hash2"])) == sorted(extreme)
    # Re-uploading them finds both (no float rounding of 64-bit values on the way).
    totals, _ = _store(conn, ds["id"], import_id, [_block(ds["id"], extreme)], empty=False)
    assert (totals.imported, totals.unchanged) == (0, 2)
    assert pd.Series(frame["row_hash"]).dtype == np.int64


def test_rows_are_written_in_time_order_keeping_file_order_for_equal_times(conn):
    ds = store.create_dataset(conn, "order", "Order")
    import_id = store.record_import(conn, ds["id"])
    block = _block(ds["id"], [(i, i) for i in range(5)], ["c", "a", "d", "b", "e"])
    block["occurred_at"] = pd.to_datetime(["2025-03-01", "2025-01-01", "2025-03-01",
                                           "2025-01-01", "2025-02-01"])
    _store(conn, ds["id"], import_id, [block], empty=True)
    frame = store.incident_frame(conn, ds["id"])
    assert list(frame["source_id"]) == ["a", "b", "e", "c", "d"]
    assert list(frame["id"]) == sorted(frame["id"])  # ids follow time, then file order


def test_an_append_adds_its_cells_to_the_rollup(any_app, fake_regions, tmp_path,  # noqa: F811
                                                monkeypatch):
    """After each import the rollup equals a rebuild from the table: the first import writes
    it whole, an append merges its cells, an upsert that rewrites a row rebuilds it."""
    import sqlalchemy as sa

    from geomap import db, ingest

    engine = db.engine_for(any_app.config["DATABASE_URL"])

    def run(text):
        path = tmp_path / "upload.csv"
        path.write_text("date,lat,lon,count,incident_id\n" + text, encoding="utf-8")
        return ingest.import_file(engine, path, dataset="grid", options=ingest.Options(),
                                  settings=ingest.Settings.from_config(any_app.config),
                                  regions=FAKE_REGIONS, user_name="t")

    def rollup_is_exact():
        with engine.begin() as conn:
            dataset_id = store.get_dataset(conn, "grid")["id"]
            cells = db.incident_grid_cells
            query = (sa.select(cells).where(cells.c.dataset_id == dataset_id)
                     .order_by(cells.c.gy, cells.c.gx))
            kept = conn.execute(query).all(), day_rollup(conn, dataset_id)
            store.refresh_rollups(conn, dataset_id)
            rebuilt = conn.execute(query).all(), day_rollup(conn, dataset_id)
            conn.rollback()
        return kept == rebuilt and len(kept[0]) > 0 and len(kept[1]) > 0

    merged = []
    real_merge = store.rollups.merge_rollups
    monkeypatch.setattr(store.rollups, "merge_rollups", lambda *args: merged.append(1) or real_merge(*args))
    run("2025-01-01,49.001,-122.75,2,A\n2025-01-02,49.0105,-122.7401,1,B\n")
    assert rollup_is_exact()
    # Same cell as A with a new minimum, a new cell, and B again (unchanged).
    report = run("2025-01-03,49.0001,-122.7499,3,C\n2025-01-04,48.5,-120.0,1,D\n"
                 "2025-01-02,49.0105,-122.7401,1,B\n")
    assert (report["rows_imported"], report["rows_unchanged"]) == (2, 1)
    assert rollup_is_exact() and merged == [1]
    report = run("2025-01-04,48.7,-119.0,5,D\n")  # D moves: a rewrite
    assert report["rows_updated"] == 1
    assert rollup_is_exact() and merged == [1]


def test_a_big_import_leaves_planner_statistics_on_postgresql(conn):
    import sqlalchemy as sa

    ds = store.create_dataset(conn, "stats", "Statistics")
    store.insert_incidents(conn, incident_rows(500, dataset_id=ds["id"]))
    bulk = storing.BulkIndexes(conn, storing.BULK_MIN_ROWS, empty=False)
    bulk.restore()  # inside the import's transaction
    if conn.dialect.name == "postgresql":
        tuples = conn.execute(sa.text(
            "SELECT reltuples FROM pg_class WHERE relname = 'incidents'")).scalar_one()
        assert tuples == 500  # the uncommitted rows of this transaction were sampled
    assert store.count_incidents(conn, ds["id"]) == 500
