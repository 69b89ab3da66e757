"""GET /api/regions/<layer>.geojson on injected display layers: properties, levels, errors,
the ETag and 304, and the cache (once per regions file and level)."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from shapely.geometry import Polygon

from geojson_conformance import assert_conforms
from geomap import maps
from maps_fixtures import display_layers


def _get(client, layer, **headers):
    """GET a layer (``"admin1?simplify=none"`` adds a query)."""
    name, _, query = layer.partition("?")
    return client.get(f"/api/regions/{name}.geojson?{query}", headers=headers)


def _doc(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data(as_text=True))


def test_each_layer_is_a_feature_collection_with_its_properties(app, fake_display_layers):
    client = app.test_client()
    admin1 = _get(client, "admin1")
    assert admin1.mimetype == "application/geo+json"
    doc = _doc(admin1)
    assert [f["properties"] for f in doc["features"]] == [
        {"code": "US-WA", "name": "Washington", "country": "US"},
        {"code": "CA-BC", "name": "British Columbia", "country": "CA"},
        {"code": "US-MT", "name": "Montana", "country": "US"}]
    assert doc["features"][0]["geometry"]["type"] == "Polygon"
    sectors = _doc(_get(client, "usbp_sectors"))
    assert [f["properties"]["code"] for f in sectors["features"]] == ["BLW", "SPW"]
    # The fake border has a name only: code and country are there, null.
    [border] = _doc(_get(client, "border"))["features"]
    assert border["properties"] == {"code": None, "name": "border", "country": None}
    assert border["geometry"] == {"type": "LineString", "coordinates": [[-125, 49], [-104, 49]]}
    segments = _doc(_get(client, "border_segments"))["features"]
    assert len(segments) == 7
    assert segments[1]["properties"] == {"code": "L48-002", "name": "Border miles 100–200",
                                         "country": None, "mile_from": 100.0,
                                         "mile_to": 200.0}
    for layer in maps.REGION_LAYERS:
        assert_conforms(_get(client, layer).get_data(), layer)


def _wiggly() -> maps.DisplayLayers:
    """The fake layers with one state whose coast has 1/100-degree teeth: kept by "none",
    smoothed away by "high" (and a body large enough to be compressed)."""
    layers = display_layers()
    teeth = [(-125 + i * 0.01, 49 + (0.005 if i % 2 else 0)) for i in range(801)]
    layers["admin1"] = gpd.GeoDataFrame(
        {"code": ["US-WA"], "name": ["Washington"], "country": ["US"]},
        geometry=[Polygon([(-125, 45), (-117, 45)] + teeth[::-1])], crs="EPSG:4326")
    return layers


def test_simplify_levels_are_validated_and_change_the_shapes(app_factory):
    client = app_factory(DISPLAY_LAYERS=_wiggly()).test_client()
    sizes = {}
    for level in maps.SIMPLIFY_LEVELS:
        doc = _doc(client.get(f"/api/regions/admin1.geojson?simplify={level}"))
        assert_conforms(doc, level)
        sizes[level] = len(doc["features"][0]["geometry"]["coordinates"][0])
    assert sizes["none"] == 804 and sizes["high"] == 5
    assert sizes["none"] >= sizes["low"] >= sizes["medium"] >= sizes["high"]
    default = client.get("/api/regions/admin1.geojson")
    assert default.data == client.get("/api/regions/admin1.geojson?simplify=LOW").data
    assert default.data == client.get("/api/regions/admin1.geojson?simplify=").data
    bad = client.get("/api/regions/admin1.geojson?simplify=0.5")
    assert bad.status_code == 400
    assert bad.json["error"]["message"] == (
        "parameter 'simplify' must be one of none, low, medium, high, got '0.5'")
    assert bad.json["error"]["details"] == {"parameter": "simplify", "value": "0.5",
                                            "allowed": ["none", "low", "medium", "high"]}


def test_unknown_layer_is_404_and_a_missing_one_503(app_factory):
    partial = maps.DisplayLayers({k: v for k, v in display_layers().items()
                                  if k != "border_segment"})
    client = app_factory(DISPLAY_LAYERS=partial).test_client()
    unknown = _get(client, "counties")
    assert unknown.status_code == 404 and unknown.mimetype == "application/json"
    assert unknown.json["error"]["code"] == "not_found"
    assert "admin1, usbp_sectors, border, border_segments" in unknown.json["error"]["message"]
    missing = _get(client, "border_segments")
    assert missing.status_code == 503 and missing.json["error"]["details"] == {
        "layer": "border_segments"}
    assert "GEOMAP_REGIONS_PATH" in missing.json["error"]["message"]


def test_strong_etag_and_conditional_304(app_factory):
    app = app_factory(DISPLAY_LAYERS=_wiggly())
    client = app.test_client()
    first = _get(client, "admin1?simplify=none")
    etag, weak = first.get_etag()
    assert etag and not weak
    assert first.headers["Cache-Control"] == (
        f"public, max-age={app.config['MAP_EMBED_MAX_AGE']}")
    again = _get(client, "admin1?simplify=none", **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    assert _get(client, "admin1?simplify=none", **{"If-None-Match": '"other"'}).status_code == 200
    other_level = _get(client, "admin1?simplify=medium")
    assert other_level.get_etag()[0] != etag
    assert _get(client, "usbp_sectors").get_etag()[0] != etag
    # The compressed copy has its own validator, which a revalidation may send back.
    zipped = _get(client, "admin1?simplify=none", **{"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.get_etag()[0] == f"{etag}:gzip"
    held = _get(client, "admin1?simplify=none", **{"Accept-Encoding": "gzip",
                                     "If-None-Match": zipped.headers["ETag"]})
    assert held.status_code == 304 and held.get_etag()[0] == f"{etag}:gzip"


def test_made_once_per_regions_file_and_level(app_factory):
    layers = display_layers()
    client = app_factory(DISPLAY_LAYERS=layers).test_client()
    first = _get(client, "admin1")
    made = layers.collection_cache[("region_geojson", "admin1", "low")]
    assert made.body == first.data and f'"{made.etag}"' == first.headers["ETag"]
    # Changing the layer behind a made collection changes nothing: it is not made again
    # until the regions file (a new DisplayLayers object) changes.
    layers["admin1"] = layers["admin1"].iloc[:1]
    assert _get(client, "admin1").data == first.data
    assert layers.collection_cache[("region_geojson", "admin1", "low")] is made
    assert len(_doc(_get(client, "admin1"))["features"]) == 3
    fresh = app_factory(DISPLAY_LAYERS=display_layers()).test_client()
    assert _get(fresh, "admin1").data == first.data  # same content, same bytes and ETag
    smaller = display_layers()
    smaller["admin1"] = smaller["admin1"].iloc[:1]
    assert len(_doc(_get(app_factory(DISPLAY_LAYERS=smaller).test_client(), "admin1"))[
        "features"]) == 1


@pytest.mark.parametrize("layer", sorted(maps.REGION_LAYERS))
def test_region_geojson_without_a_layer_is_none(layer):
    assert maps.region_geojson(maps.DisplayLayers(), layer, "low") is None
    with pytest.raises(KeyError):
        maps.region_geojson(display_layers(), layer, "extreme")


def test_other_sites_may_fetch_the_layers(client, fake_display_layers):
    response = client.get("/api/regions/admin1.geojson", headers={"Origin": "https://news.example"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Set-Cookie" not in response.headers
