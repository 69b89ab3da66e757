"""The upload form: login, preview, import, HTML report, CSRF, size limit, escaping."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from geomap import accounts, db, store

from ingest_helpers import fake_regions  # noqa: F401  (fixture)

DATA = Path(__file__).parent / "data" / "ingest"


def _login(app, client):
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
    response = client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass"})
    assert response.status_code == 302


@pytest.fixture
def editor(app, fake_regions):  # noqa: F811
    client = app.test_client()
    _login(app, client)
    return client


def _preview(client, name, **fields):
    data = {"action": "preview", "dataset": "__new__", "new_slug": "form-test",
            "title": "Form test", "mode": "append",
            "file": (io.BytesIO((DATA / name).read_bytes()), name)}
    data.update(fields)
    return client.post("/upload", data=data, content_type="multipart/form-data")


def _hidden(html: str) -> dict:
    return {m.group(1): m.group(2) for m in
            re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)}


def test_anonymous_users_are_sent_to_login(client):
    response = client.get("/upload")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert client.post("/upload").status_code == 302


def test_preview_then_import_then_report(app, editor):
    assert editor.get("/upload").status_code == 200
    preview = _preview(editor, "quoted_newlines.csv")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "comma-separated" in html and "first line" in html
    # Rows are numbered by line in the file, as the report numbers them.
    assert re.findall(r"<tr><td>(\d+)</td><td>4", html) == ["2", "5", "6"]
    fields = _hidden(html)
    assert fields["action"] == "import" and len(fields["sha256"]) == 64
    response = editor.post("/upload", data=fields)
    assert response.status_code == 302
    report = editor.get(response.headers["Location"])
    page = report.get_data(as_text=True)
    assert report.status_code == 200
    assert "Rejected" in page and "not a recognised date" in page
    assert "/rejected.csv" in page
    link = re.search(r'href="(/api/datasets/form-test/imports/\d+/rejected.csv)"', page).group(1)
    download = editor.get(link)
    assert download.status_code == 200 and download.get_data(as_text=True).startswith("row,")
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        dataset = store.get_dataset(conn, "form-test")
        assert dataset["title"] == "Form test"
        assert store.count_incidents(conn, dataset["id"]) == 2


def test_preview_with_mapping_and_no_header(editor):
    preview = _preview(editor, "no_header.csv", no_header="on", map_lat="1", map_lon="2",
                       map_occurred_at="3")
    assert preview.status_code == 200
    fields = _hidden(preview.get_data(as_text=True))
    assert fields["no_header"] == "on" and fields["map_lat"] == "1"
    response = editor.post("/upload", data=fields)
    assert response.status_code == 302


def _repreview(client, html: str, **changes):
    """Post the preview page's "Preview again" with `changes` (the same stored upload)."""
    return client.post("/upload", data={**_hidden(html), "action": "repreview", **changes})


def test_preview_again_without_a_header_row_shows_numbered_columns(app, editor):
    # "No header row" forgotten: its first row looks like data, so the preview ticks it.
    offered = _preview(editor, "no_header.csv", map_lat="1", map_lon="2", map_occurred_at="3")
    assert 'id="header-guessed"' in offered.get_data(as_text=True)
    # Unticked again: the first record is read as the header.
    wrong = _repreview(editor, offered.get_data(as_text=True), no_header="")
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 200, html
    assert "<th>49.0021</th>" in html and re.findall(r"<tr><td>(\d+)</td><td>4", html) == ["2"]
    assert 'id="header-guessed"' not in html
    again = _repreview(editor, html, no_header="on")
    page = again.get_data(as_text=True)
    assert again.status_code == 200, page
    assert "<th>Column 1</th><th>Column 2</th><th>Column 3</th>" in page
    assert re.findall(r"<tr><td>(\d+)</td><td>([\d.]+)</td>", page) == [
        ("1", "49.0021"), ("2", "48.99")]
    assert re.search(r'id="no_header" name="no_header" value="on" checked', page)
    fields = _hidden(page)
    assert fields["sha256"] == _hidden(html)["sha256"] and fields["no_header"] == "on"
    assert fields["action"] == "import" and fields["map_lat"] == "1"
    assert editor.post("/upload", data=fields).status_code == 302
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        assert store.count_incidents(conn, store.get_dataset(conn, "form-test")["id"]) == 2


