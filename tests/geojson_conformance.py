"""A GeoJSON conformance check: RFC 7946 structure, then what GEOS and strict readers need.

`problems(document)` returns every problem found in a GeoJSON text or parsed object (an empty
list when it conforms); `assert_conforms` fails a test with them. The structure (members,
types, positions, closed rings of at least four positions) is checked by geojson-pydantic's
RFC 7946 models; on top of it, for every geometry:

* positions are finite, longitude in [-180, 180] and latitude in [-90, 90];
* polygon rings follow the right-hand rule (RFC 7946 3.1.6: exterior rings
  counter-clockwise, holes clockwise) and none has zero area;
* the geometry is valid for GEOS (`shapely.is_valid`: no self-intersection, holes inside
  their shell, parts of a MultiPolygon not overlapping);
* no ``crs`` member (RFC 7946 removed it: coordinates are WGS 84 lon/lat).

Run it on files too, as CI may: ``python tests/geojson_conformance.py FILE...`` prints the
problems and exits 1 when any file has some.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, Iterator

import shapely
from geojson_pydantic import FeatureCollection, Feature
from geojson_pydantic import geometries as gj
from pydantic import ValidationError

MODELS = {"FeatureCollection": FeatureCollection, "Feature": Feature,
          "Point": gj.Point, "MultiPoint": gj.MultiPoint, "LineString": gj.LineString,
          "MultiLineString": gj.MultiLineString, "Polygon": gj.Polygon,
          "MultiPolygon": gj.MultiPolygon, "GeometryCollection": gj.GeometryCollection}
#: Problems listed per document at most (a broken layer would otherwise print thousands).
MAX_PROBLEMS = 50


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON (RFC 8259) and so not GeoJSON")


def problems(document: Any) -> list[str]:
    """Return the conformance problems of a GeoJSON document (text, bytes or parsed)."""
    if isinstance(document, (bytes, str)):
        try:
            document = json.loads(document, parse_constant=_reject_constant)
        except ValueError as exc:
            return [f"not JSON: {exc}"]
    if not isinstance(document, dict) or document.get("type") not in MODELS:
        kind = document.get("type") if isinstance(document, dict) else type(document).__name__
        return [f"not a GeoJSON object: type {kind!r}"]
    try:
        MODELS[document["type"]].model_validate(document)
    except ValidationError as exc:
        return [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors()][:MAX_PROBLEMS]
    found = [f"{where}: 'crs' is not RFC 7946 (coordinates are WGS 84 lon/lat)"
             for where, obj in _objects(document, "$") if "crs" in obj]
    for where, geometry in _geometries(document, "$"):
        found.extend(f"{where}: {p}" for p in geometry_problems(geometry))
        if len(found) >= MAX_PROBLEMS:
            break
    return found[:MAX_PROBLEMS]


def assert_conforms(document: Any, what: str = "GeoJSON") -> None:
    """Fail with the list of problems when the document does not conform."""
    found = problems(document)
    assert not found, f"{what} does not conform to RFC 7946:\n  " + "\n  ".join(found)


def _objects(obj: dict, where: str) -> Iterator[tuple[str, dict]]:
    yield where, obj
    for i, feature in enumerate(obj.get("features") or []):
        yield from _objects(feature, f"{where}.features[{i}]")
    if isinstance(obj.get("geometry"), dict):
        yield from _objects(obj["geometry"], f"{where}.geometry")
    for i, geometry in enumerate(obj.get("geometries") or []):
        yield from _objects(geometry, f"{where}.geometries[{i}]")


def _geometries(obj: dict, where: str) -> Iterator[tuple[str, dict]]:
    """Every non-collection geometry, with where it is (a feature's code when it has one)."""
    for path, item in _objects(obj, where):
        if item.get("type") in MODELS and item["type"] not in (
                "FeatureCollection", "Feature", "GeometryCollection"):
            props = _feature_properties(obj, path)
            label = f" (code {props['code']})" if props and props.get("code") else ""
            yield path + label, item


def _feature_properties(root: dict, path: str) -> dict | None:
    if ".features[" not in path:
        return root.get("properties") if root.get("type") == "Feature" else None
    index = int(path.split(".features[")[1].split("]")[0])
    return root["features"][index].get("properties")


def geometry_problems(geometry: dict) -> list[str]:
    """Return what is wrong with one geometry (structure already checked)."""
    kind, coords = geometry["type"], geometry["coordinates"]
    found = [f"position {pos}: {why}" for pos, why in _position_problems(kind, coords)]
    polygons = {"Polygon": [coords], "MultiPolygon": coords}.get(kind, [])
    for p, rings in enumerate(polygons):
        for r, ring in enumerate(rings):
            at = f"polygon {p} " if kind == "MultiPolygon" else ""
            name = f"{at}{'exterior ring' if r == 0 else f'hole {r}'}"
            linear = shapely.LinearRing(ring)
            if shapely.Polygon(linear).area == 0:
                found.append(f"{name} has zero area ({len(ring)} positions)")
            elif linear.is_ccw != (r == 0):
                found.append(f"{name} is {'clockwise' if r == 0 else 'counter-clockwise'}: "
                             f"RFC 7946 asks exterior rings counter-clockwise, holes clockwise")
    shape = shapely.geometry.shape(geometry)
    if not shape.is_valid:
        found.append(f"invalid for GEOS: {shapely.is_valid_reason(shape)}")
    return found


def _position_problems(kind: str, coords) -> Iterator[tuple[list, str]]:
    depth = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2,
             "Polygon": 2, "MultiPolygon": 3}[kind]

    def walk(value, level):
        if level == 0:
            yield value
        else:
            for item in value:
                yield from walk(item, level - 1)

    for position in walk(coords, depth):
        lon, lat = position[0], position[1]
        if not all(math.isfinite(v) for v in position):
            yield position, "not a finite number"
        elif not (-180 <= lon <= 180 and -90 <= lat <= 90):
            yield position, "outside longitude [-180, 180] / latitude [-90, 90]"


def main(paths: list[str]) -> int:
    """Check GeoJSON files; print each one's problems; 1 when any has some."""
    failed = 0
    for path in paths:
        with open(path, "rb") as handle:
            found = problems(handle.read())
        print(f"{path}: {'ok' if not found else f'{len(found)} problem(s)'}")
        for problem in found:
            print(f"  {problem}")
        failed += bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
