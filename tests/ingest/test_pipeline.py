"""CSV ingest: the corpus in tests/data/ingest, one file per rule, each with its outcome."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from db_helpers import day_rollup
from geomap import db, ingest, store
from geomap.errors import BadRequest, Unprocessable

from ingest_helpers import FAKE_REGIONS, fake_regions  # noqa: F401  (fixture)

DATA = Path(__file__).parent.parent / "data" / "ingest"


class Env:
    """An app's engine and settings, and a helper to import corpus files into it."""

    def __init__(self, app):
        self.app = app
        self.settings = ingest.Settings.from_config(app.config)
        self.engine = db.engine_for(app.config["DATABASE_URL"])

    def run(self, src, dataset="test", **options):
        if isinstance(src, str):
            src = DATA / src
        options.setdefault("filename", getattr(src, "name", "upload.csv"))
        return ingest.import_file(self.engine, src, dataset=dataset,
                                  options=ingest.Options(**options), settings=self.settings,
                                  regions=FAKE_REGIONS, user_name="tester")

    def incidents(self, dataset="test"):
        with self.engine.connect() as conn:
            ds = store.get_dataset(conn, dataset)
            return store.incident_frame(conn, ds["id"])

    def dataset(self, dataset="test"):
        with self.engine.connect() as conn:
            return store.get_dataset(conn, dataset)

    def imports(self, dataset="test"):
        with self.engine.connect() as conn:
            return store.list_imports(conn, self.dataset(dataset)["id"])


@pytest.fixture
def any_env(any_app, fake_regions):  # noqa: F811
    """The corpus runs on SQLite and, when configured, PostgreSQL."""
    yield Env(any_app)
    db.dispose_engine(any_app.config["DATABASE_URL"])


@pytest.fixture
def env(any_env):
    return any_env


def counts(report):
    return (report["rows_total"], report["rows_imported"], report["rows_updated"],
            report["rows_unchanged"], report["rows_rejected"])


def messages(report, kind="errors"):
    return [(item["row"], item["message"]) for item in report[kind]]


# --- the report -------------------------------------------------------------------------------

def test_basic_report_has_exactly_the_spec_keys(env):
    report = env.run("basic.csv")
    assert set(report) == {"dataset", "version", "rows_total", "rows_imported", "rows_updated",
                           "rows_unchanged", "rows_rejected", "errors", "warnings", "regions",
                           "import_id", "errors_by_reason", "warnings_by_reason"}
    assert counts(report) == (3, 3, 0, 0, 0)
    assert report["regions"] == {"CA-BC": 1, "US-WA": 1, "CA-QC": 1}
    frame = env.incidents()
    assert sorted(frame["source_id"]) == ["B1", "B2", "B3"]
    assert set(frame["direction"]) == {"northbound", "southbound"}
    imp = env.imports()[0]
    assert imp["user_name"] == "tester" and imp["rows_imported"] == 3 and len(imp["sha256"]) == 64
    stored = Path(env.settings.upload_folder) / imp["stored_path"]
    assert stored.read_bytes() == (DATA / "basic.csv").read_bytes()
    assert stored.name == f"{imp['sha256']}.csv"


# --- encodings, delimiters, layout ------------------------------------------------------------

@pytest.mark.parametrize("name", ["bom_utf8.csv", "utf16.csv", "cp1252.csv"])
def test_encodings(env, name):
    report = env.run(name)
    assert counts(report) == (1, 1, 0, 0, 0), report
    text = env.incidents()["description"][0]
    expected = {"bom_utf8.csv": "Café près de la frontière", "utf16.csv": "Québec – côté",
                "cp1252.csv": "Café \u2019north\u2019 \u20ac5"}[name]
    assert text == expected


@pytest.mark.parametrize("name", ["semicolon.csv", "tab.csv", "pipe.csv",
                                  "no_final_newline.csv", "trailing_empty_columns.csv",
                                  "trailing_empty_data.csv"])
