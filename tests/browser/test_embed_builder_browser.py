"""The embed builder and the embed's table in Chromium, at 375 and 1280 px (issue #21 items 4
and 6): the builder's choices change the snippet and the oEmbed URL live, the oEmbed answer
names the embed the snippet names, the embed honours the choices, its table opens and closes,
and nothing scrolls sideways. Screenshots go to test-artifacts/ (builder-*.png).
"""

from __future__ import annotations

import html as htmllib
import re
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chromium import MARKS, browser  # noqa: E402,F401 (fixture)
from conftest import make_app  # noqa: E402
from servers import serving  # noqa: E402

from geomap import sample  # noqa: E402

pytestmark = MARKS
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SLUG = sample.SLUG


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app with the real region layers and the published sample."""
    app = make_app(tmp_path_factory.mktemp("builder"), TILES="none")
    sample.load(app)
    with serving(app) as origin:
        yield origin


def _page(browser, width: int):
    context = browser.new_context(viewport={"width": width, "height": 800})
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def _no_sideways_scroll(page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth,"
                           " document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], widths


def _src(snippet: str) -> str:
    return htmllib.unescape(re.search(r'<iframe src="([^"]*)"', snippet).group(1))


@pytest.mark.parametrize("width", [375, 1280])
def test_builder_changes_the_snippet_and_oembed(server, browser, width):
    context, page, errors = _page(browser, width)
    page.goto(f"{server}/maps/{SLUG}", wait_until="load")
    builder = page.locator("#gm-builder")
    builder.wait_for(state="visible")
    snippet = page.locator("#gm-snippet")
    default = snippet.input_value()
    assert _src(default) == f"{server}/embed/{SLUG}"
    _no_sideways_scroll(page)

    builder.locator("select[name=layer]").select_option("choropleth")
    builder.locator("select[name=theme]").select_option("dark")
    builder.locator("input[name=legend]").uncheck()
    builder.locator("input[name=table]").uncheck()
    builder.locator("input[name=height]").fill("640")
    # The filter form's selection counts too (without submitting it).
    page.locator("details.gm-filters > summary").click()
    page.locator(".gm-filter-form select[name=country]").select_option("US")
    chosen = snippet.input_value()
    src = _src(chosen)
    assert dict(parse_qsl(urlsplit(src).query)) == {
        "country": "US", "layer": "choropleth", "theme": "dark", "legend": "hide",
        "table": "hide"}
    assert 'height="640"' in chosen and "/static/embed.js" in chosen
    assert page.locator("#gm-preview").get_attribute("href") == src

    # The oEmbed URL names the same embed, with the height; its answer gives them back.
    oembed = page.locator("#gm-oembed").input_value()
    asked = dict(parse_qsl(urlsplit(oembed).query))["url"]
    assert asked == src + "&height=640"
    body = page.request.get(oembed).json()
    assert _src(body["html"]) == src and body["height"] == 640

    # Language and units ride in the snippet (geomap's i18n reads them).
    builder.locator("select[name=lang]").select_option("fr")
    builder.locator("select[name=units]").select_option("km")
    query = dict(parse_qsl(urlsplit(_src(snippet.input_value())).query))
    assert query["lang"] == "fr" and query["units"] == "km"
    _no_sideways_scroll(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#gm-embed-heading").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"builder-page-{width}.png"))

    # The embed the builder names shows what was chosen: no legend, no table.
    page.goto(src, wait_until="load")
    assert page.locator("body.gm-dark").count() == 1
    assert page.locator(".gm-legend").count() == 0 and page.locator("table").count() == 0
    assert page.locator(".gm-summary").inner_text().startswith("Most crossings: ")
    _no_sideways_scroll(page)
    assert errors == []
    context.close()


@pytest.mark.parametrize("width", [375, 1280])
def test_embed_table_toggles_and_fits(server, browser, width):
    context, page, errors = _page(browser, width)
    page.goto(f"{server}/embed/{SLUG}?layer=choropleth&by=sector", wait_until="load")
    summary = page.locator(".gm-summary")
    assert re.fullmatch(r"Most crossings: \w[\w ]* sector, [\d,]+ in \d{4}\.",
                        summary.inner_text()), summary.inner_text()
    table = page.locator("table.gm-data-table")
    assert not table.is_visible()  # collapsed at first: the map stays the embed's content
    toggle = page.locator("details.gm-data > summary")
    toggle.click()
    assert table.is_visible()
    assert table.locator("caption").inner_text().startswith("Total count")
    assert table.locator("thead th[scope=col]").count() >= 3
    assert table.locator("tbody th[scope=row]").count() >= 1
    _no_sideways_scroll(page)  # a wide table scrolls inside its own box
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"builder-embed-table-{width}.png"), full_page=True)
    # By keyboard too.
    toggle.focus()
    page.keyboard.press("Enter")
    assert not table.is_visible()
    assert errors == []
    context.close()
