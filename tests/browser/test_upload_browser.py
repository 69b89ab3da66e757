"""The upload form's door in a real browser: sign in, choose a file, preview, import, report."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chromium import MARKS, browser  # noqa: E402,F401 (fixture)
from conftest import make_app  # noqa: E402
from servers import ThreadedServer  # noqa: E402

from geomap import access, accounts, db, store  # noqa: E402

pytestmark = MARKS
DATA = Path(__file__).resolve().parent.parent / "data" / "ingest"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app with the real region layers, an editor and one existing dataset they may write."""
    tmp = tmp_path_factory.mktemp("upload")
    app = make_app(tmp, TILES="none", WTF_CSRF_ENABLED=True)
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        store.create_dataset(conn, "existing", "Existing", published=True)
        access.set_member(conn, access.OPERATOR, "existing", "editor", "collaborator")
    server = ThreadedServer(make_server("127.0.0.1", 0, app, threaded=True))
    yield server.origin
    server.stop()
    db.dispose_engine(app.config["DATABASE_URL"])


def test_upload_form_preview_import_and_report(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/upload")
    assert "/auth/login" in page.url  # writing needs a login
    page.fill("input[name=name]", "editor")
    page.fill("input[name=password]", "s3cret-pass")
    page.locator("main button[type=submit]").click()
    page.goto(f"{server}/upload")

    # The new-dataset fields show only while a new dataset is chosen.
    fields = page.locator("#new-dataset")
    assert fields.is_visible()
    page.select_option("#dataset", "existing")
    assert fields.is_hidden()
    page.select_option("#dataset", "__new__")
    assert fields.is_visible()
    # Ticking "no header row" opens the column mapping.
    assert page.locator("#column-mapping").get_attribute("open") is None
    page.check("#no_header")
    assert page.locator("#column-mapping").get_attribute("open") is not None
    page.uncheck("#no_header")

    page.set_input_files("#file", str(DATA / "quoted_newlines.csv"))
    # The browser checks the slug's pattern before sending (the server checks it too).
    page.fill("#new_slug", "Not a slug")
    assert page.evaluate("() => document.getElementById('new_slug').validity.patternMismatch")
    page.fill("#new_slug", "browser-upload")
    assert not page.evaluate("() => document.getElementById('new_slug').validity.patternMismatch")
    page.fill("#title", "Uploaded <b>here</b>")
    page.locator("main button[type=submit]").click()
    assert page.locator("h1").inner_text() == "Preview: quoted_newlines.csv"
    lines = page.locator("#first-rows + .table-scroll tbody tr td:first-child").all_inner_texts()
    assert lines == ["2", "5", "6"]
    # "Preview again" reads the same stored file with another mapping: no new file choice.
    used = page.locator("#column-mapping tr:has(label[for=map_type]) td:nth-child(2)")
    assert used.inner_text() == "—"
    page.select_option("#map_type", "description")
    page.get_by_role("button", name="Preview again").click()
    assert page.locator("h1").inner_text() == "Preview: quoted_newlines.csv"
    assert page.locator("#map_type").input_value() == "description"
    assert used.inner_text() == "description"
    assert page.locator("#first-rows + .table-scroll tbody tr td:first-child").all_inner_texts() == lines
    page.get_by_role("button", name="Import", exact=True).click()

    assert page.locator("h1").inner_text() == "Import report: browser-upload"
    body = page.locator("main").inner_text()
    assert "not a recognised date" in body
    rows = dict(r.split("\t") for r in page.locator("table").first.locator("tr")
                .all_inner_texts())
    assert rows["Imported"] == "2" and rows["Rejected"] == "1"
    page.get_by_text("view the map").click()
    page.locator(".folium-map[data-gm-ready]").wait_for(timeout=15000)
    assert page.locator("h1").inner_text() == "Uploaded <b>here</b>"  # text, not markup
    assert not errors, errors