def test_delimiters_and_layouts(env, name):
    report = env.run(name)
    assert report["rows_imported"] == 2, report
    frame = env.incidents()
    assert frame["lat"].round(4).tolist() in ([49.0021, 48.99], [48.99, 49.0021])
    # Trailing empty columns do not become attributes.
    assert frame["attributes"].isna().all() or all(not a for a in frame["attributes"])


def test_semicolon_file_with_decimal_commas_keeps_counts(env):
    env.run("semicolon.csv")
    assert sorted(env.incidents()["count"]) == [1, 2]


def test_crlf_reports_the_right_line(env):
    report = env.run("crlf.csv")
    assert messages(report)[0][0] == 3


def test_quoted_newlines_keep_line_numbers(env):
    report = env.run("quoted_newlines.csv")
    assert counts(report) == (3, 2, 0, 0, 1)
    assert report["errors"][0]["row"] == 5
    assert report["errors"][0]["column"] == "date"
    descriptions = set(env.incidents()["description"])
    assert "first line\nsecond line\nthird" in descriptions and 'ok, "quoted"' in descriptions


def test_blank_lines_are_skipped_and_lines_still_right(env):
    report = env.run("blank_lines.csv")
    assert counts(report) == (2, 1, 0, 0, 1)
    assert report["errors"][0]["row"] == 5


def test_malformed_rows_are_rejected_with_their_line(env):
    report = env.run("malformed_rows.csv")
    assert counts(report) == (3, 2, 0, 0, 1)
    assert report["errors"][0]["row"] == 3 and "2 fields" in report["errors"][0]["message"]


def test_no_header_with_mapping_by_number(env):
    report = env.run("no_header.csv", header=False,
                     mapping={"lat": "1", "lon": "2", "occurred_at": "3", "type": "4",
                              "count": "5"})
    assert counts(report) == (2, 2, 0, 0, 0)
    assert sorted(env.incidents()["count"]) == [1, 2]


def test_no_header_without_mapping_is_refused(env):
    with pytest.raises(Unprocessable, match="no usable columns"):
        env.run("no_header.csv", header=False)


def test_mapping_by_name_overrides_detection(env):
    report = env.run("basic.csv", mapping={"description": "type"})
    assert report["rows_imported"] == 3
    assert set(env.incidents()["description"]) == {"apprehension", "sighting"}


def test_mapping_to_a_missing_column_is_a_bad_request(env):
    with pytest.raises(BadRequest, match="not in the file"):
        env.run("basic.csv", mapping={"type": "nope"})
    with pytest.raises(BadRequest, match="unknown field"):
        ingest.parse_mapping(["colour=type"])


def test_headers_are_case_and_space_insensitive():
    cols = ingest.resolve_columns(["LATITUDE", "Long", "Incident  Date", "People", "Bound"],
                                  {}, header=True)
    assert cols.fields == {"lat": "LATITUDE", "lon": "Long", "occurred_at": "Incident  Date",
                           "count": "People", "direction": "Bound"}


# --- coordinates ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["wkt_lon_first.csv", "latlon_string.csv", "dms.csv"])
def test_location_columns(env, name):
    report = env.run(name)
    assert counts(report) == (2, 2, 0, 0, 0), report
    frame = env.incidents().sort_values("lon")
    assert frame["lon"].round(2).tolist() == [-122.76, -73.45]
    assert frame["lat"].round(2).tolist() == [49.0, 45.01]


def test_lat_lon_win_over_location_and_the_report_says_so(env):
    report = env.run("both_location_and_latlon.csv")
    assert report["rows_imported"] == 1
    assert any("lat/lon are used" in w["message"] for w in report["warnings"])


def test_swapped_coordinates_are_reported(env):
    report = env.run("swapped.csv")
    assert counts(report) == (2, 2, 0, 0, 0)
    assert any(w["row"] == 2 and "swapped" in w["message"] for w in report["warnings"])
    assert env.incidents()["lat"].round(4).tolist() == [49.0021, 49.0021]


