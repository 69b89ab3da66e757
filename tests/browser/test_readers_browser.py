"""Readers first (issue #21): the sample as a reader meets it, at 375 and 1280 px, in Chromium.

Every page (reader and editor) fits the screen without sideways scrolling; on a phone the map
comes before the description; the time control never covers the data the first view frames;
legend numbers are round; legend and map colours agree in both themes; popups and tooltips
name place, side, sector and border mile; controls are 44 px touch targets and reachable by
keyboard; the print stylesheet keeps the map and drops the controls; with tiles off, place
names show by zoom level and never overlap each other, a control or the map's edge. Screenshots go to
test-artifacts/ (readers-*.png).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chromium import MARKS, browser, open_first_cluster_popup  # noqa: E402,F401 (fixture)
from conftest import make_app  # noqa: E402
from servers import serving  # noqa: E402

from geomap import accounts, db, sample  # noqa: E402

pytestmark = MARKS
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SLUG = sample.SLUG
WIDTHS = (375, 1280)
PAGES = {
    "index": "/", "map": f"/maps/{SLUG}", "map-time": f"/maps/{SLUG}?layer=time",
    "map-regions": f"/maps/{SLUG}?layer=choropleth", "embed": f"/embed/{SLUG}",
    "embed-time": f"/embed/{SLUG}?layer=time", "embed-cluster": f"/embed/{SLUG}?layer=cluster",
    "embed-dark": f"/embed/{SLUG}?layer=choropleth&theme=dark", "login": "/auth/login",
}
EDITOR_PAGES = {
    "upload": "/upload", "editor": "/editor/", "editor-dataset": f"/editor/datasets/{SLUG}",
    "tokens": "/editor/tokens", "users": "/editor/users",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app with the real region layers, the published sample and an admin."""
    tmp = tmp_path_factory.mktemp("readers")
    app = make_app(tmp, TILES="none", WTF_CSRF_ENABLED=True)
    sample.load(app)
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "admin", "s3cret-pass", role="admin")
    with serving(app) as origin:
        yield origin


def _page(browser, width: int, errors: list[str]):
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page


def _open(page, url: str) -> None:
    response = page.goto(url, wait_until="load")
    assert response.ok, (url, response.status)
    if page.locator(".folium-map").count():
        page.locator(".folium-map[data-gm-ready]").wait_for(timeout=15000)
        page.wait_for_function(
            "() => document.querySelector('.folium-map').hasAttribute('data-gm-script-ms')")


def _sign_in(page, origin: str) -> None:
    page.goto(f"{origin}/auth/login")
    page.fill("input[name=name]", "admin")
    page.fill("input[name=password]", "s3cret-pass")
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state()


