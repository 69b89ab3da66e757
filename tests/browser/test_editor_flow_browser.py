"""The editor's whole import workflow in a real browser (issue #18 item 7), at 375 and 1280 px.

Sign in, choose a file, see its columns on the preview, change the mapping with the selects and
preview again (the counts of what importing would keep and reject follow the mapping),
import, be refused when importing the same file again (the message says when
and as which import), write a corrections-log entry (item 6) and see it on the map page,
revert the import, delete the dataset. At every step the page fits the screen without
sideways scrolling.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chromium import MARKS, assert_fits, browser  # noqa: E402,F401 (fixture)
from conftest import make_app  # noqa: E402
from servers import serving  # noqa: E402

from geomap import accounts, db  # noqa: E402

pytestmark = MARKS
DATA = Path(__file__).resolve().parent.parent / "data" / "ingest"
FILE = DATA / "quoted_newlines.csv"
#: The file's header, as the preview must show it.
COLUMNS = ["lat", "lon", "date", "description"]
WIDTHS = (375, 1280)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app with the real region layers (CSRF on, as deployed) and an editor."""
    tmp = tmp_path_factory.mktemp("editor-flow")
    app = make_app(tmp, TILES="none", WTF_CSRF_ENABLED=True)
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
    with serving(app) as origin:
        yield origin


def _submit(page, button) -> None:
    """Click a button that sends a form and wait for the page it leads to."""
    with page.expect_navigation(wait_until="load"):
        button.click()


def _choose_file(page, origin: str, dataset: str | None, slug: str, width: int) -> None:
    """The upload form: the file, and a new dataset (`dataset` None) or an existing one."""
    page.goto(f"{origin}/upload", wait_until="load")
    assert_fits(page, "upload form")
    page.set_input_files("#file", str(FILE))
    if dataset is None:
        page.fill("#new_slug", slug)
        page.fill("#title", f"Flow at {width} px")
    else:
        page.select_option("#dataset", dataset)
    _submit(page, page.locator("main button[type=submit]").first)
    assert page.locator("h1").inner_text() == f"Preview: {FILE.name}"


