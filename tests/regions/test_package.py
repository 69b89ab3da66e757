"""The regions package keeps its shape: imports go one way inside it and none imports Flask."""

from __future__ import annotations

from package_shape import check_shape

import geomap.regions as rg

#: Each module may import only modules listed before it (DEVELOPERS.md, "Imports go one way").
ORDER = ["geodesy", "names", "sectors", "places", "index", "line_index", "layers", "border", "join",
         "build.shapes", "build.sources", "build.units", "build.gpkg", "build.places", "build", "build.__main__"]


def test_imports_go_one_way_and_never_to_flask():
    check_shape(rg, ORDER, below=set())


def test_public_face():
    for name in ("load", "assign", "border_position", "border_miles", "region_names",
                 "normalise_region", "geodesic_miles", "Regions", "CRS", "DEFAULT_PATH"):
        assert name in rg.__all__ and hasattr(rg, name), name
    assert callable(rg.assign) and callable(rg.load)
