"""Reducing a selection: public thresholds, and the same aggregates from SQL as from a frame."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from geomap import aggregate, maps, store
from maps_fixtures import (display_layers, incident_rows, map_html as _html,
                           map_payload as _payload)


def test_heat_hides_small_cells():
    frame = pd.DataFrame({"lat": [49.0] * 5 + [45.0], "lon": [-122.0] * 5 + [-100.0],
                          "count": 1})
    cells = _payload(_html(frame, layer="heat", min_public_count=2), "heat")["cells"]
    assert len(cells) == 1 and abs(cells[0][0] - 49.0) < 0.2


@pytest.fixture
def seeded(conn):
    row = store.create_dataset(conn, "agg", "Agg", published=True)
    frame = incident_rows(120, dataset_id=row["id"])
    store.insert_incidents(conn, frame)
    return row, frame


@pytest.mark.parametrize("layer, by", [("heat", "admin1"), ("cluster", "admin1"),
                                       ("choropleth", "admin1"), ("choropleth", "sector"),
                                       ("choropleth", "border_segment"), ("time", "admin1")])
def test_sql_aggregates_match_frame_aggregates(conn, seeded, layer, by):
    row, frame = seeded
    spec = maps.MapSpec(layer=layer, by=by, cluster_limit=50)
    from_db = maps.aggregate_db(conn, row["id"], {}, spec, display_layers())
    from_frame = maps.aggregate_frame(frame, spec, display_layers())
    assert from_db.n == from_frame.n == 120 and from_db.total == from_frame.total
    if layer in ("heat", "cluster"):
        cols = ["lat", "lon", "n", "total"]
        a = from_db.cells[cols].sort_values(["lat", "lon"]).reset_index(drop=True)
        b = from_frame.cells[cols].sort_values(["lat", "lon"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    elif layer == "time":
        assert from_db.periods == from_frame.periods
        assert from_db.frames["total"].sum() == from_frame.frames["total"].sum()
    elif by == "border_segment":
        pd.testing.assert_frame_equal(from_db.segments, from_frame.segments)
        assert from_db.segments["n"].sum() == 120
    else:
        a = dict(zip(from_db.regions["key"], from_db.regions["total"]))
        b = dict(zip(from_frame.regions["key"], from_frame.regions["total"]))
        assert a == b


@pytest.mark.parametrize("period", ["month", "week"])
def test_sql_time_layer_matches_the_frame(conn, seeded, period):
    row, frame = seeded
    spec = maps.MapSpec(layer="time", period=period)
    from_db = maps.aggregate_db(conn, row["id"], {}, spec)
    from_frame = maps.aggregate_frame(frame, spec)
    assert from_db.periods == from_frame.periods and len(from_db.periods) > 1
    cols = ["lat", "lon", "pidx", "n", "total"]
    a = from_db.frames[cols].sort_values(cols).reset_index(drop=True)
    b = from_frame.frames[cols].sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_sql_filters_and_periods(conn, seeded):
    row, frame = seeded
    filters = {"from": dt.datetime(2025, 2, 1), "to": dt.datetime(2025, 3, 1),
               "type": ("crossing",)}
    months = aggregate.by_period(conn, row["id"], filters, "month")
    expected = frame[(frame.occurred_at.dt.month == 2) & (frame.type == "crossing")]
    assert list(months["period"]) == ["2025-02"]
    assert int(months["total"].sum()) == int(expected["count"].sum())
    weeks = aggregate.by_period(conn, row["id"], {}, "week")
    assert all(dt.date.fromisoformat(p).weekday() == 0 for p in weeks["period"])
    assert int(weeks["n"].sum()) == 120
    ext = aggregate.extent(conn, row["id"], {"admin1": ("ZZ-ZZ",)})
    assert ext["n"] == 0 and ext["lat_min"] is None
    agg = maps.aggregate_db(conn, row["id"], {"admin1": ("ZZ-ZZ",)}, maps.MapSpec())
    assert agg.n == 0 and maps.render_parts(maps.build_map(agg, maps.MapSpec())).script
