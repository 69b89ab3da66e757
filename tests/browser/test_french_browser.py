"""French and km (issue #21 item 2) as a reader meets them in Chromium, at 375 and 1280 px:
the sample's embed and map page in French fit the screen, and their legend, popups,
tooltips, time control and zoom buttons speak French with km. Screenshots go to
test-artifacts/ (french-*.png)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chromium import MARKS, browser, open_first_cluster_popup  # noqa: E402,F401 (fixture)
from conftest import make_app  # noqa: E402
from servers import serving  # noqa: E402

from geomap import sample  # noqa: E402

pytestmark = MARKS
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SLUG = sample.SLUG


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app with the real region layers and the published sample."""
    app = make_app(tmp_path_factory.mktemp("french"), TILES="none")
    sample.load(app)
    with serving(app) as origin:
        yield origin


def _open(browser, url: str, width: int, errors: list[str]):
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    assert page.goto(url, wait_until="load").ok
    page.locator(".folium-map[data-gm-ready]").wait_for(timeout=15000)
    page.wait_for_function(
        "() => document.querySelector('.folium-map').hasAttribute('data-gm-script-ms')")
    return context, page


@pytest.mark.parametrize("width", (375, 1280))
def test_french_embed_and_page_fit_and_speak_french(server, browser, width):
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    for name, path in (("embed-time", f"/embed/{SLUG}?lang=fr&layer=time"),
                       ("page-regions", f"/maps/{SLUG}?lang=fr&layer=choropleth"
                                        "&by=border_segment")):
        context, page = _open(browser, server + path, width, errors)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        assert page.evaluate("() => document.documentElement.lang") == "fr"
        legend = page.locator(".gm-legend").inner_text()
        assert "incidents, total" in legend and re.search(r"\d\u00a0\d{3}", legend), legend
        assert page.locator(".leaflet-control-zoom-in").get_attribute("title") == "Zoom avant"
        if name == "embed-time":
            assert page.locator(".gm-larger").inner_text() == "Voir la carte en grand"
            assert page.locator(".gm-time-play").inner_text() == "Lire"
            label = page.locator(".gm-time-label").inner_text()
            # "semaine du 30 déc. 2024 · 32", "janv. 2025 · 1 234", "T1 2025 · …"
            assert re.match(r"^(semaine du \d+ )?(\w+\.? )?\d{4} · ", label), label
        else:
            assert "par 100 km de frontière" in legend
            assert "Intégrer cette carte" in page.locator("main").inner_text()
        page.screenshot(path=str(ARTIFACTS / f"french-{name}-{width}.png"))
        context.close()
    assert not errors, errors


def test_french_popups_and_tooltips_with_km(server, browser):
    errors: list[str] = []
    context, page = _open(browser, f"{server}/embed/{SLUG}?lang=fr&layer=cluster", 1280,
                          errors)
    open_first_cluster_popup(page)
    place = page.locator(".gm-popup-place").inner_text()
    assert re.search(r", côté (canadien|américain) · secteur de [A-Z]", place), place
    assert re.search(r"km [\d\u00a0]+ de la frontière", page.locator(".gm-popup-meta").inner_text())
    context.close()
    context, page = _open(browser, f"{server}/embed/{SLUG}?lang=fr&layer=choropleth&by=sector"
                                   "&per=border_mile", 1280, errors)
    page.locator("path.gm-region:not(.gm-none)").first.hover(force=True)
    tip = page.locator(".gm-tip")
    tip.wait_for(timeout=5000)
    text = tip.inner_text()
    assert "secteur de la Border Patrol, côté américain" in text
    assert "par 100 km de frontière" in text and "incidents, total" in text, text
    assert not errors, errors
    context.close()
