"""Region display layers: read once per GeoPackage version, with a per-object cache of what is
derived from them (basemap JSON, simplified features around a view, border segment steps).

A `DisplayLayers` object carries its own cache, so a new regions file (a new object) starts
fresh and an in-memory fixture caches as the served file does.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .. import aggregate
from ..jsontext import escape, js_json
from .placenames import place_rows, places_beside, read_places, region_rows, REGIONS_UNTIL
from ..language import N_
from .shapes import feature_collection

#: Credit for the region layers drawn from shapefiles/ (ODbL asks for the OSM credit).
#: (English; maps say it in the reader's language: `leaflet.script_words`, the PNG.)
REGIONS_ATTRIBUTION = N_("Boundaries © OpenStreetMap contributors (ODbL), GMT DCW, US Census")
DISPLAY_LAYERS = {"admin1": "admin1_display", "sector": "usbp_sectors_display",
                  "border": "border", "border_segment": "border_segments"}


def segment_steps(layers: Mapping[str, Any] | None) -> "aggregate.SegmentSteps | None":
    """Return the border segments as `aggregate.segment_steps`, cached with the layers.

    None when there is no segments layer (nothing to draw); ValueError when it is unusable.
    """
    gdf = (layers or {}).get("border_segment")
    if gdf is None or gdf.empty:
        return None
    return _cached(layers, ("segment_steps",), lambda: aggregate.segment_steps(gdf))


@functools.lru_cache(maxsize=8)
def _read_display_layers(path: str, _mtime: float, places: str | None,
                         _places_mtime: float | None) -> "DisplayLayers":
    import geopandas as gpd
    import pyogrio

    available = {name for name, _geom in pyogrio.list_layers(path)}
    out = DisplayLayers()
    for key, layer in DISPLAY_LAYERS.items():
        name = layer if layer in available else layer.removesuffix("_display")
        if name in available:
            out[key] = gpd.read_file(path, layer=name)
    ranked = read_places(places)
    if ranked is not None:
        out["places"] = ranked
    return out


def display_layers(path: str | os.PathLike | None) -> dict[str, Any]:
    """Return the display layers of a regions GeoPackage, read once per file version.

    Keys: ``admin1`` and ``sector`` (display-simplified polygons), ``border`` (lines),
    ``border_segment`` (the ~25-mile pieces) and ``places`` (the names maps without tiles
    show: `placenames.read_places` of the ``places.csv`` beside the file). A missing file or
    layer is simply absent.
    """
    if not path or not os.path.exists(path):
        return {}
    places = places_beside(path)
    return _read_display_layers(str(path), os.path.getmtime(path), places,
                                os.path.getmtime(places) if places else None)


def _geojson(gdf, properties: Iterable[str], *, tolerance: float = 0.0,
             bbox: list[list[float]] | None = None, precision: float = 1e-3) -> dict:
    """Return the features of a layer around bbox (``[[lat, lon], [lat, lon]]``) as RFC 7946
    GeoJSON, simplified by tolerance and snapped to a `precision` grid (`shapes`)."""
    import shapely

    frame = gdf
    if bbox is not None and len(frame):
        (lat_min, lon_min), (lat_max, lon_max) = bbox
        frame = frame.loc[frame.intersects(shapely.box(lon_min, lat_min, lon_max, lat_max))]
    return feature_collection(frame, properties, tolerance=tolerance, grid=precision)


def _basemap_json(layers: Mapping[str, Any], box: list[list[float]] | None,
                  tolerance: float, lang: str = "en") -> str:
    out: dict[str, Any] = {}
    if "admin1" in layers:
        out["land"] = _geojson(layers["admin1"], ("code", "name"), tolerance=tolerance,
                               bbox=box)
    # Names: states and provinces, then the gazetteer's ranked towns, ports and cities
    # (`placenames`); the layer library shows each from its zoom, dropping overlaps.
    names = region_rows(layers["admin1"], box, lang) if "admin1" in layers else []
    names += place_rows(layers.get("places"), box)
    if names:
        out["names"] = names
        out["regionsUntil"] = REGIONS_UNTIL
    if "border" in layers:
        out["border"] = _geojson(layers["border"], (), tolerance=tolerance / 2, bbox=box,
                                 precision=1e-4)
    out["attribution"] = REGIONS_ATTRIBUTION
    return js_json(out)


class DisplayLayers(dict):
    """Display layers by key, with per-object caches: basemap JSON and features around views
    (`basemap_cache`, bounded), whole layers as served by the regions API
    (`collection_cache`: at most one per layer and level)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.basemap_cache: dict[tuple, str] = {}
        self.collection_cache: dict[tuple, "RegionGeoJSON"] = {}


def view_box(bounds: list[list[float]] | None) -> tuple[tuple | None, float]:
    """Return the padded, snapped box around bounds and the display simplification tolerance.

    The tolerance (degrees) grows with the box, so a continental view stays small while a
    zoomed selection keeps detail: about a pixel of a 600-pixel-wide map at the first view.
    """
    if bounds:
        (lat_min, lon_min), (lat_max, lon_max) = bounds
        pad_lat = max((lat_max - lat_min) * 0.5, 1.0)
        pad_lon = max((lon_max - lon_min) * 0.5, 1.5)
        box = ((math.floor(lat_min - pad_lat), math.floor(lon_min - pad_lon)),
               (math.ceil(lat_max + pad_lat), math.ceil(lon_max + pad_lon)))
        span = max(box[1][0] - box[0][0], box[1][1] - box[0][1])
    else:
        box, span = None, 90.0
    return box, round(max(0.01, span / 600), 3)


