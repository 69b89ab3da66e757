"""Folium maps with bounded payloads and no CDN: heat, cluster, choropleth and time layers.

The flow is ``aggregates -> build_map -> render_parts`` (or `render_map` for a standalone
document):

* `aggregate_frame` (from an incident DataFrame, numpy) and `aggregate_db` (SQL GROUP BY via
  `geomap.aggregate`) reduce any number of incidents to what a layer draws: grid cells fitted
  to the selection's extent and capped at ``heat_max_cells``, at most ``cluster_limit`` points,
  counts per region, border segment or period. Cells and regions with fewer than
  ``min_public_count`` incidents are dropped (public views).
* `build_map` makes a `folium.Map` whose elements call the small layer library
  ``static/geomap-map.js``; every script and stylesheet comes from ``static/`` (folium's
  ``default_js``/``default_css`` CDN lists are replaced on every element).
* `render_parts` returns the pieces a page template places (head tags, map div, one inline
  script and its CSP hash); `render_map` wraps them in a complete HTML document.

User-supplied text never becomes HTML or JS source: the map script carries data as JSON with
``<``, ``>``, ``&``, ``'`` and line separators escaped, and the layer library puts every string
into the page with ``textContent``. Page text (title, legend, credit) is HTML-escaped here with
markupsafe.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import folium
import numpy as np
import pandas as pd
from branca.element import CssLink, JavascriptLink
from folium.elements import JSCSSMixin
from folium.template import Template
from markupsafe import Markup, escape

from . import aggregate

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
#: Credit for the region layers drawn from shapefiles/ (ODbL asks for the OSM credit).
REGIONS_ATTRIBUTION = "Boundaries © OpenStreetMap contributors (ODbL), GMT DCW, US Census"

#: Nice cell sizes in degrees; the fitted size is the smallest one at or above span / columns.
CELL_SIZES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0)
TARGET_COLUMNS = 400
#: Sequential palette (light to dark) for choropleths and segments.
PALETTE = ("#fdd49e", "#fdbb84", "#fc8d59", "#e34a33", "#b30000")
HIDDEN_COLOR = "#bdbdbd"
EMPTY_COLOR = "#ffffff"
HEAT_GRADIENT = {0.2: "#2c7bb6", 0.4: "#00a6ca", 0.6: "#90eb9d", 0.8: "#f9d057", 1.0: "#d7191c"}
POPUP_CHARS = 280
#: Characters of popup text shared by all cluster markers (keeps 5,000 markers under 200 KB).
CLUSTER_TEXT_BUDGET = 40_000
#: Below this many characters per popup, cluster descriptions are left out altogether.
POPUP_MIN_CHARS = 40
LAYER_LABELS = {"heat": "Heat map", "cluster": "Incidents", "choropleth": "Regions",
                "time": "Over time"}
BY_LABELS = {"admin1": "state or province", "sector": "Border Patrol sector",
             "border_segment": "stretch of border"}
DISPLAY_LAYERS = {"admin1": "admin1_display", "sector": "usbp_sectors_display",
                  "border": "border", "border_segment": "border_segments"}


@dataclass
class MapSpec:
    """How to draw a map: layer and options, dataset chrome and payload limits."""

    layer: str = "heat"
    by: str = "admin1"
    period: str = "month"
    theme: str = "light"
    tiles: str = "openstreetmap"
    title: str = ""
    source: str = ""
    license: str = ""
    updated: dt.datetime | None = None
    per: str = "count"                      # choropleth: raw counts or per border mile
    border_miles: Mapping[str, float] | None = None   # code -> miles (regions.border_miles)
    embed: bool = False
    static_url: str = "/static"
    min_public_count: int = 1
    heat_max_cells: int = 6000
    cluster_limit: int = 5000

    @classmethod
    def from_filters(cls, filters: Mapping[str, Any], **kwargs: Any) -> "MapSpec":
        """Take layer, by, period and theme from normalised filters; kwargs set the rest."""
        picked = {k: filters[k] for k in ("layer", "by", "period", "theme", "per")
                  if k in filters}
        return cls(**picked, **kwargs)


@dataclass
class Aggregates:
    """What the selected incidents reduce to for one layer (all small)."""

    n: int = 0
    total: int = 0
    bounds: list[list[float]] | None = None
    cell: float | None = None
    cells: pd.DataFrame | None = None        # lat, lon, n, total (heat, cluster fallback)
    points: pd.DataFrame | None = None       # cluster markers
    regions: pd.DataFrame | None = None      # key, n, total (choropleth by admin1/sector)
    segments: pd.DataFrame | None = None     # aggregate.by_border_segment (choropleth)
    frames: pd.DataFrame | None = None       # lat, lon, period, n, total (time)
    periods: list[str] = field(default_factory=list)
    hidden: int = 0                          # cells/regions hidden by min_public_count
    aggregated: bool = False                 # cluster fell back to aggregated cells
    breaks: list[float] = field(default_factory=list)  # choropleth classes (set by build_map)


@dataclass
class MapHtml:
    """Rendered map parts: tags for <head>, the map <div>, one inline script, its CSP hash."""

    head: Markup
    body: Markup
    script: str
    script_hash: str
    payload_bytes: int

    @property
    def script_tag(self) -> Markup:
        return Markup("<script>") + Markup(self.script) + Markup("</script>")


# --- helpers ----------------------------------------------------------------------------------

def js_json(value: Any) -> str:
    """Serialise value as compact JSON that is safe inside an HTML <script> and a JS string.

    ``<``, ``>``, ``&``, ``'`` and U+2028/U+2029 are written as ``\\uXXXX`` escapes, so no
    value can close the script element, open a comment or end a string early.
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("'", "\\u0027").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def csp_hash(script: str) -> str:
    """Return the CSP source expression ('sha256-…') for an inline script's exact text."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def fit_cell(bounds: list[list[float]] | None, columns: int = TARGET_COLUMNS) -> float:
    """Return the grid cell size (degrees) that fits the extent with about `columns` columns."""
    if not bounds:
        return CELL_SIZES[-1]
    (lat_min, lon_min), (lat_max, lon_max) = bounds
    mid = math.radians((lat_min + lat_max) / 2)
    span = max(lon_max - lon_min, (lat_max - lat_min) / max(math.cos(mid), 0.2), 0.0)
    wanted = span / columns
    for size in CELL_SIZES:
        if size >= wanted:
            return size
    return CELL_SIZES[-1]


def _grid_keys(values: np.ndarray, origin: float, cell: float) -> np.ndarray:
    return np.floor((values - origin) / cell + 1e-9).astype(np.int64)


def _group_cells(gy: np.ndarray, gx: np.ndarray, n: np.ndarray, total: np.ndarray,
                 extra: np.ndarray | None = None) -> pd.DataFrame:
    """Sum n and total per (gy, gx[, extra]) with numpy (fast at millions of rows)."""
    if len(gy) == 0:
        cols = {"gy": [], "gx": [], "n": [], "total": []}
        if extra is not None:
            cols["pidx"] = []
        return pd.DataFrame({k: np.asarray(v, dtype=np.int64) for k, v in cols.items()})
    columns = [gy, gx] if extra is None else [gy, gx, extra]
    # One int64 key per row (mixed radix) makes np.unique a fast 1-D sort.
    key = np.zeros(len(gy), dtype=np.int64)
    radices = []
    for col in columns:
        radix = int(col.max()) + 1 if len(col) else 1
        radices.append(radix)
        key = key * radix + col
    uniq, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.ravel()
    parts = []
    rest = uniq
    for radix in reversed(radices):
        parts.append(rest % radix)
        rest = rest // radix
    parts.reverse()
    out = {"gy": parts[0], "gx": parts[1],
           "n": np.bincount(inverse, weights=n, minlength=len(uniq)).astype(np.int64),
           "total": np.bincount(inverse, weights=total, minlength=len(uniq)).astype(np.int64)}
    if extra is not None:
        out["pidx"] = parts[2]
    return pd.DataFrame(out)


def coarsen(cells: pd.DataFrame, factor: int, by_period: bool = False) -> pd.DataFrame:
    """Merge factor x factor blocks of grid cells (same origin) into one cell each."""
    if factor == 1 or cells.empty:
        return cells
    extra = cells["pidx"].to_numpy() if by_period else None
    return _group_cells(cells["gy"].to_numpy() // factor, cells["gx"].to_numpy() // factor,
                        cells["n"].to_numpy(), cells["total"].to_numpy(), extra)


def fit_grid(cells: pd.DataFrame, cell: float, max_cells: int, *, by_period: bool = False
             ) -> tuple[pd.DataFrame, float]:
    """Coarsen a fine grid by integer factors until it has at most max_cells cells."""
    factor = 1
    out = cells
    while len(out) > max_cells and factor < 4096:
        factor *= 2
        out = coarsen(cells, factor, by_period)
    return out, cell * factor


def _hide_small(frame: pd.DataFrame, min_count: int) -> tuple[pd.DataFrame, int]:
    if min_count <= 1 or frame is None or frame.empty:
        return frame, 0
    keep = frame["n"] >= min_count
    return frame[keep].reset_index(drop=True), int((~keep).sum())


def _cell_centres(cells: pd.DataFrame, lat0: float, lon0: float, cell: float) -> pd.DataFrame:
    out = cells.copy()
    out["lat"] = np.round(lat0 + (cells["gy"].to_numpy() + 0.5) * cell, 3)
    out["lon"] = np.round(lon0 + (cells["gx"].to_numpy() + 0.5) * cell, 3)
    return out


def _bounds(lat_min, lat_max, lon_min, lon_max) -> list[list[float]] | None:
    if lat_min is None or lat_max is None or pd.isna(lat_min):
        return None
    return [[round(float(lat_min), 4), round(float(lon_min), 4)],
            [round(float(lat_max), 4), round(float(lon_max), 4)]]


# --- aggregation ------------------------------------------------------------------------------

def aggregate_frame(frame: pd.DataFrame, spec: MapSpec,
                    layers: Mapping[str, Any] | None = None) -> Aggregates:
    """Reduce an incident DataFrame (columns of the incidents table) for spec's layer.

    Parameters
    ----------
    frame : pandas.DataFrame
        Needs ``lat``, ``lon``; uses ``count`` (default 1), ``occurred_at`` (time layer),
        ``admin1``/``sector``/``border_mile`` (choropleth) and popup columns (cluster).
    spec : MapSpec
    layers : mapping, optional
        Display layers (see `display_layers`); a border-segment choropleth counts per
        segment of ``layers["border_segment"]`` (none without it).

    Returns
    -------
    Aggregates
    """
    lat = frame["lat"].to_numpy(dtype=float)
    lon = frame["lon"].to_numpy(dtype=float)
    counts = (frame["count"].to_numpy(dtype=np.int64) if "count" in frame
              else np.ones(len(frame), dtype=np.int64))
    ones = np.ones(len(frame), dtype=np.int64)
    agg = Aggregates(n=len(frame), total=int(counts.sum()))
    if len(frame):
        agg.bounds = _bounds(lat.min(), lat.max(), lon.min(), lon.max())
    layer = spec.layer
    if layer == "cluster" and agg.n <= spec.cluster_limit and spec.min_public_count <= 1:
        agg.points = frame.reset_index(drop=True)
        return agg
    if layer in ("heat", "cluster", "time"):
        cell = fit_cell(agg.bounds)
        lat0 = aggregate.grid_origin(lat.min(), cell) if len(frame) else 0.0
        lon0 = aggregate.grid_origin(lon.min(), cell) if len(frame) else 0.0
        gy, gx = _grid_keys(lat, lat0, cell), _grid_keys(lon, lon0, cell)
        if layer == "time":
            periods, pidx = _period_keys(frame["occurred_at"], spec.period)
            fine = _group_cells(gy, gx, ones, counts, pidx)
            _finish_time(agg, fine, periods, cell, lat0, lon0, spec)
        else:
            fine = _group_cells(gy, gx, ones, counts)
            _finish_cells(agg, fine, cell, lat0, lon0, spec)
        return agg
    if layer == "choropleth":
        if spec.by == "border_segment":
            steps = segment_steps(layers)
            if steps is not None:
                agg.segments = aggregate.by_border_segment_frame(frame, steps)
        else:
            table = pd.DataFrame({"key": frame[spec.by], "n": 1, "total": counts})
            agg.regions = (table.groupby("key", as_index=False, dropna=False)[["n", "total"]]
                           .sum())
        return agg
    raise ValueError(f"unknown layer {layer!r}")


def _period_keys(occurred: pd.Series, period: str) -> tuple[list[str], np.ndarray]:
    """Return the sorted period labels and each row's index into them (vectorised)."""
    days = pd.to_datetime(occurred).to_numpy().astype("datetime64[D]")
    if period == "week":
        as_int = days.astype(np.int64)
        keys = (as_int - (as_int + 3) % 7).astype("datetime64[D]")  # 1970-01-01 was a Thursday
    else:
        keys = days.astype("datetime64[M]")
    uniq, inverse = np.unique(keys, return_inverse=True)
    return [str(u) for u in uniq], inverse.ravel().astype(np.int64)


