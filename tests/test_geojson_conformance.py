"""The GeoJSON conformance check (tests/geojson_conformance.py) finds each kind of defect and
passes conforming documents; it also runs on files from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Point, Polygon, box, mapping

from geojson_conformance import problems

CHECKER = Path(__file__).parent / "geojson_conformance.py"


def _feature(geometry, **properties):
    return {"type": "Feature", "geometry": geometry, "properties": properties or None}


def _collection(*geometries):
    return {"type": "FeatureCollection",
            "features": [_feature(g, code=f"X{i}") for i, g in enumerate(geometries)]}


def _ccw(polygon):
    return shapely.orient_polygons(polygon, exterior_cw=False)


def _coords(polygon):
    return json.loads(shapely.to_geojson(polygon))


GOOD_POLYGON = _ccw(Polygon(box(0, 0, 4, 4).exterior.coords,
                            [[(1, 1), (2, 1), (2, 2), (1, 2), (1, 1)]]))


def test_conforming_documents_pass():
    doc = _collection(_coords(GOOD_POLYGON), mapping(Point(-122.75, 49.0)),
                      {"type": "LineString", "coordinates": [[-123, 49], [-95, 49]]}, None)
    assert problems(doc) == []
    assert problems(json.dumps(doc).encode()) == []
    assert problems(_coords(GOOD_POLYGON)) == []


def test_the_right_hand_rule_is_checked_for_shells_and_holes():
    reversed_rings = shapely.orient_polygons(GOOD_POLYGON, exterior_cw=True)
    found = problems(_collection(_coords(reversed_rings)))
    assert len(found) == 2
    assert "features[0].geometry (code X0): exterior ring is clockwise" in found[0]
    assert "hole 1 is counter-clockwise" in found[1]


@pytest.mark.parametrize("ring, expected", [
    ([[0, 0], [1, 0], [1, 1], [0, 1]], "same start and end"),
    ([[0, 0], [1, 0], [0, 0]], "at least 4 items"),
])
def test_open_and_short_rings_are_structural_errors(ring, expected):
    found = problems(_collection({"type": "Polygon", "coordinates": [ring]}))
    assert found and expected in found[0] and found[0].startswith("features.0.geometry")


def test_zero_area_rings_and_geos_invalid_shapes_are_found():
    flat = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]}
    assert problems(_collection(flat))[0].endswith("exterior ring has zero area (4 positions)")
    crossing = {"type": "Polygon", "coordinates": [[[0, 0], [3, 0], [0, 2], [3, 2], [0, 0]]]}
    found = problems(_collection(crossing))
    assert any("invalid for GEOS: Self-intersection" in p for p in found)
    overlapping = {"type": "MultiPolygon", "coordinates": [
        _coords(_ccw(box(0, 0, 2, 2)))["coordinates"],
        _coords(_ccw(box(1, 1, 3, 3)))["coordinates"]]}
    assert any("invalid for GEOS" in p for p in problems(_collection(overlapping)))


def test_positions_ranges_nan_and_crs_are_checked():
    assert "outside longitude" in problems(mapping(Point(-190, 45)))[0]
    assert "outside longitude" in problems(mapping(Point(10, 91)))[0]
    assert problems('{"type": "Point", "coordinates": [NaN, 1]}')[0].startswith("not JSON")
    assert "'crs' is not RFC 7946" in problems({**mapping(Point(1, 1)), "crs": {}})[0]
    assert problems({"type": "Feature", "geometry": None})[0] == "properties: Field required"
    assert problems([1, 2]) == ["not a GeoJSON object: type 'list'"]
    assert problems({"type": "Circle"}) == ["not a GeoJSON object: type 'Circle'"]


def test_command_line_reports_files_and_exits_1_on_problems(tmp_path):
    good, bad = tmp_path / "good.geojson", tmp_path / "bad.geojson"
    good.write_text(json.dumps(_collection(_coords(GOOD_POLYGON))))
    bad.write_text(json.dumps(_collection(_coords(shapely.orient_polygons(
        GOOD_POLYGON, exterior_cw=True)))))
    ok = subprocess.run([sys.executable, str(CHECKER), str(good)], capture_output=True,
                        text=True)
    assert ok.returncode == 0 and ok.stdout.strip() == f"{good}: ok"
    failed = subprocess.run([sys.executable, str(CHECKER), str(good), str(bad)],
                            capture_output=True, text=True)
    assert failed.returncode == 1
    assert f"{bad}: 2 problem(s)" in failed.stdout and "exterior ring is clockwise" in failed.stdout
