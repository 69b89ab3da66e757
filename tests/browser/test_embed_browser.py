"""Embeds in a real browser: an article on a second local origin frames /embed/<slug>.

Headless Debian Chromium via Playwright (never a downloaded browser). With GEOMAP_TILES=none
every layer must draw, nothing may be requested outside 127.0.0.1, the console must stay free
of errors (CSP violations included) and the host script must resize the iframe from the
embed's height message. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import http.server
import re
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
from werkzeug.serving import make_server

from chromium import MARKS, browser  # noqa: F401 (fixture)
from conftest import make_app
from maps_fixtures import display_layers, incident_rows, mixed_precision_rows, seed_dataset
from servers import ThreadedServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAYERS = ("heat", "cluster", "choropleth", "time")

pytestmark = MARKS


def _frame() -> pd.DataFrame:
    """Incidents around three crossings so every layer has something to draw."""
    parts = []
    for i, (lat, lon, admin1) in enumerate([(49.0, -122.75, "US-WA"), (49.05, -119.5, "CA-BC"),
                                            (48.9, -110.0, "US-MT")]):
        rows = incident_rows(80, seed=i)
        rng = np.random.default_rng(i)
        rows["lat"] = lat + rng.normal(0, 0.05, 80)
        rows["lon"] = lon + rng.normal(0, 0.1, 80)
        rows["admin1"] = admin1
        rows["border_mile"] = (lon + 125) * 33 + rng.uniform(0, 5, 80)
        rows["row_hash"] = np.arange(80) + i * 1000
        parts.append(rows)
    frame = pd.concat(parts, ignore_index=True)
    frame.loc[0, "description"] = "<img src=x onerror=alert(1)> </script><script>alert(2)</script>"
    return frame


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    gpkg = tmp / "regions.gpkg"
    layers = display_layers()
    layers["admin1"].to_file(gpkg, layer="admin1_display")
    layers["sector"].to_file(gpkg, layer="usbp_sectors_display")
    layers["border"].to_file(gpkg, layer="border")
    layers["border_segment"].to_file(gpkg, layer="border_segments")
    app = make_app(tmp, TILES="none", REGIONS_PATH=str(gpkg))
    seed_dataset(app, "browser", frame=_frame(), title="Crossings <b>& more</b>",
                 source="Test source", license="CC-BY-4.0")
    seed_dataset(app, "browser-mixed", frame=mixed_precision_rows(), title="Mixed precisions")
    geomap = ThreadedServer(make_server("127.0.0.1", 0, app, threaded=True))

    embeds = "\n".join(
        f'<h2>{layer}</h2><iframe id="map-{layer}" src="{geomap.origin}/embed/browser?'
        f'layer={layer}" title="{layer}" width="100%" height="500" style="border:0"></iframe>'
        for layer in LAYERS)
    article = (f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' "
               f"content='width=device-width, initial-scale=1'><title>Article</title></head>"
               f"<body><h1>Newsroom article</h1><p>Text before the map.</p>{embeds}"
               f"<p>Text after.</p><script src='{geomap.origin}/static/embed.js' async>"
               f"</script></body></html>").encode()

    class Article(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(article)))
            self.end_headers()
            self.wfile.write(article)

        def log_message(self, *args):
            pass

    host = ThreadedServer(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Article))
    yield geomap.origin, host.origin
    host.stop()
    geomap.stop()



HEAT_PIXELS = """
() => {
  const canvas = document.querySelector('canvas.leaflet-heatmap-layer');
  if (!canvas) return -1;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let coloured = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0) coloured++;
  return coloured;
}
"""


def _page_noting_errors(context):
    """A new page of `context` and the list its console errors and page errors go to."""
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


@pytest.mark.parametrize("width", [375, 1280])
def test_embeds_draw_in_an_article_on_another_origin(servers, browser, width):
    geomap_origin, host_origin = servers
    context = browser.new_context(viewport={"width": width, "height": 900})
    outside: list[str] = []
    requested: list[str] = []

    def guard(route):
        url = route.request.url
        host = urlsplit(url).hostname
        if url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)
    page, errors = _page_noting_errors(context)
    page.on("request", lambda req: requested.append(req.url))
    page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
    page.goto(host_origin + "/", wait_until="load")

    for layer in LAYERS:
        iframe = page.locator(f"#map-{layer}")
        iframe.scroll_into_view_if_needed()
        frame = page.frame_locator(f"#map-{layer}")
        frame.locator(".folium-map[data-gm-ready]").wait_for(timeout=15000)
        handle = iframe.element_handle().content_frame()
        # Vector basemap from the regions file: land polygons and the border line.
        assert frame.locator("path.gm-land").count() >= 3, layer
        assert frame.locator("path.gm-border").count() >= 1, layer
        if layer in ("heat", "time"):
            handle.wait_for_function("() => document.querySelector('canvas.leaflet-heatmap-layer')")
            pixels = handle.evaluate(HEAT_PIXELS)
            assert pixels > 100, f"{layer}: heat canvas has {pixels} coloured pixels"
        if layer == "cluster":
            frame.locator(".marker-cluster, path.gm-marker").first.wait_for(timeout=10000)
            assert frame.locator(".marker-cluster").count() >= 1
        if layer == "choropleth":
            assert frame.locator("path.gm-region").count() >= 3
        if layer == "time":
            assert frame.locator(".gm-time-range").count() == 1
            # The first frame of the period picked from the span (weeks, months, ...), as
            # English says it (Words.period).
            label = frame.locator(".gm-time-label").inner_text()
            assert re.match(r"^(week of Dec 30, 2024|Jan 2025|Q1 2025|2025)\b.* · [\d,]+$",
                            label), label
        assert frame.locator(".gm-legend").count() == 1
        overflow = handle.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{layer}: embed is {overflow}px wider than its frame"
        assert "Test source" in frame.locator(".gm-credit").inner_text()
        # Scale bar (and time control) stay clear of the attribution, however it wraps.
        assert not handle.evaluate(OVERLAP), (layer, width)
        assert "<b>" in frame.locator("h1.gm-title").inner_text()  # shown as text, not markup
        # The host script resized the iframe from the embed's height message.
        page.wait_for_function(
            f"() => document.querySelector('#map-{layer}').dataset.geomapResized === '1'",
            timeout=10000)
        box = iframe.bounding_box()
        content = handle.evaluate(
            "() => Math.ceil(document.getElementById('gm-embed-wrap').getBoundingClientRect().height)")
        assert abs(box["height"] - content) <= 2, (layer, box["height"], content)
        assert box["height"] != 500
        ARTIFACTS.mkdir(exist_ok=True)
        iframe.screenshot(path=str(ARTIFACTS / f"embed-{layer}-{width}.png"))

    # The host script obeys only well-formed messages from the geomap iframes.
    heat = page.locator("#map-heat")
    before = heat.bounding_box()["height"]
    inner = heat.element_handle().content_frame()
    inner.evaluate("""() => {
        parent.postMessage({type: "geomap:height", height: "9999"}, "*");
        parent.postMessage({type: "other", height: 900}, "*");
        parent.postMessage("geomap:height 900", "*");
    }""")
    page.evaluate("() => window.postMessage({type: 'geomap:height', height: 900}, '*')")
    page.wait_for_timeout(300)
    assert heat.bounding_box()["height"] == before
    inner.evaluate("() => parent.postMessage({type: 'geomap:height', height: 321}, '*')")
    page.wait_for_function("() => document.querySelector('#map-heat').offsetHeight === 321")
    inner.evaluate("""() => parent.postMessage({type: "geomap:height", height: Math.ceil(
        document.getElementById("gm-embed-wrap").getBoundingClientRect().height)}, "*")""")
    page.wait_for_function(f"() => document.querySelector('#map-heat').offsetHeight === {before}")

    # The cluster popup shows hostile text as text.
    cluster = page.frame_locator("#map-cluster")
    page.locator("#map-cluster").element_handle().content_frame().evaluate("""() => {
        let group = null;
        map_0001.eachLayer(l => { if (l.getLayers && l.zoomToShowLayer) group = l; });
        const hostile = group.getLayers().find(m => {
            const box = m.getPopup().getContent()(m);
            return box.textContent.includes("onerror");
        });
        group.zoomToShowLayer(hostile, () => hostile.openPopup());
    }""")
    popup = cluster.locator(".gm-popup-text")
    popup.wait_for(timeout=10000)
    assert "<img src=x onerror=alert(1)>" in popup.inner_text()
    assert cluster.locator(".leaflet-popup img").count() == 0
    assert cluster.locator(".leaflet-popup script").count() == 0

    ARTIFACTS.mkdir(exist_ok=True)
    # Viewport screenshots: a full-page capture resizes the viewport under Leaflet mid-shot.
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"embed-article-{width}.png"))

    assert not outside, f"requests left 127.0.0.1: {outside}"
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in requested if u.startswith("http"))
    assert any("/static/vendor/leaflet/leaflet.js" in u for u in requested)
    assert not errors, errors
    context.close()


OVERLAP = """() => {
    const a = document.querySelector(".leaflet-control-attribution").getBoundingClientRect();
    return [...document.querySelectorAll(".leaflet-bottom.leaflet-left .leaflet-control")]
        .map(c => c.getBoundingClientRect())
        .some(c => c.left < a.right && a.left < c.right && c.top < a.bottom && a.top < c.bottom);
}"""


def test_map_page_draws_and_copies(servers, browser):
    geomap_origin, _host = servers
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page, errors = _page_noting_errors(context)
    for layer in LAYERS:
        page.goto(f"{geomap_origin}/maps/browser?layer={layer}", wait_until="load")
        page.locator(".folium-map[data-gm-ready]").wait_for(timeout=15000)
    page.goto(f"{geomap_origin}/maps/browser?layer=choropleth&by=border_segment")
    page.locator("path.gm-segment").first.wait_for(state="attached", timeout=15000)
    page.locator("button.gm-copy").click()
    page.locator(".gm-copy-status").filter(has_text="opied").or_(
        page.locator(".gm-copy-status").filter(has_text="Select")).wait_for(timeout=5000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map-page-1280.png"))
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{geomap_origin}/maps/browser", wait_until="load")
    page.locator(".folium-map[data-gm-ready]").wait_for(timeout=15000)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"page is {overflow}px wider than a 375px phone"
    assert not page.evaluate(OVERLAP), "scale bar under the attribution at 375px"
    page.screenshot(path=str(ARTIFACTS / "map-page-375.png"))
    page.goto(f"{geomap_origin}/embed/browser?layer=choropleth&theme=dark", wait_until="load")
    page.locator(".folium-map[data-gm-ready]").wait_for(timeout=15000)
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 24, 29)", background
    page.screenshot(path=str(ARTIFACTS / "embed-dark-375.png"))
    assert not errors, errors
    context.close()


def test_time_frames_say_how_many_are_known_only_by_region(servers, browser):
    geomap_origin, _host = servers
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page, errors = _page_noting_errors(context)
    page.goto(f"{geomap_origin}/maps/browser-mixed?layer=time&period=month", wait_until="load")
    page.locator(".folium-map[data-gm-ready]").wait_for(timeout=15000)
    label = page.locator(".gm-time-label")
    assert label.inner_text() == "Jan 2024 · 12 drawn · 100 known only by sector or state"
    page.locator(".gm-time-range").fill("1")  # February: records known only by region
    assert label.inner_text() == "Feb 2024 · 0 drawn · 200 known only by sector or state"
    assert "Each frame's label says how many of them fall in its month." in (
        page.locator(".gm-legend").inner_text())
    assert not errors, errors
    context.close()
