"""Outside checkers on every page and embed: the W3C Nu HTML checker and axe-core.

Every page geomap serves (`site_pages.PAGES`: the index, each map layer as page and embed, the
login, error, editor and upload pages, a preview and an import report) is visited in Debian's
Chromium at 375 and 1280 px. The HTML the server sent and the DOM after the scripts ran go to
the Nu checker (npm ``vnu-jar``, all files in one JVM launch); axe-core (npm ``axe-core``)
checks each page at both widths; the console must stay free of errors, CSP violations
included. Any error or violation fails. Keyboard focus is walked with Tab on a map page and an
embed: document order, every stop visible and its focus drawn.

Skipped, saying why, only without Chromium (tests/browser/chromium.py) or Java (the Nu
checker; ``make test-tools`` installs default-jre-headless).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from chromium import MARKS, browser  # noqa: F401 (fixture)
from servers import ROOT
from site_pages import PAGES, SLUG, crawl, describe, serve_site

from geomap import db

pytestmark = MARKS
WIDTHS = (375, 1280)
VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
JAVA = shutil.which("java")
needs_java = pytest.mark.skipif(
    JAVA is None, reason="java not installed: the Nu HTML checker needs it "
                         "(make test-tools installs default-jre-headless)")
#: A page the Nu checker must refuse: proves the checker ran and read our files.
CANARY = "<!DOCTYPE html><html lang=en><title>x</title><p><div>bad</p></span>"
EXPECTED_STATUS = {"not-found": 404, "bad-request": 400, "login-failed": 401,
                   "upload-refused": 400}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server, app, templates = serve_site(tmp_path_factory.mktemp("conformance"))
    yield server.origin, templates
    server.stop()
    db.dispose_engine(app.config["DATABASE_URL"])


@pytest.fixture(scope="module")
def site(served):
    return served[0]


@pytest.fixture(scope="module")
def visits(site, browser):
    """Every page at each width (HTML kept at 1280 px, for the Nu checker)."""
    assert (ROOT / "node_modules" / "axe-core").is_dir(), "run npm ci (axe-core)"
    return {width: crawl(browser, site, width, keep_html=width == 1280) for width in WIDTHS}


@pytest.fixture(scope="module")
def nu_errors(visits, tmp_path_factory):
    """Run the Nu checker once over every page's server HTML and DOM; errors by file name."""
    assert VNU.is_file(), f"{VNU} missing: run npm ci"
    folder = tmp_path_factory.mktemp("nu")
    files = [folder / "canary.html"]
    files[0].write_text(CANARY, encoding="utf-8")
    for name, visit in visits[1280].items():
        for kind, text in (("server", visit.server_html), ("dom", visit.dom)):
            path = folder / f"{name}.{kind}.html"
            path.write_text(text, encoding="utf-8")
            files.append(path)
    run = subprocess.run([JAVA, "-jar", str(VNU), "--format", "json", "--errors-only",
                          *map(str, files)], capture_output=True, text=True, timeout=600)
    report = json.loads(run.stderr.strip() or run.stdout)
    errors: dict[str, list[dict]] = {path.name: [] for path in files}
    for message in report["messages"]:
        name = Path(unquote(urlsplit(message.get("url", "")).path)).name
        errors.setdefault(name, []).append(message)
    return errors


def test_every_page_was_reached(visits):
    for width, pages in visits.items():
        for name, visit in pages.items():
            assert visit.status == EXPECTED_STATUS.get(name, 200), (width, name, visit.url)
            assert visit.rules > 50, f"axe ran {visit.rules} rules on {name}"
        assert re.search(rf"/upload/upload-{width}/imports/\d+$", pages["upload-report"].url)
        assert "/auth/login" in pages["login-failed"].url
    server = visits[1280]
    assert "Preview: quoted_newlines.csv" in server["upload-preview"].server_html
    assert "choose a CSV file" in server["upload-refused"].server_html
    assert 'class="folium-map' in server["embed-cluster"].server_html
    assert "gm-legend" in server["map-time"].dom and SLUG in server["index"].dom


def test_the_crawl_renders_every_template(served, visits):
    """A new page template fails here until site_pages visits a page made with it."""
    folder = ROOT / "geomap" / "templates"
    pages = {path.relative_to(folder).as_posix() for path in folder.rglob("*.html")
             if not path.name.startswith("_") and path.name != "base.html"}
    assert len(pages) >= 12
    assert pages <= served[1], f"never rendered by the crawl: {sorted(pages - served[1])}"


@needs_java
def test_nu_checker_ran(nu_errors):
    assert any("div" in m["message"] for m in nu_errors["canary.html"]), nu_errors["canary.html"]


@needs_java
@pytest.mark.parametrize("kind", ["server", "dom"])
@pytest.mark.parametrize("page", PAGES)
def test_nu_checker_finds_no_error(nu_errors, page, kind):
    found = nu_errors[f"{page}.{kind}.html"]
    assert not found, "\n".join(f"line {m.get('lastLine')}: {m['message']} [{m.get('extract')}]"
                                for m in found)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", PAGES)
def test_axe_finds_no_violation(visits, page, width):
    visit = visits[width][page]
    assert not visit.violations, describe(visit.violations)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", PAGES)
def test_no_console_error_or_csp_violation(visits, page, width):
    assert not visits[width][page].errors, visits[width][page].errors