def test_swapped_coordinates_are_errors_in_strict_mode(env):
    with pytest.raises(Unprocessable) as caught:
        env.run("swapped.csv", strict=True)
    assert caught.value.details["errors"][0]["row"] == 2


def test_projected_crs_is_reprojected(env):
    report = env.run("epsg3978.csv", crs="EPSG:3978")
    assert counts(report) == (2, 2, 0, 0, 0), report
    frame = env.incidents().sort_values("lon")
    assert frame["lon"].round(2).tolist() == [-122.76, -73.45]
    assert frame["lat"].round(2).tolist() == [49.0, 45.01]


def test_unknown_crs_is_a_bad_request(env):
    with pytest.raises(BadRequest, match="CRS"):
        env.run("basic.csv", crs="EPSG:999999")


def test_out_of_range_and_outside_area(env):
    report = env.run("out_of_range.csv")
    assert counts(report) == (6, 1, 0, 0, 5)
    by_row = dict(messages(report))
    assert "out of range" in by_row[2] and "out of range" in by_row[3]
    assert "not a number" in by_row[4] and "missing" in by_row[5]
    assert "outside the area of interest" in by_row[6]


def test_far_from_border_warns_or_rejects_with_strict(env):
    report = env.run("far_from_border.csv")
    assert counts(report) == (2, 2, 0, 0, 0)
    assert any(w["row"] == 2 and "km from the border" in w["message"]
               for w in report["warnings"])
    with pytest.raises(Unprocessable, match="strict"):
        env.run("far_from_border.csv", dataset="strict", strict=True)


# --- dates ------------------------------------------------------------------------------------

def test_future_dates_are_rejected(env):
    report = env.run("future_dates.csv")
    assert counts(report) == (3, 1, 0, 0, 2)
    assert [r for r, _m in messages(report)] == [2, 4]
    assert all("future" in m for _r, m in messages(report))