def _finish_cells(agg: Aggregates, fine: pd.DataFrame, cell: float, lat0: float, lon0: float,
                  spec: MapSpec) -> None:
    cells, size = fit_grid(fine, cell, spec.heat_max_cells)
    cells, agg.hidden = _hide_small(cells, spec.min_public_count)
    agg.cell = size
    agg.cells = _cell_centres(cells, lat0, lon0, size)
    agg.aggregated = spec.layer == "cluster"


def _finish_time(agg: Aggregates, fine: pd.DataFrame, periods: list[str], cell: float,
                 lat0: float, lon0: float, spec: MapSpec) -> None:
    cells, size = fit_grid(fine, cell, spec.heat_max_cells, by_period=True)
    cells, agg.hidden = _hide_small(cells, spec.min_public_count)
    agg.cell = size
    agg.periods = [str(p) for p in periods]
    agg.frames = _cell_centres(cells, lat0, lon0, size)


def aggregate_db(conn, dataset_id: int, filters: Mapping[str, Any] | None,
                 spec: MapSpec, layers: Mapping[str, Any] | None = None) -> Aggregates:
    """Reduce a dataset's matching incidents for spec's layer with SQL GROUP BY.

    Same result shape as `aggregate_frame` (with the same `layers`); only cluster maps with
    at most ``spec.cluster_limit`` incidents load rows.
    """
    # A whole dataset's extent and heat/cluster grid come from its grid rollup when it has
    # one (thousands of rows instead of millions); a selection always reads the incidents.
    rollup = (aggregate.rollup_extent(conn, dataset_id) if aggregate.unfiltered(filters)
              else None)
    ext = rollup or aggregate.extent(conn, dataset_id, filters)
    agg = Aggregates(n=ext["n"], total=ext["total"],
                     bounds=_bounds(ext["lat_min"], ext["lat_max"], ext["lon_min"],
                                    ext["lon_max"]))
    layer = spec.layer
    if agg.n == 0:
        if layer == "time":
            agg.frames = pd.DataFrame(columns=["lat", "lon", "pidx", "n", "total"])
        elif layer in ("heat", "cluster"):
            agg.cells = pd.DataFrame(columns=["lat", "lon", "n", "total"])
            agg.cell = fit_cell(None)
        elif spec.by != "border_segment":
            agg.regions = pd.DataFrame(columns=["key", "n", "total"])
        return agg
    if layer == "cluster" and agg.n <= spec.cluster_limit and spec.min_public_count <= 1:
        agg.points = aggregate.points(conn, dataset_id, filters, spec.cluster_limit)
        return agg
    if layer in ("heat", "cluster", "time"):
        cell = fit_cell(agg.bounds)
        lat0 = aggregate.grid_origin(ext["lat_min"], cell)
        lon0 = aggregate.grid_origin(ext["lon_min"], cell)
        if layer == "time":
            fine = aggregate.grid(conn, dataset_id, filters, cell=cell, lat0=lat0, lon0=lon0,
                                  period=spec.period)
            periods, pidx = np.unique(fine["period"].to_numpy(dtype=str), return_inverse=True)
            fine = fine.drop(columns=["period"]).assign(pidx=pidx.ravel().astype(np.int64))
            _finish_time(agg, fine, list(periods), cell, lat0, lon0, spec)
        elif rollup and aggregate.rollup_factor(rollup["rollup_cell"], cell):
            fine = aggregate.grid_from_rollup(conn, dataset_id, cell=cell, lat0=lat0,
                                              lon0=lon0, rollup_cell=rollup["rollup_cell"])
            _finish_cells(agg, fine, cell, lat0, lon0, spec)
        else:
            fine = aggregate.grid(conn, dataset_id, filters, cell=cell, lat0=lat0, lon0=lon0)
            _finish_cells(agg, fine, cell, lat0, lon0, spec)
        return agg
    if spec.by == "border_segment":
        steps = segment_steps(layers)
        if steps is not None:
            agg.segments = aggregate.by_border_segment(conn, dataset_id, filters, steps)
    else:
        agg.regions = aggregate.by_column(conn, dataset_id, filters, spec.by)
    return agg


