"""CSV output cannot start a formula: downloads and rejected rows, cells and header names,
single-line and multi-line cells (issue #15)."""

from __future__ import annotations

import csv
import io
import re

import pandas as pd
import pytest

from geomap import accounts, csv_output, db, ingest
from ingest_helpers import FAKE_REGIONS, fake_regions  # noqa: F401  (fixture)
from maps_fixtures import incident_rows, seed_dataset

FORMULA = "=+-@\t\r"
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
#: Text a spreadsheet would run, alone or after a line break inside a cell.
HOSTILE = ["note\r@SUM(1+1)*cmd|' /C calc'!A0", "note\n=HYPERLINK(\"http://x\")",
           "note\r\n+1+1", "\r=1+1", "\n-1+1", "=1+1", "@SUM(A1)", "-2+3", "\t=1", "+inf",
           "-nan", "ok\r\rok"]


def _field_starts(text: str) -> list[str]:
    """Return the raw start of every field that begins a line outside quotes.

    A spreadsheet ends a row at CR, LF or CRLF outside quotes (a bare CR included); what
    follows is the first cell of the next row, where a formula would run.
    """
    starts, in_quotes, i = [], False, 0
    at_line_start = True
    while i < len(text):
        ch = text[i]
        if at_line_start and not in_quotes:
            end = i
            while end < len(text) and text[end] not in ",\r\n":
                end += 1
            starts.append(text[i:end])
            at_line_start = False
        if ch == '"':
            in_quotes = not in_quotes
        elif ch in "\r\n" and not in_quotes:
            at_line_start = True
            if ch == "\r" and text[i + 1:i + 2] == "\n":
                i += 1
        i += 1
    return starts


def _assert_formula_safe(text: str) -> list[dict]:
    for start in _field_starts(text):
        if start and start[0] in FORMULA:
            assert _PLAIN_NUMBER.match(start), f"a line starts a formula: {start!r}"
    rows = list(csv.reader(io.StringIO(text, newline="")))
    for row in rows:
        for cell in row:
            if cell and cell[0] in FORMULA:
                assert _PLAIN_NUMBER.match(cell), f"a cell starts a formula: {cell!r}"
    return rows


def test_csv_output_cannot_start_a_formula_in_cells_or_header():
    frame = pd.DataFrame({"=HYPERLINK(\"http://x\")": HOSTILE,
                          "@head": ["x"] * len(HOSTILE),
                          "lon": [-122.75] * len(HOSTILE),
                          "text_lon": ["-122.75"] * len(HOSTILE)})
    text = csv_output.safe_csv(frame)
    header, *rows = _assert_formula_safe(text)
    assert header == ["'=HYPERLINK(\"http://x\")", "'@head", "lon", "text_lon"]
    # The text survives, each line inside its one cell, only the start neutralised.
    assert [r[0] for r in rows] == [
        "note\r@SUM(1+1)*cmd|' /C calc'!A0", "note\n=HYPERLINK(\"http://x\")", "note\r\n+1+1",
        "'\r=1+1", "\n-1+1", "'=1+1", "'@SUM(A1)", "'-2+3", "'\t=1", "'+inf", "'-nan",
        "ok\r\rok"]
    # Plain numbers stay numbers, unquoted.
    assert all(r[2] == "-122.75" and r[3] == "-122.75" for r in rows)
    assert ",-122.75,-122.75\r\n" in text
    assert '"note\r@SUM(1+1)' in text  # the cell with a bare CR is quoted


def test_csv_output_cannot_start_a_formula_in_downloads(app):
    frame = incident_rows(len(HOSTILE))
    frame["description"] = HOSTILE
    frame["type"] = ["@type\r=1"] + ["crossing"] * (len(HOSTILE) - 1)
    seed_dataset(app, frame=frame)
    text = app.test_client().get("/api/datasets/wa-bc/incidents.csv").get_data(as_text=True)
    header, *rows = _assert_formula_safe(text)
    assert len(rows) == len(HOSTILE)
    described = {r[header.index("description")] for r in rows}
    assert "note\r@SUM(1+1)*cmd|' /C calc'!A0" in described and "'=1+1" in described
    assert all(float(r[header.index("lon")]) < 0 for r in rows)
    assert all(not r[header.index("lon")].startswith("'") for r in rows)


def test_csv_output_cannot_start_a_formula_in_rejected_rows(any_app, fake_regions,  # noqa: F811
                                                             tmp_path):
    upload = tmp_path / "hostile.csv"
    with open(upload, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lat", "lon", "date", "=HYPERLINK(\"http://x\")", "@cmd"])
        writer.writerow(["49.0021", "-122.7566", "2025-01-03", "fine", "x"])
        writer.writerow(["48.99", "-122.48", "bad", "note\r@SUM(1+1)", "-1+1"])
        writer.writerow(["48.99", "-122.48", "worse", "a\n=1+1", "+cmd"])
    report = ingest.import_file(db.engine_for(any_app.config["DATABASE_URL"]), upload,
                                dataset="data", options=ingest.Options(), regions=FAKE_REGIONS,
                                settings=ingest.Settings.from_config(any_app.config),
                                user_name="t")
    assert report["rows_rejected"] == 2
    with db.engine_for(any_app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass", role="admin")
        token = accounts.create_token(conn, "t", "editor")
    response = any_app.test_client().get(
        f"/api/datasets/data/imports/{report['import_id']}/rejected.csv",
        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    header, *rows = _assert_formula_safe(response.get_data(as_text=True))
    assert header == ["row", "lat", "lon", "date", "'=HYPERLINK(\"http://x\")", "'@cmd",
                      "reason"]
    # (row numbers are the import's line numbers, which count the CR inside the cell)
    assert [r[1:6] for r in rows] == [["48.99", "-122.48", "bad", "note\r@SUM(1+1)", "'-1+1"],
                                      ["48.99", "-122.48", "worse", "a\n=1+1", "'+cmd"]]
    assert rows[0][0] == "3" and "date" in rows[0][6]


@pytest.mark.parametrize("value, expected", [
    ("-122.75", "-122.75"), ("+3", "+3"), ("-1e-5", "-1e-5"), ("-.5", "-.5"),
    ("-inf", "'-inf"), ("-1_000", "'-1_000"), ("- 1", "'- 1"), ("=1", "'=1"), (3, 3),
])
def test_csv_output_cannot_start_a_formula_neutralise(value, expected):
    assert csv_output.neutralise(value) == expected
    frame = csv_output.neutralise_frame(pd.DataFrame({"c": [value]}, dtype=object))
    assert frame["c"].tolist() == [expected]
