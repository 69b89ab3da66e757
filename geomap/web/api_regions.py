"""Region layers as RFC 7946 GeoJSON: GET /api/regions/<layer>.geojson.

The layers come from the app's region layers (`layers.region_layers`, injectable); the
GeoJSON is made and cached by `maps.region_geojson`, once per regions file and level, so a
request is a dictionary lookup and, with a matching ``If-None-Match``, a 304.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from .. import maps
from ..errors import BadRequest, NotFound, Unavailable
from ..security import csrf
from . import layers as web_layers
from .render_cache import cache_control, matching_etag

bp = Blueprint("api_regions", __name__, url_prefix="/api")
csrf.exempt(bp)


@bp.get("/regions/<layer>.geojson")
def region_layer(layer: str):
    """One region layer as a FeatureCollection (``code``, ``name``, ``country``, and
    ``mile_from``/``mile_to`` on the border layers), simplified to ``simplify`` (one of
    `maps.SIMPLIFY_LEVELS`, default `maps.DEFAULT_SIMPLIFY`)."""
    if layer not in maps.REGION_LAYERS:
        raise NotFound(f"no region layer {layer!r}: use one of "
                       f"{', '.join(maps.REGION_LAYERS)}",
                       details={"layer": layer, "allowed": list(maps.REGION_LAYERS)})
    level = (request.args.get("simplify") or maps.DEFAULT_SIMPLIFY).strip().lower()
    if level not in maps.SIMPLIFY_LEVELS:
        raise BadRequest(f"parameter 'simplify' must be one of "
                         f"{', '.join(maps.SIMPLIFY_LEVELS)}, got {level!r}",
                         details={"parameter": "simplify", "value": level,
                                  "allowed": list(maps.SIMPLIFY_LEVELS)})
    served = maps.region_geojson(web_layers.region_layers(), layer, level)
    if served is None:
        raise Unavailable(f"the region layer {layer!r} is not available on this server: the "
                          "regions file (GEOMAP_REGIONS_PATH) does not hold it",
                          details={"layer": layer})
    control = cache_control(int(current_app.config["MAP_EMBED_MAX_AGE"]))
    held = matching_etag(request.if_none_match, served.etag)
    if held:
        response = Response(status=304)
        response.set_etag(held)
    else:
        response = Response(served.body, mimetype="application/geo+json")
        response.set_etag(served.etag)
    response.headers["Cache-Control"] = control
    # Public, cookie-free data: pages on other sites (d3, turf, Leaflet) may fetch it.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
