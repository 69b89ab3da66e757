"""Debian's headless Chromium under Playwright, shared by the browser tests."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium tries to reach Google at start-up.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


#: The first few elements reaching past the viewport's right edge (what makes it scroll).
WIDER = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 5).map(e => e.tagName + '.' + e.className)"""


def assert_fits(page, step: str) -> None:
    """Fail when the page scrolls sideways at its viewport's width, naming what is wider."""
    width = page.viewport_size["width"]
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width, (step, width, scroll, page.evaluate(WIDER))


def open_first_cluster_popup(page) -> None:
    """Zoom a cluster map to its first marker, open that marker's popup and wait for it."""
    page.evaluate("""() => {
        const map = window[document.querySelector('.folium-map').id];
        let group = null;
        map.eachLayer(l => { if (l.getLayers && l.zoomToShowLayer) group = l; });
        const marker = group.getLayers()[0];
        group.zoomToShowLayer(marker, () => marker.openPopup());
    }""")
    page.locator(".gm-popup").wait_for(timeout=10000)
