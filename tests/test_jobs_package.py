"""The jobs package keeps its shape: imports go one way inside it and none imports Flask."""

from __future__ import annotations

from package_shape import check_shape

from geomap import jobs

#: Each module may import only modules listed before it (DEVELOPERS.md, "Imports go one way").
ORDER = ["records", "running", "queue"]
#: What the package may import of the rest of geomap (the layers below it).
BELOW = {"access", "db", "errors", "ingest", "store"}


def test_imports_go_one_way_and_never_to_flask():
    check_shape(jobs, ORDER, below=BELOW)
