"""Map building: layers, aggregation bounds, self-hosted assets, escaping, public thresholds."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pytest

from geomap import aggregate, maps, storage
from maps_fixtures import display_layers, incident_rows

EVIL = "</script><script>alert('x')</script><img src=x onerror=alert(1)>`${alert(2)}`\u2028"


def _payload(html: str, fn: str) -> dict:
    match = re.search(r"GeomapLayers\." + fn + r"\(map_\w+, (.*)\);\n", html)
    assert match, f"no {fn} call in the map script"
    return json.loads(match.group(1))


def _frame(n=200, **overrides):
    return incident_rows(n, **overrides)


def _html(frame, layers=None, **spec):
    return maps.render_map(frame, maps.MapSpec(**spec), layers or display_layers())


@pytest.mark.parametrize("layer", ["heat", "cluster", "choropleth", "time"])
@pytest.mark.parametrize("tiles", ["openstreetmap", "none"])
def test_every_layer_uses_only_our_static_assets(layer, tiles):
    html = _html(_frame(), layer=layer, tiles=tiles, title="T")
    srcs = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', html)
    assert srcs and all(s.startswith("/static/") for s in srcs), srcs
    for banned in ("cdn.jsdelivr", "code.jquery", "bootstrap", "cdnjs", "fontawesome",
                   "netdna", "unpkg"):
        assert banned not in html
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert ("tile.openstreetmap.org" in html) == (tiles == "openstreetmap")
    if tiles == "none":
        assert "GeomapLayers.basemap(" in html
    # No inline styles (CSP style-src 'self'): folium's own <style> header is left out.
    assert "<style" not in html and " style=" not in html


def test_heat_layer_cells_weights_and_plugin():
    frame = _frame(300)
    html = _html(frame, layer="heat")
    assert "/static/vendor/leaflet.heat/leaflet-heat.js" in html
    data = _payload(html, "heat")
    cells = data["cells"]
    assert cells and all(len(c) == 3 for c in cells)
    assert max(c[2] for c in cells) == 1.0
    for lat, lon, w in cells:
        assert round(lat, 3) == lat and round(lon, 3) == lon and round(w, 3) == w
        assert 0 < w <= 1
    assert data["cell"] in maps.CELL_SIZES


def test_heat_weights_are_counts():
    frame = _frame(2).assign(lat=[49.0, 45.0], lon=[-122.0, -110.0], count=[10, 1])
    cells = _payload(_html(frame, layer="heat"), "heat")["cells"]
    weights = sorted(c[2] for c in cells)
    assert weights == [0.316, 1.0]  # square root of the share of the busiest cell


def test_zero_counts_make_no_heat():
    frame = _frame(2).assign(lat=[49.0, 45.0], lon=[-122.0, -110.0], count=[3, 0])
    cells = _payload(_html(frame, layer="heat"), "heat")["cells"]
    assert len(cells) == 1 and cells[0][2] == 1.0


def test_cell_size_fits_the_extent():
    small = [[48.9, -122.8], [49.1, -122.2]]
    wide = [[42.0, -125.0], [49.5, -67.0]]
    assert maps.fit_cell(small) < maps.fit_cell(wide)
    assert maps.fit_cell(small) == 0.005
    assert maps.fit_cell(wide) == 0.2


def test_cluster_escapes_every_user_string():
    frame = _frame(20).assign(description=EVIL, type=EVIL)
    html = _html(frame, layer="cluster", title=EVIL, source=EVIL, license=EVIL)
    assert "/static/vendor/leaflet.markercluster/leaflet.markercluster.js" in html
    assert "MarkerCluster.Default.css" in html
    script = html[html.rindex("<script>"):]
    assert "</script><script>" not in script[8:-10]
    assert "<img" not in html and "alert('x')" not in html and "\u2028" not in script
    data = _payload(html, "cluster")
    assert data["types"] == [EVIL]  # JSON round trip gives the exact text back
    assert data["rows"][0][6] == EVIL
    assert "&lt;/script&gt;" in html  # title, credit, licence are HTML-escaped


def test_cluster_falls_back_to_cells_above_limit_or_threshold():
    frame = _frame(50)
    html = _html(frame, layer="cluster", cluster_limit=10)
    assert "GeomapLayers.cells(" in html and "markercluster" not in html
    assert "more than the 10 that are shown individually" in html
    html = _html(frame, layer="cluster", min_public_count=3)
    assert "GeomapLayers.cells(" in html and "not shown in public views" in html
    for cell in _payload(html, "cells")["cells"]:
        assert cell[2] >= 3


def test_popup_text_is_truncated():
    frame = _frame(3).assign(description="y" * 1000)
    data = _payload(_html(frame, layer="cluster"), "cluster")
    row = data["rows"][0]
    assert len(row[6]) == maps.POPUP_CHARS and row[6].endswith("…")
    assert data["dates"][row[4]] == "2025-01-01" and data["directions"][row[5]] == "southbound"


def test_five_thousand_markers_stay_under_200_kb():
    frame = incident_rows(5000).assign(description="A long free-text description " * 5,
                                       occurred_at=pd.date_range("2024-01-01", periods=5000,
                                                                 freq="h"))
    html = _html(frame, layer="cluster", tiles="none", embed=True)
    assert "GeomapLayers.cluster(" in html
    assert len(html.encode()) < 200_000, len(html)
    data = _payload(html, "cluster")
    assert data["textOmitted"] and all(len(r) == 6 for r in data["rows"])
    assert "Descriptions are left out" in html
    fewer = _payload(_html(frame.head(500), layer="cluster"), "cluster")
    assert not fewer["textOmitted"] and all(len(r[6]) <= 80 for r in fewer["rows"])


def test_choropleth_by_admin1_and_sector():
    # Spread along the whole fixture border so every region is inside the drawn view.
    frame = _frame(40).assign(admin1=["US-WA"] * 30 + ["CA-BC"] * 10, count=1,
                              lon=np.linspace(-124, -105, 40))
    html = _html(frame, layer="choropleth", by="admin1")
    data = _payload(html, "regions")
    props = {f["properties"]["code"]: f["properties"] for f in data["features"]["features"]}
    assert props["US-WA"]["total"] == 30 and props["CA-BC"]["total"] == 10
    assert props["US-MT"]["total"] == 0 and props["US-MT"]["fill"] == maps.EMPTY_COLOR
    assert props["US-WA"]["fill"] != props["CA-BC"]["fill"]
    assert "Count by state or province" in html and "gm-swatch" in html
    html = _html(frame, layer="choropleth", by="sector")
    props = {f["properties"]["code"]: f["properties"]
             for f in _payload(html, "regions")["features"]["features"]}
    assert props["BLW"]["n"] == 40 and props["SPW"]["n"] == 0
    assert props["BLW"]["name"] == "Blaine"


def test_choropleth_per_border_mile():
    frame = _frame(30).assign(border_mile=[10.0] * 20 + [250.0] * 10, count=2,
                              lon=np.linspace(-124, -105, 30))
    html = _html(frame, layer="choropleth", by="border_segment")
    data = _payload(html, "regions")
    assert data["lines"] is True and data["per"] == "per border mile"
    props = [f["properties"] for f in data["features"]["features"]]
    assert props[0]["total"] == 40 and props[0]["value"] == 0.4  # 40 over 100 miles
    assert props[2]["total"] == 20
    assert "per border mile" in html


def test_border_segments_count_by_the_exact_mile_not_the_whole_mile():
    layers = display_layers()
    layers["border_segment"] = layers["border_segment"].assign(
        mile_from=[0.0, 24.996, 49.992, 74.989, 99.985, 124.981, 149.977],
        mile_to=[24.996, 49.992, 74.989, 99.985, 124.981, 149.977, 174.973])
    frame = _frame(5).assign(border_mile=[24.995, 24.996, 24.999, 174.973, 180.0], count=1,
                             lon=np.linspace(-124, -105, 5))
    data = _payload(_html(frame, layers, layer="choropleth", by="border_segment"), "regions")
    props = {f["properties"]["code"]: f["properties"] for f in data["features"]["features"]}
    assert props["L48-001"]["n"] == 1 and props["L48-002"]["n"] == 2
    assert props["L48-007"]["n"] == 1  # the last segment is closed at its end; mile 180 is in none
    assert props["L48-002"]["name"] == "Border miles 100–200"  # the layer's own name


def test_region_choropleth_per_border_mile_divides_by_each_regions_border():
    frame = _frame(40).assign(admin1=["US-WA"] * 30 + ["CA-BC"] * 10, count=2,
                              lon=np.linspace(-124, -105, 40))
    miles = {"US-WA": 400.0, "CA-BC": 1000.0}  # Montana touches no border here
    html = _html(frame, layer="choropleth", by="admin1", per="border_mile", border_miles=miles)
    data = _payload(html, "regions")
    props = {f["properties"]["code"]: f["properties"] for f in data["features"]["features"]}
    assert props["US-WA"]["total"] == 60 and props["US-WA"]["value"] == 0.15
    assert props["CA-BC"]["value"] == 0.02
    assert props["US-MT"]["value"] == 0 and props["US-MT"]["fill"] == maps.EMPTY_COLOR
    assert data["per"] == "per border mile" and "sum of count (people or events) per border mile" in html
    # Without border lengths (or with per=count) the raw totals are shown.
    raw = _payload(_html(frame, layer="choropleth", by="admin1", per="count",
                         border_miles=miles), "regions")
    assert {f["properties"]["code"]: f["properties"]["value"]
            for f in raw["features"]["features"]}["US-WA"] == 60


def test_choropleth_draws_only_regions_near_the_selection():
    frame = _frame(10)  # all near Blaine: Montana is far outside the view
    codes = {f["properties"]["code"] for f in
             _payload(_html(frame, layer="choropleth"), "regions")["features"]["features"]}
    assert codes == {"US-WA", "CA-BC"}


def test_choropleth_hides_regions_under_public_threshold():
    frame = _frame(12).assign(admin1=["US-WA"] * 10 + ["CA-BC"] * 2)
    html = _html(frame, layer="choropleth", min_public_count=5)
    props = {f["properties"]["code"]: f["properties"]
             for f in _payload(html, "regions")["features"]["features"]}
    assert props["CA-BC"]["hidden"] is True and props["CA-BC"]["n"] is None
    assert props["CA-BC"]["total"] is None and props["CA-BC"]["fill"] == maps.HIDDEN_COLOR
    assert props["US-WA"]["n"] == 10
    assert "fewer than 5 incidents (hidden)" in html


def test_legend_is_the_same_before_and_after_build_map():
    # The reduce step computes the class breaks and hidden count; legend and payload only
    # read them (once build_map wrote them, so a legend asked for first had no classes).
    frame = _frame(40).assign(admin1=["US-WA"] * 30 + ["CA-BC"] * 8 + ["US-MT"] * 2,
                              count=1, lon=np.linspace(-124, -105, 40))
    layers = display_layers()
    spec = maps.MapSpec(layer="choropleth", by="admin1", min_public_count=5)
    agg = maps.aggregate_frame(frame, spec, layers)
    first = maps.legend(agg, spec)
    maps.build_map(agg, spec, layers)
    assert maps.legend(agg, spec) == first
    assert len(first["items"]) > 2  # colour classes, not only "none recorded" and "hidden"
    assert agg.hidden == 1 and agg.breaks


def test_heat_hides_small_cells():
    frame = pd.DataFrame({"lat": [49.0] * 5 + [45.0], "lon": [-122.0] * 5 + [-100.0],
                          "count": 1})
    cells = _payload(_html(frame, layer="heat", min_public_count=2), "heat")["cells"]
    assert len(cells) == 1 and abs(cells[0][0] - 49.0) < 0.2


@pytest.mark.parametrize("period, expected", [("month", ["2025-01", "2025-02", "2025-03"]),
                                              ("week", None)])
def test_time_layer_periods(period, expected):
    frame = _frame(90)
    data = _payload(_html(frame, layer="time", period=period), "time")
    if expected:
        assert data["periods"] == expected
    else:
        mondays = [dt.date.fromisoformat(p) for p in data["periods"]]
        assert all(d.weekday() == 0 for d in mondays) and mondays == sorted(mondays)
    assert sum(data["totals"]) == int(frame["count"].sum())
    assert {c[3] for c in data["cells"]} <= set(range(len(data["periods"])))


def test_theme_and_embed_options():
    html = _html(_frame(), theme="dark", embed=True)
    assert '"theme":"dark"' in html and '"scrollWheelZoom": false' in html
    assert "gm-dark" in html


def test_render_is_deterministic_and_hash_matches():
    frame = _frame()
    agg = maps.aggregate_frame(frame, maps.MapSpec())
    a = maps.render_parts(maps.build_map(agg, maps.MapSpec()))
    b = maps.render_parts(maps.build_map(agg, maps.MapSpec()))
    assert a.script == b.script and a.script_hash == b.script_hash
    assert a.script_hash == maps.csp_hash(a.script)
    assert a.script_hash.startswith("'sha256-")


def test_js_json_escapes_script_breakers():
    text = maps.js_json({"a": EVIL})
    for bad in ("<", ">", "&", "'", "\u2028"):
        assert bad not in text
    assert json.loads(text) == {"a": EVIL}


def test_empty_selection_renders():
    html = _html(_frame(0), layer="heat")
    assert _payload(html, "heat")["cells"] == []
    assert "0 incidents" in html


@pytest.mark.slow
def test_one_million_incidents_stay_under_200_kb():
    rng = np.random.default_rng(1)
    n = 1_000_000
    # Clustered like real data: most near a few crossings, the rest spread along the border.
    centres = np.array([[49.0, -122.75], [49.0, -97.24], [45.01, -73.45], [42.9, -78.9]])
    pick = rng.integers(0, len(centres), n)
    lat = np.where(rng.random(n) < 0.7, centres[pick, 0] + rng.normal(0, 0.15, n),
                   rng.uniform(41.5, 49.5, n))
    lon = np.where(rng.random(n) < 0.7, centres[pick, 1] + rng.normal(0, 0.3, n),
                   rng.uniform(-125, -67, n))
    frame = pd.DataFrame({"lat": lat, "lon": lon, "count": rng.integers(1, 6, n),
                          "occurred_at": pd.Timestamp("2025-01-01")
                          + pd.to_timedelta(rng.integers(0, 365, n), unit="D")})
    for layer in ("heat", "time", "cluster"):
        html = _html(frame, layer=layer, tiles="none", title="1M", embed=True)
        assert len(html.encode()) < 200_000, (layer, len(html))
    cells = _payload(_html(frame, layer="heat"), "heat")["cells"]
    assert 1000 < len(cells) <= maps.MapSpec().heat_max_cells


def test_grid_coarsening_caps_cells():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"lat": rng.uniform(42, 49, 50_000), "lon": rng.uniform(-125, -67, 50_000),
                          "count": 1})
    agg = maps.aggregate_frame(frame, maps.MapSpec(heat_max_cells=500))
    assert len(agg.cells) <= 500 and agg.cells["n"].sum() == 50_000


# --- the same aggregates from SQL --------------------------------------------------------------

@pytest.fixture
def seeded(conn):
    row = storage.create_dataset(conn, "agg", "Agg", published=True)
    frame = incident_rows(120, dataset_id=row["id"])
    storage.insert_incidents(conn, frame)
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


def test_display_layers_reads_a_geopackage(tmp_path):
    layers = display_layers()
    path = tmp_path / "regions.gpkg"
    layers["admin1"].to_file(path, layer="admin1_display")
    layers["sector"].to_file(path, layer="usbp_sectors")
    layers["border"].to_file(path, layer="border")
    read = maps.display_layers(path)
    assert set(read) == {"admin1", "sector", "border"}
    assert maps.display_layers(tmp_path / "missing.gpkg") == {}
    assert maps.display_layers(path) is read  # cached per file version


def _colours(png: bytes) -> set[str]:
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return {"#%02x%02x%02x" % rgb for _count, rgb in image.getcolors(maxcolors=1 << 20)}


@pytest.mark.parametrize("by", ["admin1", "sector", "border_segment"])
def test_png_draws_a_choropleth_in_its_colours(by):
    frame = _frame()
    layers = display_layers()
    spec = maps.MapSpec(title="Choropleth", layer="choropleth", by=by)
    choropleth = _colours(maps.render_png(maps.aggregate_frame(frame, spec, layers), spec,
                                          layers, size=(600, 315)))
    heat_spec = maps.MapSpec(title="Choropleth")
    heat = _colours(maps.render_png(maps.aggregate_frame(frame, heat_spec, layers), heat_spec,
                                    layers, size=(600, 315)))
    # The darkest class is filled (regions) or stroked (segments) and shown in the legend;
    # the heat image has none of the palette.
    assert maps.PALETTE[-1] in choropleth
    assert not set(maps.PALETTE) & heat


def test_png_is_an_image():
    frame = _frame()
    spec = maps.MapSpec(title="$x^2$ <b>", source="S")
    png = maps.render_png(maps.aggregate_frame(frame, spec), spec, display_layers(),
                          size=(600, 315))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
