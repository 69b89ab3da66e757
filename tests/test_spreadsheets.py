"""Spreadsheets through the three doors: the API (?sheet=), import-csv --sheet, the form's
preview (sheets with their row counts). Workbooks are written by tests/spreadsheets.py."""

from __future__ import annotations

import datetime as dt
import gzip
import zipfile
import io
import hashlib
import json
import re
from pathlib import Path

import pytest

from geomap import db, store

from ingest_helpers import fake_regions  # noqa: F401  (fixture)
from spreadsheets import ods_bytes, xls_bytes, xlsm_bytes, xlsx_bytes
from test_api_write import _token
from test_upload import _hidden, _login

CROSSINGS = [
    ["Northern border crossings"],                                    # row 1: title lines
    ["Prepared by the field office"],
    [],
    ["Fiscal\nYear", "Incident\nDate", "Latitude", "Longitude", "Port Code", "People"],
    [2025, dt.date(2025, 3, 1), 49.01, -122.7, "0104", 3],             # row 5
    [2025, dt.datetime(2025, 3, 2, 14, 30), 48.99, -122.75, "0200", 1],
    [],
    [2026, dt.date(2025, 11, 5), "unknown", -122.8, "0007", 2],        # row 8: rejected
    [2026, dt.date(2025, 12, 1), 49.02, -122.8, "0310", 4],            # row 9
    [],
    ["Source: CBP. Counts are provisional."],                          # notes below
    ["Revised monthly."],
]
OTHER = [["date", "lat", "lon", "Code"], [dt.date(2024, 1, 2), 44.99, -73.5, "0042"]]
BOOK = {"Read me": [["This workbook holds crossings"]], "Crossings 2025": CROSSINGS,
        "Other": OTHER}
SHEETS = [{"name": "Read me", "rows": 0}, {"name": "Crossings 2025", "rows": 4},
          {"name": "Other", "rows": 1}]


def _incidents(app, slug):
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        frame = store.incident_frame(conn, store.get_dataset(conn, slug)["id"])
        imports = store.list_imports(conn, store.get_dataset(conn, slug)["id"])
    return frame.sort_values("occurred_at").reset_index(drop=True), imports


def _attributes(value):
    return json.loads(value) if isinstance(value, str) else dict(value)


@pytest.fixture
def api(any_app, fake_regions):  # noqa: F811
    token = _token(any_app)
    yield any_app.test_client(), {"Authorization": f"Bearer {token}"}
    db.dispose_engine(any_app.config["DATABASE_URL"])


