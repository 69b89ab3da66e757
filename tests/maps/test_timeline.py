"""The time layer frames long series by limiting frames, never by coarsening cells; it
respects each record's date precision; cumulative frames add up."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from geomap import aggregate, binning, db, ingest, maps, store
from geomap.maps import timeline
from geomap.maps.payloads import time_payload
from ingest_helpers import FAKE_REGIONS
from maps_fixtures import (map_html as _html, map_payload as _payload, mixed_precision_rows,
                           seed_dataset)
from period_fixtures import monthly_series


@pytest.mark.parametrize("first, last, period, frames", [
    (dt.date(1995, 1, 1), dt.date(2024, 12, 1), "month", 360),
    (dt.date(1995, 1, 1), dt.date(2024, 12, 1), "quarter", 120),
    (dt.date(1995, 1, 1), dt.date(2024, 12, 1), "year", 30),
    (dt.date(2025, 1, 1), dt.date(2025, 1, 13), "week", 3),  # Wed 1 Jan .. Mon 13 Jan
    (dt.date(2025, 3, 31), dt.date(2025, 4, 1), "quarter", 2)])
def test_frame_count(first, last, period, frames):
    assert timeline.frame_count(first, last, period) == frames


def test_auto_picks_the_finest_period_that_fits_and_holds_most_records():
    days = {"day": (100, 100)}
    assert timeline.pick_period("auto", dt.date(2025, 1, 1), dt.date(2025, 12, 31), days,
                                120) == "week"
    assert timeline.pick_period("auto", dt.date(2020, 1, 1), dt.date(2025, 12, 31), days,
                                120) == "month"
    assert timeline.pick_period("auto", dt.date(1995, 1, 1), dt.date(2024, 12, 31), days,
                                120) == "quarter"
    assert timeline.pick_period("auto", dt.date(1900, 1, 1), dt.date(2024, 12, 31), days,
                                120) == "year"
    # Monthly figures over one year are animated by month, not by week.
    monthly = {"month": (12, 500), "day": (2, 2)}
    assert timeline.pick_period("auto", dt.date(2025, 1, 1), dt.date(2025, 12, 1), monthly,
                                120) == "month"
    assert timeline.pick_period("month", dt.date(1900, 1, 1), dt.date(2024, 1, 1), days,
                                120) == "month"


def test_cumulate_gives_running_totals_from_each_cells_first_frame():
    cells = pd.DataFrame({"gy": [0, 0, 1, 0], "gx": [0, 0, 2, 1], "pidx": [1, 3, 0, 3],
                          "n": [1, 2, 3, 4], "total": [10, 20, 30, 40]})
    out = timeline.cumulate(cells, 4).sort_values(["gy", "gx", "pidx"]).reset_index(drop=True)
    assert out[["gy", "gx", "pidx", "n", "total"]].values.tolist() == [
        [0, 0, 1, 1, 10], [0, 0, 2, 1, 10], [0, 0, 3, 3, 30],
        [0, 1, 3, 4, 40],
        [1, 2, 0, 3, 30], [1, 2, 1, 3, 30], [1, 2, 2, 3, 30], [1, 2, 3, 3, 30]]


def _series_frame() -> tuple[pd.DataFrame, pd.Series]:
    series, expected = monthly_series()
    frame = series.assign(occurred_at=pd.to_datetime(series["date"]), precision="month")
    return frame, expected


def _yearly(expected: pd.Series) -> dict[str, int]:
    years = expected.index.str.slice(0, 4)
    return {str(k): int(v) for k, v in expected.groupby(years).sum().items()}


def _quarterly(expected: pd.Series) -> dict[str, int]:
    month = expected.index.str.slice(5, 7).astype(int)
    quarters = expected.index.str.slice(0, 4) + "-Q" + ((month - 1) // 3 + 1).astype(str)
    return {str(k): int(v) for k, v in expected.groupby(quarters).sum().items()}


def test_thirty_years_of_monthly_port_data_stay_sharp_at_the_ports():
    frame, expected = _series_frame()
    spec = maps.MapSpec(layer="time")
    agg = maps.aggregate_frame(frame, spec)
    # The heat map's cell for this extent (0.2°: the ports 0.63° apart stay apart), never
    # the 6.4° cells that fitting cells x months into the cap used to make.
    assert agg.cell == binning.fit_cell(agg.bounds) == 0.2
    assert len(agg.frames[["lat", "lon"]].drop_duplicates()) == 89
    # 360 months are more frames than picked from a span: quarters, all 120 of them.
    assert agg.framing.period == "quarter" and agg.framing.omitted == 0
    assert len(agg.periods) == 120 and agg.periods[:2] == ["1995-Q1", "1995-Q2"]
    html = _html(frame, layer="time", tiles="none")
    assert len(html.encode()) < 200_000
    data = _payload(html, "time")
    assert dict(zip(data["periods"], data["totals"])) == _quarterly(expected)
    assert len(data["points"]) == 89 and data["period"] == "quarter"
    assert data["cumulative"] is False
    notes = maps.legend(agg, spec)["notes"]
    assert any(n.startswith("Animated by quarter, 120 frames (picked from the span)")
               for n in notes), notes


def test_monthly_frames_asked_step_up_when_they_would_not_fit():
    frame, expected = _series_frame()
    spec = maps.MapSpec(layer="time", period="month")
    agg = maps.aggregate_frame(frame, spec)
    # Months x ports (32,040 cell-frames) are beyond the budget: quarters, same cells.
    assert agg.framing.period == "quarter" and agg.framing.stepped_from == "month"
    assert agg.cell == 0.2 and len(agg.frames) == 89 * 120
    assert any("Animated by quarter, 120 frames: monthly frames would draw more cells" in n
               for n in maps.legend(agg, spec)["notes"])
    # A smaller budget steps further, to years; the cells stay.
    small = maps.aggregate_frame(frame, maps.MapSpec(layer="time", time_max_rows=6000))
    assert small.framing.period == "year" and small.cell == 0.2
    assert small.periods == [str(y) for y in range(1995, 2025)]
    data = _payload(_html(frame, layer="time", time_max_rows=6000), "time")
    assert dict(zip(data["periods"], data["totals"])) == _yearly(expected)


def test_yearly_frames_beyond_the_budget_keep_the_latest_years():
    frame, expected = _series_frame()
    # 89 centres cost 178; 890 cell-frames are left: the last 10 years of 89 ports.
    agg = maps.aggregate_frame(frame, maps.MapSpec(layer="time", period="year",
                                                   time_max_rows=89 * 12))
    assert agg.periods == [str(y) for y in range(2015, 2025)] and agg.cell == 0.2
    assert agg.framing.omitted == 20
    assert any("earliest 20 years are left out" in n
               for n in maps.legend(agg, maps.MapSpec(layer="time"))["notes"])


def test_cumulative_frames_add_up_to_the_total():
    frame, expected = _series_frame()
    spec = maps.MapSpec(layer="time", period="year", cumulative=True, time_max_rows=10_000)
    data = _payload(_html(frame, layer="time", period="year", cumulative=True,
                          time_max_rows=10_000), "time")
    running = np.cumsum(list(_yearly(expected).values()))
    assert data["totals"] == running.tolist() and data["cumulative"] is True
    agg = maps.aggregate_frame(frame, spec)
    assert agg.frames.groupby("pidx")["total"].sum().tolist() == running.tolist()


def test_records_known_only_by_a_coarser_period_are_not_drawn_at_its_start():
    rows = pd.DataFrame({
        "lat": [49.0, 49.0, 45.0, 45.0], "lon": [-122.7, -122.7, -73.4, -73.4],
        "count": [5, 7, 11, 13],
        "occurred_at": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-01", "2024-04-01"]),
        "precision": ["month", "month", "year", "quarter"]})
    monthly = maps.aggregate_frame(rows, maps.MapSpec(layer="time", period="month"))
    assert monthly.periods == ["2024-01", "2024-02"]
    assert monthly.frames["total"].sum() == 12  # not the year's 11 in January
    assert (monthly.framing.coarser_n, monthly.framing.coarser_total) == (2, 24)
    notes = maps.legend(monthly, maps.MapSpec(layer="time"))["notes"]
    assert any("2 records (total count 24) are known only by quarter or year: they are not "
               "in these monthly frames" in n for n in notes), notes
    quarterly = maps.aggregate_frame(rows, maps.MapSpec(layer="time", period="quarter"))
    assert quarterly.periods == ["2024-Q1", "2024-Q2"] and quarterly.framing.coarser_n == 1
    yearly = maps.aggregate_frame(rows, maps.MapSpec(layer="time", period="year"))
    assert yearly.periods == ["2024"] and yearly.frames["total"].sum() == 36
    assert yearly.framing.coarser_n == 0


@pytest.fixture
def series_dataset(any_app):
    """The 30-year series imported through the pipeline (on each backend)."""
    series, expected = monthly_series()
    engine = db.engine_for(any_app.config["DATABASE_URL"])
    ingest.import_frame(engine, series, dataset="ports", options=ingest.Options(),
                        settings=ingest.Settings.from_config(any_app.config),
                        regions=FAKE_REGIONS)
    yield engine, expected
    db.dispose_engine(any_app.config["DATABASE_URL"])


def test_sql_time_layer_frames_the_long_series_like_the_frame(series_dataset):
    engine, expected = series_dataset
    frame, _ = _series_frame()
    with engine.connect() as conn:
        ds = store.get_dataset(conn, "ports")
        for spec in (maps.MapSpec(layer="time"),
                     maps.MapSpec(layer="time", period="quarter", time_max_rows=12_000),
                     maps.MapSpec(layer="time", period="year", cumulative=True,
                                  time_max_rows=10_000)):
            from_db = maps.aggregate_db(conn, ds["id"], {}, spec)
            from_frame = maps.aggregate_frame(frame, spec)
            assert from_db.cell == from_frame.cell == 0.2
            assert from_db.periods == from_frame.periods
            cols = ["lat", "lon", "pidx", "n", "total"]
            key = ["pidx", "lat", "lon"]
            pd.testing.assert_frame_equal(
                from_db.frames[cols].sort_values(key).reset_index(drop=True),
                from_frame.frames[cols].sort_values(key).reset_index(drop=True),
                check_dtype=False)
        months = aggregate.by_period(conn, ds["id"], None, "month")
        assert dict(zip(months["period"], months["total"])) == expected.to_dict()
        years = aggregate.by_period(conn, ds["id"], None, "year")
        assert dict(zip(years["period"], years["total"])) == _yearly(expected)
        quarters = aggregate.by_period(conn, ds["id"], None, "quarter")
        assert len(quarters) == 120 and quarters["period"].iloc[-1] == "2024-Q4"
        q4 = sum(v for k, v in expected.items() if k[:4] == "2024" and k[5:] >= "10")
        assert int(quarters["total"].iloc[-1]) == q4


def test_map_page_takes_period_and_cumulative(any_app, fake_display_layers):
    client = any_app.test_client()
    engine = db.engine_for(any_app.config["DATABASE_URL"])
    rows = pd.DataFrame({"date": ["2024-01", "2024-02", "2024", "2024-03"],
                         "lat": [49.0, 49.0, 45.0, 45.0], "lon": [-122.7, -122.7, -73.4, -73.4],
                         "count": [5, 7, 11, 13]})
    ingest.import_frame(engine, rows, dataset="periods",
                        options=ingest.Options(publish=True),
                        settings=ingest.Settings.from_config(any_app.config),
                        regions=FAKE_REGIONS)
    page = client.get("/maps/periods?layer=time&period=month&cumulative=1")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert ("Animated by month, 3 frames (as asked). Each frame adds up everything before it"
            in text)
    assert "1 records (total count 11) are known only by year" in text
    assert "they are not in the monthly chart and table" in text
    stats = client.get("/api/datasets/periods/stats?by=month").json
    assert [g["key"] for g in stats["groups"]] == ["2024-01", "2024-02", "2024-03"]
    assert stats["coarser"] == {"n": 1, "total": 11, "precisions": ["year"]}
    years = client.get("/api/datasets/periods/stats?by=year").json
    assert [(g["key"], g["total"]) for g in years["groups"]] == [("2024", 36)]
    assert "coarser" not in years
    quarters = client.get("/api/datasets/periods/stats?by=quarter").json
    assert [(g["key"], g["total"]) for g in quarters["groups"]] == [("2024-Q1", 25)]
    bad = client.get("/maps/periods?layer=time&period=fortnight")
    assert bad.status_code == 400 and "fortnight" in bad.get_data(as_text=True)
    db.dispose_engine(any_app.config["DATABASE_URL"])


#: (spec, periods, drawn totals, regional per frame) for `mixed_precision_rows`.
MIXED = [
    (dict(period="month"), ["2024-01", "2024-02", "2024-03"], [12, 0, 3], [100, 200, 40]),
    (dict(period="month", cumulative=True), ["2024-01", "2024-02", "2024-03"],
     [12, 12, 15], [100, 300, 340]),
    (dict(period="quarter"), ["2024-Q1"], [15], [340]),
    (dict(period="year"), ["2024"], [15], [1340]),
    (dict(period="week"), ["2024-01-01", "2024-01-15", "2024-03-04"], [5, 7, 3], [0, 0, 0]),
]


@pytest.mark.parametrize("options, periods, totals, regional", MIXED)
def test_time_layer_counts_records_known_only_by_region_per_frame(
        any_app, options, periods, totals, regional):
    """Both paths (numpy and SQL) count per frame the records known only by sector or
    state/province, with the same precision rule; a month holding only them is a frame."""
    rows = mixed_precision_rows()
    ds = seed_dataset(any_app, "mixed-time", frame=rows)
    spec = maps.MapSpec(layer="time", **options)
    engine = db.engine_for(any_app.config["DATABASE_URL"])
    with engine.connect() as conn:
        from_db = maps.aggregate_db(conn, ds["id"], {}, spec)
    from_frame = maps.aggregate_frame(rows, spec)
    for agg in (from_db, from_frame):
        assert (agg.regional_n, agg.regional_total) == (4, 1340)
        assert agg.periods == periods
        data = time_payload(agg)
        assert data["totals"] == totals
        if any(regional):
            assert data["regional"] == regional and data["minCount"] == 1
        else:  # weeks admit no record known only by month or year: nothing to say
            assert "regional" not in data
    db.dispose_engine(any_app.config["DATABASE_URL"])


def test_time_frames_hide_small_regional_counts_and_filters_apply(any_app):
    rows = mixed_precision_rows()
    ds = seed_dataset(any_app, "mixed-small", frame=rows)
    spec = maps.MapSpec(layer="time", period="month", min_public_count=2)
    engine = db.engine_for(any_app.config["DATABASE_URL"])
    with engine.connect() as conn:
        hidden = maps.aggregate_db(conn, ds["id"], {}, spec)
        blaine = maps.aggregate_db(conn, ds["id"], {"sector": ["BLW"]},
                                   maps.MapSpec(layer="time", period="month"))
    # One record per frame: under the threshold, so no figure (null), like the cells.
    assert time_payload(hidden)["regional"] == [None, None, None]
    assert time_payload(maps.aggregate_frame(rows, spec))["regional"] == [None] * 3
    # A filter selects region-level rows as it selects points.
    assert blaine.periods == ["2024-01", "2024-03"]
    assert time_payload(blaine)["regional"] == [100, 0]
    db.dispose_engine(any_app.config["DATABASE_URL"])


def test_time_map_page_says_each_frames_regional_count(any_app, fake_display_layers):
    seed_dataset(any_app, "mixed-page", frame=mixed_precision_rows())
    page = any_app.test_client().get("/maps/mixed-page?layer=time&period=month")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert ("1,340 counted in 4 records known only by sector or state/province are not drawn "
            "here") in text
    assert "Each frame&#39;s label says how many of them fall in its month." in text
    data = _payload(text, "time")
    assert data["periods"] == ["2024-01", "2024-02", "2024-03"]
    assert data["regional"] == [100, 200, 40] and data["totals"] == [12, 0, 3]
    db.dispose_engine(any_app.config["DATABASE_URL"])
