"""Maps benchmark: payload size and render time at 10k, 100k and 1M generated incidents.

For each size it prints, per layer:
  * frame path: `maps.render_map` on an in-memory DataFrame (numpy aggregation);
  * database path on SQLite: SQL GROUP BY aggregation + folium build + page render through
    the Flask app, cold (render cache empty), cached (LRU hit) and 304 (If-None-Match);
  * in headless Chromium (/usr/bin/chromium, skipped if absent), median of at least 5 loads:
    "ready", from navigation start of /embed/<slug> until the map script has added every
    layer (including the heat draw), as recorded by GeomapLayers.done; and "script", from the
    start of the map script (GeomapLayers.setup) to the same point. GEOMAP_TILES=none, so no
    request leaves the machine.

Usage: .venv/bin/python bench/maps.py [--sizes 10000,100000,1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from geomap import create_app, db, maps, store  # noqa: E402
from geomap.web import render_cache  # noqa: E402

LAYERS = ("heat", "time", "cluster", "choropleth")
CENTRES = np.array([[49.0, -122.75], [49.0, -119.46], [49.0, -97.24], [45.01, -73.45],
                    [42.9, -78.9], [45.0, -72.1]])
CHROMIUM = "/usr/bin/chromium"


def generate(n: int, seed: int = 1) -> pd.DataFrame:
    """Incidents clustered at crossings (70%) and spread along the border (30%), over 2025."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(CENTRES), n)
    near = rng.random(n) < 0.7
    lat = np.where(near, CENTRES[pick, 0] + rng.normal(0, 0.1, n), rng.uniform(42, 49.3, n))
    lon = np.where(near, CENTRES[pick, 1] + rng.normal(0, 0.25, n), rng.uniform(-124, -67.5, n))
    admin1 = np.where(lat >= 49, "CA-BC", "US-WA")
    return pd.DataFrame({
        "occurred_at": pd.Timestamp("2025-01-01")
        + pd.to_timedelta(rng.integers(0, 365 * 24 * 3600, n), unit="s"),
        "precision": "second", "lat": lat, "lon": lon,
        "type": rng.choice(["crossing", "apprehension", "sighting"], n),
        "count": rng.integers(1, 6, n), "direction": "northbound", "description": "",
        "admin1": admin1, "country": np.where(lat >= 49, "CA", "US"), "sector": "BLW",
        "border_mile": rng.uniform(0, 3987, n), "border_km": rng.normal(0, 5, n),
        "at_border": False, "row_hash": np.arange(n) + seed * 10**9, "row_hash2": 0,
    })


def naive_heatmap(frame: pd.DataFrame) -> str:
    """The baseline: folium's own HeatMap of every point (CDN assets), as in the research."""
    import folium
    from folium.plugins import HeatMap

    m = folium.Map(location=[47, -90], zoom_start=4)
    HeatMap(frame[["lat", "lon"]].to_numpy(), radius=8).add_to(m)
    return m.get_root().render()


def timed(fn, rounds: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def load(app, frame: pd.DataFrame) -> None:
    """Bulk-load incidents with plain executemany in chunks (the benchmark's setup only)."""
    engine = db.engine_for(app.config["DATABASE_URL"])
    with engine.begin() as conn:
        row = store.create_dataset(conn, "bench", "Benchmark", published=True)
    cols = ["occurred_at", "precision", "lat", "lon", "type", "count", "direction",
            "description", "admin1", "country", "sector", "border_mile", "border_km",
            "at_border", "row_hash", "row_hash2"]
    chunk = 100_000
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start:start + chunk]
        records = part[cols].assign(dataset_id=row["id"]).to_dict("records")
        for rec in records:
            rec["occurred_at"] = rec["occurred_at"].to_pydatetime()
        with engine.begin() as conn:
            conn.execute(sa.insert(db.incidents), records)


