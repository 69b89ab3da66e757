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
