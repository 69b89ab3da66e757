"""Display geometry (maps.shapes): simplified, rounded, valid and wound as RFC 7946 asks, on
made-up shapes and on the real regions file as map pages embed it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from geojson_conformance import assert_conforms, problems
from geomap import maps
from geomap.maps import shapes
from maps_fixtures import map_frame, map_payload

REGIONS = Path(__file__).resolve().parents[2] / "shapefiles" / "regions.gpkg"


def _one(geom, **kwargs):
    [out] = shapes.display_geometries([geom], **kwargs)
    return out


def _rings(geom):
    polys = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
    for poly in polys:
        yield poly.exterior, True
        for hole in poly.interiors:
            yield hole, False


def test_rings_are_wound_as_rfc_7946_asks():
    shell = [(0, 0), (0, 4), (4, 4), (4, 0), (0, 0)]          # clockwise
    hole = [(1, 1), (2, 1), (2, 2), (1, 2), (1, 1)]           # counter-clockwise
    given = Polygon(shell, [hole])
    assert not given.exterior.is_ccw and given.interiors[0].is_ccw
    out = _one(given, grid=1e-3)
    assert [ring.is_ccw for ring, _exterior in _rings(out)] == [True, False]
    assert out.area == pytest.approx(15)


def test_a_slot_narrower_than_the_grid_closes_into_a_valid_polygon():
    # A C shape whose 0.0004-degree slot collapses when snapped to 0.001: rounding each
    # vertex on its own (what maps did) leaves a spike of zero width, invalid for GEOS.
    c_shape = Polygon([(0, 0), (3, 0), (3, 1.4998), (1, 1.4998), (1, 1.5002), (3, 1.5002),
                       (3, 3), (0, 3)])
    assert c_shape.is_valid
    pointwise = shapely.set_precision(c_shape, 1e-3, mode="pointwise")
    assert not pointwise.is_valid
    out = _one(c_shape, grid=1e-3)
    assert out.is_valid and out.geom_type in ("Polygon", "MultiPolygon")
    assert out.area == pytest.approx(9, abs=1e-2)
    assert all(Polygon(ring).area > 0 for ring, _ in _rings(out))


def test_holes_and_islands_smaller_than_the_grid_are_dropped():
    speck = box(10, 10, 10.0002, 10.0002)
    pinhole = [(1, 1), (1.0002, 1), (1.0002, 1.0002), (1, 1.0002), (1, 1)]
    given = MultiPolygon([Polygon(box(0, 0, 4, 4).exterior.coords, [pinhole]), speck])
    out = _one(given, grid=1e-3)
    [part] = shapely.get_parts(out)
    assert not list(part.interiors) and part.equals(box(0, 0, 4, 4))
    assert _one(speck, grid=1e-3).is_empty


def test_simplification_that_breaks_a_polygon_is_repaired_and_stays_polygonal():
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 3), (0, 0)])  # invalid input, crossing
    assert not bowtie.is_valid
    out = _one(bowtie, grid=1e-3)
    assert out.is_valid and out.geom_type in ("Polygon", "MultiPolygon") and out.area > 0.5
    assert all(ring.is_ccw == exterior for ring, exterior in _rings(out))


def test_lines_stay_lines_and_missing_shapes_stay_missing():
    line = LineString([(0, 0), (0.00001, 0), (1, 1.00004), (2, 0)])
    out = shapes.display_geometries([line, None], tolerance=0.0, grid=1e-3)
    assert out[0].geom_type == "LineString"
    assert [tuple(p) for p in out[0].coords] == [(0, 0), (1, 1), (2, 0)]
    assert out[1] is None


def test_feature_collection_keeps_or_drops_vanished_shapes_and_plain_properties():
    import geopandas as gpd

    frame = gpd.GeoDataFrame({"code": ["A", "B"], "mile_to": [np.float64(2.5), np.nan]},
                             geometry=[box(0, 0, 1, 1), box(5, 5, 5.0001, 5.0001)],
                             crs="EPSG:4326")
    dropped = shapes.feature_collection(frame, ("code", "mile_to", "absent"), grid=1e-3)
    assert [f["properties"] for f in dropped["features"]] == [{"code": "A", "mile_to": 2.5}]
    kept = shapes.feature_collection(frame, ("code",), grid=1e-3, keep_empty=True)
    assert [f["geometry"] is None for f in kept["features"]] == [False, True]
    assert_conforms(kept)
    exterior = kept["features"][0]["geometry"]["coordinates"][0]
    assert shapely.LinearRing(exterior).is_ccw


# The real regions file, as map pages embed it ------------------------------------------

@pytest.fixture(scope="module")
def real_layers():
    return maps.display_layers(REGIONS)


def _spread_frame():
    """Incidents from Blaine to Houlton and Alaska: a continental first view."""
    frame = map_frame(40)
    frame["lon"] = np.linspace(-150, -68, len(frame))
    frame["lat"] = np.where(frame["lon"] < -140, 62.0, 46.5)
    return frame


@pytest.mark.parametrize("by", ["admin1", "sector", "border_segment"])
@pytest.mark.parametrize("where", ["blaine", "continent"])
def test_choropleth_pages_embed_rfc_7946_regions(real_layers, by, where):
    frame = map_frame(60) if where == "blaine" else _spread_frame()
    html = maps.render_map(frame, maps.MapSpec(layer="choropleth", by=by, tiles="none"),
                           real_layers)
    regions = map_payload(html, "regions")["features"]
    codes = {f["properties"]["code"] for f in regions["features"]}
    expected = {"admin1": {"US-WA", "CA-BC"}, "sector": {"BLW"}, "border_segment": {"L48-001"}}
    assert expected[by] <= codes
    if where == "continent":
        assert len(codes) >= {"admin1": 10, "sector": 8, "border_segment": 100}[by]
    assert_conforms(regions, f"choropleth {by} around {where}")
    basemap = map_payload(html, "basemap")
    assert_conforms(basemap["land"], "basemap land")
    assert_conforms(basemap["border"], "basemap border")


def test_the_regions_file_as_drawn_before_was_not_rfc_7946(real_layers):
    """What the checker found in the pages before maps.shapes (issue #22): rounding each
    vertex on its own, rings as GEOS writes them."""
    import json

    gdf = real_layers["admin1"]
    rounded = shapely.set_precision(shapely.simplify(gdf.geometry.to_numpy(), 0.15,
                                                     preserve_topology=True),
                                    1e-3, mode="pointwise")
    old = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code},
         "geometry": json.loads(shapely.to_geojson(g))}
        for code, g in zip(gdf["code"], rounded)]}
    found = problems(old)
    assert any("clockwise" in p for p in found)
    assert any("zero area" in p for p in found)
    assert any("invalid for GEOS" in p for p in found)
    assert pd.notna(gdf["code"]).all()
