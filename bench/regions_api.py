"""Regions API benchmark: building and serving GET /api/regions/<layer>.geojson, cold vs cached.

For each layer and simplification level of shapefiles/regions.gpkg it prints:
  * size of the body, and gzipped (level 6, as nginx and flask-compress send it);
  * build: `maps.region_geojson` on layers with an empty cache (simplify, snap to the grid with
    valid output, repair, orient, serialise, hash), median of ``--rounds``; beside it the
    reference, what maps did before #22 for the same shapes (simplify, round each vertex on its
    own, no repair or orientation: not RFC 7946), so the price of conformance shows;
  * served through the Flask app (test client, no network): the first request on a fresh app
    (cold: builds), then the median of ``--requests`` cached 200s and of as many 304s.

Usage: .venv/bin/python bench/regions_api.py [--rounds 3] [--requests 200]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import shapely  # noqa: E402

from geomap import create_app, maps  # noqa: E402

REGIONS = ROOT / "shapefiles" / "regions.gpkg"


def reference(gdf, tolerance: float, grid: float) -> bytes:
    """The display shapes as maps wrote them before #22: pointwise rounding, GEOS's rings."""
    geoms = gdf.geometry.to_numpy()
    if tolerance:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    geoms = shapely.set_precision(geoms, grid, mode="pointwise")
    features = [{"type": "Feature", "geometry": json.loads(shapely.to_geojson(g)),
                 "properties": {"code": code}} for g, code in zip(geoms, gdf["code"])]
    return json.dumps({"type": "FeatureCollection", "features": features},
                      separators=(",", ":")).encode()


def timed(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_request(client, url: str, n: int, **headers) -> tuple[float, int]:
    times, status = [], None
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append(time.perf_counter() - start)
        status = response.status_code
    return statistics.median(times), status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    read = maps.display_layers(REGIONS)
    print(f"{'layer':16} {'level':7} {'KB':>7} {'gzip KB':>8} {'build ms':>9} "
          f"{'ref ms':>7} {'cold req ms':>12} {'200 ms':>7} {'304 ms':>7}")
    instance = Path(tempfile.mkdtemp(prefix="geomap-bench-"))
    for layer, key in maps.REGION_LAYERS.items():
        for level, (tolerance, grid) in maps.SIMPLIFY_LEVELS.items():
            build = timed(lambda: maps.region_geojson(maps.DisplayLayers(read), layer, level),
                          args.rounds)
            tol = tolerance / 2 if key in ("border", "border_segment") else tolerance
            ref = timed(lambda: reference(read[key], tol, grid), args.rounds)
            app = create_app({"TESTING": True, "LOAD_SAMPLE": False, "SECRET_KEY": "bench",
                              "INSTANCE_PATH": instance / f"{layer}-{level}",
                              "DISPLAY_LAYERS": maps.DisplayLayers(read)})
            client = app.test_client()
            url = f"/api/regions/{layer}.geojson?simplify={level}"
            start = time.perf_counter()
            first = client.get(url)
            cold = time.perf_counter() - start
            body = first.get_data()
            warm, ok = per_request(client, url, args.requests)
            held, not_modified = per_request(client, url, args.requests,
                                             **{"If-None-Match": first.headers["ETag"]})
            assert first.status_code == ok == 200 and not_modified == 304
            print(f"{layer:16} {level:7} {len(body) / 1024:7.0f} "
                  f"{len(gzip.compress(body, 6)) / 1024:8.0f} {build * 1e3:9.0f} "
                  f"{ref * 1e3:7.0f} {cold * 1e3:12.0f} {warm * 1e3:7.2f} {held * 1e3:7.2f}")


if __name__ == "__main__":
    main()
