"""The maps package keeps its shape: imports go one way inside it and none imports Flask.

(Named for its package: tests/maps/ is not a package, so a plain test_package would clash.)
"""

from __future__ import annotations

from package_shape import check_shape

from geomap import maps

#: Each module may import only modules listed before it (DEVELOPERS.md, "Imports go one way").
ORDER = ["datatable", "spec", "framing", "placement", "grid", "timeline", "shapes", "placenames", "display", "breaks",
         "style", "reduce", "payloads", "leaflet", "png", "document"]
#: What the package may import of the rest of geomap (the layers below it).
BELOW = {"aggregate", "binning", "disclosure", "jsontext", "language", "regions"}


def test_imports_go_one_way_and_never_to_flask():
    check_shape(maps, ORDER, below=BELOW)