def _cached(layers: Mapping[str, Any], key: tuple, make, *,
            cache_name: str = "basemap_cache"):
    cache = getattr(layers, cache_name, None)
    if cache is None:
        return make()
    if key not in cache:
        if len(cache) > 128:
            cache.clear()
        cache[key] = make()
    return cache[key]


def basemap_data(layers: Mapping[str, Any], bounds: list[list[float]] | None,
                 lang: str = "en") -> str:
    """Return the JSON of the vector basemap (land, border, place names) around bounds,
    states and provinces named in ``lang``."""
    box, tolerance = view_box(bounds)
    return _cached(layers, ("basemap", box, tolerance, lang), lambda: _basemap_json(
        layers, [list(box[0]), list(box[1])] if box else None, tolerance, lang))


def display_features(layers: Mapping[str, Any], key: str, gdf, bounds, *, lines: bool = False
                     ) -> list[dict]:
    """Return simplified GeoJSON features of a display layer around bounds (cached).

    Each call gets fresh feature and property dicts (geometries are shared, never changed).
    """
    box, tolerance = view_box(bounds)
    if lines:
        tolerance = tolerance / 2
    collection = _cached(layers, ("features", key, box, tolerance), lambda: _geojson(
        gdf, ("code", "name"), tolerance=tolerance,
        bbox=[list(box[0]), list(box[1])] if box else None, precision=1e-3))
    return [{"type": "Feature", "geometry": f["geometry"],
             "properties": dict(f["properties"])} for f in collection["features"]]


#: The layers `GET /api/regions/<layer>.geojson` serves: their names (as in the regions
#: GeoPackage) -> display layer keys. Polygons come from the display-simplified layers.
REGION_LAYERS = {"admin1": "admin1", "usbp_sectors": "sector", "border": "border",
                 "border_segments": "border_segment"}
#: Simplification levels of the regions API: name -> (tolerance, grid) in degrees. ``none``
#: keeps every vertex of the display layer (6 decimals, about 10 cm: RFC 7946 11.2); ``low`` is
#: about 1 km (a regional view), ``high`` what a continental choropleth draws (`view_box`).
SIMPLIFY_LEVELS = {"none": (0.0, 1e-6), "low": (0.01, 1e-4), "medium": (0.05, 1e-3),
                   "high": (0.15, 1e-3)}
DEFAULT_SIMPLIFY = "low"
#: Properties of every served feature (null where the layer has no such column), then
#: those served only where the layer has them.
REGION_PROPERTIES = ("code", "name", "country")
REGION_EXTRA_PROPERTIES = ("mile_from", "mile_to")


@dataclass(frozen=True)
class RegionGeoJSON:
    """One region layer at one simplification level, serialised once.

    ``body`` is the UTF-8 GeoJSON text (`jsontext.ESCAPES` applied, as on every JSON
    response), ``etag`` a strong validator derived from it (no quotes), ``features`` how
    many features it holds.
    """

    body: bytes
    etag: str
    features: int


def region_geojson(layers: Mapping[str, Any], layer: str, level: str = DEFAULT_SIMPLIFY
                   ) -> RegionGeoJSON | None:
    """Return a whole region layer as an RFC 7946 FeatureCollection, made once per level.

    Parameters
    ----------
    layers : mapping
        Display layers (`display_layers`); a `DisplayLayers` caches the result, so each
        regions file (a new object) and level is computed once.
    layer : str
        A key of `REGION_LAYERS` (``admin1``, ``usbp_sectors``, ``border``,
        ``border_segments``).
    level : str
        A key of `SIMPLIFY_LEVELS`.

    Returns
    -------
    RegionGeoJSON or None
        None when these layers do not hold that layer. Features keep the layer's order, each
        with ``code``, ``name``, ``country`` (and ``mile_from``/``mile_to`` where the layer
        has them); a shape that vanishes at this level has a null geometry.

    Raises
    ------
    KeyError
        For a layer or level not listed above (callers validate first).
    """
    key = REGION_LAYERS[layer]
    tolerance, grid = SIMPLIFY_LEVELS[level]
    gdf = layers.get(key)
    if gdf is None:
        return None

    def make() -> RegionGeoJSON:
        frame = gdf.assign(**{p: None for p in REGION_PROPERTIES if p not in gdf.columns})
        # Lines are drawn thinner than polygons are filled: half the tolerance, as maps do.
        lines = key in ("border", "border_segment")
        collection = feature_collection(
            frame, REGION_PROPERTIES + REGION_EXTRA_PROPERTIES,
            tolerance=tolerance / 2 if lines else tolerance, grid=grid, keep_empty=True)
        text = escape(json.dumps(collection, separators=(",", ":"), ensure_ascii=False,
                                 allow_nan=False))
        body = text.encode("utf-8")
        etag = f"regions-{layer}-{level}-{hashlib.sha256(body).hexdigest()[:32]}"
        return RegionGeoJSON(body, etag, len(collection["features"]))

    return _cached(layers, ("region_geojson", layer, level), make,
                   cache_name="collection_cache")