def test_preview_again_with_a_mapping_that_does_not_fit_stays_on_the_preview(editor):
    html = _preview(editor, "basic.csv").get_data(as_text=True)
    response = _repreview(editor, html, map_lat="Latitude")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "column &#39;Latitude&#39; mapped to lat is not in the file" in page
    assert "<h1>Preview: basic.csv</h1>" in page and "<td>B1</td>" in page  # read as detected
    assert '<option value="Latitude" selected>Latitude (as entered)</option>' in page
    assert 'id="no-import"' in page and 'value="import"' not in page


def test_preview_again_with_a_tampered_file_reference_is_refused(editor):
    html = _preview(editor, "basic.csv").get_data(as_text=True)
    for sha256, message in (("../../instance/secret_key", "reference is not valid"),
                            ("0" * 64, "no longer available")):
        response = _repreview(editor, html, sha256=sha256)
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)


def test_bad_file_shows_the_form_with_the_reason(editor):
    response = editor.post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "form-test",
        "file": (io.BytesIO(b"PK\x03\x04" + b"\x00" * 64), "book.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Excel workbook" in response.get_data(as_text=True)
    missing = editor.post("/upload", data={"action": "preview", "dataset": "__new__",
                                           "new_slug": "x"})
    assert missing.status_code == 400 and "choose a CSV file" in missing.get_data(as_text=True)


def test_strict_failure_shows_the_report_without_importing(app, editor):
    fields = _hidden(_preview(editor, "out_of_range.csv", strict="on").get_data(as_text=True))
    response = editor.post("/upload", data=fields)
    assert response.status_code == 422
    assert "nothing was imported" in response.get_data(as_text=True)
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        assert store.get_dataset(conn, "form-test", missing_ok=True) is None


def test_tampered_file_reference_is_refused(editor):
    fields = _hidden(_preview(editor, "basic.csv").get_data(as_text=True))
    fields["sha256"] = "../../instance/secret_key"
    response = editor.post("/upload", data=fields)
    assert response.status_code == 400


def test_cells_and_file_names_are_escaped(editor, tmp_path):
    body = b'lat,lon,date,description\n49.0021,-122.7566,2025-01-03,<script>alert(1)</script>\n'
    preview = editor.post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "form-test",
        "file": (io.BytesIO(body), "<img src=x onerror=alert(1)>.csv")},
        content_type="multipart/form-data")
    html = preview.get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html


def test_upload_over_the_limit_is_413(app_factory, fake_regions):  # noqa: F811
    app = app_factory(MAX_UPLOAD_MB=0.01)
    client = app.test_client()
    _login(app, client)
    big = b"lat,lon,date\n" + b"49.0021,-122.7566,2025-01-03\n" * 1000
    response = client.post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "big",
        "file": (io.BytesIO(big), "big.csv")}, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "larger than this service accepts" in response.get_data(as_text=True)


def test_csrf_is_enforced_when_enabled(app_factory, fake_regions):  # noqa: F811
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
    login_page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass",
                                     "csrf_token": token})
    data = {"action": "preview", "dataset": "__new__", "new_slug": "csrf",
            "file": (io.BytesIO((DATA / "basic.csv").read_bytes()), "basic.csv")}
    refused = client.post("/upload", data=dict(data), content_type="multipart/form-data")
    assert refused.status_code == 400
    form = client.get("/upload").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    data["file"] = (io.BytesIO((DATA / "basic.csv").read_bytes()), "basic.csv")
    accepted = client.post("/upload", data={**data, "csrf_token": token},
                           content_type="multipart/form-data")
    assert accepted.status_code == 200
