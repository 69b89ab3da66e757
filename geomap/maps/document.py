"""Rendering a built map: `render_parts` gives the pieces a page template places (head tags,
map div, one inline script and its CSP hash); `render_map` wraps them, the legend and the
credit in a complete HTML document.

User-supplied text never becomes HTML or JS source: the map script carries data as JSON with
``<``, ``>``, ``&``, ``'`` and line separators escaped (`jsontext.js_json`), and the layer library
puts every string into the page with ``textContent``. Page text (title, legend, credit) is
HTML-escaped with markupsafe.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import folium
import pandas as pd
from branca.element import CssLink, JavascriptLink
from markupsafe import Markup, escape

from .leaflet import build_map
from .reduce import aggregate_frame
from .spec import MapHtml, MapSpec, csp_hash
from .style import credit_html, legend, legend_html


#: The inline map script runs once the deferred scripts it calls (Leaflet, its plugins, the
#: layer library) have run: browsers run ``defer`` scripts, in order, after parsing and before
#: DOMContentLoaded. The map stays a global under folium's name (``map_0001``), as folium's
#: own pages have it, for scripts and tests that reach the map.
SCRIPT_START = 'document.addEventListener("DOMContentLoaded", function () {\n'
SCRIPT_END = "\nwindow.{name} = {name};\n}});"


def render_parts(m: folium.Map) -> MapHtml:
    """Render a built map into head tags, the map div and one inline script (with its hash).

    Scripts in the head are deferred, so they never hold up the first paint, and the inline
    script waits for them (`SCRIPT_START`). folium's own header (viewport meta, ``html, body``
    sizing styles, L_NO_TOUCH script) is left out: pages size the map with
    ``static/map.css`` and carry no inline styles.
    """
    figure = m.get_root()
    figure.render()
    head_parts = []
    for child in figure.header._children.values():
        if isinstance(child, JavascriptLink):
            head_parts.append(Markup('<script src="{}" defer></script>').format(child.url))
        elif isinstance(child, CssLink):
            head_parts.append(Markup('<link rel="stylesheet" href="{}">').format(child.url))
    head = "\n".join(head_parts)
    if re.search(r'(?:src|href)="(?!/(?!/))', head):
        raise ValueError("a map asset is not served from this site: " + head)
    body = figure.html.render()
    script = ("\n" + SCRIPT_START + figure.script.render().strip()
              + SCRIPT_END.format(name=m.get_name()) + "\n")
    return MapHtml(head=Markup(head), body=Markup(body), script=script,
                   script_hash=csp_hash(script),
                   payload_bytes=len(head) + len(body) + len(script))


def render_map(frame: pd.DataFrame, spec: MapSpec, layers: Mapping[str, Any] | None = None
               ) -> str:
    """Return a complete HTML document for an incident frame (scripts from spec.static_url).

    The document's only inline script is the map script; a server should send
    ``script-src 'self' <MapHtml.script_hash>`` with it.
    """
    agg = aggregate_frame(frame, spec, layers)
    m = build_map(agg, spec, layers)
    parts = render_parts(m)
    info = legend(agg, spec)
    theme = "gm-dark" if spec.theme == "dark" else "gm-light"
    tiles = "gm-tiles-" + spec.tiles
    return str(
        Markup('<!DOCTYPE html>\n<html lang="') + escape(spec.lang)
        + Markup('">\n<head>\n<meta charset="utf-8">\n'
                 '<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>')
        + escape(spec.title or spec.words.gettext("Map")) + Markup("</title>\n") + parts.head
        + Markup('\n</head>\n<body class="gm-doc ') + escape(theme) + Markup('">\n<h1 class="gm-title">')
        + escape(spec.title) + Markup('</h1>\n<div class="gm-map ') + escape(tiles)
        + Markup('">') + parts.body + Markup("</div>\n") + legend_html(info)
        + credit_html(spec) + Markup("\n") + parts.script_tag + Markup("\n</body>\n</html>\n"))

