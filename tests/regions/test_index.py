"""The lookup grids give exactly the answers of the exact path (geomap.regions.index,
line_index) and decide most points; the polygon index matches geopandas."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import shapely

from geomap import regions as rg
from geomap.regions import index, line_index


def _exact(R):
    """The same layers without lookup grids: every point takes the exact path."""
    return dataclasses.replace(R, _admin1_grid=None, _sector_grid=None, _border_grid=None)


def _edge_points(geoms, rng, n_vertices=3_000):
    """Polygon vertices, edge midpoints and points a hair to either side of them."""
    xy, ring = shapely.get_coordinates(
        shapely.get_rings(shapely.get_parts(geoms)), return_index=True)
    same = np.flatnonzero(ring[1:] == ring[:-1])
    pick = rng.choice(same, size=min(n_vertices, len(same)), replace=False)
    a, b = xy[pick], xy[pick + 1]
    mid = (a + b) / 2
    points = [a, mid]
    for offset in (1e-12, 1e-9, 1e-7, 1e-5):
        for sign in (1.0, -1.0):
            points.append(mid + sign * offset)
            points.append(a + sign * np.array([offset, -offset]))
    return np.vstack(points)


def _border_points(R, rng, n=20_000):
    """Points at chosen distances across the full-resolution border line."""
    seg = R._seg_lonlat
    i = rng.integers(0, len(seg), n)
    t = rng.random(n)
    t[: n // 10] = 0.0  # on vertices
    lon = seg[i, 0] + t * (seg[i, 2] - seg[i, 0])
    lat = seg[i, 1] + t * (seg[i, 3] - seg[i, 1])
    x, y = R._to_search.transform(lon, lat)
    sx0, sy0 = R._to_search.transform(seg[i, 0], seg[i, 1])
    sx1, sy1 = R._to_search.transform(seg[i, 2], seg[i, 3])
    norm = np.hypot(sx1 - sx0, sy1 - sy0)
    nx, ny = -(sy1 - sy0) / norm, (sx1 - sx0) / norm
    # On the line, around the at-border flag, the search levels' thresholds, the
    # far-border and area-of-interest distances, to either side.
    thresholds = [0.0, 1.0, 99.0, 100.0, 101.0, *line_index._thresholds(), 100_000.0, 500_000.0]
    d = np.array(thresholds)[rng.integers(0, len(thresholds), n)]
    d = (d + rng.normal(0, 3.0, n) * (d > 0)) * rng.choice([-1.0, 1.0], n)
    return R._to_search.transform(x + d * nx, y + d * ny, direction="INVERSE")


def _grid_corner_points(grid, rng, n=20_000, projected=None):
    """Points on and a hair off the fine-cell boundaries of a lookup grid."""
    ny, nx = grid.coarse.shape
    i = rng.integers(0, nx * grid.ratio, n)
    j = rng.integers(0, ny * grid.ratio, n)
    eps = grid.fine * rng.choice([0.0, 1e-12, -1e-12, 1e-6, -1e-6], (2, n))
    x, y = grid.x0 + i * grid.fine + eps[0], grid.y0 + j * grid.fine + eps[1]
    return projected.transform(x, y, direction="INVERSE") if projected else (x, y)


def test_grids_give_the_exact_answers(R):
    # The lookup grids only skip work: every column must be identical to the exact path
    # (polygon tests for every point, every search level from the coarsest) on random
    # points, points on and next to polygon edges, near the border line and its
    # thresholds, and on grid cell boundaries.
    rng = np.random.default_rng(7)
    parts = [
        np.column_stack([rng.uniform(-170, -50, 60_000), rng.uniform(30, 80, 60_000)]),
        _edge_points(R.admin1.geometry.values, rng),
        _edge_points(R.sectors.geometry.values, rng),
        np.column_stack(_border_points(R, rng)),
        np.column_stack(_grid_corner_points(R._admin1_grid, rng)),
        np.column_stack(_grid_corner_points(R._border_grid, rng, projected=R._to_search)),
        np.array([[np.nan, 45.0], [-100.0, np.inf], [200.0, 45.0], [-180.0, 90.0]]),
    ]
    lon, lat = np.vstack(parts).T
    fast = rg.assign(lon, lat, R)
    exact = rg.assign(lon, lat, _exact(R))
    pd.testing.assert_frame_equal(fast, exact, check_exact=True)
    # The sample reaches every kind of cell.
    assert fast.admin1.notna().sum() > 50_000 and fast.sector.notna().sum() > 10_000
    assert fast.at_border.sum() > 1_000 and fast.reason.notna().sum() > 10_000
    for kw in ({"at_border_m": 300.0}, {"max_border_km": 20.0, "aoi_km": 50.0}):
        pd.testing.assert_frame_equal(rg.assign(lon, lat, R, **kw),
                                      rg.assign(lon, lat, _exact(R), **kw), check_exact=True)


def test_admin1_matches_geopandas_sjoin(R):
    import geopandas as gpd

    rng = np.random.default_rng(11)
    lon, lat = np.vstack([
        np.column_stack([rng.uniform(-141, -60, 30_000), rng.uniform(40, 62, 30_000)]),
        _edge_points(R.admin1.geometry.values, rng, n_vertices=1_000),
    ]).T
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=rg.CRS)
    polygons = gpd.GeoDataFrame(R.admin1[["code"]], geometry=R.admin1.geometry.values,
                                crs=rg.CRS)
    joined = gpd.sjoin(points, polygons, predicate="within", how="left")
    joined = joined[~joined.index.duplicated(keep="first")]
    expected = [c if isinstance(c, str) else None for c in joined["code"]]
    assert list(rg.assign(lon, lat, R).admin1) == expected


def test_grid_codes_off_the_grid(R):
    grid = R._admin1_grid
    codes = grid.codes(np.array([np.nan, -179.99, 0.0, -100.0]),
                       np.array([45.0, 20.0, 45.0, np.nan]))
    assert (codes == index._EXACT).all()
    assert rg.assign(np.array([-100.0]), np.array([np.nan]), R).reason.iloc[0].startswith(
        "invalid coordinates")


def test_grids_decide_most_points(R):
    # Not a timing test: the grids must actually spare most points the exact work
    # (a grid coding every cell "exact" would pass the identity test and be slow).
    rng = np.random.default_rng(5)
    lon, lat = np.column_stack(_border_points(R, rng, n=5_000)).T
    lon = np.concatenate([lon, rng.uniform(-141, -60, 5_000)])
    lat = np.concatenate([lat, rng.uniform(40, 62, 5_000)])
    assert np.mean(R._admin1_grid.codes(lon, lat) == index._EXACT) < 0.5
    px, py = R._to_search.transform(lon, lat)
    first = R._border_grid.codes(px, py)
    near = slice(0, 5_000)  # within ~500 km of the line: most start past the coarsest level
    assert np.mean(first[near] > 0) > 0.5
    assert set(np.unique(first)) == {0, 1, 2, 3}
