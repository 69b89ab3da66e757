"""In a real browser, no payload from a hostile CSV or dataset title ever runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from attack import SLUG, seed  # noqa: E402
from chromium import MARKS, browser  # noqa: E402,F401 (fixture)
from conftest import make_app  # noqa: E402
from servers import ThreadedServer  # noqa: E402


pytestmark = MARKS

# Open every popup and tooltip on every map of the page, including markers inside clusters,
# so any HTML they carry is parsed by the browser.
OPEN_EVERYTHING = """
() => {
  let opened = 0;
  for (const key of Object.keys(window)) {
    const map = window[key];
    if (!(map instanceof L.Map)) continue;
    const visit = (layer) => {
      if (layer.getLayers) layer.getLayers().forEach(visit);
      const popup = layer.getPopup && layer.getPopup();
      if (popup && layer.getLatLng) {
        L.popup().setLatLng(layer.getLatLng()).setContent(popup.getContent()).openOn(map);
        opened++;
      }
      const tooltip = layer.getTooltip && layer.getTooltip();
      if (tooltip) { layer.openTooltip && layer.openTooltip(); opened++; }
    };
    map.eachLayer(visit);
  }
  return opened;
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("attack")
    app = make_app(tmp, TILES="none")
    seed(app, app.test_client())
    server = ThreadedServer(make_server("127.0.0.1", 0, app, threaded=True))
    yield server.origin
    server.stop()



@pytest.mark.parametrize("path", [
    "/", f"/maps/{SLUG}", f"/maps/{SLUG}?layer=cluster", f"/embed/{SLUG}?layer=cluster",
    f"/maps/{SLUG}?layer=choropleth", f"/embed/{SLUG}?layer=choropleth&by=sector",
    f"/embed/{SLUG}?layer=time", f"/embed/{SLUG}?theme=dark",
])
def test_no_payload_runs(server, browser, path):
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server + path, wait_until="load")
    if path != "/":
        page.wait_for_selector(".folium-map[data-gm-ready]", timeout=15000)
        opened = page.evaluate(OPEN_EVERYTHING)
        if "cluster" in path:
            assert opened >= 10, f"expected popups to open, opened {opened}"
        page.mouse.move(200, 200)
        page.wait_for_timeout(300)
    # Payload text is on the page, shown as text.
    assert "xss-" in page.content()
    page.close()
    assert dialogs == [], dialogs
