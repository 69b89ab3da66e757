"""The store package keeps its shape: imports go one way inside it and none imports Flask.

(Named for its package: tests/store/ is not a package, so a plain test_package would clash.)
"""

from __future__ import annotations

from package_shape import check_shape

from geomap import store

#: Each module may import only modules listed before it (DEVELOPERS.md, "Imports go one way").
ORDER = ["columns", "columnar", "blobs", "hashing", "bulk", "period_rollups", "rollups", "incidents", "datasets", "corrections",
         "history"]
#: What the package may import of the rest of geomap (the layers below it).
BELOW = {"binning", "db", "errors"}


def test_imports_go_one_way_and_never_to_flask():
    check_shape(store, ORDER, below=BELOW)
