"""The form's import as a background job in a real browser: the button cannot be pressed
twice, the progress page fills in as the worker goes, then becomes the report."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chromium import MARKS, browser  # noqa: E402,F401 (fixture)
from conftest import make_app  # noqa: E402
from servers import ThreadedServer  # noqa: E402
from test_jobs import rows_csv  # noqa: E402

from geomap import accounts, db, jobs  # noqa: E402

pytestmark = MARKS
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"
ROWS = 300_000


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app with a real queue whose worker threads start only when the test says."""
    tmp = tmp_path_factory.mktemp("jobs")
    app = make_app(tmp, TILES="none", WTF_CSRF_ENABLED=True, QUEUE_URL="", QUEUE_WORKERS=0,
                   MAX_UPLOAD_MB=100)
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
    source = tmp / "big.csv"
    source.write_bytes(rows_csv(ROWS))
    server = ThreadedServer(make_server("127.0.0.1", 0, app, threaded=True))
    yield app, server.origin, source
    server.stop()
    db.dispose_engine(app.config["DATABASE_URL"])


def test_form_import_shows_live_progress_then_the_report(served, browser):
    app, origin, source = served
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/api/jobs/" in r.url else None)
    page.goto(f"{origin}/auth/login")
    page.fill("input[name=name]", "editor")
    page.fill("input[name=password]", "s3cret-pass")
    page.locator("main button[type=submit]").click()
    page.goto(f"{origin}/upload")
    page.set_input_files("#file", str(source))
    page.fill("#new_slug", "live-progress")
    page.locator("main button[type=submit]").click()
    assert page.locator("h1").inner_text() == "Preview: big.csv"

    button = page.get_by_role("button", name="Import", exact=True)
    button.dblclick()  # a double click sends one import
    page.wait_for_url("**/upload/jobs/*")
    assert page.locator("h1").inner_text() == "Importing into live-progress"
    assert "Waiting for a worker" in page.locator("#job-state").inner_text()
    with jobs.jobs_engine(app.config["DATABASE_URL"]).connect() as conn:
        assert conn.execute(db.jobs.select()).all().__len__() == 1

    app.extensions["geomap.job_queue"].start_embedded(1)  # a worker comes along
    seen = []
    deadline = time.time() + 240
    while "/upload/jobs/" in page.url and time.time() < deadline:
        try:
            seen.append((page.locator("#job-bar").evaluate("b => b.value"),
                         page.locator("#job-read").inner_text(),
                         page.locator("#job-left").inner_text()))
            if 20 < seen[-1][0] < 100 and not (ARTIFACTS / "job-progress.png").exists():
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "job-progress.png"))
        except Exception:  # noqa: BLE001 - the page moved on to the report meanwhile
            break
        time.sleep(0.1)
    page.wait_for_url("**/upload/live-progress/imports/*", timeout=240_000)
    assert page.locator("h1").inner_text() == "Import report: live-progress"
    rows = dict(r.split("\t") for r in page.locator("table").first.locator("tr")
                .all_inner_texts())
    assert rows["Imported"] == f"{ROWS:,}"
    # The page showed the work as it went: the bar and the rows read moved, with time left.
    middle = [s for s in seen if 0 < s[0] < 100]
    assert middle, seen
    assert any(s[1] not in ("0", f"{ROWS:,}") for s in middle), seen
    assert any(s[2].startswith("about ") for s in middle), seen
    assert len(polls) >= 2
    assert not errors, errors
