"""One check for the shape of a geomap package: imports go one way inside it, none to Flask.

Used by each package's ``test_package`` module (DEVELOPERS.md, "Imports go one way"). It reads
the source with `ast`, so nothing is imported or run.
"""

from __future__ import annotations

import ast
import pathlib
from types import ModuleType


def _module_names(root: pathlib.Path) -> set[str]:
    """Dotted names of a package's modules relative to it ("" is the package itself)."""
    return {".".join(p for p in path.relative_to(root).with_suffix("").parts if p != "__init__")
            for path in root.rglob("*.py")}


def module_imports(root: pathlib.Path, path: pathlib.Path
                   ) -> tuple[str, set[str], set[str], set[str]]:
    """Return a module's dotted name in its package and what it imports.

    Returns
    -------
    (name, inside, geomap, outside)
        Package modules it imports (relative imports that stay inside the package; a
        ``from . import x`` names module ``x`` when there is one, else the package it is
        taken from), other geomap modules (relative imports that leave the package) and the
        top-level packages of absolute imports.
    """
    parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
    package = parts if path.name == "__init__.py" else parts[:-1]
    modules = _module_names(root)
    inside, geomap, outside = set(), set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            up = node.level - 1
            if up > len(package):  # from .. import store: leaves the package
                geomap.update([node.module.split(".")[0]] if node.module
                              else [alias.name for alias in node.names])
                continue
            base = package[:len(package) - up] + (node.module.split(".") if node.module else [])
            for alias in node.names:
                sub = ".".join(base + [alias.name])
                inside.add(sub if sub in modules else ".".join(base))
        elif isinstance(node, ast.ImportFrom):
            outside.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            outside.update(alias.name.split(".")[0] for alias in node.names)
    return ".".join(parts), inside, geomap, outside


def check_shape(package: ModuleType, order: list[str], below: set[str] | None = None) -> None:
    """Assert a package's shape.

    Parameters
    ----------
    package : module
        The package (``geomap.regions``...).
    order : list of str
        Every module of the package (dotted, relative to it); each may import only modules
        listed before it. ``__init__`` (the public face) may import any.
    below : set of str, optional
        The geomap modules outside the package it may import (None: not checked).
    """
    root = pathlib.Path(package.__file__).parent
    seen = set()
    for path in sorted(root.rglob("*.py")):
        name, inside, geomap, outside = module_imports(root, path)
        seen.add(name)
        assert "flask" not in outside, name
        assert "geomap" not in outside, name  # relative imports only: no way back in by name
        if below is not None:
            assert geomap <= below, (name, geomap - below)
        if name == "":
            continue
        allowed = set(order[:order.index(name)])
        assert inside <= allowed, (name, inside - allowed)
    assert seen == set(order) | {""}
