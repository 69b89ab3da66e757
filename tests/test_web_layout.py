"""How geomap.web is put together: no blueprint imports another; URLs come from url_for."""

import ast
import re
from pathlib import Path

import geomap

WEB = Path(geomap.__file__).parent / "web"
TEMPLATES = Path(geomap.__file__).parent / "templates"


def _blueprints() -> set[str]:
    return {p.stem for p in WEB.glob("*.py") if re.search(r"^bp = Blueprint\(", p.read_text(),
                                                          re.M)}


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1:
                names.add(module.split(".")[0]) if module else names.update(
                    a.name for a in node.names)
            elif module.startswith("geomap.web"):
                rest = module.removeprefix("geomap.web").lstrip(".")
                names.add(rest.split(".")[0]) if rest else names.update(
                    a.name for a in node.names)
    return names


def test_no_blueprint_imports_another_blueprint():
    blueprints = _blueprints()
    assert {"auth", "maps", "api_data", "editor"} <= blueprints
    for name in sorted(blueprints):
        assert not (_imported(WEB / f"{name}.py") & (blueprints - {name})), name


def test_templates_build_no_paths_by_hand():
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r'(href|src|action)="/(?!/)', text), path
