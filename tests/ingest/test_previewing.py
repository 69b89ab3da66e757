"""The preview's dry run (#18 item 1) and the report's counts by reason (#18 item 5).

The dry run runs the import's own validation over the kept upload: its counts must be the
import's, whatever the file, mapping or key, on both databases; the report counts every
issue by reason with its first rows.
"""

from __future__ import annotations

import io

import pytest

from geomap import db, ingest
from geomap.ingest import columns, doors
from geomap.errors import Unprocessable

from ingest_helpers import FAKE_REGIONS, fake_regions  # noqa: F401  (fixture)
from .test_pipeline import Env


def mixed(n: int = 60) -> bytes:
    """Good rows and rows rejected for several reasons: every 5th outside the area, every
    7th without a date it can read, every 11th with a negative count; other_lat is empty
    on even rows (mapping lat to it rejects them); every 13th 150 km from the border (a
    warning)."""
    lines = ["incident_id,lat,lon,date,count,other_lat,Code"]
    for i in range(n):
        lat = "70.5" if i % 5 == 0 else ("50.35" if i % 13 == 0 else "49.01")
        date = f"2024-01-{i % 28 + 1:02d}" if i % 7 else "not a date"
        count = "-1" if i % 11 == 0 else "2"
        other = "48.99" if i % 2 else ""
        code = "" if i % 17 == 3 else f"P{i}"
        lines.append(f"{i},{lat},-122.7,{date},{count},{other},{code}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def env(any_app, fake_regions):  # noqa: F811
    yield Env(any_app)
    db.dispose_engine(any_app.config["DATABASE_URL"])


def _check(env, data: bytes, key=None, max_rows=None, **options):
    options.setdefault("filename", "mixed.csv")
    return ingest.preview(io.BytesIO(data), ingest.Options(**options), env.settings,
                          check=ingest.Check(FAKE_REGIONS, key=key, max_rows=max_rows))


def _comparable(groups):
    return [(g["reason"], g["rows"], g["columns"], g["examples"]) for g in groups]


@pytest.mark.parametrize("options", [
    {}, {"mapping": {"lat": "other_lat"}}, {"key": ("Code",)}, {"mapping": {"count": "Code"}}])
def test_dry_run_counts_are_the_imports(env, options):
    data = mixed()
    checked = _check(env, data, **options)["check"]
    report = env.run(io.BytesIO(data), dataset="same", filename="mixed.csv", **options)
    assert checked["sample"] is False and checked["refusal"] is None
    assert checked["rows_total"] == report["rows_total"] == 60
    assert checked["rows_rejected"] == report["rows_rejected"] > 0
    assert checked["rows_kept"] == (report["rows_imported"] + report["rows_updated"]
                                    + report["rows_unchanged"])
    assert _comparable(checked["errors_by_reason"]) == _comparable(report["errors_by_reason"])
    assert (_comparable(checked["warnings_by_reason"])
            == _comparable(report["warnings_by_reason"]))


def _wide() -> bytes:
    lines = ["Port,lat,lon,Jan 2024,Feb 2024,Mar 2024"]
    for i in range(30):
        lat = "70.5" if i % 4 == 0 else "49.01"
        lines.append(f"P{i},{lat},-122.7,{i},{'-2' if i % 3 == 0 else i},{'x' if i % 5 else 'n'}")
    return ("\n".join(lines) + "\n").encode()


def _workbook() -> bytes:
    from spreadsheets import xlsx_bytes

    rows = [["Title line of the publisher"], ["id", "lat", "lon", "date", "count"]]
    for i in range(40):
        rows.append([f"W{i}", 70.5 if i % 6 == 0 else 49.01, -122.7, f"2024-02-{i % 27 + 1:02d}",
                     -1 if i % 9 == 0 else 1])
    return xlsx_bytes({"Notes": [["nothing here"]], "Data": rows})


@pytest.mark.parametrize("make, options", [(_wide, {"wide": True}),
                                           (_workbook, {"sheet": "Data"})])
def test_dry_run_counts_are_the_imports_for_wide_tables_and_sheets(env, make, options):
    data = make()
    checked = _check(env, data, **options)["check"]
    report = env.run(io.BytesIO(data), dataset="same", filename="file", **options)
    assert checked["rows_rejected"] == report["rows_rejected"] > 0
    assert checked["rows_total"] == report["rows_total"]
    assert _comparable(checked["errors_by_reason"]) == _comparable(report["errors_by_reason"])


def test_changing_the_mapping_changes_the_counts(env):
    data = mixed()
    detected = _check(env, data)["check"]
    other = _check(env, data, mapping={"lat": "other_lat"})["check"]
    assert other["rows_rejected"] > detected["rows_rejected"]
    reasons = {g["reason"]: g["rows"] for g in other["errors_by_reason"]}
    assert reasons["latitude is missing"] == 30
    assert "latitude is missing" not in {g["reason"] for g in detected["errors_by_reason"]}


def test_report_counts_every_issue_by_reason_with_its_first_rows(env):
    report = env.run(io.BytesIO(mixed(600)), filename="mixed.csv")
    groups = {g["reason"]: g for g in report["errors_by_reason"]}
    outside = groups["more than 500 km from the US-Canada border"]
    # Every 5th row (line = index + 2) but those already rejected for their date or count
    # (not joined); the message keeps the detail.
    expected = [i for i in range(600) if i % 5 == 0 and i % 7 and i % 11]
    assert outside["rows"] == len(expected) == 93 and outside["columns"] == ["lat"]
    assert [e["row"] for e in outside["examples"]] == [7, 12, 17, 22, 27]
    assert outside["examples"][0]["message"].startswith("outside the area of interest: ")
    assert groups["count must be 0 or more"]["rows"] == 55
    assert sum(g["rows"] for g in report["errors_by_reason"]) >= report["rows_rejected"]
    far = report["warnings_by_reason"][0]
    assert far["reason"] == "farther than 100 km from the border" and far["rows"] > 0
    assert "km from the border, farther than" in far["examples"][0]["message"]
    # Sorted by how many rows each reason has; the listed issues stay as SPEC §4 has them.
    assert [g["rows"] for g in report["errors_by_reason"]] == sorted(
        (g["rows"] for g in report["errors_by_reason"]), reverse=True)
    assert {"row", "column", "value", "message"} <= set(report["errors"][0])
    assert ingest.describe_group(outside) == ("93 rows: more than 500 km from the US-Canada "
                                              "border — e.g. rows 7, 12, 17, 22, 27")


def test_a_large_file_is_checked_on_a_sample_that_says_so(env):
    checked = _check(env, mixed(600), max_rows=100)["check"]
    assert checked["sample"] is True and checked["rows_total"] == 100
    assert checked["rows_expected"] == 600
    whole = _check(env, mixed(600), max_rows=600)["check"]
    assert whole["sample"] is False and whole["rows_total"] == 600


def test_the_dry_run_says_when_the_import_would_be_refused(env):
    checked = _check(env, mixed(), strict=True)["check"]
    assert checked["refusal"].startswith("strict mode: ")
    with pytest.raises(Unprocessable, match="strict mode"):
        env.run(io.BytesIO(mixed()), filename="mixed.csv", strict=True)


def test_a_first_row_of_data_is_offered_as_a_row(env):
    data = b"49.0021,-122.75,2024-01-05,3\n48.99,-122.70,2024-01-06,1\n"
    seen = ingest.preview(io.BytesIO(data), ingest.Options(filename="x.csv"), env.settings,
                          guess_header=True, lenient=True)
    assert seen["header_guessed"] and not seen["header"]
    assert seen["columns"] == ["Column 1", "Column 2", "Column 3", "Column 4"]
    assert seen["rows"][0][0] == "49.0021" and seen["lines"] == [1, 2]
    assert seen["problem"] is not None and seen["fields"] == {}  # nothing mapped yet
    header = b"Port,2019,2020\nBlaine,3,4\n"
    assert not columns.header_looks_like_data(["Port", "2019", "2020"])
    assert not ingest.preview(io.BytesIO(header), ingest.Options(filename="y.csv"),
                              env.settings, guess_header=True, lenient=True)["header_guessed"]


@pytest.mark.parametrize("door, says, never", [
    (doors.WEB, "in the column mapping", "--map"),
    (doors.API, "map_lat=N&map_lon=N&map_occurred_at=N", "--map"),
    (doors.CLI, "--map lat=N --map lon=N --map occurred_at=N", "column mapping")])
def test_messages_speak_the_doors_terms(env, door, says, never):
    data = b"49.0021,-122.75,2024-01-05,3\n48.99,-122.70,2024-01-06,1\n"
    with pytest.raises(Unprocessable) as caught:
        ingest.preview(io.BytesIO(data), ingest.Options(header=False, door=door),
                       env.settings)
    assert says in caught.value.message and never not in caught.value.message


@pytest.mark.parametrize("door, says", [
    (doors.WEB, "tick “The file has no header row” and choose the latitude, longitude, date "
                "columns in the column mapping"),
    (doors.API, "send no_header=1 and map them with map_lat=N&map_lon=N&map_occurred_at=N"),
    (doors.CLI, "add --no-header and map them with --map lat=N --map lon=N --map occurred_at=N")])
def test_a_header_less_file_read_with_a_header_is_named_as_such(env, door, says):
    data = b"49.0021,-122.75,2024-01-05,3\n48.99,-122.70,2024-01-06,1\n"
    with pytest.raises(Unprocessable) as caught:
        ingest.preview(io.BytesIO(data), ingest.Options(door=door), env.settings)
    assert f"the first row looks like data, not column names: {says}" in caught.value.message