# --- region layers ----------------------------------------------------------------------------

def segment_steps(layers: Mapping[str, Any] | None) -> "aggregate.SegmentSteps | None":
    """Return the border segments as `aggregate.segment_steps`, cached with the layers.

    None when there is no segments layer (nothing to draw); ValueError when it is unusable.
    """
    gdf = (layers or {}).get("border_segment")
    if gdf is None or gdf.empty:
        return None
    return _cached(layers, ("segment_steps",), lambda: aggregate.segment_steps(gdf))


@functools.lru_cache(maxsize=8)
def _read_display_layers(path: str, _mtime: float) -> "DisplayLayers":
    import geopandas as gpd
    import pyogrio

    available = {name for name, _geom in pyogrio.list_layers(path)}
    out = DisplayLayers()
    for key, layer in DISPLAY_LAYERS.items():
        name = layer if layer in available else layer.removesuffix("_display")
        if name in available:
            out[key] = gpd.read_file(path, layer=name)
    return out


def display_layers(path: str | os.PathLike | None) -> dict[str, Any]:
    """Return the display layers of a regions GeoPackage, read once per file version.

    Keys: ``admin1`` and ``sector`` (display-simplified polygons), ``border`` (lines) and
    ``border_segment`` (the ~25-mile pieces). A missing file or layer is simply absent.
    """
    if not path or not os.path.exists(path):
        return {}
    return _read_display_layers(str(path), os.path.getmtime(path))