def browser_times(base: str, rounds: int) -> dict[str, tuple[float, float]]:
    """Per layer, median ms (navigation start -> map done, map script start -> done)."""
    from playwright.sync_api import sync_playwright

    out = {}
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        warm = browser.new_page()  # the first load pays for browser start-up: not counted
        warm.goto(f"{base}/embed/bench", wait_until="load")
        warm.close()
        for layer in LAYERS:
            ready, script = [], []
            for _ in range(max(rounds, 5)):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"{base}/embed/bench?layer={layer}", wait_until="load")
                page.wait_for_selector(".folium-map[data-gm-script-ms]")
                done = float(page.get_attribute(".folium-map", "data-gm-script-ms"))
                start = float(page.get_attribute(".folium-map", "data-gm-start-ms"))
                ready.append(done)
                script.append(done - start)
                page.close()
            out[layer] = (statistics.median(ready), statistics.median(script))
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--regions", default=str(ROOT / "shapefiles" / "regions.gpkg"),
                        help="regions GeoPackage (display layers for choropleth and basemap)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    sizes = [int(s) for s in args.sizes.split(",")]
    print("# maps benchmark: payload (KB) and time (ms); median of", args.rounds, "rounds;",
          "regions:", args.regions if os.path.exists(args.regions) else "none")
    print(f"{'N':>9} {'layer':<10} {'frame KB':>9} {'frame ms':>9} {'embed KB':>9} "
          f"{'cold ms':>8} {'cached ms':>9} {'304 ms':>7} {'browser ms: ready / script':>27}")
    for n in sizes:
        frame = generate(n)
        with tempfile.TemporaryDirectory() as tmp:
            app = create_app({"INSTANCE_PATH": Path(tmp) / "instance", "LOAD_SAMPLE": False,
                              "SECRET_KEY": "bench", "TILES": "none", "TESTING": True,
                              "REGIONS_PATH": args.regions})
            layers = maps.display_layers(args.regions)
            load(app, frame)
            client = app.test_client()
            results = {}
            for layer in LAYERS:
                spec = maps.MapSpec(layer=layer, tiles="none", embed=True, title="Benchmark")
                frame_s, html = timed(lambda: maps.render_map(frame, spec, layers), args.rounds)
                url = f"/embed/bench?layer={layer}"
                cold = []
                for _ in range(args.rounds):
                    with app.app_context():
                        render_cache.cache().clear()
                    start = time.perf_counter()
                    response = client.get(url)
                    cold.append(time.perf_counter() - start)
                cached_s, response = timed(lambda: client.get(url), args.rounds)
                etag = response.headers["ETag"]
                nm_s, nm = timed(lambda: client.get(url, headers={"If-None-Match": etag}),
                                 args.rounds)
                assert nm.status_code == 304
                results[layer] = (len(html.encode()) / 1024, frame_s * 1000,
                                  len(response.data) / 1024, statistics.median(cold) * 1000,
                                  cached_s * 1000, nm_s * 1000)
            browser = {}
            if os.path.exists(CHROMIUM):
                from werkzeug.serving import make_server

                server = make_server("127.0.0.1", 0, app, threaded=True)
                thread = threading.Thread(target=server.serve_forever, daemon=True)
                thread.start()
                try:
                    browser = browser_times(f"http://127.0.0.1:{server.server_port}",
                                            args.rounds)
                finally:
                    server.shutdown()
                    thread.join(timeout=10)
            for layer, (fkb, fms, ekb, cold_ms, cached_ms, nm_ms) in results.items():
                b = (f"{browser[layer][0]:.0f} / {browser[layer][1]:.0f}" if layer in browser
                     else "n/a")
                print(f"{n:>9,} {layer:<10} {fkb:>9.1f} {fms:>9.0f} {ekb:>9.1f} {cold_ms:>8.0f} "
                      f"{cached_ms:>9.1f} {nm_ms:>7.1f} {b:>27}", flush=True)
            db.dispose_engine(app.config["DATABASE_URL"])
        naive_s, naive = timed(lambda: naive_heatmap(frame), 1)
        print(f"{n:>9,} {'naive':<10} {len(naive.encode()) / 1024:>9.1f} {naive_s * 1000:>9.0f}"
              "   (folium HeatMap of every point, CDN assets: the baseline)", flush=True)


if __name__ == "__main__":
    main()
