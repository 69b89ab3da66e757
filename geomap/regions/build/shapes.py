"""Polygon helpers of the build: even-odd rings, the antimeridian, polygonal parts and
splitting an area between labelled polygons by proximity."""

from __future__ import annotations

import numpy as np
import shapely


def _even_odd(rings: list[shapely.Polygon]) -> shapely.Geometry:
    """Combine closed rings into one polygonal geometry by the even-odd rule.

    DCW stores every part as a closed ring with no hole flag; a ring inside an odd
    number of other rings is a hole (lakes in islands in lakes alternate).
    """
    rings = [r for r in rings if not r.is_empty and r.area > 0]
    if not rings:
        return shapely.MultiPolygon()
    arr = np.array(rings, dtype=object)
    tree = shapely.STRtree(arr)
    # depth[i] = number of rings that contain ring i (nesting level)
    left, right = tree.query(arr, predicate="contains_properly")
    depth = np.bincount(right[left != right], minlength=len(arr))
    result = None
    for d in range(int(depth.max()) + 1):
        level = shapely.union_all(arr[depth == d])
        if result is None:
            result = level
        elif d % 2:
            result = shapely.difference(result, level)
        else:
            result = shapely.union(result, level)
    return result


def _split_antimeridian(poly: shapely.Geometry) -> shapely.Geometry:
    """Move a polygon given in 0..360 longitudes to -180..180, cutting it at 180°."""
    xmin, _, xmax, _ = poly.bounds
    if xmax <= 180:
        return poly
    if xmin >= 180:
        return shapely.transform(poly, lambda c: c - np.array([360.0, 0.0]))
    east = shapely.intersection(poly, shapely.box(0, -90, 180, 90))
    west = shapely.intersection(poly, shapely.box(180, -90, 360, 90))
    west = shapely.transform(west, lambda c: c - np.array([360.0, 0.0]))
    return shapely.union(east, west)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep only the polygon parts of a geometry (after make_valid or an overlay)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > 0]
    for p in shapely.get_parts(geom):
        if p.geom_type in ("MultiPolygon", "GeometryCollection"):
            parts.extend(q for q in shapely.get_parts(_polygonal(p)) if q.area > 0)
    return shapely.MultiPolygon(parts) if parts else shapely.MultiPolygon()


def _boundary_points(geoms, labels, spacing: float, clip=None):
    """Sample the boundaries of labelled polygons every ``spacing`` degrees.

    Returns unique (x, y) points with the label of the first geometry that owns them;
    they are the generators of the Voronoi diagram used for "nearest unit" filling.
    """
    xs, labs = [], []
    for geom, lab in zip(geoms, labels):
        b = shapely.boundary(geom)
        if clip is not None:
            b = shapely.intersection(b, clip)
        if b.is_empty:
            continue
        b = shapely.segmentize(b, spacing)
        c = shapely.get_coordinates(b)
        xs.append(c)
        labs.append(np.full(len(c), lab, dtype=object))
    xy = np.concatenate(xs)
    lab = np.concatenate(labs)
    # Quantise to ~1 m so coincident vertices of neighbours collapse (first label wins,
    # which is deterministic because the input order is sorted by code).
    key = np.round(xy, 5)
    _, first = np.unique(key, axis=0, return_index=True)
    first = np.sort(first)
    return xy[first], lab[first]


def nearest_zones(area: shapely.Geometry, geoms, labels, spacing: float) -> dict:
    """Split ``area`` between labelled polygons by proximity (approximate Voronoi).

    Used to give water and slivers not covered by any source polygon to the nearest
    unit; returns {label: part of area}.  Exact partition of ``area``: every part is
    ``area ∩ union(Voronoi cells of that label's boundary points)``.
    """
    if area.is_empty:
        return {}
    xmin, ymin, xmax, ymax = area.bounds
    clip = shapely.box(xmin - 2, ymin - 2, xmax + 2, ymax + 2)
    xy, lab = _boundary_points(geoms, labels, spacing, clip)
    # Sampled boundaries are full of collinear points (parallels, straight state lines)
    # on which GEOS' Delaunay triangulation fails; a fixed-seed jitter of at most 1e-6°
    # (~0.1 m) breaks the degeneracy and keeps the build deterministic.
    xy = xy + np.random.default_rng(0).uniform(-1e-6, 1e-6, xy.shape)
    pts = shapely.points(xy)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=clip))
    # Every point of a Voronoi cell is nearest to the cell's generator, so the nearest
    # generator to any interior point labels the cell (robust to snapped generators).
    tree = shapely.STRtree(pts)
    ci, pi = tree.query_nearest(shapely.point_on_surface(cells), all_matches=False)
    cell_label = np.empty(len(cells), dtype=object)
    cell_label[ci] = lab[pi]
    out = {}
    remaining = area
    ulabels = sorted(set(labels))
    for k, lb in enumerate(ulabels):
        if k == len(ulabels) - 1:
            part = remaining
        else:
            sel = cells[cell_label == lb]
            if len(sel) == 0:
                continue
            zone = shapely.coverage_union_all(sel)
            part = shapely.intersection(remaining, zone)
            remaining = shapely.difference(remaining, zone)
        part = _polygonal(part)
        if not part.is_empty:
            out[lb] = part
    return out