@pytest.mark.parametrize("width", WIDTHS)
def test_editor_flow_from_file_to_deletion(server, browser, width):
    slug = f"flow-{width}"
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    errors: list[str] = []

    def on_console(msg):
        # A page's own status (the refusal's 409, the deleted map's 404) is logged as a
        # failed load: expected, not a fault.
        own_status = (msg.text.startswith("Failed to load resource")
                      and msg.location.get("url") == page.url)
        if msg.type == "error" and not own_status:
            errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # 1. Sign in (the upload form sends there first).
    page.goto(f"{server}/upload", wait_until="load")
    assert "/auth/login" in page.url
    assert_fits(page, "login")
    page.fill("input[name=name]", "editor")
    page.fill("input[name=password]", "s3cret-pass")
    _submit(page, page.locator("main button[type=submit]"))

    # 2. Choose a file: the preview shows its columns, in the first rows and in every select.
    _choose_file(page, server, None, slug, width)
    assert_fits(page, "preview")
    headers = page.locator("#first-rows + .table-scroll thead th").all_inner_texts()
    assert headers == ["Line", *COLUMNS]
    options = page.locator("#map_type option").all_inner_texts()
    assert options[1:] == COLUMNS  # after "detected from the header"
    used = page.locator("#column-mapping tr:has(label[for=map_type]) td:nth-child(2)")
    described = page.locator("#column-mapping tr:has(label[for=map_description]) "
                             "td:nth-child(2)")
    assert used.inner_text() == "—" and described.inner_text() == "description"
    lines = page.locator("#first-rows + .table-scroll tbody tr td:first-child").all_inner_texts()
    assert lines == ["2", "5", "6"]
    # What importing would keep and reject, counted before anything is written (item 1).
    def counts() -> dict[str, str]:
        return {key: page.locator(f"#preview-counts dd[data-count={key}]").inner_text()
                for key in ("total", "kept", "rejected")}

    assert counts() == {"total": "3", "kept": "2", "rejected": "1"}

    # 3. Change the mapping with the selects and preview the same stored file again.
    page.select_option("#map_type", "description")
    _submit(page, page.get_by_role("button", name="Preview again"))
    assert page.locator("h1").inner_text() == f"Preview: {FILE.name}"
    assert page.locator("#map_type").input_value() == "description"
    assert used.inner_text() == "description"
    assert page.locator("#first-rows + .table-scroll tbody tr td:first-child"
                        ).all_inner_texts() == lines
    assert_fits(page, "preview again")
    assert counts() == {"total": "3", "kept": "2", "rejected": "1"}  # type: no rule on it

    # A mapping that breaks the dates: the counts say so before anything is written ...
    page.select_option("#map_occurred_at", "description")
    _submit(page, page.get_by_role("button", name="Preview again"))
    assert counts()["kept"] == "0" and counts()["rejected"] == "3"
    assert "date" in page.locator("#preview-errors").inner_text().lower()
    assert_fits(page, "preview with a broken mapping")
    # ... and putting it back brings them back, on the same stored file.
    page.select_option("#map_occurred_at", "date")
    _submit(page, page.get_by_role("button", name="Preview again"))
    assert counts() == {"total": "3", "kept": "2", "rejected": "1"}

    # 4. Import: the report.
    _submit(page, page.get_by_role("button", name="Import", exact=True))
    assert page.locator("h1").inner_text() == f"Import report: {slug}"
    rows = dict(r.split("\t") for r in page.locator("table").first.locator("tr")
                .all_inner_texts())
    assert rows["Imported"] == "2" and rows["Rejected"] == "1"
    assert_fits(page, "report")
    import_id = int(re.search(r"/imports/(\d+)", page.url).group(1))

    # 5. The same file again into the same dataset: the preview warns, Import is refused
    # with when and as which import it came before; nothing is written.
    _choose_file(page, server, slug, slug, width)
    earlier = page.locator("#earlier-import")
    assert f"as import {import_id} ({FILE.name})" in earlier.inner_text()
    assert_fits(page, "preview of a file imported before")
    _submit(page, page.get_by_role("button", name="Import", exact=True))
    assert page.locator("h1").inner_text() == f"Preview: {FILE.name}"
    refusal = page.locator("p.flash-error[role=alert]").inner_text()
    assert f"this file was already imported into dataset '{slug}'" in refusal
    assert re.search(rf"on \d{{4}}-\d\d-\d\d \d\d:\d\d UTC as import {import_id} "
                     rf"\({re.escape(FILE.name)}\)", refusal), refusal
    assert page.get_by_label("Import it again (append this file once more)").is_visible()
    assert_fits(page, "re-import refused")

    # 6. The dataset's editor page: one import; a corrections-log entry naming it.
    page.goto(f"{server}/editor/datasets/{slug}", wait_until="load")
    assert page.locator("#imports tbody tr").count() == 1
    assert_fits(page, "editor page")
    page.fill("#correction-what", "Line 5 had no date <and was left out>")
    page.fill("#correction-why", "the source wrote not-a-date")
    page.select_option("#correction-import", str(import_id))
    _submit(page, page.locator("#correction-form button[type=submit]"))
    assert "added to the log" in page.locator(".flash-info").inner_text()
    assert "Line 5 had no date <and was left out>" in \
        page.locator("#corrections-log").inner_text()
    assert_fits(page, "corrections log")
    page.goto(f"{server}/maps/{slug}", wait_until="load")
    note = page.locator("#gm-correction-latest").inner_text()
    assert note.startswith("Corrected ") and "<and was left out>" in note
    assert "the source wrote not-a-date" in page.locator("#corrections").inner_text()
    assert_fits(page, "map page")

    # 7. Revert the import: its rows go, the history says so.
    page.goto(f"{server}/editor/datasets/{slug}", wait_until="load")
    _submit(page, page.locator("#imports").get_by_role("button", name="Revert"))
    assert f"Reverted import {import_id}: 2 rows removed" in \
        page.locator(".flash-info").inner_text()
    assert "reverted" in page.locator("#imports tbody tr").first.inner_text()
    assert_fits(page, "reverted")

    # 8. Delete the dataset: a confirmation page, the slug typed, then gone.
    _submit(page, page.get_by_role("link", name=re.compile("^Delete “")))
    assert page.locator("h1").inner_text() == f"Delete “Flow at {width} px”?"
    assert_fits(page, "delete confirmation")
    page.fill("#confirm", slug)
    _submit(page, page.get_by_role("button", name="Delete the dataset"))
    assert f"Deleted dataset {slug}" in page.locator(".flash-info").inner_text()
    assert slug not in page.locator("main").inner_text().replace(f"Deleted dataset {slug}", "")
    assert_fits(page, "after deletion")
    assert page.goto(f"{server}/maps/{slug}").status == 404
    assert not errors, errors
    context.close()