WIDER = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 5).map(e => e.tagName + '.' + e.className)"""


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_without_sideways_scrolling(server, browser, width):
    errors: list[str] = []
    context, page = _page(browser, width, errors)
    ARTIFACTS.mkdir(exist_ok=True)

    def check(name: str, path: str) -> None:
        _open(page, server + path)
        scroll = page.evaluate("() => document.documentElement.scrollWidth")
        assert scroll <= width, (name, scroll, page.evaluate(WIDER))
        page.screenshot(path=str(ARTIFACTS / f"readers-{name}-{width}.png"))

    for name, path in PAGES.items():
        check(name, path)
    _sign_in(page, server)
    for name, path in EDITOR_PAGES.items():
        check(name, path)
        assert page.locator("h1").count() == 1, name  # signed in: the page itself
    assert not errors, errors
    context.close()


def test_map_first_on_a_phone_description_first_on_a_desktop(server, browser):
    errors: list[str] = []
    for width in WIDTHS:
        context, page = _page(browser, width, errors)
        _open(page, f"{server}/maps/{SLUG}")
        map_top = page.locator(".gm-figure").bounding_box()["y"]
        text_top = page.locator(".gm-description").bounding_box()["y"]
        if width < 640:
            assert map_top < text_top, (map_top, text_top)
            assert map_top < 400  # the map starts on the first screen of a phone
        else:
            assert text_top < map_top
        context.close()
    assert not errors, errors


VIEW_ON_SCREEN = """() => {
    const el = document.querySelector('.folium-map');
    const map = window[el.id];
    const [[s, w], [n, e]] = JSON.parse(el.dataset.gmView);
    const rect = el.getBoundingClientRect();
    const a = map.latLngToContainerPoint([s, w]), b = map.latLngToContainerPoint([n, e]);
    return {left: rect.left + Math.min(a.x, b.x), right: rect.left + Math.max(a.x, b.x),
            top: rect.top + Math.min(a.y, b.y), bottom: rect.top + Math.max(a.y, b.y),
            mapLeft: rect.left, mapRight: rect.right, mapTop: rect.top, mapBottom: rect.bottom};
}"""


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", [f"/maps/{SLUG}?layer=time", f"/embed/{SLUG}?layer=time"])
def test_time_control_never_covers_the_data(server, browser, width, path):
    errors: list[str] = []
    context, page = _page(browser, width, errors)
    _open(page, server + path)
    data = page.evaluate(VIEW_ON_SCREEN)
    control = page.locator(".gm-time").bounding_box()
    assert (control["y"] >= data["bottom"] or control["y"] + control["height"] <= data["top"]
            or control["x"] >= data["right"] or control["x"] + control["width"] <= data["left"]
            ), (data, control)
    # The framed data is on the map, and fills a fair part of its width (not a sliver).
    assert data["left"] >= data["mapLeft"] - 1 and data["right"] <= data["mapRight"] + 1
    assert data["right"] - data["left"] >= 0.5 * (data["mapRight"] - data["mapLeft"]), data
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"readers-time-{path.split('/')[1]}-{width}.png"))
    assert not errors, errors
    context.close()


def _significant(number: str) -> int:
    digits = number.replace(",", "").replace(".", "").lstrip("0").rstrip("0")
    return max(1, len(digits))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("by", ["admin1", "sector", "border_segment"])
def test_legend_numbers_are_round(server, browser, by, width):
    errors: list[str] = []
    context, page = _page(browser, width, errors)
    _open(page, f"{server}/embed/{SLUG}?layer=choropleth&by={by}")
    labels = page.locator(".gm-legend-items li").all_inner_texts()
    assert len(labels) >= 3 and labels[-1] == "none recorded", labels
    numbers = [n for label in labels[:-1] for n in re.findall(r"\d[\d,.]*", label)]
    assert numbers and all(_significant(n.rstrip("KMB")) <= 2 for n in numbers), labels
    assert not errors, errors
    context.close()


SWATCH_AND_FILLS = """() => {
    const swatches = {};
    for (const s of document.querySelectorAll('.gm-swatch')) {
        const kind = [...s.classList].find(c => c.startsWith('gm-swatch-')).slice(10);
        const style = getComputedStyle(s);
        swatches[kind] = [style.backgroundColor, style.opacity];
    }
    const paths = [...document.querySelectorAll('path.gm-region')].map(p => {
        const style = getComputedStyle(p);
        return [style.fill, style.fillOpacity, p.classList.contains('gm-none')];
    });
    return {swatches, paths};
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_legend_and_map_colours_agree(server, browser, theme):
    errors: list[str] = []
    context, page = _page(browser, 375, errors)
    _open(page, f"{server}/embed/{SLUG}?layer=choropleth&theme={theme}")
    found = page.evaluate(SWATCH_AND_FILLS)
    legend = {tuple(v) for v in found["swatches"].values()}
    none = tuple(found["swatches"]["empty"])
    assert found["paths"]
    for fill, opacity, is_none in found["paths"]:
        assert (fill, opacity) in legend, (fill, opacity, legend)
        if is_none:
            assert (fill, opacity) == none, (theme, fill, none)
    assert any(p[2] for p in found["paths"])  # some region has none recorded
    assert not errors, errors
    context.close()


def test_popups_and_tooltips_name_place_side_sector_and_mile(server, browser):
    errors: list[str] = []
    context, page = _page(browser, 1280, errors)
    _open(page, f"{server}/embed/{SLUG}?layer=cluster")
    open_first_cluster_popup(page)
    place = page.locator(".gm-popup-place").inner_text()
    assert re.search(r"^[A-Z][a-z].*, (US|Canadian) side · [A-Z][a-z ]+ sector$", place), place
    assert re.search(r"border mile \d", page.locator(".gm-popup-meta").inner_text())
    assert not re.search(r"\b(US|CA)-[A-Z]{2}\b", place)  # names, not codes

    _open(page, f"{server}/embed/{SLUG}?layer=choropleth&by=sector")
    page.locator("path.gm-region").first.hover(force=True)
    tip = page.locator(".gm-tip")
    tip.wait_for(timeout=5000)
    assert "Border Patrol sector, US side" in tip.inner_text()
    assert not errors, errors
    context.close()


TARGETS = """() => [...document.querySelectorAll(
        '.gm-layers a, .leaflet-control-zoom a, .gm-time-play, .gm-time-range, .gm-larger, ' +
        'main button, main select, main input:not([type=hidden]):not([type=checkbox]), ' +
        '.site-header nav a, label:has(> input[type=checkbox])')]
    .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
    .map(e => { const r = e.getBoundingClientRect();
                return [e.tagName + '.' + e.className, Math.round(r.width),
                        Math.round(r.height)]; })
    .filter(([, w, h]) => w < 44 || h < 44)"""


def test_phone_controls_are_touch_targets_and_reachable_by_keyboard(server, browser):
    errors: list[str] = []
    context, page = _page(browser, 375, errors)
    for path in (f"/maps/{SLUG}?layer=time", f"/embed/{SLUG}?layer=time"):
        _open(page, server + path)
        assert page.evaluate(TARGETS) == [], path
    # Keyboard: Tab reaches the time control's Play button, and Enter starts the animation.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('gm-time-play')"):
            break
    else:
        pytest.fail("Tab never reached the Play button")
    page.keyboard.press("Enter")
    assert page.locator(".gm-time-play").get_attribute("aria-label") == "Pause the animation"
    page.keyboard.press("Enter")
    _sign_in(page, server)
    for path in EDITOR_PAGES.values():
        _open(page, server + path)
        assert page.evaluate(TARGETS) == [], path
    assert not errors, errors
    context.close()


def test_print_keeps_the_map_and_drops_the_controls(server, browser):
    errors: list[str] = []
    context, page = _page(browser, 1280, errors)
    _open(page, f"{server}/maps/{SLUG}")
    page.emulate_media(media="print")
    assert page.locator(".gm-figure").is_visible() and page.locator(".gm-legend").is_visible()
    for hidden in (".gm-filters", ".gm-layers", ".gm-snippet", ".leaflet-control-zoom"):
        # (every match: the page offers the embed code in both languages)
        assert not any(e.is_visible() for e in page.locator(hidden).all()), hidden
    assert page.locator(".gm-table").first.is_visible()
    assert not errors, errors
    context.close()


NAMES_ON_SCREEN = """() => {
    const map = document.querySelector('.folium-map').getBoundingClientRect();
    return [...document.querySelectorAll('.gm-name-text')].map(e => {
        const r = e.getBoundingClientRect();
        return {text: e.textContent, kind: e.parentElement.className, left: r.left,
                right: r.right, top: r.top, bottom: r.bottom,
                inside: r.left >= map.left && r.right <= map.right && r.top >= map.top
                        && r.bottom <= map.bottom,
                visible: getComputedStyle(e).visibility !== 'hidden' && r.width > 0};
    });
}"""


def _zoom_to(page, lat: float, lon: float, zoom: int) -> None:
    page.evaluate("""([lat, lon, zoom]) => new Promise(done => {
        const map = window[document.querySelector('.folium-map').id];
        map.once('moveend', () => requestAnimationFrame(() => done()));
        map.setView([lat, lon], zoom, {animate: false});
    })""", [lat, lon, zoom])


def _apart(names: list[dict]) -> list[tuple[str, str]]:
    return [(a["text"], b["text"]) for i, a in enumerate(names) for b in names[i + 1:]
            if a["left"] < b["right"] and b["left"] < a["right"]
            and a["top"] < b["bottom"] and b["top"] < a["bottom"]]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", [f"/maps/{SLUG}", f"/embed/{SLUG}?layer=time"])
def test_place_names_show_by_zoom_with_tiles_off_and_never_overlap(server, browser, width,
                                                                  path):
    errors: list[str] = []
    context, page = _page(browser, width, errors)
    _open(page, server + path)
    page.locator(".folium-map[data-gm-names]").wait_for(timeout=5000)  # drawn after a frame
    # The first view (the whole border): state and province names, and a few large cities.
    first = page.evaluate(NAMES_ON_SCREEN)
    assert any("region" in n["kind"] for n in first), first
    assert not any("port" in n["kind"] and n["text"] == "Sweet Grass" for n in first)
    assert _apart(first) == [] and all(n["inside"] and n["visible"] for n in first)
    # A border zoom around Blaine / Douglas: towns and ports, no state names, none overlapping
    # (the view's centre a little south of Blaine, which stays above the time control).
    _zoom_to(page, 48.95, -122.72, 10)
    close = page.evaluate(NAMES_ON_SCREEN)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"readers-names-{path.split('/')[1]}-{width}.png"))
    texts = {n["text"] for n in close}
    assert "Blaine" in texts and len(texts) >= 2, texts  # the port, and a town beside it
    assert any("port" in n["kind"] for n in close), close
    assert not any("region" in n["kind"] for n in close), texts
    assert _apart(close) == [], _apart(close)
    assert all(n["inside"] and n["visible"] for n in close)
    assert not errors, errors
    context.close()
