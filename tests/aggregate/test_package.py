"""The aggregate package keeps its shape: imports go one way inside it and none imports Flask."""

from __future__ import annotations

import ast
import pathlib

from geomap import aggregate

PACKAGE = pathlib.Path(aggregate.__file__).parent
#: Each module may import only modules listed before it (DEVELOPERS.md, "Imports go one way").
ORDER = ["selection", "points", "segments", "periods", "grid", "extent"]
#: What the package may import of the rest of geomap (the layers below it).
BELOW = {"binning", "db", "store"}


def _imports(path: pathlib.Path) -> tuple[set[str], set[str], set[str]]:
    """Package modules a module imports (``from .x``), geomap modules (``from ..``) and
    top-level packages."""
    inside, geomap, outside = set(), set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            inside.update([node.module] if node.module else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and node.level == 2:
            geomap.update([node.module.split(".")[0]] if node.module
                          else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and not node.level:
            outside.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            outside.update(alias.name.split(".")[0] for alias in node.names)
    return inside, geomap, outside


def test_imports_go_one_way_and_never_to_flask():
    seen = set()
    for path in sorted(PACKAGE.glob("*.py")):
        name = path.stem
        seen.add(name)
        inside, geomap, outside = _imports(path)
        assert "flask" not in outside, name
        assert "geomap" not in outside, name
        assert geomap <= BELOW, (name, geomap - BELOW)
        if name == "__init__":
            continue  # re-exports the modules
        allowed = set(ORDER[:ORDER.index(name)])
        assert inside <= allowed, (name, inside - allowed)
    assert seen == set(ORDER) | {"__init__"}


def test_public_face():
    for name in ("extent", "rollup_extent", "unfiltered", "grid", "grid_from_rollup",
                 "PERIOD_FORMATS", "by_column", "by_period", "SEGMENT_SLACK_MILES",
                 "SegmentSteps", "segment_steps", "segment_rows", "by_border_segment",
                 "by_border_segment_frame", "points"):
        assert name in aggregate.__all__ and hasattr(aggregate, name), name
    assert set(aggregate.__all__) <= set(dir(aggregate))