# --- keyboard focus ---------------------------------------------------------------------------

#: The focused element: its name (aria-label, the text of what labels it, or its own text),
#: its place in document order, and whether a keyboard user can see it and its focus ring.
FOCUSED = """() => {
  const e = document.activeElement;
  const s = getComputedStyle(e);
  const r = e.getBoundingClientRect();
  const by = e.getAttribute('aria-labelledby');
  const name = (e.getAttribute('aria-label') || (by && document.getElementById(by).textContent)
                || e.innerText || e.value || '').trim().split('\\n')[0].slice(0, 40);
  let opacity = 1;
  for (let n = e; n && n.nodeType === 1; n = n.parentElement) {
    opacity *= Number(getComputedStyle(n).opacity);
  }
  const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
               || s.boxShadow !== 'none';
  // On screen, and inside the map's frame for what sits on the map (markers are kept on the
  // page a little beyond the map's edges, out of sight).
  const map = e.parentElement && e.parentElement.closest('.leaflet-container');
  const frame = map ? map.getBoundingClientRect()
                    : {top: 0, left: 0, bottom: innerHeight, right: innerWidth};
  const onScreen = r.width > 0 && r.height > 0 && r.bottom > Math.max(0, frame.top)
                   && r.right > Math.max(0, frame.left) && r.top < Math.min(innerHeight, frame.bottom)
                   && r.left < Math.min(innerWidth, frame.right);
  return {tag: e.tagName, id: e.id, name: name, cls: String(e.className.baseVal ?? e.className),
          order: [...document.querySelectorAll('*')].indexOf(e),
          visible: e.matches(':focus-visible') && ring && onScreen && opacity > 0.99
                   && s.visibility === 'visible'};
}"""


#: Leaflet pans the map to a marker that takes the focus (autoPanOnFocus): wait for the pan.
PANNED = """() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
  const map = window.map_0001;
  if (map && map._panAnim && map._panAnim._inProgress) {
    map.once('moveend', () => setTimeout(done, 50));
  } else {
    done();
  }
})))"""


def _tab_through(page, limit: int = 80) -> list[dict]:
    """Press Tab from the top of the page until focus leaves it; return each stop."""
    stops: list[dict] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        page.evaluate(PANNED)
        stop = page.evaluate(FOCUSED)
        if stop["tag"] == "BODY" or (stops and stop["order"] == stops[0]["order"]):
            return stops
        stops.append(stop)
    raise AssertionError(f"focus never left the page after {limit} presses of Tab")


def _check_stops(stops: list[dict]) -> None:
    orders = [stop["order"] for stop in stops]
    assert orders == sorted(set(orders)), f"focus leaves document order: {stops}"
    hidden = [stop for stop in stops if not stop["visible"]]
    assert not hidden, f"focus not visible on: {hidden}"


@pytest.mark.parametrize("width", WIDTHS)
def test_tab_order_on_a_map_page(site, browser, width):
    from geomap import maps
    from site_pages import settle

    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(f"{site}/maps/{SLUG}")
    settle(page)
    stops = _tab_through(page)
    _check_stops(stops)
    names = [stop["id"] if stop["id"].startswith(("map_", "gm-oembed")) else stop["name"]
             for stop in stops]
    # The embed builder's controls are named here by their first option or value (their
    # labels wrap them): layer, height, language, units, theme, title/legend/table shown.
    builder = ["Heat map", "500", "English", "by language (miles in English, km in Fre",
               "light", "show", "show", "show"]
    assert names == [
        "geomap", "All 2 corrections",  # the latest correction's link to the log (site_pages)
        *(maps.LAYER_LABELS[layer] for layer in ("heat", "cluster", "choropleth",
                                                            "time")),
        "map_0001", "Zoom in", "Zoom out", "Filter and options", *builder, "Embed code",
        "Copy embed code", "Preview the embed", "Static image (PNG)", "gm-oembed",
        "Embed code in French", "CSV", "GeoJSON",
        "Total count (people or events) per state", "Imports of this dataset, newest first", f"/api/datasets/{SLUG}"[:40],
        "All published maps"], names
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_tab_order_in_a_cluster_embed(site, browser, width):
    """The embed: the link out, the map, each cluster on it (none lost on the way: focusing
    one must not redraw them), then the zoom buttons, the corrections link and the (closed)
    table's toggle."""
    from site_pages import settle

    page = browser.new_page(viewport={"width": width, "height": 600})
    page.goto(f"{site}/embed/{SLUG}?layer=cluster")
    settle(page)
    clusters = page.locator(".marker-cluster").count()
    stops = _tab_through(page)
    _check_stops(stops)
    # ... the link from the latest correction to the map page's log (site_pages), and the
    # (closed) table's toggle.
    assert [stop["name"] for stop in stops[:1] + stops[-4:]] == [
        "View larger map", "Zoom in", "Zoom out", "All 2 corrections",
        "Table: counts by region and year"], [stop["name"] for stop in stops]
    assert stops[1]["id"] == "map_0001"
    middle = stops[2:-4]
    assert clusters >= 3 and len(middle) == clusters, (clusters, middle)
    assert all("marker-cluster" in stop["cls"] and stop["name"].isdigit() for stop in middle)
    page.close()
