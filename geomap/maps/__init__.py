"""Folium maps with bounded payloads and no CDN: heat, cluster, choropleth and time layers.

The flow is ``reduce -> build_map -> render_parts`` (or `render_map` for a standalone
document); this module is the package's public face, the names callers outside use:

* `aggregate_frame` (an incident DataFrame, numpy) and `aggregate_db` (SQL GROUP BY via
  `geomap.aggregate`) reduce any number of incidents to `Aggregates` (`reduce`), binned on
  the grid of `grid`; a choropleth's classes, breaks and hidden count are computed there.
* `display_layers` reads the region display layers once per file version (`display`);
  `region_geojson` serves a whole layer as RFC 7946 GeoJSON (the regions API). Every region
  shape sent as GeoJSON is simplified, rounded and made valid by `shapes`.
* `data_table` counts a selection by region and year for the table under an embed, and
  `summary_sentence` says where the most were counted (`datatable`).
* `build_map` assembles a `folium.Map` from the layer payloads (`leaflet`, `payloads`).
* `render_parts` / `render_map` render HTML (`document`); `render_png` a static image
  (`png`); `legend`, `legend_html` and `credit_html` the words around a map (`style`).

Imports inside the package go one way: each module imports only from modules later in
document, png, leaflet, payloads, reduce, style, breaks, display, shapes, grid, placement,
framing, spec, datatable. Nothing here imports Flask.
"""

from .datatable import DataTable, data_table, summary_sentence, table_regions
from .display import (DEFAULT_SIMPLIFY, REGION_LAYERS, SIMPLIFY_LEVELS, DisplayLayers,
                      RegionGeoJSON, display_layers, region_geojson, segment_steps)
from .document import render_map, render_parts
from ..binning import CELL_SIZES, fit_cell
from .leaflet import CLUSTER_JS, HEAT_JS, LEAFLET_JS, OSM_ORIGIN, build_map
from .png import draw_png, render_png
from .reduce import aggregate_db, aggregate_frame
from ..jsontext import js_json
from .spec import POPUP_CHARS, Aggregates, MapHtml, MapSpec, csp_hash
from .style import (BY_LABELS, EMPTY_COLOR, HIDDEN_COLOR, LAYER_LABELS, PALETTE, credit_html,
                    legend, legend_html)

__all__ = [
    "BY_LABELS", "CELL_SIZES", "CLUSTER_JS", "DEFAULT_SIMPLIFY", "EMPTY_COLOR", "HEAT_JS",
    "HIDDEN_COLOR", "LAYER_LABELS", "LEAFLET_JS", "OSM_ORIGIN", "PALETTE", "POPUP_CHARS",
    "REGION_LAYERS", "SIMPLIFY_LEVELS", "Aggregates", "DataTable", "DisplayLayers",
    "MapHtml", "MapSpec", "RegionGeoJSON", "aggregate_db", "aggregate_frame", "build_map",
    "credit_html", "csp_hash", "data_table", "display_layers", "draw_png", "fit_cell",
    "js_json", "legend", "legend_html", "region_geojson", "render_map", "render_parts",
    "render_png", "segment_steps", "summary_sentence", "table_regions",
]