def _geojson(gdf, properties: Iterable[str], *, tolerance: float = 0.0,
             bbox: list[list[float]] | None = None, precision: float = 1e-3) -> dict:
    """Return a compact FeatureCollection (coordinates rounded to `precision`)."""
    import shapely

    frame = gdf
    if bbox is not None and len(frame):
        (lat_min, lon_min), (lat_max, lon_max) = bbox
        frame = frame.loc[frame.intersects(shapely.box(lon_min, lat_min, lon_max, lat_max))]
    geoms = frame.geometry.to_numpy()
    if tolerance:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    geoms = shapely.set_precision(geoms, precision, mode="pointwise")
    features = []
    props = [p for p in properties if p in frame.columns]
    for geom, (_, row) in zip(geoms, frame.iterrows()):
        if geom is None or geom.is_empty:
            continue
        mapping = json.loads(shapely.to_geojson(geom))
        features.append({"type": "Feature", "geometry": mapping,
                         "properties": {p: _plain(row[p]) for p in props}})
    return {"type": "FeatureCollection", "features": features}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _basemap_json(layers: Mapping[str, Any], box: list[list[float]] | None,
                  tolerance: float) -> str:
    import shapely

    out: dict[str, Any] = {}
    if "admin1" in layers:
        gdf = layers["admin1"]
        out["land"] = _geojson(gdf, ("code", "name"), tolerance=tolerance, bbox=box)
        if box is not None:
            (lat_min, lon_min), (lat_max, lon_max) = box
            gdf = gdf.loc[gdf.intersects(shapely.box(lon_min, lat_min, lon_max, lat_max))]
        codes = gdf["code"] if "code" in gdf else pd.Series([""] * len(gdf))
        out["labels"] = [[round(p.y, 3), round(p.x, 3), str(code)]
                         for code, p in zip(codes, gdf.geometry.representative_point())]
    if "border" in layers:
        out["border"] = _geojson(layers["border"], (), tolerance=tolerance / 2, bbox=box,
                                 precision=1e-4)
    out["attribution"] = REGIONS_ATTRIBUTION
    return js_json(out)


class DisplayLayers(dict):
    """Display layers by key, with a per-object cache of basemap JSON."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.basemap_cache: dict[tuple, str] = {}


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


def _cached(layers: Mapping[str, Any], key: tuple, make):
    cache = getattr(layers, "basemap_cache", None)
    if cache is None:
        return make()
    if key not in cache:
        if len(cache) > 128:
            cache.clear()
        cache[key] = make()
    return cache[key]


def basemap_data(layers: Mapping[str, Any], bounds: list[list[float]] | None) -> str:
    """Return the JSON of the vector basemap (land, border, labels) around bounds."""
    box, tolerance = view_box(bounds)
    return _cached(layers, ("basemap", box, tolerance), lambda: _basemap_json(
        layers, [list(box[0]), list(box[1])] if box else None, tolerance))


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


# --- colour scales and legend -----------------------------------------------------------------

def class_breaks(values: Iterable[float], classes: int = len(PALETTE)) -> list[float]:
    """Return ascending upper bounds of up to `classes` classes (quantiles of positive values)."""
    arr = np.asarray([v for v in values if v and v > 0], dtype=float)
    if arr.size == 0:
        return []
    qs = np.quantile(arr, np.linspace(0, 1, classes + 1)[1:])
    breaks = sorted({_nice(float(q)) for q in qs})
    if breaks[-1] < arr.max():
        breaks[-1] = float(arr.max())
    return breaks


def _nice(value: float) -> float:
    if value >= 10:
        return float(round(value))
    return round(value, 2)


def colour_for(value: float, breaks: list[float]) -> str:
    """Return the palette colour of value's class (EMPTY_COLOR for zero or no breaks)."""
    if not value or not breaks:
        return EMPTY_COLOR
    offset = len(PALETTE) - len(breaks)
    for i, upper in enumerate(breaks):
        if value <= upper:
            return PALETTE[offset + i]
    return PALETTE[-1]


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _cell_label(cell: float | None) -> str:
    if not cell:
        return "grid cell"
    km = cell * 111.0
    size = f"{km:,.0f} km" if km >= 10 else f"{km:.1f} km"
    return f"{cell:g}° grid cell (about {size} north–south)"


