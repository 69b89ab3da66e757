"""Incident round-trips and filters on SQLite and PostgreSQL."""

import datetime as dt

import pandas as pd
import pytest

from geomap import store
from store_helpers import three_incidents


def test_incident_round_trip_keeps_every_field(conn):
    ds = store.create_dataset(conn, "rt", "Round trip")
    frame = three_incidents(ds["id"])
    assert store.insert_incidents(conn, frame) == 3
    back = store.incident_frame(conn, ds["id"])
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
    pd.testing.assert_frame_equal(store.row_hashes(back), frame[["row_hash", "row_hash2"]],
                                  check_index_type=False)


def test_filters(conn):
    ds = store.create_dataset(conn, "f", "Filters")
    store.insert_incidents(conn, three_incidents(ds["id"]))
    count = lambda **f: store.count_incidents(conn, ds["id"], f)  # noqa: E731
    assert count() == 3
    assert count(**{"from": dt.datetime(2025, 2, 1)}) == 2
    assert count(**{"to": dt.datetime(2025, 2, 1)}) == 1
    assert count(admin1=["US-WA", "US-NY"]) == 2
    assert count(sector=["Blaine"], direction=["northbound"]) == 1
    assert count(type=["nothing"]) == 0
