"""The ingest package keeps its shape: imports go one way inside it and none imports Flask."""

from __future__ import annotations

import ast
import pathlib

from geomap import ingest

PACKAGE = pathlib.Path(ingest.__file__).parent
#: Each module may import only modules listed before it (DEVELOPERS.md, "Imports go one way").
ORDER = ["settings", "uploads", "structure", "receiving", "sniffing", "reading", "cells",
         "columns", "rows", "options", "report", "storing", "pipeline"]


def _imports(path: pathlib.Path) -> tuple[set[str], set[str]]:
    """Package modules a module imports (``from .x``) and the top-level packages it imports."""
    inside, outside = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            inside.update([node.module] if node.module else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and not node.level:
            outside.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            outside.update(alias.name.split(".")[0] for alias in node.names)
    return inside, outside


def test_imports_go_one_way_and_never_to_flask():
    seen = set()
    for path in sorted(PACKAGE.glob("*.py")):
        name = path.stem
        seen.add(name)
        inside, outside = _imports(path)
        assert "flask" not in outside, name
        if name == "__init__":
            continue  # re-exports the modules
        allowed = set(ORDER[:ORDER.index(name)])
        assert inside <= allowed, (name, inside - allowed)
    assert seen == set(ORDER) | {"__init__"}


def test_public_face():
    for name in ("import_file", "preview", "stored_upload", "Options", "options_from",
                 "check_options", "parse_mapping", "load_regions", "recorded_import",
                 "rejected_path", "FIELDS", "prune_uploads"):
        assert name in ingest.__all__ and hasattr(ingest, name), name