# --- map building -----------------------------------------------------------------------------

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
    setup = {"bounds": bounds, "tiles": spec.tiles, "theme": spec.theme, "embed": spec.embed}
    if spec.tiles == "openstreetmap":
        setup["tileUrl"] = OSM_TILES
        setup["attribution"] = OSM_ATTRIBUTION
    m.add_child(_Call("setup", js_json(setup)))
    if spec.tiles == "none" and layers:
        m.add_child(_Call("basemap", basemap_data(layers, agg.bounds)))
    _add_layer(m, agg, spec, layers)
    m.add_child(_Call("done", "{}"))
    _number_elements(m)
    return m


def _add_layer(m: folium.Map, agg: Aggregates, spec: MapSpec, layers: Mapping[str, Any]) -> None:
    heat_js = _static(spec, [HEAT_JS])
    if spec.layer == "heat":
        m.add_child(_Call("heat", js_json(_heat_payload(agg)), heat_js))
    elif spec.layer == "time":
        m.add_child(_Call("time", js_json(_time_payload(agg)), heat_js))
    elif spec.layer == "cluster" and agg.points is not None:
        m.add_child(_Call("cluster", js_json(_cluster_payload(agg.points)),
                          _static(spec, [CLUSTER_JS]), _static(spec, CLUSTER_CSS)))
    elif spec.layer == "cluster":
        m.add_child(_Call("cells", js_json(_cells_payload(agg))))
    elif spec.layer == "choropleth":
        m.add_child(_Call("regions", js_json(_choropleth_payload(agg, spec, layers))))
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


def _weights(values: np.ndarray) -> np.ndarray:
    """Heat weights: square root of each cell's share of the busiest cell, 3 decimals.

    The square root keeps quiet cells visible next to one very busy crossing; the legend
    says so.
    """
    if values.size == 0:
        return values.astype(float)
    top = float(values.max()) or 1.0
    return np.maximum(np.round(np.sqrt(values / top), 3), 0.001)


def _heat_payload(agg: Aggregates) -> dict:
    cells = agg.cells if agg.cells is not None else pd.DataFrame(columns=["lat", "lon", "total"])
    cells = cells[cells["total"] > 0]  # count 0 records "none recorded": no heat
    weights = _weights(cells["total"].to_numpy(dtype=float))
    data = [[float(a), float(b), float(w)] for a, b, w in
            zip(cells["lat"].to_numpy(dtype=float), cells["lon"].to_numpy(dtype=float), weights)]
    return {"cells": data, "cell": agg.cell}


def _time_payload(agg: Aggregates) -> dict:
    frames = agg.frames if agg.frames is not None else pd.DataFrame(
        columns=["lat", "lon", "pidx", "total"])
    frames = frames[frames["total"] > 0]
    weights = _weights(frames["total"].to_numpy(dtype=float))
    data = [[float(a), float(b), float(w), int(p)] for a, b, w, p in
            zip(frames["lat"].to_numpy(dtype=float), frames["lon"].to_numpy(dtype=float),
                weights, frames["pidx"].to_numpy(dtype=np.int64))]
    totals = [0] * len(agg.periods)
    for p, t in zip(frames["pidx"].to_numpy(dtype=np.int64), frames["total"].to_numpy()):
        totals[int(p)] += int(t)
    return {"cells": data, "cell": agg.cell, "periods": agg.periods, "totals": totals}


def _cells_payload(agg: Aggregates) -> dict:
    cells = agg.cells if agg.cells is not None else pd.DataFrame(columns=["lat", "lon", "n",
                                                                          "total"])
    data = [[float(a), float(b), int(n), int(t)] for a, b, n, t in
            zip(cells["lat"], cells["lon"], cells["n"], cells["total"])]
    return {"cells": data, "cell": agg.cell}


