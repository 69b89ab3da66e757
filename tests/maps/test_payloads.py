"""Layer payloads: heat cells, time frames, cluster markers (escaping, budgets) and
choropleth features."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from geomap import maps
from maps_fixtures import (EVIL, display_layers, incident_rows, map_frame as _frame,
                           map_html as _html, map_payload as _payload)


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


def test_zero_counts_make_no_heat():
    frame = _frame(2).assign(lat=[49.0, 45.0], lon=[-122.0, -110.0], count=[3, 0])
    cells = _payload(_html(frame, layer="heat"), "heat")["cells"]
    assert len(cells) == 1 and cells[0][2] == 1.0


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
    assert data["rows"][0][8] == EVIL
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
    assert len(row[8]) == maps.POPUP_CHARS and row[8].endswith("…")
    assert data["dates"][row[4]] == "Jan 1, 2025" and data["directions"][row[5]] == "southbound"


def test_five_thousand_markers_stay_under_200_kb():
    frame = incident_rows(5000).assign(description="A long free-text description " * 5,
                                       occurred_at=pd.date_range("2024-01-01", periods=5000,
                                                                 freq="h"))
    html = _html(frame, layer="cluster", tiles="none", embed=True)
    assert "GeomapLayers.cluster(" in html
    assert len(html.encode()) < 200_000, len(html)
    data = _payload(html, "cluster")
    assert data["textOmitted"] and all(len(r) == 8 for r in data["rows"])
    assert "Descriptions are left out" in html
    fewer = _payload(_html(frame.head(500), layer="cluster"), "cluster")
    assert not fewer["textOmitted"] and all(len(r[8]) <= 80 for r in fewer["rows"])


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
    assert data["lines"] is True and data["per"] == "per 100 miles of border"
    props = [f["properties"] for f in data["features"]["features"]]
    assert props[0]["total"] == 40 and props[0]["value"] == 40  # 40 over 100 miles
    assert props[2]["total"] == 20
    assert "per 100 miles of border" in html


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
    assert props["US-WA"]["total"] == 60 and props["US-WA"]["value"] == 15  # per 100 miles
    assert props["CA-BC"]["value"] == 2
    assert props["US-MT"]["value"] == 0 and props["US-MT"]["fill"] == maps.EMPTY_COLOR
    assert data["per"] == "per 100 miles of border"
    assert "sum of count (people or events) per 100 miles of border" in html
    # Without border lengths (or with per=count) the raw totals are shown.
    raw = _payload(_html(frame, layer="choropleth", by="admin1", per="count",
                         border_miles=miles), "regions")
    assert {f["properties"]["code"]: f["properties"]["value"]
            for f in raw["features"]["features"]}["US-WA"] == 60


def test_choropleth_hides_regions_under_public_threshold():
    frame = _frame(12).assign(admin1=["US-WA"] * 10 + ["CA-BC"] * 2)
    html = _html(frame, layer="choropleth", min_public_count=5)
    props = {f["properties"]["code"]: f["properties"]
             for f in _payload(html, "regions")["features"]["features"]}
    assert props["CA-BC"]["hidden"] is True and props["CA-BC"]["n"] is None
    assert props["CA-BC"]["total"] is None and props["CA-BC"]["fill"] == maps.HIDDEN_COLOR
    assert props["US-WA"]["n"] == 10
    assert "fewer than 5 incidents (hidden)" in html


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
    assert len(data["frames"]) == len(data["periods"])
    for flat in data["frames"]:  # [point, weight in thousandths, ...]
        assert len(flat) % 2 == 0
        assert set(flat[::2]) <= set(range(len(data["points"])))
        assert all(1 <= w <= 1000 for w in flat[1::2])
    assert max(w for flat in data["frames"] for w in flat[1::2]) == 1000


def test_cluster_popups_name_the_place_side_sector_and_border_mile():
    frame = _frame(4).assign(lat=[48.95, 49.05, 48.95, 48.95], admin1=["US-WA", "CA-BC",
                             "US-WA", None], country=["US", "CA", "US", None],
                             sector=["BLW", "BLW", "BLW", None],
                             border_mile=[12.7, 13.2, float("nan"), 5.0])
    data = _payload(_html(frame, layer="cluster"), "cluster")
    places = [data["places"][r[6]] for r in data["rows"]]
    # Names from the display layers, never codes.
    assert places[:3] == ["Washington, US side · Blaine sector",
                          "British Columbia, Canadian side · Blaine sector",
                          "Washington, US side · Blaine sector"]
    assert places[3] == ""
    assert [r[7] for r in data["rows"]] == [12, 13, None, 5]


def test_region_tooltips_say_which_side_and_what_a_region_is():
    frame = _frame(40).assign(lon=np.linspace(-124, -105, 40))
    for by, code, where in (("admin1", "CA-BC", "Canadian side"),
                            ("sector", "BLW", "Border Patrol sector, US side")):
        data = _payload(_html(frame, layer="choropleth", by=by), "regions")
        props = {f["properties"]["code"]: f["properties"] for f in data["features"]["features"]}
        assert props[code]["where"] == where
