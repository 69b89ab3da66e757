"""Every kind of page geomap serves, visited in a real browser for the outside checkers.

`serve_site` runs the app (the illustrative sample on the real region layers, an administrator,
tiles off so nothing leaves 127.0.0.1) in a thread. `crawl` walks `PAGES` in one browser
context at one viewport width, as a reader and then as a signed-in administrator (the upload
form, its preview and an import's report included), and keeps for each page the HTML the
server sent, the DOM once its scripts ran, the axe-core results and the console errors (CSP
violations show there). axe-core is added from node_modules as an init script, which no page's
CSP governs, so the pages are checked under their real policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from flask import template_rendered
from werkzeug.serving import make_server

from servers import ROOT, ThreadedServer

from geomap import accounts, corrections, db, jobs, sample

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SLUG = sample.SLUG
UPLOAD_CSV = ROOT / "tests" / "data" / "ingest" / "quoted_newlines.csv"
ADMIN = ("admin", "conformance-pass")
LAYERS = ("heat", "cluster", "choropleth", "time")
#: axe runs its default rules: WCAG 2.0-2.2 A and AA and its best practices (landmarks,
#: unique names...). Not target-size (WCAG 2.2 2.5.8), which axe leaves off by default: it
#: fails on cluster maps, whose icons overlap where markercluster's clusters lie close.
#: Pages whose map must have drawn before they are checked.
MAP_READY = ".folium-map[data-gm-ready]"


@dataclass
class Visit:
    """What one page gave: server HTML, rendered DOM, axe violations, console errors."""

    name: str
    url: str = ""
    status: int = 0
    server_html: str = ""
    dom: str = ""
    violations: list[dict] = field(default_factory=list)
    rules: int = 0
    errors: list[str] = field(default_factory=list)


def _map_pages() -> list[tuple[str, str]]:
    pages = [(f"map-{layer}", f"/maps/{SLUG}?layer={layer}") for layer in LAYERS]
    pages.append(("map-segments", f"/maps/{SLUG}?layer=choropleth&by=border_segment"))
    pages += [(f"embed-{layer}", f"/embed/{SLUG}?layer={layer}") for layer in LAYERS]
    pages.append(("embed-dark", f"/embed/{SLUG}?layer=choropleth&theme=dark"))
    return pages


#: Pages a reader reaches by URL (name, path).
PUBLIC = [("index", "/"), *_map_pages(), ("login", "/auth/login"),
          ("not-found", "/maps/no-such-map"), ("bad-request", f"/maps/{SLUG}?layer=nope")]
#: A queued import job `serve_site` records (nothing runs it), for its progress page.
QUEUED_JOB = 1
#: Pages an administrator reaches by URL once signed in.
SIGNED_IN = [("datasets", "/editor/"), ("dataset-edit", f"/editor/datasets/{SLUG}"),
             ("dataset-delete", f"/editor/datasets/{SLUG}/delete"),
             ("tokens", "/editor/tokens"), ("users", "/editor/users"),
             ("upload-progress", f"/upload/jobs/{QUEUED_JOB}"),
             ("upload", "/upload")]  # last: the form steps below start on it
#: Pages reached by sending a form (see `crawl`).
FORMS = ["login-failed", "upload-refused", "upload-preview", "upload-report"]
PAGES = [name for name, _ in PUBLIC] + FORMS[:1] + [name for name, _ in SIGNED_IN] + FORMS[1:]


def serve_site(tmp: Path):
    """Start the app for the crawl; return (server, app, templates): `templates` fills with
    the name of every template the app renders. Stop the server when done."""
    from conftest import make_app

    app = make_app(tmp, TILES="none", WTF_CSRF_ENABLED=True)
    assert sample.load(app)["slug"] == SLUG
    # A corrections log, so that map pages and embeds are checked with it shown.
    for values in ({"what": "Sector names spelled out", "date": "2026-11-02"},
                   {"what": "Counts for March revised", "why": "late reports"}):
        corrections.add(db.engine_for(app.config["DATABASE_URL"]), SLUG, values)
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, *ADMIN, role="admin")
    # An import waiting for a worker: its progress page (the app runs jobs in the request
    # that submits them, so the form's flow goes straight to the report).
    assert jobs.create(jobs.jobs_engine(app.config["DATABASE_URL"]), kind="import",
                       dataset=SLUG, params={"sha256": "0" * 64, "options": {}, "actor": None},
                       user_name=ADMIN[0]) == QUEUED_JOB
    templates: set[str] = set()
    template_rendered.connect(lambda sender, template, context, **extra:
                              templates.add(template.name), app, weak=False)
    return ThreadedServer(make_server("127.0.0.1", 0, app, threaded=True)), app, templates


#: What moves on a map after it is drawn: markercluster adds its clusters in chunks, then
#: fades the previous zoom's clusters out (their icons, with their opacity).
MOVING = """() => [document.querySelectorAll('.leaflet-zoom-anim').length,
  ...[...document.querySelectorAll('.leaflet-marker-icon')].map(
    e => e.textContent + '@' + getComputedStyle(e).opacity)].join(' ')"""


def settle(page, timeout: float = 15.0) -> None:
    """Wait for the map to be drawn and then to keep still for half a second."""
    page.locator(MAP_READY).wait_for(timeout=20000)
    before = None
    for _ in range(int(timeout / 0.5)):
        now = page.evaluate(MOVING)
        if now == before and now.startswith("0") and "@0" not in now:
            return
        before = now
        page.wait_for_timeout(500)
    raise AssertionError(f"the map kept moving: {now}")


def crawl(browser, origin: str, width: int, *, keep_html: bool = True) -> dict[str, Visit]:
    """Visit every page of `PAGES` at this viewport width; return the visits by name."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    visits: dict[str, Visit] = {}
    current: list[Visit] = []

    def on_console(msg):
        # An error page's own status is logged as a failed load: expected, not a fault.
        own_status = (msg.text.startswith("Failed to load resource")
                      and msg.location.get("url") == page.url)
        if msg.type == "error" and current and not own_status:
            current[-1].errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: current and current[-1].errors.append(str(exc)))

    def visit(name: str, go: Callable[[], object]) -> Visit:
        record = Visit(name)
        current.append(record)
        response = go()
        if page.locator(".folium-map").count():
            settle(page)
        page.wait_for_load_state("load")
        record.url = page.url
        record.status = response.status if response else 0
        if keep_html:
            record.server_html = response.text() if response else ""
            record.dom = page.content()
        result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        record.rules = sum(len(result[kind]) for kind in ("passes", "violations",
                                                           "incomplete", "inapplicable"))
        record.violations = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                              "nodes": [n["target"] for n in v["nodes"]][:5]}
                             for v in result["violations"]]
        visits[name] = record
        return record

    def navigate(path: str):
        return lambda: page.goto(origin + path, wait_until="load")

    def submit(fill: Callable[[], None], button: str = "main button[type=submit]"):
        def go():
            fill()
            with page.expect_navigation(wait_until="load") as nav:
                page.locator(button).first.click()
            return nav.value
        return go

    for name, path in PUBLIC:
        visit(name, navigate(path))

    def bad_login():
        page.goto(origin + "/auth/login")
        page.fill("#name", ADMIN[0])
        page.fill("#password", "wrong password")
    visit("login-failed", submit(bad_login))

    page.goto(origin + "/auth/login")
    page.fill("#name", ADMIN[0])
    page.fill("#password", ADMIN[1])
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()
    for name, path in SIGNED_IN:
        visit(name, navigate(path))

    # The form sent without a file comes back with its error (the browser's own check off).
    def no_file():
        page.evaluate("() => document.querySelector('main form').noValidate = true")
        page.select_option("#dataset", SLUG)
    visit("upload-refused", submit(no_file))

    def choose_file():
        page.goto(origin + "/upload")
        page.set_input_files("#file", str(UPLOAD_CSV))
        page.fill("#new_slug", f"upload-{width}")
        page.fill("#title", "Uploaded for the checkers")
    visit("upload-preview", submit(choose_file))
    visit("upload-report", submit(lambda: None, "main button:text-is('Import')"))
    context.close()
    missing = set(PAGES) - set(visits)
    assert not missing, missing
    return visits


def describe(violations: list[dict]) -> str:
    """Say what axe found, one violation a line."""
    return "\n".join(json.dumps(v) for v in violations)
