"""Display geometry: the one place region shapes are simplified, rounded and made RFC 7946.

Every polygon or line the app sends as GeoJSON from the region layers (the choropleth and
basemap payloads of map pages, `GET /api/regions/<layer>.geojson`) is made by
`display_geometries` and written by `feature_collection`, so what a map draws and what the
API serves are the same valid shapes.

Why each step is needed: per-polygon simplification and coordinate rounding each can make
a valid polygon invalid (a ring touching itself, two rings crossing, a ring collapsed to a
line: zero area), and GEOS writes rings clockwise, while RFC 7946 section 3.1.6 asks for
exterior rings counter-clockwise and holes clockwise. Leaflet draws any of it; d3, turf or
PostGIS re-using the GeoJSON would not.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np

from ..jsontext import plain


def display_geometries(geoms: Any, *, tolerance: float = 0.0, grid: float = 1e-3
                       ) -> np.ndarray:
    """Return shapes simplified, snapped to a grid, valid and wound as RFC 7946 asks.

    Parameters
    ----------
    geoms : array_like of shapely geometries
        Polygons, lines or points in lon/lat degrees (None and empty ones are kept as is).
    tolerance : float
        Douglas-Peucker tolerance in degrees (0: no simplification); topology is preserved
        per geometry.
    grid : float
        Size of the grid coordinates are snapped to, in degrees (1e-3 is about 100 m).

    Returns
    -------
    numpy.ndarray of geometries
        Each valid for GEOS, with no ring or line collapsed to zero area or length (collapsed
        parts are dropped: a shape may come back empty), exterior rings counter-clockwise and
        holes clockwise. A polygon stays polygonal and a line lineal.
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    if tolerance:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    # Snap rounding with valid output: GEOS nodes the snapped rings and drops what
    # collapsed (zero-area rings, zero-length lines). It expects valid input, which a
    # simplified polygon need not be, hence make_valid first ("structure" keeps areas).
    geoms = _valid(geoms)
    geoms = shapely.set_precision(geoms, grid, mode="valid_output")
    geoms = _valid(geoms)
    return shapely.orient_polygons(geoms, exterior_cw=False)


def _valid(geoms: np.ndarray) -> np.ndarray:
    """Repair the invalid ones, keeping only parts of each shape's own dimension."""
    import shapely

    bad = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if not bad.any():
        return geoms
    out = geoms.copy()
    for i in np.flatnonzero(bad):
        repaired = shapely.make_valid(geoms[i], method="structure", keep_collapsed=False)
        out[i] = _same_dimension(repaired, shapely.get_dimensions(geoms[i]))
    return out


def _same_dimension(geom, dimension: int):
    """Return the parts of geom of the given dimension (2 polygons, 1 lines) as one shape."""
    import shapely

    parts = [p for p in shapely.get_parts(geom) if shapely.get_dimensions(p) == dimension]
    if not parts:
        return shapely.Polygon() if dimension == 2 else shapely.LineString()
    if len(parts) == 1:
        return parts[0]
    if dimension == 2:
        return shapely.union_all(parts)
    return shapely.line_merge(shapely.MultiLineString(parts))


def feature_collection(frame, properties: Iterable[str], *, tolerance: float = 0.0,
                       grid: float = 1e-3, keep_empty: bool = False) -> dict:
    """Return a layer as an RFC 7946 FeatureCollection of its display geometries.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        A region layer in EPSG:4326.
    properties : iterable of str
        Columns copied into each feature's properties (JSON values via `jsontext.plain`);
        columns the layer does not have are left out.
    tolerance, grid : float
        As `display_geometries`.
    keep_empty : bool
        Keep a feature whose shape vanished at this simplification, with ``"geometry":
        null`` (RFC 7946 3.2); by default it is left out.

    Returns
    -------
    dict
        ``{"type": "FeatureCollection", "features": [...]}``.
    """
    import shapely

    geoms = display_geometries(frame.geometry.to_numpy(), tolerance=tolerance, grid=grid)
    props = [p for p in properties if p in frame.columns]
    columns = [frame[p].tolist() for p in props]
    features = []
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            if not keep_empty:
                continue
            mapping = None
        else:
            mapping = json.loads(shapely.to_geojson(geom))
        features.append({"type": "Feature", "geometry": mapping,
                         "properties": {p: plain(col[i]) for p, col in zip(props, columns)}})
    return {"type": "FeatureCollection", "features": features}