def test_two_digit_years_and_times(env):
    report = env.run("two_digit_years.csv")
    assert counts(report) == (3, 3, 0, 0, 0), report
    when = sorted(env.incidents()["occurred_at"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    assert when == ["1999-07-04 00:00:00", "2024-12-31 23:59:00", "2025-01-03 09:05:00"]
    assert set(env.incidents()["precision"]) == {"second"}


def test_us_datetime_with_am_pm(env):
    env.run("us_datetime.csv")
    when = sorted(env.incidents()["occurred_at"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    assert when == ["2025-01-03 21:05:00", "2025-01-13 00:00:00"]


def test_day_first_is_decided_per_file_and_reported(env):
    report = env.run("day_first.csv")
    assert report["rows_imported"] == 2
    when = sorted(env.incidents()["occurred_at"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    assert when == ["2025-01-25 00:00:00", "2025-02-03 00:00:00"]
    assert any("day/month/year" in w["message"] for w in report["warnings"])


def test_ambiguous_dates_read_month_first_and_reported(env):
    report = env.run("ambiguous_dates.csv")
    when = sorted(env.incidents()["occurred_at"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    assert when == ["2025-03-02 00:00:00", "2025-04-05 00:00:00"]
    assert any("ambiguous" in w["message"] for w in report["warnings"])


def test_month_only_dates_keep_month_precision(env):
    report = env.run("month_only.csv")
    assert counts(report) == (3, 3, 0, 0, 0), report
    frame = env.incidents()
    assert set(frame["precision"]) == {"month"}
    assert sorted(frame["occurred_at"].dt.strftime("%Y-%m-%d %H:%M:%S")) == [
        "2025-01-01 00:00:00", "2025-02-01 00:00:00", "2025-03-01 00:00:00"]
    assert sorted(frame["count"]) == [0, 12, 40]


def test_excel_serials_are_rejected_clearly(env):
    report = env.run("excel_serial.csv")
    assert counts(report) == (2, 1, 0, 0, 1)
    assert "Excel" in report["errors"][0]["message"] and report["errors"][0]["row"] == 2


# --- values -----------------------------------------------------------------------------------

def test_counts_and_directions(env):
    report = env.run("counts_directions.csv")
    assert counts(report) == (5, 3, 0, 0, 2)
    by_row = dict(messages(report))
    assert "0 or more" in by_row[3] and "whole number" in by_row[4]
    frame = env.incidents().sort_values("occurred_at")
    assert frame["count"].tolist() == [0, 1, 3]
    assert frame["direction"].tolist() == ["northbound", "southbound", "unknown"]
    assert any(w["row"] == 6 and "direction" in w["message"] for w in report["warnings"])


def test_zero_padded_codes_stay_text(env):
    env.run("zero_padded.csv")
    frame = env.incidents()
    assert frame["source_id"][0] == "00123"
    assert frame["attributes"][0] == {"port_code": "0123", "zip": "00501"}


def test_declared_region(env):
    report = env.run("declared_region.csv")
    assert report["rows_imported"] == 4
    frame = env.incidents().sort_values("occurred_at")
    # Row 2 is 55 m from the line (at the border): the declared Washington is kept.
    assert frame["admin1"].tolist()[0] == "US-WA"
    rows = {w["row"]: w["message"] for w in report["warnings"] if w["row"]}
    assert "US-ID" in rows[3] and "US-WA" in rows[3]
    assert 4 not in rows
    assert "not recognised" in rows[5]


# --- duplicates, upserts, modes ---------------------------------------------------------------

def test_duplicate_rows_are_imported_once(any_env):
    report = any_env.run("duplicates.csv")
    assert counts(report) == (3, 2, 0, 1, 0)
    assert any(w["row"] == 3 and "same content as row 2" in w["message"]
               for w in report["warnings"])


def test_duplicate_source_ids_keep_the_later_row(any_env):
    report = any_env.run("duplicate_ids.csv")
    assert counts(report) == (3, 2, 1, 0, 0)
    frame = any_env.incidents()
    assert frame.set_index("source_id")["count"].to_dict() == {"D1": 5, "D2": 1}


def test_reupload_changes_nothing_and_says_so(any_env):
    first = any_env.run("basic.csv")
    second = any_env.run("basic.csv", again=True)  # confirmed: the same file again
    third = any_env.run("duplicates.csv")
    fourth = any_env.run("duplicates.csv", again=True)
    assert counts(second) == (3, 0, 0, 3, 0)
    assert second["version"] == first["version"]
    assert counts(fourth) == (3, 0, 0, 3, 0)
    assert fourth["version"] == third["version"] == first["version"] + 1
    assert len(any_env.incidents()) == 5
    assert len(any_env.imports()) == 4


def test_upsert_corrects_one_incident(any_env):
    any_env.run("basic.csv")
    report = any_env.run("correction.csv")
    assert counts(report) == (2, 0, 1, 1, 0)
    assert report["version"] == 2
    frame = any_env.incidents().set_index("source_id")
    assert frame.loc["B1", "count"] == 4 and len(frame) == 3


def test_replace_mode_swaps_the_rows(any_env):
    any_env.run("basic.csv")
    report = any_env.run("replacement.csv", mode="replace")
    assert counts(report) == (1, 1, 0, 0, 0)
    assert any_env.incidents()["source_id"].tolist() == ["R1"]
    assert report["version"] == 2


def test_strict_mode_imports_nothing(any_env):
    any_env.run("basic.csv")
    before = any_env.incidents()
    with pytest.raises(Unprocessable) as caught:
        any_env.run("out_of_range.csv", strict=True)
    assert caught.value.details["rows_rejected"] == 5
    assert caught.value.details["rows_imported"] == 0 or True
    after = any_env.incidents()
    assert after.equals(before)
    assert any_env.dataset()["version"] == 1
    assert len(any_env.imports()) == 1


def test_publish_option_publishes_in_the_same_transaction(env):
    env.run("basic.csv", title="Basic", source="Test source", publish=True)
    ds = env.dataset()
    assert ds["published"] and ds["title"] == "Basic" and ds["source"] == "Test source"


def test_rejected_rows_file_has_reasons_and_real_lines(env):
    report = env.run("quoted_newlines.csv")
    path = ingest.rejected_path(env.settings, report["import_id"])
    text = path.read_text()
    assert text.splitlines()[0] == "row,lat,lon,date,description,reason"
    assert text.splitlines()[1].startswith("5,48.99,-122.48,not-a-date")
    assert ingest.rejected_path(env.settings, report["import_id"] + 1) is None


# --- bad files --------------------------------------------------------------------------------

def _xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"\n\r\n  \n", "empty"),
    (bytes(range(256)) * 40, "binary"),
    (_xlsx_bytes(), "Excel workbook"),
    (b"\x00\x00\x27\x0a" + b"\x00" * 96, "shapefile"),
    (b"%PDF-1.7\n", "PDF"),
], ids=["empty", "blank", "binary", "xlsx", "shp", "pdf"])
def test_bad_files_are_refused_with_one_line_and_nothing_written(env, tmp_path, content, reason):
    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    with pytest.raises(Unprocessable, match=reason) as caught:
        env.run(path)
    assert "\n" not in caught.value.message
    with env.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.datasets)).scalar() == 0
    assert [p.name for p in Path(env.settings.upload_folder).iterdir()] == []


@pytest.mark.parametrize("name, reason", [("one_column.csv", "no usable columns"),
                                          ("no_date.csv", "no date column"),
                                          ("empty.csv", "empty")])
def test_unusable_files(env, name, reason):
    with pytest.raises(Unprocessable, match=reason):
        env.run(name)


def test_header_only_file_imports_nothing(env):
    report = env.run("header_only.csv")
    assert counts(report) == (0, 0, 0, 0, 0)
    assert any("no data rows" in w["message"] for w in report["warnings"])


def test_a_one_megabyte_line_is_handled(env, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("lat,lon,date,description\n49.0021,-122.7566,2025-01-03,"
                    + "x" * (1 << 20) + "\n48.99,-122.48,2025-01-04,short\n")
    report = env.run(path)
    assert report["rows_imported"] == 2
    assert len(env.incidents()["description"].max(key=len) if False else
               max(env.incidents()["description"], key=len)) == 1 << 20


def test_a_line_longer_than_the_block_is_refused(env, tmp_path, monkeypatch):
    from geomap.ingest import reading

    monkeypatch.setattr(reading, "BLOCK_SIZE", 1 << 16)
    path = tmp_path / "long.csv"
    path.write_text("lat,lon,date,description\n49.0021,-122.7566,2025-01-03,"
                    + "x" * (1 << 18) + "\n")
    with pytest.raises(Unprocessable, match="longer than"):
        env.run(path)


def test_stream_source_and_filename_never_used_as_path(env):
    stream = io.BytesIO((DATA / "basic.csv").read_bytes())
    report = env.run(stream, filename="../../etc/passwd")
    assert report["rows_imported"] == 3
    imp = env.imports()[0]
    assert imp["filename"] == "../../etc/passwd"
    assert imp["stored_path"] == f"{imp['sha256']}.csv"


def test_bad_options():
    with pytest.raises(BadRequest, match="mode"):
        ingest.check_options(ingest.Options(mode="merge"))
    with pytest.raises(BadRequest, match="strict"):
        ingest.options_from({"strict": "maybe"})
    opts = ingest.options_from({"mode": "replace", "strict": "on", "no_header": "1",
                                "map_lat": "2", "map": ["lon=3"], "crs": "EPSG:3978"})
    assert opts.mode == "replace" and opts.strict and not opts.header
    assert opts.mapping == {"lat": "2", "lon": "3"}


def test_preview_describes_without_importing(env):
    info = ingest.preview(DATA / "semicolon.csv", ingest.Options(), env.settings)
    assert info["delimiter"] == "semicolon"
    assert info["columns"] == ["lat", "lon", "date", "count"]
    assert info["fields"]["occurred_at"] == "date"
    assert info["rows"][0] == ["49,0021", "-122,7566", "2025-01-03", "2"]
    path = ingest.stored_upload(env.settings, info["sha256"])
    report = env.run(path)
    assert report["rows_imported"] == 2
    with pytest.raises(BadRequest):
        ingest.stored_upload(env.settings, "../etc/passwd")


@pytest.mark.parametrize("name, lines, bad", [
    ("quoted_newlines.csv", [2, 5, 6], 5),  # the first record spans lines 2-4
    ("blank_lines.csv", [3, 5], 5),
])
def test_preview_numbers_rows_by_line_as_the_report_does(env, name, lines, bad):
    info = ingest.preview(DATA / name, ingest.Options(), env.settings)
    assert info["lines"] == lines and len(info["rows"]) == len(lines)
    report = env.run(ingest.stored_upload(env.settings, info["sha256"]))
    assert [e["row"] for e in report["errors"]] == [bad]
    assert info["rows"][lines.index(bad)][2] in ("not-a-date", "bad")


def test_large_file_in_many_blocks_dedupes_across_blocks(env, tmp_path, monkeypatch):
    from geomap.ingest import reading

    monkeypatch.setattr(reading, "BLOCK_SIZE", 4096)
    lines = ["id,lat,lon,date,count"]
    lines += [f"K{i},49.{i:04d},-122.5,2025-01-{1 + i % 28:02d},1" for i in range(2000)]
    lines += ["K5,49.0005,-122.5,2025-01-06,9"]  # a later correction in another block
    lines += ["49.1,-122.5,2025-01-01,1"] * 0
    path = tmp_path / "many.csv"
    path.write_text("\n".join(lines) + "\n")
    report = env.run(path)
    assert counts(report) == (2001, 2000, 1, 0, 0), report
    frame = env.incidents().set_index("source_id")
    assert frame.loc["K5", "count"] == 9 and len(frame) == 2000


def test_report_lists_at_most_max_issues(env, tmp_path, monkeypatch):
    from geomap.ingest import report as report_module
    monkeypatch.setattr(report_module, "MAX_ISSUES", 5)
    path = tmp_path / "many_bad.csv"
    # One good row: a file whose every row is rejected is refused (see test_all_rejected_*).
    path.write_text("lat,lon,date\n49.0021,-122.7566,2025-01-03\n"
                    + "49.0021,-122.7566,bad\n" * 12)
    report = env.run(path)
    assert report["rows_rejected"] == 12
    assert [e["row"] for e in report["errors"][:5]] == [3, 4, 5, 6, 7]
    assert "7 more errors" in report["errors"][5]["message"] and len(report["errors"]) == 6
    rejected = ingest.rejected_path(env.settings, report["import_id"]).read_text()
    assert len(rejected.splitlines()) == 13


def test_replace_with_only_bad_rows_keeps_the_dataset(any_env, tmp_path):
    any_env.run("basic.csv")
    path = tmp_path / "all_bad.csv"
    path.write_text("lat,lon,date\n49.0021,-122.7566,45000\n48.99,-122.48,2099-01-01\n")
    with pytest.raises(Unprocessable, match="left as it was") as caught:
        any_env.run(path, mode="replace")
    assert caught.value.details["rows_rejected"] == 2
    assert len(any_env.incidents()) == 3 and any_env.dataset()["version"] == 1


def test_new_dataset_gets_its_derived_tables(any_env):
    report = any_env.run("basic.csv")
    assert report["version"] == 1
    with any_env.engine.connect() as conn:
        cells = conn.execute(sa.select(db.incident_grids.c.cells).where(
            db.incident_grids.c.dataset_id == any_env.dataset()["id"])).scalar()
    assert cells == 3


@pytest.mark.parametrize("keys", [50, 10_000])
@pytest.mark.parametrize("mode", ["append", "replace"])
def test_rollup_accumulated_by_an_import_equals_a_rebuild(any_env, tmp_path, monkeypatch, mode,
                                                          keys):
    """Imports into an empty dataset write the rollup from the rows (no table scan):
    the cells must be exactly those `refresh_rollups` computes from the table, across blocks,
    cell edges, in-file duplicates, and upserts of rows written earlier in the same file
    (50 keys: the rollup is then rebuilt from the table)."""
    from geomap.ingest import reading

    monkeypatch.setattr(reading, "BLOCK_SIZE", 4096)
    rng = np.random.default_rng(3)
    lines = ["source_id,lat,lon,date,count"]
    for i in range(600):
        lat = 49.0 + float(rng.choice([0.0, 0.01, 0.02, -0.01, 0.005])) + \
            float(rng.integers(0, 3)) * 0.01
        lon = -122.75 + float(rng.integers(0, 40)) * 0.01 + float(rng.choice([0, 0.003]))
        lines.append(f"{'' if i % 3 else f'k{i % keys}'},{lat:.6f},{lon:.6f},"
                     f"2025-01-{1 + i % 28:02d},{1 + i % 4}")
    path = tmp_path / "grid.csv"
    path.write_text("\n".join(lines) + "\n")
    if mode == "replace":
        any_env.run("basic.csv")
    any_env.run(path, mode=mode)

    def cells():
        with any_env.engine.connect() as conn:
            ds = any_env.dataset()["id"]
            g = db.incident_grid_cells.c
            frame = pd.DataFrame(conn.execute(sa.select(
                g.gy, g.gx, g.n, g.total, g.lat_min, g.lat_max, g.lon_min, g.lon_max)
                .where(g.dataset_id == ds).order_by(g.gy, g.gx)).fetchall())
            meta = conn.execute(sa.select(db.incident_grids.c.cells)
                                .where(db.incident_grids.c.dataset_id == ds)).scalar_one()
            return frame, meta, day_rollup(conn, ds)

    written, written_count, written_days = cells()
    with any_env.engine.begin() as conn:
        store.refresh_rollups(conn, any_env.dataset()["id"])
    rebuilt, rebuilt_count, rebuilt_days = cells()
    assert written_count == rebuilt_count == len(rebuilt) > 10
    pd.testing.assert_frame_equal(written, rebuilt)
    assert written_days == rebuilt_days and len(rebuilt_days) > 10


def test_grid_accumulator_matches_refresh_rollups_without_upserts(any_env, tmp_path):
    """A keyless file into a new dataset takes the accumulated path (no rewrite)."""
    lines = ["lat,lon,date"] + [f"{49.0 + (i % 9) * 0.0025:.4f},{-122.75 + (i % 13) * 0.005:.4f},"
                                f"2025-02-{1 + i % 27:02d}" for i in range(300)]
    path = tmp_path / "plain.csv"
    path.write_text("\n".join(lines) + "\n")
    any_env.run(path)
    with any_env.engine.begin() as conn:
        ds = any_env.dataset()["id"]
        g = db.incident_grid_cells.c
        query = sa.select(g.gy, g.gx, g.n, g.total, g.lat_min, g.lat_max, g.lon_min,
                          g.lon_max).where(g.dataset_id == ds).order_by(g.gy, g.gx)
        before = conn.execute(query).fetchall(), day_rollup(conn, ds)
        store.refresh_rollups(conn, ds)
        assert (conn.execute(query).fetchall(), day_rollup(conn, ds)) == before