def _popup_share(descriptions: pd.Series) -> int:
    """Characters each cluster popup may keep: CLUSTER_TEXT_BUDGET shared among the markers
    with a description, at most POPUP_CHARS (under POPUP_MIN_CHARS all text is left out)."""
    with_text = int((descriptions.str.len() > 0).sum())
    return min(POPUP_CHARS, CLUSTER_TEXT_BUDGET // with_text) if with_text else POPUP_CHARS


def _cluster_payload(points: pd.DataFrame) -> dict:
    """Markers as compact rows: ``[lat, lon, count, type#, date#, direction#(, text)]``.

    Types, dates and directions are indexes into small tables, coordinates have 4 decimals
    (about 10 m), and popup descriptions share CLUSTER_TEXT_BUDGET characters (see
    `_popup_share`), so 5,000 markers stay well under 200 KB.
    """
    def column(name, default):
        return points[name] if name in points else pd.Series([default] * len(points))

    types = column("type", "").fillna("").astype(str)
    dirs = column("direction", "unknown").fillna("unknown").astype(str)
    when = pd.to_datetime(column("occurred_at", None))
    precision = column("precision", "day").fillna("day").astype(str)
    dates = [("" if pd.isna(ts) else ts.strftime("%Y-%m" if prec == "month" else "%Y-%m-%d"))
             for ts, prec in zip(when, precision)]
    tables = {name: sorted(set(values)) for name, values in
              (("types", types), ("dates", dates), ("directions", dirs))}
    index = {name: {v: i for i, v in enumerate(table)} for name, table in tables.items()}
    desc = column("description", "").fillna("").astype(str)
    share = _popup_share(desc)
    include_text = share >= POPUP_MIN_CHARS
    counts = column("count", 1).fillna(1).astype(int)
    rows = []
    for lat, lon, c, t, d, dr, text in zip(points["lat"], points["lon"], counts, types, dates,
                                           dirs, desc):
        row = [round(float(lat), 4), round(float(lon), 4), int(c), index["types"][t],
               index["dates"][d], index["directions"][dr]]
        if include_text and text:
            row.append(text if len(text) <= share else text[:share - 1] + "…")
        rows.append(row)
    return {**tables, "rows": rows, "textOmitted": not include_text}


def per_border_mile(spec: MapSpec) -> bool:
    """Say whether a region choropleth divides each count by the region's border miles."""
    return (spec.layer == "choropleth" and spec.by in ("admin1", "sector")
            and spec.per == "border_mile" and bool(spec.border_miles))


def _choropleth_payload(agg: Aggregates, spec: MapSpec, layers: Mapping[str, Any]) -> dict:
    """Region or border-segment features with their counts and fill colours."""
    min_count = spec.min_public_count
    if spec.by == "border_segment":
        steps = segment_steps(layers)
        if steps is None:
            return {"features": {"type": "FeatureCollection", "features": []}, "lines": True}
        gdf = layers["border_segment"]
        counts = agg.segments
        if counts is None:
            counts = steps.table.assign(n=0, total=0)
        # The row of incidents in no segment (code None) is counted in agg.n, drawn nowhere.
        keys = [str(code) for code in gdf["code"]]
        table = counts.loc[counts["code"].notna()].set_index("code").reindex(keys)
        n = table["n"].to_numpy(dtype=float)
        total = table["total"].to_numpy(dtype=float)
        length = np.maximum((table["mile_to"] - table["mile_from"]).to_numpy(dtype=float), 0.1)
        values = total / length
        geo_source = gdf.assign(name=table["name"].to_numpy(dtype=object))
        per = "per border mile"
    else:
        gdf = layers.get(spec.by)
        regions = agg.regions if agg.regions is not None else pd.DataFrame(
            columns=["key", "n", "total"])
        if gdf is None or gdf.empty:
            return {"features": {"type": "FeatureCollection", "features": []}, "lines": False}
        lookup = {str(k): (int(a), int(b)) for k, a, b in
                  zip(regions["key"], regions["n"], regions["total"]) if k is not None
                  and not (isinstance(k, float) and math.isnan(k))}
        keys = [str(c) for c in gdf["code"]]
        n = np.asarray([lookup.get(k, (0, 0))[0] for k in keys], dtype=float)
        total = np.asarray([lookup.get(k, (0, 0))[1] for k in keys], dtype=float)
        values = total
        geo_source = gdf
        per = ""
        if per_border_mile(spec):
            # Regions that touch no border have no per-mile value (drawn as "none recorded").
            length = np.asarray([spec.border_miles.get(k, 0.0) for k in keys], dtype=float)
            values = np.divide(total, length, out=np.zeros_like(total), where=length > 0)
            per = "per border mile"
    hidden = (n > 0) & (n < min_count)
    visible_values = np.where(hidden, 0, values)
    breaks = class_breaks(visible_values)
    agg.hidden = int(hidden.sum())
    props_by_key = {}
    for k, nn, tt, vv, hh in zip(keys, n, total, values, hidden):
        if hh:
            props_by_key[k] = {"n": None, "total": None, "value": None, "fill": HIDDEN_COLOR,
                               "hidden": True}
        else:
            props_by_key[k] = {"n": int(nn), "total": int(tt), "value": round(float(vv), 3),
                               "fill": colour_for(float(vv), breaks), "hidden": False}
    lines = spec.by == "border_segment"
    features = display_features(layers, spec.by, geo_source.assign(code=keys), agg.bounds,
                                lines=lines)
    for feature in features:
        feature["properties"].update(props_by_key.get(str(feature["properties"]["code"]), {}))
    collection = {"type": "FeatureCollection", "features": features}
    agg.breaks = breaks
    return {"features": collection, "lines": lines, "per": per, "minCount": min_count,
            "attribution": REGIONS_ATTRIBUTION}


# --- rendering --------------------------------------------------------------------------------

def render_parts(m: folium.Map) -> MapHtml:
    """Render a built map into head tags, the map div and one inline script (with its hash).

    folium's own header (viewport meta, ``html, body`` sizing styles, L_NO_TOUCH script) is
    left out: pages size the map with ``static/map.css`` and carry no inline styles.
    """
    figure = m.get_root()
    figure.render()
    head_parts = []
    for child in figure.header._children.values():
        if isinstance(child, (JavascriptLink, CssLink)):
            head_parts.append(child.render())
    head = "\n".join(head_parts)
    if re.search(r'(?:src|href)="(?!/(?!/))', head):
        raise ValueError("a map asset is not served from this site: " + head)
    body = figure.html.render()
    script = "\n" + figure.script.render().strip() + "\n"
    return MapHtml(head=Markup(head), body=Markup(body), script=script,
                   script_hash=csp_hash(script),
                   payload_bytes=len(head) + len(body) + len(script))


def legend(agg: Aggregates, spec: MapSpec) -> dict[str, Any]:
    """Describe the legend: heading, unit, colour items and notes (plain text, not HTML)."""
    notes = []
    items: list[tuple[str, str]] = []
    gradient = False
    if spec.layer in ("heat", "time"):
        heading = "Incidents, weighted by count"
        unit = (f"sum of count (people or events) per {_cell_label(agg.cell)}; "
                "square-root colour scale")
        gradient = True
        if spec.layer == "time":
            notes.append(f"Animated by {spec.period}; colours are scaled to the busiest cell "
                         "across all periods.")
    elif spec.layer == "cluster" and agg.points is not None:
        heading = "Individual incidents"
        unit = "numbers on clusters are incidents; marker size is the count"
        if "description" in agg.points and _popup_share(
                agg.points["description"].fillna("").astype(str)) < POPUP_MIN_CHARS:
            notes.append("Descriptions are left out of the map at this many incidents; "
                         "they are in the CSV and GeoJSON downloads.")
    elif spec.layer == "cluster":
        heading = "Incidents, aggregated"
        unit = f"circle area is the sum of count per {_cell_label(agg.cell)}"
        if agg.n > spec.cluster_limit:
            notes.append(f"{agg.n:,} incidents match: more than the {spec.cluster_limit:,} that "
                         "are shown individually, so they are grouped into grid cells.")
        else:
            notes.append("Individual incidents are not shown in public views of this dataset; "
                         "they are grouped into grid cells.")
    else:
        per = " per border mile" if spec.by == "border_segment" or per_border_mile(spec) else ""
        heading = f"Count by {BY_LABELS.get(spec.by, spec.by)}"
        unit = f"sum of count (people or events){per}"
        breaks = agg.breaks
        lower = 0.0
        offset = len(PALETTE) - len(breaks)
        for i, upper in enumerate(breaks):
            items.append((PALETTE[offset + i], f"{_fmt(lower) if i else 'up to'}"
                          f"{'–' if i else ' '}{_fmt(upper)}"))
            lower = upper
        items.append((EMPTY_COLOR, "none recorded"))
        if spec.min_public_count > 1:
            items.append((HIDDEN_COLOR, f"fewer than {spec.min_public_count} incidents (hidden)"))
    if spec.min_public_count > 1 and spec.layer != "choropleth":
        notes.append(f"Areas with fewer than {spec.min_public_count} incidents are not shown.")
    if agg.hidden and spec.layer != "choropleth":
        notes.append(f"{agg.hidden:,} cells hidden.")
    return {"heading": heading, "unit": unit, "items": items, "gradient": gradient,
            "notes": notes, "n": agg.n, "total": agg.total,
            "summary": summary_line(agg, spec)}


def summary_line(agg: Aggregates, spec: MapSpec) -> str:
    """Return 'N incidents, total count T', or a suppressed form under the public threshold."""
    if 0 < agg.n < spec.min_public_count:
        return f"Fewer than {spec.min_public_count} incidents match (figures not shown)."
    return f"{agg.n:,} incidents, total count {agg.total:,}"


def legend_html(info: Mapping[str, Any]) -> Markup:
    """Render a legend description as escaped HTML (no inline styles: classes only)."""
    parts = [Markup('<div class="gm-legend" role="group" aria-label="Legend">'),
             Markup('<p class="gm-legend-heading">') + escape(info["heading"]) + Markup("</p>"),
             Markup('<p class="gm-legend-unit">') + escape(info["unit"]) + Markup("</p>")]
    if info.get("gradient"):
        parts.append(Markup('<div class="gm-gradient" aria-hidden="true"></div>'
                            '<p class="gm-gradient-labels"><span>fewer</span>'
                            '<span>more</span></p>'))
    if info.get("items"):
        parts.append(Markup('<ul class="gm-legend-items">'))
        for colour, label in info["items"]:
            swatch = PALETTE.index(colour) if colour in PALETTE else (
                "hidden" if colour == HIDDEN_COLOR else "empty")
            parts.append(Markup('<li><span class="gm-swatch gm-swatch-') + escape(str(swatch))
                         + Markup('" aria-hidden="true"></span>') + escape(label)
                         + Markup("</li>"))
        parts.append(Markup("</ul>"))
    parts.append(Markup('<p class="gm-legend-total">') + escape(info["summary"]) + Markup("</p>"))
    for note in info.get("notes", ()):
        parts.append(Markup('<p class="gm-legend-note">') + escape(note) + Markup("</p>"))
    parts.append(Markup("</div>"))
    return Markup("").join(parts)


def credit_html(spec: MapSpec) -> Markup:
    """Return the escaped source / licence / updated line."""
    bits = []
    if spec.source:
        bits.append(Markup("Source: ") + escape(spec.source))
    if spec.license:
        bits.append(Markup("Licence: ") + escape(spec.license))
    if spec.updated:
        bits.append(Markup("Updated ") + escape(spec.updated.strftime("%-d %B %Y")))
    return Markup('<p class="gm-credit">') + Markup(" · ").join(bits) + Markup("</p>")


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
        Markup('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
               '<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>')
        + escape(spec.title or "Map") + Markup("</title>\n") + parts.head
        + Markup('\n</head>\n<body class="gm-doc ') + escape(theme) + Markup('">\n<h1 class="gm-title">')
        + escape(spec.title) + Markup('</h1>\n<div class="gm-map ') + escape(tiles)
        + Markup('">') + parts.body + Markup("</div>\n") + legend_html(info)
        + credit_html(spec) + Markup("\n") + parts.script_tag + Markup("\n</body>\n</html>\n"))


