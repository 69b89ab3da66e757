"""Folium assembly: `build_map` makes a `folium.Map` whose elements call the small layer
library ``static/geomap-map.js`` with a layer's payload; every script and stylesheet comes
from ``static/`` (folium's ``default_js``/``default_css`` CDN lists are replaced on every
element).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import folium
from folium.elements import JSCSSMixin
from folium.template import Template

from .display import REGIONS_ATTRIBUTION, basemap_data
from .payloads import (cells_payload, choropleth_payload, cluster_payload, heat_payload,
                       time_payload)
from ..jsontext import js_json
from .spec import Aggregates, MapSpec

#: Scripts and stylesheets each layer needs, relative to the static URL.
LEAFLET_JS = ("leaflet", "vendor/leaflet/leaflet.js")
LEAFLET_CSS = ("leaflet_css", "vendor/leaflet/leaflet.css")
LAYERS_JS = ("geomap_layers", "geomap-map.js")
HEAT_JS = ("leaflet_heat", "vendor/leaflet.heat/leaflet-heat.js")
CLUSTER_JS = ("markercluster", "vendor/leaflet.markercluster/leaflet.markercluster.js")
CLUSTER_CSS = (("markercluster_css", "vendor/leaflet.markercluster/MarkerCluster.css"),
               ("markercluster_default_css",
                "vendor/leaflet.markercluster/MarkerCluster.Default.css"))
MAP_CSS = ("geomap_map_css", "map.css")

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ORIGIN = "https://tile.openstreetmap.org"
OSM_ATTRIBUTION = ('&copy; <a href="https://www.openstreetmap.org/copyright">'
                   "OpenStreetMap</a> contributors")
TILES_CHOICES = ("openstreetmap", "none")


class _Call(JSCSSMixin):
    """A map element that calls ``GeomapLayers.<fn>(map, data)`` from geomap-map.js."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        GeomapLayers.{{ this.fn }}({{ this._parent.get_name() }}, {{ this.payload }});
        {% endmacro %}
    """)

    def __init__(self, fn: str, payload: str, js: Iterable[tuple[str, str]] = (),
                 css: Iterable[tuple[str, str]] = ()):
        super().__init__()
        self._name = "GeomapCall"
        self.fn = fn
        self.payload = payload
        # Instance lists: never mutate folium's class-level (CDN) defaults.
        self.default_js = list(js)
        self.default_css = list(css)


def _static(spec: MapSpec, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    base = spec.static_url.rstrip("/")
    return [(name, f"{base}/{path}") for name, path in pairs]


def build_map(agg: Aggregates, spec: MapSpec, layers: Mapping[str, Any] | None = None
              ) -> folium.Map:
    """Return a folium Map for the aggregates, using only assets under spec.static_url.

    Parameters
    ----------
    agg : Aggregates
        From `aggregate_frame` or `aggregate_db`.
    spec : MapSpec
    layers : mapping, optional
        Display layers (see `display_layers`); needed for choropleths and ``tiles='none'``.
    """
    layers = layers or {}
    if spec.tiles not in TILES_CHOICES:
        raise ValueError(f"tiles must be one of {TILES_CHOICES}, got {spec.tiles!r}")
    options: dict[str, Any] = {"prefer_canvas": False, "control_scale": True,
                               "zoom_start": 4, "tiles": None}
    if spec.embed:
        options["scroll_wheel_zoom"] = False
    m = folium.Map(location=[47.0, -95.0], **options)
    m.default_js = _static(spec, [LEAFLET_JS, LAYERS_JS])
    m.default_css = _static(spec, [LEAFLET_CSS, MAP_CSS])
    bounds = agg.bounds or [[41.0, -125.0], [50.0, -66.0]]
    # The first view frames the data's weight (agg.view); the extent stays reachable.
    setup = {"bounds": agg.view or bounds, "extent": bounds, "tiles": spec.tiles,
             "theme": spec.theme, "embed": spec.embed, "words": script_words(spec)}
    if spec.tiles == "openstreetmap":
        setup["tileUrl"] = OSM_TILES
        setup["attribution"] = OSM_ATTRIBUTION
    m.add_child(_Call("setup", js_json(setup)))
    if spec.tiles == "none" and layers:
        m.add_child(_Call("basemap", basemap_data(layers, agg.bounds, spec.lang)))
    _add_layer(m, agg, spec, layers)
    m.add_child(_Call("done", "{}"))
    _number_elements(m)
    return m


def script_words(spec: MapSpec) -> dict[str, str]:
    """What the layer library says itself (popups, tooltips, the time control), in the
    map's language: ``{n}``, ``{total}`` and ``{period}`` are filled in by the script;
    ``locale`` formats its numbers."""
    w = spec.words
    _ = w.gettext
    return {
        "locale": str(w.locale).replace("_", "-"),
        "incident": _("Incident"),
        "count": _("count %(n)s", n="{n}"),
        "incidents": _("%(n)s incidents, total count %(total)s", n="{n}", total="{total}"),
        "hidden": _("fewer than %(n)s incidents (hidden)", n="{n}"),
        "none": _("none recorded"),
        "play": _("Play"), "pause": _("Pause"),
        "playLabel": _("Play the animation"), "pauseLabel": _("Pause the animation"),
        "period": _("Period"), "upTo": _("up to %(period)s", period="{period}"),
        "regional": _(" drawn · %(n)s known only by sector or state", n="{n}"),
        "regionalHidden": _(" drawn · fewer than %(n)s known only by sector or state",
                            n="{n}"),
        "zoomIn": _("Zoom in"), "zoomOut": _("Zoom out"),
        "attribution": _(REGIONS_ATTRIBUTION),
    }


def _add_layer(m: folium.Map, agg: Aggregates, spec: MapSpec, layers: Mapping[str, Any]) -> None:
    heat_js = _static(spec, [HEAT_JS])
    if spec.layer == "heat":
        m.add_child(_Call("heat", js_json(heat_payload(agg)), heat_js))
    elif spec.layer == "time":
        m.add_child(_Call("time", js_json(time_payload(agg, spec.words)), heat_js))
    elif spec.layer == "cluster" and agg.points is not None:
        m.add_child(_Call("cluster", js_json(cluster_payload(agg.points, layers, spec.words)),
                          _static(spec, [CLUSTER_JS]), _static(spec, CLUSTER_CSS)))
    elif spec.layer == "cluster":
        m.add_child(_Call("cells", js_json(cells_payload(agg))))
    elif spec.layer == "choropleth":
        m.add_child(_Call("regions", js_json(choropleth_payload(agg, spec, layers))))
    else:
        raise ValueError(f"unknown layer {spec.layer!r}")


def _number_elements(m: folium.Map) -> None:
    """Give elements sequential ids so the same map renders to the same bytes."""
    counter = 0

    def walk(element):
        nonlocal counter
        counter += 1
        element._id = f"{counter:04d}"
        for child in element._children.values():
            walk(child)

    walk(m)

