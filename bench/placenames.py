"""Place names on maps without tiles: what they cost a map, with and without, in one run.

The published sample on the real regions file (GEOMAP_TILES=none), served twice by the same
process: once with the display layers as read (gazetteer beside them: the ranked place
names) and once with the same layers less ``places`` (state and province names only). For
each, per layer (heat, time, choropleth):

  * payload: bytes of the map parts a page carries (`MapHtml.payload_bytes`) and of the
    /embed response, raw and gzipped;
  * server: median time of `build_map` + `render_parts` (basemap cache emptied each time);
  * Chromium (/usr/bin/chromium, 375 px): median over --rounds loads of /embed/<slug> of "script"
    (GeomapLayers.setup to done, names drawn included) and of a jump to a border zoom
    (`setView` to Blaine at zoom 10, plus the names' redraw at the next frame as the layer
    library times it, `data-gm-names-ms`: layout and collision culling included).
Rounds alternate with and without names, so the machine's load falls on both alike.

Usage: .venv/bin/python bench/placenames.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import gzip
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from werkzeug.serving import make_server  # noqa: E402

from conftest import make_app  # noqa: E402
from geomap import db, maps, sample, store  # noqa: E402
from servers import ThreadedServer  # noqa: E402

LAYERS = ("heat", "time", "choropleth")
CHROMIUM = "/usr/bin/chromium"
SCRIPT_MS = """() => { const el = document.querySelector('.folium-map');
    return Number(el.dataset.gmScriptMs) - Number(el.dataset.gmStartMs); }"""
JUMP_MS = """() => new Promise(done => {
    const el = document.querySelector('.folium-map'); const map = window[el.id];
    const t = performance.now(); map.setView([48.95, -122.72], 10, {animate: false});
    const view = performance.now() - t;
    requestAnimationFrame(() => requestAnimationFrame(() => done(
        [view + Number(el.dataset.gmNamesMs || 0), Number(el.dataset.gmNames || 0)])));
})"""


def serve(tmp: Path, layers) -> tuple[ThreadedServer, object]:
    """The sample on an app drawing with `layers`, served on a free port."""
    app = make_app(tmp, TILES="none", DISPLAY_LAYERS=layers)
    sample.load(app)
    return ThreadedServer(make_server("127.0.0.1", 0, app, threaded=True)), app


def server_side(app, layer: str) -> tuple[int, int, int, object]:
    """Sizes of one map (its parts, the embed response raw and gzipped) and a function that
    times one build + render of it."""
    with app.test_client() as client:
        body = client.get(f"/embed/{sample.SLUG}?layer={layer}").data
    layers = app.extensions["geomap.region_layers"].display()
    spec = maps.MapSpec(title="t", layer=layer, tiles="none", embed=True)
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        dataset = store.get_dataset(conn, sample.SLUG)
        agg = maps.aggregate_db(conn, dataset["id"], None, spec, layers)
    parts = maps.render_parts(maps.build_map(agg, spec, layers))

    def once() -> float:
        layers.basemap_cache.clear()  # every round makes the basemap (and names) anew
        start = time.perf_counter()
        maps.render_parts(maps.build_map(agg, spec, layers))
        return time.perf_counter() - start

    return parts.payload_bytes, len(body), len(gzip.compress(body)), once


def browser_once(browser, origin: str, layer: str) -> tuple[float, float, int]:
    page = browser.new_page(viewport={"width": 375, "height": 800})
    page.goto(f"{origin}/embed/{sample.SLUG}?layer={layer}")
    page.wait_for_selector(".folium-map[data-gm-script-ms]")
    script = page.evaluate(SCRIPT_MS)
    jump, shown = page.evaluate(JUMP_MS)
    page.close()
    return script, jump, shown


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    full = maps.display_layers(ROOT / "shapefiles" / "regions.gpkg")
    if "places" not in full:
        sys.exit("no shapefiles/places.csv beside the regions file")
    bare = maps.DisplayLayers({k: v for k, v in full.items() if k != "places"})
    from playwright.sync_api import sync_playwright

    print("layer       names  map parts  embed   gzipped  server ms  script ms  jump ms  shown")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        apps = {label: serve(Path(tmp) / label, layers)
                for label, layers in (("with", full), ("without", bare))}
        try:
            for layer in LAYERS:
                sizes = {label: server_side(app, layer) for label, (_s, app) in apps.items()}
                runs = {label: [] for label in apps}
                # Rounds alternate with and without, so load on the machine falls on both.
                for _ in range(args.rounds):
                    for label, (server, _app) in apps.items():
                        runs[label].append((sizes[label][3](),)
                                           + browser_once(browser, server.origin, layer))
                for label in apps:
                    payload, body, zipped, _once = sizes[label]
                    med = [statistics.median(r[i] for r in runs[label]) for i in range(3)]
                    shown = runs[label][-1][3]
                    print(f"{layer:<11} {label:<7} {payload:>9,} {body:>7,} {zipped:>8,} "
                          f"{med[0] * 1000:>9.1f} {med[1]:>10.0f} {med[2]:>8.1f} {shown:>6}")
        finally:
            browser.close()
            for server, app in apps.values():
                server.stop()
                db.dispose_engine(app.config["DATABASE_URL"])


if __name__ == "__main__":
    main()
