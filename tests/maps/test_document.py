"""Rendering: deterministic scripts and their CSP hash, script-safe JSON, empty selections."""

from __future__ import annotations

import json

from geomap import maps
from maps_fixtures import EVIL, map_frame as _frame, map_html as _html, map_payload as _payload


def test_render_is_deterministic_and_hash_matches():
    frame = _frame()
    agg = maps.aggregate_frame(frame, maps.MapSpec())
    a = maps.render_parts(maps.build_map(agg, maps.MapSpec()))
    b = maps.render_parts(maps.build_map(agg, maps.MapSpec()))
    assert a.script == b.script and a.script_hash == b.script_hash
    assert a.script_hash == maps.csp_hash(a.script)
    assert a.script_hash.startswith("'sha256-")


def test_js_json_escapes_script_breakers():
    text = maps.js_json({"a": EVIL})
    for bad in ("<", ">", "&", "'", "\u2028"):
        assert bad not in text
    assert json.loads(text) == {"a": EVIL}


def test_empty_selection_renders():
    html = _html(_frame(0), layer="heat")
    assert _payload(html, "heat")["cells"] == []
    assert "0 incidents" in html


def test_scripts_are_deferred_and_the_map_starts_after_them():
    """Every script in the head is deferred (none holds up the first paint); the one inline
    script registers the map's start for DOMContentLoaded, which browsers fire only after
    running the deferred scripts, and leaves the map under folium's global name."""
    import re

    spec = maps.MapSpec(layer="cluster")
    parts = maps.render_parts(maps.build_map(maps.aggregate_frame(_frame(), spec), spec))
    tags = re.findall(r"<script[^>]*>", str(parts.head))
    assert len(tags) == 3  # leaflet, the layer library, markercluster
    assert all(re.fullmatch(r'<script src="/static/[^"]+\.js" defer>', tag) for tag in tags), tags
    assert re.findall(r'<link rel="stylesheet" href="/static/[^"]+\.css">', str(parts.head))
    script = parts.script.strip()
    assert script.startswith('document.addEventListener("DOMContentLoaded", function () {\n')
    assert script.endswith("window.map_0001 = map_0001;\n});")
    assert script.index("L.map(") < script.index("GeomapLayers.cluster(map_0001")
    assert parts.script_hash == maps.csp_hash(parts.script)
    assert str(parts.script_tag) == "<script>" + parts.script + "</script>"
