"""Place names on maps without tiles: which gazetteer places a map names, from which zoom,
in which order, and how many it carries (tests/browser/test_readers_browser.py checks them on
screen: shown by zoom, never overlapping)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from geomap import maps
from geomap.maps import placenames
from maps_fixtures import display_layers, map_frame as _frame, map_html as _html, \
    map_payload as _payload


def _gazetteer(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["name", "admin1", "lat", "lon", "border_km", "source",
                                       "population", "port"])


REGIONS_PATH = Path(__file__).resolve().parents[2] / "shapefiles" / "regions.gpkg"
GAZETTEER = _gazetteer([
    ("Vancouver", "CA-BC", 49.25, -123.12, 27.6, "GeoNames 1", 600_000, 0),
    ("Surrey", "CA-BC", 49.11, -122.83, 11.6, "GeoNames 2", 394_976, 1),
    ("Blaine", "US-WA", 48.99, -122.75, 0.5, "GeoNames 3", 5_000, 1),
    ("Sumas", "US-WA", 49.0, -122.26, 0.2, "GeoNames 4", 1_500, 1),
    ("Lynden", "US-WA", 48.95, -122.45, 5.0, "GeoNames 5", 15_000, 0),
    ("Everson", "US-WA", 48.92, -122.34, 9.0, "GeoNames 6", 2_500, 0),
    ("Tiny", "US-WA", 48.97, -122.5, 3.0, "GeoNames 7", 600, 0),
    ("Far Hamlet", "US-WA", 47.0, -120.0, 250.0, "GeoNames 8", 900, 0),
    ("Zip Town", "US-WA", 48.98, -122.6, 4.0, "zipcodes", None, 0),
    ("Other Name", "US-WA", 48.98, -122.6, 4.0, "zipcodes (area of ZIP 98230)", None, 0),
    ("Roosville", "US-MT", 48.88, -115.05, 13.0, "post office of the port's address: Eureka",
     None, 1),
])


def test_places_get_their_first_zoom_and_rank():
    ranked = placenames.rank_places(GAZETTEER)
    zoom = dict(zip(ranked["name"], ranked["zoom"]))
    # Cities first, ports from zoom 7, border towns by size, ZIP towns close up; a place far
    # from the line, another name for a ZIP area and a port placed at its post office: never.
    assert zoom == {"Vancouver": 5, "Surrey": 5, "Blaine": 7, "Sumas": 7, "Lynden": 7,
                    "Everson": 8, "Tiny": 9, "Zip Town": 10}
    assert list(ranked["name"]) == ["Vancouver", "Surrey", "Blaine", "Sumas", "Lynden",
                                    "Everson", "Tiny", "Zip Town"]
    kinds = dict(zip(ranked["name"], ranked["kind"]))
    assert kinds["Blaine"] == placenames.PORT and kinds["Lynden"] == placenames.TOWN


def test_a_gazetteer_without_population_or_ports_still_names_towns_near_the_line():
    old = GAZETTEER.drop(columns=["population", "port"])
    ranked = placenames.rank_places(old)
    # An older file (no population): ZIP-town rules for all, so only what is near the line.
    assert set(ranked["name"]) == {"Surrey", "Blaine", "Sumas", "Lynden", "Everson", "Tiny",
                                   "Zip Town"}
    assert set(ranked["zoom"]) == {placenames.ZIP_ZOOM}


def test_place_rows_keep_the_box_and_the_limit_in_rank_order():
    ranked = placenames.rank_places(GAZETTEER)
    rows = placenames.place_rows(ranked, [[48.9, -122.8], [49.05, -122.2]])
    assert [r[2] for r in rows] == ["Blaine", "Sumas", "Lynden", "Everson", "Tiny", "Zip Town"]
    assert rows[0] == [48.99, -122.75, "Blaine", 7, placenames.PORT]
    assert [r[2] for r in placenames.place_rows(ranked, None, limit=2)] == ["Vancouver", "Surrey"]
    assert placenames.place_rows(None, None) == []


def test_read_places_reads_the_file_beside_the_regions(tmp_path):
    GAZETTEER.to_csv(tmp_path / "places.csv", index=False)
    assert placenames.places_beside(tmp_path / "regions.gpkg") == str(tmp_path / "places.csv")
    assert placenames.places_beside(tmp_path / "elsewhere" / "regions.gpkg") is None
    assert len(placenames.read_places(tmp_path / "places.csv")) == 8
    assert placenames.read_places(None) is None


def test_maps_without_tiles_carry_region_names_then_places():
    layers = display_layers()
    layers["places"] = placenames.rank_places(GAZETTEER)
    basemap = _payload(_html(_frame(50), layers, tiles="none"), "basemap")
    names = basemap["names"]
    regions = [r[2] for r in names if r[4] == placenames.REGION]
    # Names, not codes, of the regions around the data (Montana is far from Blaine).
    assert set(regions) == {"Washington", "British Columbia"}
    assert all(r[3] == placenames.REGION_ZOOM for r in names if r[4] == placenames.REGION)
    places = [r[2] for r in names if r[4] != placenames.REGION]
    assert places[:3] == ["Vancouver", "Surrey", "Blaine"] and "Far Hamlet" not in places
    assert basemap["regionsUntil"] == placenames.REGIONS_UNTIL
    # With tiles, the basemap (and its names) is not drawn at all.
    assert "GeomapLayers.basemap(" not in _html(_frame(50), layers, tiles="openstreetmap")


def test_the_served_gazetteer_gives_a_bounded_list_around_the_border():
    layers = maps.display_layers(REGIONS_PATH)
    if "places" not in layers:
        pytest.skip("no regions file or gazetteer in this checkout")
    whole = json.loads(maps.display.basemap_data(layers, [[41.0, -141.0], [60.0, -52.0]]))
    towns = [r for r in whole["names"] if r[4] != placenames.REGION]
    assert len(towns) == placenames.MAX_PLACES  # the tail of the ranking is dropped
    zooms = [r[3] for r in towns]
    assert zooms == sorted(zooms) and zooms[0] == 5
    assert {"Toronto", "Montréal", "Vancouver", "Detroit", "Buffalo"} <= {r[2] for r in towns}
    local = json.loads(maps.display.basemap_data(layers, [[48.9, -123.0], [49.1, -122.2]]))
    names = {r[2] for r in local["names"]}
    assert {"Blaine", "Sumas", "Surrey", "Vancouver"} <= names
