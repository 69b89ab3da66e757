"""The regions package keeps its shape: imports go one way inside it and none imports Flask."""

from __future__ import annotations

import ast
import pathlib

import geomap.regions as rg

PACKAGE = pathlib.Path(rg.__file__).parent
#: Each module may import only modules listed before it (DEVELOPERS.md, "Imports go one way").
ORDER = ["geodesy", "names", "index", "line_index", "layers", "border", "join",
         "build.shapes", "build.sources", "build.units", "build.gpkg", "build", "build.__main__"]


def _module_names() -> set[str]:
    """Dotted names of the package's modules relative to it ("" is the package itself)."""
    return {".".join(p for p in path.relative_to(PACKAGE).with_suffix("").parts
                     if p != "__init__") for path in PACKAGE.rglob("*.py")}


def _imports(path: pathlib.Path) -> tuple[str, set[str], set[str]]:
    """Module name, package modules it imports (relative imports) and top-level packages."""
    parts = [p for p in path.relative_to(PACKAGE).with_suffix("").parts if p != "__init__"]
    package = parts if path.name == "__init__.py" else parts[:-1]
    modules = _module_names()
    inside, outside = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)] + (
                node.module.split(".") if node.module else [])
            for alias in node.names:
                # "from . import x" names a module when x is one, else an attribute of base.
                sub = ".".join(base + [alias.name])
                inside.add(sub if sub in modules else ".".join(base))
        elif isinstance(node, ast.ImportFrom):
            outside.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            outside.update(alias.name.split(".")[0] for alias in node.names)
    return ".".join(parts), inside, outside


def test_imports_go_one_way_and_never_to_flask():
    seen = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        name, inside, outside = _imports(path)
        seen.add(name)
        assert "flask" not in outside, name
        assert "geomap" not in outside, name  # nothing outside the package, and no cycle back
        if name == "":
            continue  # __init__ re-exports the modules
        allowed = set(ORDER[:ORDER.index(name)])
        assert inside <= allowed, (name, inside - allowed)
    assert seen == set(ORDER) | {""}


def test_public_face():
    for name in ("load", "assign", "border_position", "border_miles", "region_names",
                 "normalise_region", "geodesic_miles", "Regions", "CRS", "DEFAULT_PATH"):
        assert name in rg.__all__ and hasattr(rg, name), name
    assert callable(rg.assign) and callable(rg.load)