@pytest.mark.parametrize("write, content_type", [
    (xlsx_bytes, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (xlsm_bytes, "application/vnd.ms-excel.sheet.macroEnabled.12"),
    (xls_bytes, "application/vnd.ms-excel"),
    (ods_bytes, "application/vnd.oasis.opendocument.spreadsheet"),
], ids=["xlsx", "xlsm", "xls", "ods"])
def test_api_imports_the_chosen_sheet(api, write, content_type):
    client, auth = api
    book = write(BOOK)
    response = client.post("/api/datasets/sheets/incidents?sheet=Crossings+2025", data=book,
                           headers={**auth, "Content-Type": content_type})
    assert response.status_code == 201, response.json
    report = response.json
    counts = report["rows_total"], report["rows_imported"], report["rows_rejected"]
    assert counts == (4, 3, 1), report
    # Row numbers are the sheet's rows; the report says which sheet was read.
    assert [e["row"] for e in report["errors"]] == [8]
    messages = [w["message"] for w in report["warnings"]]
    assert any("'Crossings 2025'" in m and "sheet's rows" in m for m in messages), messages
    assert not any("serial" in m.lower() for m in messages), messages
    frame, imports = _incidents(client.application, "sheets")
    assert [t.strftime("%Y-%m-%d %H:%M") for t in frame["occurred_at"]] == [
        "2025-03-01 00:00", "2025-03-02 14:30", "2025-12-01 00:00"]
    assert list(frame["precision"]) == ["day", "second", "day"]
    assert list(frame["count"]) == [3, 1, 4]
    attributes = [_attributes(a) for a in frame["attributes"]]
    assert [a["Port Code"] for a in attributes] == ["0104", "0200", "0310"]
    assert [a["Fiscal Year"] for a in attributes] == ["2025", "2025", "2026"]
    # The audit record is the workbook's: its sha256 and size.
    assert imports[0]["sha256"] == hashlib.sha256(book).hexdigest()
    assert imports[0]["size_bytes"] == len(book)


def test_rows_are_the_sheets_rows_after_cells_holding_line_breaks(api):
    # A cell with line breaks is one CSV record over several lines: the rows reported
    # below it must still be the sheet's rows, not lines of the CSV geomap reads.
    rows = [["Northern crossings"],
            ["date", "lat", "lon", "note"],                                   # row 2: header
            [dt.date(2025, 1, 2), 49.0, -122.7, "first line\nsecond\nthird"],  # row 3
            [dt.date(2025, 1, 3), "north", -122.7, "bad latitude"],          # row 4
            [dt.date(2025, 1, 4), 49.0, -122.7, "ok"],                       # row 5
            [dt.date(2025, 1, 5), 49.0, "west", "bad longitude"]]            # row 6
    client, auth = api
    response = client.post("/api/datasets/lines/incidents", data=xlsx_bytes({"S": rows}),
                           headers={**auth, "Content-Type": "application/octet-stream"})
    assert response.status_code == 201, response.json
    assert [e["row"] for e in response.json["errors"]] == [4, 6]
    frame, _imports = _incidents(client.application, "lines")
    assert _attributes(frame["attributes"][0])["note"] == "first line\nsecond\nthird"


def test_api_unknown_sheet_is_a_400_listing_the_sheets(api):
    client, auth = api
    response = client.post("/api/datasets/sheets/incidents?sheet=Nope",
                           data={"file": (io.BytesIO(xlsx_bytes(BOOK)), "book.xlsx")},
                           headers=auth, content_type="multipart/form-data")
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert "'Crossings 2025' (4 rows)" in error["message"]
    assert error["details"]["sheets"] == SHEETS
    with db.engine_for(client.application.config["DATABASE_URL"]).connect() as conn:
        assert store.get_dataset(conn, "sheets", missing_ok=True) is None
    folder = Path(client.application.config["UPLOAD_FOLDER"])
    assert not folder.exists() or list(folder.iterdir()) == []  # nothing kept, no temp CSV


def test_kept_upload_is_the_workbook_and_no_temporary_csv_is_left(api):
    client, auth = api
    book = xlsx_bytes(BOOK)
    response = client.post("/api/datasets/sheets/incidents?sheet=Other", data=book,
                           headers={**auth, "Content-Type": "application/octet-stream"})
    assert response.status_code == 201, response.json
    folder = Path(client.application.config["UPLOAD_FOLDER"])
    kept = [p for p in folder.iterdir() if p.is_file()]
    assert [p.name for p in kept] == [f"{hashlib.sha256(book).hexdigest()}.csv"]
    assert kept[0].read_bytes() == book


def test_api_default_sheet_is_the_first_holding_a_table(api):
    client, auth = api
    response = client.post("/api/datasets/sheets/incidents",
                           data={"file": (io.BytesIO(xlsx_bytes(BOOK)), "book.xlsx")},
                           headers=auth, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    assert response.json["rows_imported"] == 3


def test_cli_imports_with_sheet(any_app, fake_regions, tmp_path):  # noqa: F811
    path = tmp_path / "book.xlsx"
    path.write_bytes(xlsx_bytes(BOOK))
    runner = any_app.test_cli_runner()
    try:
        result = runner.invoke(args=["import-csv", str(path), "--dataset", "cli-sheet",
                                     "--sheet", "Other", "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["rows_imported"] == 1 and report["errors"] == []
        frame, _ = _incidents(any_app, "cli-sheet")
        assert frame["occurred_at"][0].strftime("%Y-%m-%d") == "2024-01-02"
        assert _attributes(frame["attributes"][0]) == {"Code": "0042"}
        missing = runner.invoke(args=["import-csv", str(path), "--dataset", "cli-sheet",
                                      "--sheet", "Nope"])
        assert missing.exit_code == 1 and "'Other' (1 rows)" in missing.output
    finally:
        db.dispose_engine(any_app.config["DATABASE_URL"])


def test_form_preview_lists_sheets_and_imports_the_chosen_one(app, fake_regions):  # noqa: F811
    client = app.test_client()
    _login(app, client)
    form = client.get("/upload").get_data(as_text=True)
    assert re.search(r'accept="[^"]*\.xlsx,\.xlsm,\.xls,\.ods,[^"]*\.gz,\.zip', form)
    preview = client.post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "form-sheet", "title": "T",
        "mode": "append", "sheet": "Crossings 2025",
        "file": (io.BytesIO(xlsx_bytes(BOOK)), "book.xlsx")},
        content_type="multipart/form-data")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    rows = re.findall(r"<tr><td>([^<]+?)(?: \(shown\))?</td><td>(\d+)</td></tr>", html)
    assert rows == [("Read me", "0"), ("Crossings 2025", "4"), ("Other", "1")]
    assert "<th>Fiscal Year</th>" in html and "<th>Incident Date</th>" in html
    # Preview lines are sheet rows; the code is kept as text.
    assert re.findall(r"<tr><td>(\d+)</td><td>20", html) == ["5", "6", "8", "9"]
    assert "<td>0104</td>" in html and "<td>2025-03-01</td>" in html
    assert '<option value="Crossings 2025" selected>' in html
    fields = {**_hidden(html), "sheet": "Crossings 2025"}
    response = client.post("/upload", data=fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    frame, imports = _incidents(app, "form-sheet")
    assert len(frame) == 3 and imports[0]["filename"] == "book.xlsx"


def test_form_preview_again_shows_another_sheet_and_imports_it(app, fake_regions):  # noqa: F811
    client = app.test_client()
    _login(app, client)
    preview = client.post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "form-other", "title": "T",
        "mode": "append", "file": (io.BytesIO(xlsx_bytes(BOOK)), "book.xlsx")},
        content_type="multipart/form-data")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "<td>Crossings 2025 (shown)</td>" in html
    # Another sheet, read from the stored upload: its columns and rows, no new file.
    again = client.post("/upload", data={**_hidden(html), "action": "repreview",
                                         "sheet": "Other"})
    page = again.get_data(as_text=True)
    assert again.status_code == 200, page
    assert "<h1>Preview: book.xlsx</h1>" in page and "<td>Other (shown)</td>" in page
    assert "<th>date</th><th>lat</th><th>lon</th><th>Code</th>" in page
    assert "<tr><td>2</td><td>2024-01-02</td><td>44.99</td><td>-73.5</td><td>0042</td></tr>" \
        in page
    assert "Fiscal Year" not in page
    fields = _hidden(page)
    assert fields["sha256"] == _hidden(html)["sha256"] and fields["sheet"] == "Other"
    response = client.post("/upload", data=fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    frame, imports = _incidents(app, "form-other")
    assert len(frame) == 1 and imports[0]["filename"] == "book.xlsx"
    assert _attributes(frame.loc[0, "attributes"])["Code"] == "0042"


def test_workbook_expanding_beyond_the_limit_is_refused(tmp_path, monkeypatch):
    from geomap.errors import Unprocessable
    from geomap.ingest import spreadsheets

    path = tmp_path / "book.xlsx"
    path.write_bytes(xlsx_bytes(BOOK))
    monkeypatch.setattr(spreadsheets, "MAX_EXPANDED_BYTES", 1000)
    with pytest.raises(Unprocessable, match="expands to"):
        spreadsheets.to_csv(path, None)
    monkeypatch.undo()
    assert spreadsheets.to_csv(path, None)[1]["sheet"] == "Crossings 2025"


def test_damaged_workbook_is_refused_in_one_line(api):
    client, auth = api
    book = xlsx_bytes(BOOK)
    response = client.post("/api/datasets/sheets/incidents", data=book[:len(book) // 2],
                           headers={**auth, "Content-Type": "application/octet-stream"})
    assert response.status_code == 422, response.json
    message = response.json["error"]["message"]
    assert "could not be read as a spreadsheet" in message and "\n" not in message


BASIC = Path(__file__).parent / "data" / "ingest" / "basic.csv"


def _zip(**members) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_api_imports_gzip_and_zip_compressed_files(api):
    client, auth = api
    csv_gz = gzip.compress(BASIC.read_bytes())
    response = client.post("/api/datasets/packed/incidents",
                           data={"file": (io.BytesIO(csv_gz), "incidents.csv.gz")},
                           headers=auth, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    assert response.json["rows_imported"] == 3
    # A zip of one spreadsheet (a macOS folder entry aside) reads its sheet.
    packed = _zip(**{"book.xlsx": xlsx_bytes(BOOK), "__MACOSX/._book.xlsx": b"x"})
    response = client.post("/api/datasets/packed/incidents?sheet=Other", data=packed,
                           headers={**auth, "Content-Type": "application/octet-stream"})
    assert response.status_code == 201, response.json
    assert response.json["rows_imported"] == 1
    frame, imports = _incidents(client.application, "packed")
    assert len(frame) == 4
    assert imports[0]["sha256"] == hashlib.sha256(packed).hexdigest()
    folder = Path(client.application.config["UPLOAD_FOLDER"])
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == sorted(
        f"{hashlib.sha256(b).hexdigest()}.csv" for b in (csv_gz, packed))


@pytest.mark.parametrize("content, reason", [
    (_zip(**{"a.csv": b"x", "b.csv": b"y"}), "holds 2 files"),
    (gzip.compress(b"date,lat,lon\n" * 100)[:40], "could not be decompressed"),
    (gzip.compress(b"date,lat,lon\n" * 10_000), "expands to more than"),
], ids=["two-files", "damaged-gzip", "too-large"])
def test_bad_compressed_files_are_refused(api, monkeypatch, content, reason):
    from geomap.ingest import spreadsheets

    monkeypatch.setattr(spreadsheets, "MAX_EXPANDED_BYTES", 50_000)
    client, auth = api
    response = client.post("/api/datasets/packed/incidents", data=content,
                           headers={**auth, "Content-Type": "application/octet-stream"})
    assert response.status_code == 422, response.json
    assert reason in response.json["error"]["message"]
    folder = Path(client.application.config["UPLOAD_FOLDER"])
    assert not folder.exists() or list(folder.iterdir()) == []


def test_cli_imports_a_zipped_csv(any_app, fake_regions, tmp_path):  # noqa: F811
    path = tmp_path / "incidents.zip"
    path.write_bytes(_zip(**{"folder/incidents.csv": BASIC.read_bytes()}))
    try:
        result = any_app.test_cli_runner().invoke(
            args=["import-csv", str(path), "--dataset", "cli-zip", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["rows_imported"] == 3
    finally:
        db.dispose_engine(any_app.config["DATABASE_URL"])