def _png_choropleth(ax, agg: Aggregates, spec: MapSpec, layers: Mapping[str, Any]) -> None:
    """Draw the choropleth's regions (or border segments) in its colours, and its legend."""
    import geopandas as gpd
    from matplotlib.patches import Patch

    payload = _choropleth_payload(agg, spec, layers)
    features = payload["features"]["features"]
    if features:
        shapes = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
        colours = [f["properties"].get("fill") or EMPTY_COLOR for f in features]
        if payload["lines"]:
            shapes.plot(ax=ax, aspect=None, color=colours, linewidth=4)
        else:
            shapes.plot(ax=ax, aspect=None, color=colours, edgecolor="#8a8272",
                        linewidth=0.6)
    info = legend(agg, spec)  # after the payload, which sets the class breaks
    handles = [Patch(facecolor=colour, edgecolor="#8a8272", label=label)
               for colour, label in info["items"]]
    ax.legend(handles=handles, loc="upper right", fontsize=9, title_fontsize=10,
              title=f"{info['heading']} ({info['unit']})", framealpha=0.9)


def render_png(agg: Aggregates, spec: MapSpec, layers: Mapping[str, Any] | None = None, *,
               size: tuple[int, int] = (1200, 630), subtitle: str = "") -> bytes:
    """Draw a static PNG of the selection: land and border from the layers, and the heat grid
    or, for a choropleth spec, its coloured regions or border segments with their legend.

    Uses matplotlib's object API (no pyplot state), so it is safe in threaded servers. Cells
    below ``spec.min_public_count`` are already absent from `agg`.
    """
    import io

    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    layers = layers or {}
    dpi = 100
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    fig.patch.set_facecolor("#ffffff")
    ax = fig.add_axes((0.0, 0.0, 1.0, 0.86))
    ax.set_facecolor("#d7e6f2")
    bounds = agg.bounds or [[41.0, -125.0], [50.0, -66.0]]
    (lat_min, lon_min), (lat_max, lon_max) = bounds
    mid_lat = (lat_min + lat_max) / 2
    aspect = 1 / max(math.cos(math.radians(mid_lat)), 0.2)
    # Fit the padded extent to the image's aspect ratio.
    # At least a few degrees of context: a social card should show where it is.
    width_deg = max((lon_max - lon_min) * 1.1, 6.0)
    height_deg = max((lat_max - lat_min) * 1.1, 2.5)
    frame_ratio = (size[0] / (size[1] * 0.86))
    if width_deg / (height_deg * aspect) < frame_ratio:
        width_deg = height_deg * aspect * frame_ratio
    else:
        height_deg = width_deg / (aspect * frame_ratio)
    cx, cy = (lon_min + lon_max) / 2, mid_lat
    x0, x1 = cx - width_deg / 2, cx + width_deg / 2
    y0, y1 = cy - height_deg / 2, cy + height_deg / 2
    ax.set_axis_off()
    fig.patch.set_facecolor("#d7e6f2")  # water, also around the axes
    tolerance = width_deg / size[0]  # about a pixel

    def draw(key: str, **style) -> None:
        if key in layers:
            part = layers[key].cx[x0:x1, y0:y1]
            if len(part):
                part.set_geometry(part.geometry.simplify(tolerance)).plot(ax=ax, aspect=None,
                                                                         **style)

    draw("admin1", color="#f3efe6", edgecolor="#b3ab9c", linewidth=0.5)
    if spec.layer == "choropleth":
        _png_choropleth(ax, agg, spec, layers)  # over the land, under the border line
    draw("border", color="#6b5b95", linewidth=1.2, linestyle="--")
    # Limits after plotting (plotting autoscales); they already have the axes' shape.
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(aspect, adjustable="box")
    if "admin1" in layers and "code" in layers["admin1"]:
        for code, point in zip(layers["admin1"]["code"],
                               layers["admin1"].geometry.representative_point()):
            if x0 < point.x < x1 and y0 < point.y < y1:
                ax.text(point.x, point.y, str(code), fontsize=9, color="#5d5548", ha="center",
                        va="center", parse_math=False)
    cells = agg.cells
    if cells is not None:
        cells = cells[cells["total"] > 0]
    if cells is not None and len(cells):
        weights = _weights(cells["total"].to_numpy(dtype=float))
        cmap = LinearSegmentedColormap.from_list("gm", [HEAT_GRADIENT[k] for k in
                                                        sorted(HEAT_GRADIENT)])
        order = np.argsort(weights)
        marker = max(12.0, min(60.0, ((agg.cell or 0.1) / width_deg * size[0]) ** 2))
        ax.scatter(cells["lon"].to_numpy()[order], cells["lat"].to_numpy()[order], s=marker,
                   c=weights[order], cmap=cmap, vmin=0, vmax=1, marker="s",
                   linewidths=0, alpha=0.85)
    fig.patches.append(Rectangle((0, 0.86), 1, 0.14, transform=fig.transFigure,
                                 facecolor="#ffffff", edgecolor="none"))
    title = spec.title or "Map"
    title = title if len(title) <= 80 else title[:79] + "…"
    fig.text(0.015, 0.955, title, fontsize=20, weight="bold", va="center",
             color="#1d2430", parse_math=False)
    line = summary_line(agg, spec)
    if subtitle:
        line += f" · {subtitle}"
    if spec.source:
        line += f" · Source: {spec.source}"
    if spec.license:
        line += f" · Licence: {spec.license}"
    line = line if len(line) <= 130 else line[:129] + "…"
    fig.text(0.015, 0.895, line, fontsize=11, va="center", color="#5b6575",
             parse_math=False)
    if layers:
        fig.text(0.995, 0.01, REGIONS_ATTRIBUTION, fontsize=8, ha="right", va="bottom",
                 color="#5b6575", parse_math=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
