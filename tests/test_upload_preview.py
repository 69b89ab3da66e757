"""The upload preview's counts and the report's reasons, through the form (#18 items 1, 5).

On both databases: the counts the preview shows (#preview-counts) are the import's, change
with the mapping, a header-less file is offered as one and imported from the preview, the
web never says ``--map``, and the report page stays the same size however many rows were
rejected.
"""

from __future__ import annotations

import io
import re

import pytest

from geomap import accounts, db, store

from ingest_helpers import fake_regions  # noqa: F401  (fixture)
from ingest.test_previewing import mixed


@pytest.fixture
def editor(any_app, fake_regions):  # noqa: F811
    with db.engine_for(any_app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
    client = any_app.test_client()
    response = client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass"})
    assert response.status_code == 302
    yield client
    db.dispose_engine(any_app.config["DATABASE_URL"])


def _preview(client, data: bytes, name="mixed.csv", slug="preview-test", **fields):
    form = {"action": "preview", "dataset": "__new__", "new_slug": slug, "title": "Preview",
            "mode": "append", "file": (io.BytesIO(data), name), **fields}
    return client.post("/upload", data=form, content_type="multipart/form-data")


def _forms(html: str) -> tuple[dict, dict]:
    """The fields of the "Preview again" form (hidden, boxes ticked) and of the Import
    form (hidden)."""
    def hidden(part):
        return {m.group(1): m.group(2) for m in
                re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', part)}
    again = html[html.index('id="repreview"'):html.index("</form>", html.index('id="repreview"'))]
    start = html.find('name="action" value="import"')
    ticked = {m.group(1): m.group(2) for m in re.finditer(
        r'<input type="checkbox" id="\w+" name="(\w+)" value="([^"]*)" checked>', again)}
    return {**hidden(again), **ticked}, (hidden(html[start - 2000:html.index("</form>", start)])
                                         if start >= 0 else {})


def _counts(html: str) -> dict:
    section = html[html.index('id="preview-counts"'):]
    return {name: int(value.replace(",", "")) for name, value in
            re.findall(r'<dd data-count="(\w+)">([\d,]+)</dd>', section)}


def _repreview(client, html: str, **changes):
    again, _ = _forms(html)
    return client.post("/upload", data={**again, "action": "repreview", **changes})


def test_preview_counts_are_what_the_import_does(any_app, editor):
    page = _preview(editor, mixed()).get_data(as_text=True)
    counts = _counts(page)
    assert counts["total"] == 60 and counts["rejected"] > 0
    assert counts["kept"] + counts["rejected"] == 60
    assert 'id="preview-errors"' in page and "count must be 0 or more" in page
    _, import_form = _forms(page)
    done = editor.post("/upload", data=import_form)
    assert done.status_code == 302, done.get_data(as_text=True)
    with db.engine_for(any_app.config["DATABASE_URL"]).connect() as conn:
        dataset = store.get_dataset(conn, "preview-test")
        assert store.count_incidents(conn, dataset["id"]) == counts["kept"]
        record = store.list_imports(conn, dataset["id"])[0]
    assert record["rows_rejected"] == counts["rejected"]
    report = editor.get(done.headers["Location"]).get_data(as_text=True)
    assert 'id="report-errors"' in report and "count must be 0 or more" in report


def test_changing_the_mapping_changes_the_counts(editor):
    first = _preview(editor, mixed()).get_data(as_text=True)
    again = _repreview(editor, first, map_lat="other_lat")
    page = again.get_data(as_text=True)
    assert again.status_code == 200, page
    assert _counts(page)["rejected"] > _counts(first)["rejected"]
    assert re.search(r"<td>latitude is missing</td><td class=\"num\">30</td>", page)
    # The Import form imports what was last shown: lat from other_lat.
    _, import_form = _forms(page)
    assert import_form["map_lat"] == "other_lat"


def test_a_header_less_file_is_offered_as_one_and_imported_from_the_preview(any_app, editor):
    data = b"49.0021,-122.75,2024-01-05,3\n48.99,-122.70,2024-01-06,1\n70.5,-122.7,2024-01-07,1\n"
    first = _preview(editor, data, name="bare.csv")
    page = first.get_data(as_text=True)
    # Stays on the preview (not the form), columns numbered, the mapping to fill, no Import.
    assert first.status_code == 422 and 'id="header-guessed"' in page
    assert "<th>Column 1</th><th>Column 2</th>" in page and 'id="repreview"' in page
    assert "in the column mapping" in page and "--map" not in page
    assert 'value="import"' not in page and 'id="no-import"' in page
    assert re.search(r'id="no_header" name="no_header" value="on" checked', page)
    mapped = _repreview(editor, page, map_lat="Column 1", map_lon="Column 2",
                        map_occurred_at="Column 3", map_count="Column 4")
    html = mapped.get_data(as_text=True)
    assert mapped.status_code == 200, html
    assert _counts(html) == {"total": 3, "kept": 2, "rejected": 1}
    _, import_form = _forms(html)
    assert import_form["no_header"] == "on" and import_form["map_lat"] == "Column 1"
    assert editor.post("/upload", data=import_form).status_code == 302
    with db.engine_for(any_app.config["DATABASE_URL"]).connect() as conn:
        dataset = store.get_dataset(conn, "preview-test")
        assert store.count_incidents(conn, dataset["id"]) == 2


def test_a_mapping_that_does_not_fit_stays_on_the_preview_in_web_terms(editor):
    first = _preview(editor, mixed()).get_data(as_text=True)
    page = _repreview(editor, first, map_lat="", map_lon="", map_occurred_at="",
                      no_header="on").get_data(as_text=True)
    assert "--map" not in page and "in the column mapping" in page
    assert 'id="preview-counts"' not in page and 'id="no-import"' in page


def _outside_half(rows: int) -> bytes:
    lines = ["id,lat,lon,date"]
    for i in range(rows):
        lat = "70.5" if i % 2 else "49.01"
        lines.append(f"{i},{lat},-122.7,2024-01-{i % 28 + 1:02d}")
    return ("\n".join(lines) + "\n").encode()


def test_the_report_page_stays_light_however_many_rows_were_rejected(editor):
    sizes = {}
    # Under the test client's 500 KB, past which it spools the body to a file left open.
    for rows in (120, 12_000):
        page = _preview(editor, _outside_half(rows), slug=f"big-{rows}").get_data(as_text=True)
        _, import_form = _forms(page)
        done = editor.post("/upload", data=import_form)
        assert done.status_code == 302
        report = editor.get(done.headers["Location"]).get_data(as_text=True)
        assert f"{rows // 2:,}" in report and 'id="report-errors"' in report
        sizes[rows] = len(report.encode())
    # 100 times the rejections, the same page (within the digits of the counts).
    assert sizes[12_000] - sizes[120] < 200 and sizes[12_000] < 20_000, sizes


def test_a_large_file_is_counted_on_a_sample_that_the_preview_names(any_app, editor):
    any_app.config["PREVIEW_CHECK_ROWS"] = 25
    page = _preview(editor, mixed()).get_data(as_text=True)
    assert _counts(page)["total"] == 25
    assert re.search(r'id="preview-sample">Counted on the first 25 rows of about 60', page)
