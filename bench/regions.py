"""Benchmark the regions join: ``geomap.regions.assign`` against ``geopandas.sjoin``.

Run: ``.venv/bin/python bench/regions.py [N]`` (default N = 1,000,000).

Points are generated with a fixed seed the way incidents are distributed: 70 % within
50 km of the border (uniform along it, normal across it), 30 % uniform over the border
region's bounding boxes.  Both joins use the same full-resolution ``admin1`` polygons
from ``shapefiles/regions.gpkg`` (EPSG:4326).  ``assign`` is also timed on the exact path
(the same layers without the lookup grids built at load: every point tested against the
polygons, every border search from the coarsest level) and its output must be identical,
column by column.  Each variant is timed ``ROUNDS`` times, interleaved, warm (polygons
already loaded and prepared once); the median is printed.
"""

from __future__ import annotations

import dataclasses
import pathlib
import statistics
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import geopandas as gpd  # noqa: E402
import shapely  # noqa: E402

from geomap import regions as rg  # noqa: E402
from geomap.regions.index import _lookup  # noqa: E402

ROUNDS = 3


def generate(n: int, R, seed: int = 42):
    """Generate n lon/lat points concentrated near the border (fixed seed)."""
    rng = np.random.default_rng(seed)
    seg = R._seg_lonlat
    w = R._seg_miles / R._seg_miles.sum()
    n_near = int(n * 0.7)
    i = rng.choice(len(seg), size=n_near, p=w)
    t = rng.random(n_near)
    lon = seg[i, 0] + t * (seg[i, 2] - seg[i, 0])
    lat = seg[i, 1] + t * (seg[i, 3] - seg[i, 1])
    # ~50 km spread across the line (degrees of latitude; longitude scaled by cos(lat)).
    d = rng.normal(0, 0.3, (n_near, 2))
    lon = lon + d[:, 0] / np.cos(np.radians(lat))
    lat = lat + d[:, 1]
    n_far = n - n_near
    lon2 = rng.uniform(-141, -60, n_far)
    lat2 = rng.uniform(40, 62, n_far)
    return np.concatenate([lon, lon2]), np.concatenate([lat, lat2])


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main(n: int = 1_000_000) -> None:
    import os

    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores; shared machine)")
    t_load, R = timed(lambda: rg.load())
    grids = (R._admin1_grid, R._sector_grid, R._border_grid)
    grid_mb = sum(a.nbytes for g in grids for a in (g.coarse, g.block_of, g.blocks)) / 1e6
    print(f"load + prepare: {t_load:.2f} s (lookup grids: {grid_mb:.1f} MB)")
    lon, lat = generate(n, R)
    polys = gpd.GeoDataFrame(R.admin1[["code"]], geometry=R.admin1.geometry.values, crs=rg.CRS)
    verts = int(shapely.get_num_coordinates(polys.geometry.values).sum())
    print(f"{n:,} points; admin1: {len(polys)} polygons, {verts:,} vertices (full resolution)")

    def run_sjoin():
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=rg.CRS)
        j = gpd.sjoin(pts, polys, predicate="within", how="left")
        j = j[~j.index.duplicated(keep="first")]
        return j["code"].to_numpy(dtype=object)

    def run_lookup():
        # The grid, with the exact test only near boundaries.
        idx = _lookup(R._admin1_index, R._admin1_grid, lon, lat)
        codes = R.admin1["code"].to_numpy(dtype=object)
        return np.where(idx >= 0, codes[np.maximum(idx, 0)], None)

    def run_assign():
        return rg.assign(lon, lat, R)

    exact = dataclasses.replace(R, _admin1_grid=None, _sector_grid=None, _border_grid=None)

    def run_exact():
        return rg.assign(lon, lat, exact)

    def run_border():
        return rg.border_position(lon, lat, R)

    times = {"sjoin": [], "lookup": [], "assign": [], "exact": [], "border": []}
    results = {}
    run_lookup()  # warm: GEOS preparation happens on first use
    for _ in range(ROUNDS):
        for name, fn in (("sjoin", run_sjoin), ("lookup", run_lookup),
                         ("assign", run_assign), ("exact", run_exact), ("border", run_border)):
            dt, out = timed(fn)
            times[name].append(dt)
            results[name] = out
    med = {k: statistics.median(v) for k, v in times.items()}

    s = np.array([x if isinstance(x, str) else None for x in results["sjoin"]], dtype=object)
    same = np.array_equal(s, results["lookup"]) and np.array_equal(
        s, results["assign"]["admin1"].to_numpy(dtype=object))
    print(f"gpd.sjoin(predicate='within'), points built from xy: {med['sjoin']:.2f} s")
    print(f"admin1 lookup (grid; near boundaries prepared + bbox mask + contains_xy): "
          f"{med['lookup']:.2f} s "
          f"({med['sjoin'] / med['lookup']:.1f}x faster)")
    print(f"full assign (admin1, sector, border km/mile, flags):  {med['assign']:.2f} s "
          f"(goal < 1 s)")
    print(f"full assign on the exact path (no lookup grids):     {med['exact']:.2f} s "
          f"({med['exact'] / med['assign']:.1f}x the time)")
    print(f"border distance + mile only:                         {med['border']:.2f} s "
          f"(goal < 3 s)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print(f"identical admin1 assignments: {same} "
          f"({np.count_nonzero(s != results['lookup'])} differ); "
          f"in a region: {np.count_nonzero(results['lookup'] != None):,}")  # noqa: E711
    try:
        pd.testing.assert_frame_equal(results["assign"], results["exact"], check_exact=True)
        print("assign identical to the exact path in every column: True")
    except AssertionError as exc:
        print(f"assign identical to the exact path in every column: False ({exc})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
