"""Issue #15, hardening the import: the header decides a row's width, quotes left open are
reported where they opened, odd cells are rejected rows (never a 500), a CRS never makes PROJ
open a file, and an import that rejects every row (or most of a replacement) writes nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geomap import accounts, db, ingest, store
from geomap.ingest import reading, structure
from geomap.ingest import report as ingest_report
from geomap.errors import BadRequest, Unprocessable

from ingest_helpers import FAKE_REGIONS, fake_regions  # noqa: F401  (fixture)

DATA = Path(__file__).parent.parent / "data" / "ingest"
HEADER = "lat,lon,date,type\n"


def good_rows(n: int, start_day: int = 0, hourly: bool = False) -> str:
    """`n` distinct valid rows near the western border (one per day, or hour, from 2020)."""
    days = pd.date_range("2020-01-01", periods=n + start_day, freq="h" if hourly else "D")
    shape = "%Y-%m-%d %H:%M" if hourly else "%Y-%m-%d"
    return "".join(f"49.0021,-122.7566,{d.strftime(shape)},sighting\n"
                   for d in days[start_day:])


class Env:
    """An app's engine and settings, and helpers to import text into a dataset."""

    def __init__(self, app, tmp_path):
        self.settings = ingest.Settings.from_config(app.config)
        self.engine = db.engine_for(app.config["DATABASE_URL"])
        self.tmp = tmp_path

    def run(self, content, dataset="test", **options):
        data = content.encode("utf-8") if isinstance(content, str) else content
        return ingest.import_file(self.engine, io.BytesIO(data), dataset=dataset,
                                  options=ingest.Options(**options), settings=self.settings,
                                  regions=FAKE_REGIONS, user_name="tester")

    def state(self, dataset="test"):
        """Everything an import could change: the dataset row, its incidents, its imports."""
        with self.engine.connect() as conn:
            ds = store.get_dataset(conn, dataset, missing_ok=True)
            if ds is None:
                return None
            frame = store.incident_frame(conn, ds["id"])
            imports = store.list_imports(conn, ds["id"])
        columns = ["occurred_at", "lat", "lon", "type", "count"]
        rows = sorted(map(tuple, frame[columns].astype(str).to_numpy().tolist()))
        return {"version": ds["version"], "published": ds["published"], "rows": rows,
                "imports": len(imports)}


@pytest.fixture
def env(app, fake_regions, tmp_path):  # noqa: F811
    yield Env(app, tmp_path)
    db.dispose_engine(app.config["DATABASE_URL"])


@pytest.fixture
def any_env(any_app, fake_regions, tmp_path):  # noqa: F811
    """On SQLite and, when configured, PostgreSQL."""
    yield Env(any_app, tmp_path)
    db.dispose_engine(any_app.config["DATABASE_URL"])


def errors_by_row(report):
    return {e["row"]: e["message"] for e in report["errors"]}


# --- 1. the header decides the column count ---------------------------------------------------

def test_header_decides_column_count_a_stray_comma_is_that_rows_error(env):
    # Row 3 has a fifth, non-empty field; before, the widest of the first 50 records set the
    # width, so every other (good) row was "malformed" and only row 3 remained.
    text = HEADER + good_rows(1) + "49.0021,-122.7566,2020-03-01,sighting,oops\n" \
        + good_rows(60, start_day=1)
    report = env.run(text)
    assert (report["rows_total"], report["rows_imported"], report["rows_rejected"]) == (62, 61, 1)
    assert errors_by_row(report) == {3: "has 5 fields; the header has 4"}
    assert report["errors"][0]["value"].endswith("oops")


def test_header_decides_column_count_extra_empty_fields_are_dropped(env):
    # A few rows with empty fields beyond the header are good rows (the extras dropped), and
    # keep their real line numbers in the report; the one with a bad date is rejected.
    text = (HEADER + good_rows(3) + "49.0021,-122.7566,2021-01-01,sighting,,\n"
            + good_rows(3, start_day=10) + "49.0021,-122.7566,not a date,sighting, \n"
            + good_rows(3, start_day=20))
    report = env.run(text)
    assert (report["rows_total"], report["rows_imported"], report["rows_rejected"]) == (11, 10, 1)
    assert list(errors_by_row(report)) == [9]
    assert "not a recognised date" in report["errors"][0]["message"]
    rejected = ingest.rejected_path(env.settings, report["import_id"]).read_text()
    assert rejected.splitlines()[1].startswith("9,49.0021,-122.7566,not a date,sighting,")
    with env.engine.connect() as conn:
        frame = store.incident_frame(conn, store.get_dataset(conn, "test")["id"])
    assert (frame["occurred_at"].dt.strftime("%Y-%m-%d") == "2021-01-01").sum() == 1
    assert frame["attributes"].isna().all()  # no column was invented for the extra fields


def test_header_decides_column_count_every_row_with_trailing_empties(env):
    # Spreadsheet exports: every data row longer than the header, extras empty (fast path).
    text = HEADER + good_rows(40).replace("sighting\n", "sighting,,\n") \
        + "49.0021,-122.7566,2021-06-01,sighting,,late\n"
    report = env.run(text)
    assert (report["rows_imported"], report["rows_rejected"]) == (40, 1)
    assert errors_by_row(report) == {42: "has 6 fields; the header has 4"}


def test_header_decides_column_count_a_header_missing_a_name(env):
    # Every row has a filled field the header does not name: every row is rejected (read
    # that wide and checked per block), so the import is refused, nothing written.
    text = HEADER + good_rows(60).replace("sighting\n", "sighting,N\n")
    with pytest.raises(Unprocessable, match="none of the file's 60 row") as caught:
        env.run(text)
    errors = caught.value.details["errors"]
    assert {e["message"] for e in errors} == {"has 5 fields; the header has 4"}
    assert [e["row"] for e in errors[:3]] == [2, 3, 4]
    assert env.state() is None


def test_header_decides_column_count_replace_keeps_a_published_dataset(any_env):
    # The report of issue #15: one stray comma in the first lines wiped a published dataset
    # down to one row in replace mode.
    any_env.run(HEADER + good_rows(100), publish=True)
    text = HEADER + "49.0021,-122.7566,2020-01-01,sighting,\n" \
        + "49.0021,-122.7566,2020-01-02,sighting,x\n" + good_rows(98, start_day=2)
    report = any_env.run(text, mode="replace")
    assert (report["rows_imported"], report["rows_rejected"]) == (99, 1)
    assert len(any_env.state()["rows"]) == 99


def test_replace_refuses_when_more_than_half_is_rejected(any_env):
    any_env.run(HEADER + good_rows(10), publish=True)
    before = any_env.state()
    text = HEADER + good_rows(4) + "49.0021,-122.7566,bad,sighting\n" * 5
    with pytest.raises(Unprocessable, match=r"5 of the file's 9 rows were rejected") as caught:
        any_env.run(text, mode="replace")
    assert "left as it was" in caught.value.message
    assert caught.value.details["rows_rejected"] == 5
    assert any_env.state() == before
    # Half or fewer rejected: the replacement goes ahead.
    report = any_env.run(text.replace("bad", "2024-05-05", 1), mode="replace")
    assert (report["rows_imported"], report["rows_rejected"]) == (5, 4)
    assert len(any_env.state()["rows"]) == 5


# --- 2. quotes left open ----------------------------------------------------------------------

def test_unclosed_quote_on_line_2_of_a_long_file_is_reported(env):
    # Before: the rest of the file became one cell, imported as 1 rejected row, no warning.
    text = HEADER + '49.0021,-122.7566,"2020-01-01,sighting\n' + good_rows(20_000)
    with pytest.raises(Unprocessable) as caught:
        env.run(text)
    message = caught.value.message
    # The csv module reads the whole runaway field now that its field limit is raised
    # (ingest.reading), so the message counts its lines rather than stopping at 128 KiB.
    assert message.startswith("row 2, column 'date': the quoted field opened on line 2 runs "
                              "over 20,002 lines (more than 100)")
    assert 'a closing quote (") was expected' in message
    assert caught.value.details == {"row": 2, "line": 2, "column": "date"}
    assert env.state() is None


def test_unclosed_quote_at_the_end_of_the_file_is_reported(env):
    # Every record one line (the fast path): only the last line can hide an open quote.
    with pytest.raises(Unprocessable, match=r"^row 5, column 'type': the quoted field opened "
                                            r"on line 5 runs to the end of the file"):
        env.run(HEADER + good_rows(3) + '49.0021,-122.7566,2021-01-01,"sighting')
    # A legitimate quoted newline earlier (the slow path) and a quote open over two lines.
    text = HEADER + '49.0021,-122.7566,2021-01-01,"two\nlines"\n' + good_rows(3) \
        + '49.0021,-122.7566,2021-02-01,"open\nto the end\n'
    with pytest.raises(Unprocessable, match=r"^row 7, column 'type': the quoted field opened "
                                            r"on line 7 runs to the end of the file"):
        env.run(text)
    assert env.state() is None


@pytest.mark.parametrize("before", [0, 5])
def test_unclosed_quote_spanning_more_than_the_block_is_reported(env, monkeypatch, before):
    # Before: "a line is longer than 8 MB; this does not look like a CSV file of incidents"
    # (pyarrow refuses a record longer than its block, in the first block or a later one).
    monkeypatch.setattr(reading, "BLOCK_SIZE", 1 << 14)
    text = (HEADER + good_rows(before) + '49.0021,-122.7566,2021-01-01,"runaway\n'
            + good_rows(5000))
    row = before + 2
    with pytest.raises(Unprocessable, match=rf"^row {row}, column 'type': the quoted field "
                                            rf"opened on line {row} runs over"):
        env.run(text)


def test_unclosed_quote_the_csv_module_cannot_place_is_still_refused(env, monkeypatch):
    # If Python's csv module reads the file differently from pyarrow and finds no runaway
    # field, the import still stops (it used to go on with the swallowed rows).
    monkeypatch.setattr(structure, "scan", lambda *args, **kwargs: ([], []))
    text = HEADER + '49.0021,-122.7566,2020-01-01,"sighting\n' + good_rows(200)
    with pytest.raises(Unprocessable, match=r"^a quoted field runs over 100 lines or more"):
        env.run(text)
    assert env.state() is None


def test_unclosed_quote_limits_keep_legitimate_fields(env):
    # Long single-line cells and multi-line cells within the limits import as before.
    lines = "\n".join(["line"] * structure.MAX_FIELD_LINES)
    text = (HEADER + '49.0021,-122.7566,2021-01-01,"' + lines + '"\n'
            + "49.0021,-122.7566,2021-01-02," + "x" * 50_000 + "\n")
    report = env.run(text.replace("lat,lon,date,type", "lat,lon,date,description"))
    assert (report["rows_imported"], report["rows_rejected"]) == (2, 0)
    too_many = "\n".join(["line"] * (structure.MAX_FIELD_LINES + 1))
    with pytest.raises(Unprocessable, match=r"^row 2, column 'type': .* runs over 101 lines \(more than 100\)"):
        env.run(HEADER + '49.0021,-122.7566,2021-01-01,"' + too_many + '"\n' + good_rows(2))


# --- 3. no 500 on any input -------------------------------------------------------------------

HUGE = "1" + "0" * 400


@pytest.mark.parametrize("header, cells, message", [
    ("location,date", f'"POINT ({HUGE} 49)",2021-01-01',
     "location has a number too large to be a coordinate"),
    ("location,date", f'"POINT (-122.75 {HUGE})",2021-01-01',
     "location has a number too large to be a coordinate"),
    ("location,date", f'"{HUGE}, -122.75",2021-01-01',
     "location has a number too large to be a coordinate"),
    ("lat,lon,date", f"49.0021,-{HUGE},2021-01-01", "longitude is not a finite number"),
    ("lat,lon,date,count", f"49.0021,-122.7566,2021-01-01,{HUGE}", "count is too large"),
    ("lat,lon,date", "49.0021,-122.7566,99999-01-01", "not a recognised date"),
    ("lat,lon,date", "49.0021,-122.7566,9999-12-31", "date is in the future"),
])
def test_no_500_overflowing_cells_are_rejected_rows(any_env, header, cells, message):
    # Before: an infinite longitude from WKT passed validation and hit NOT NULL (a 500).
    good = {"location,date": '"POINT (-122.7566 49.0021)",2020-01-01',
            "lat,lon,date": "49.0021,-122.7566,2020-01-01",
            "lat,lon,date,count": "49.0021,-122.7566,2020-01-01,1"}[header]
    report = any_env.run(f"{header}\n{good}\n{cells}\n")
    assert (report["rows_imported"], report["rows_rejected"]) == (1, 1)
    assert report["errors"][0]["row"] == 3 and message in report["errors"][0]["message"]


def test_no_500_issue_list_with_a_malformed_row_of_unknown_line(monkeypatch):
    # A malformed record the csv module could not place has no line (None), which made the
    # merged "line" column object-typed and to_numpy() a read-only view: writing the real
    # lines of the other issues into it raised (a 500, found by fuzzing tiny files).
    log = ingest.IssueLog()
    log.append(pd.DataFrame({"line": [None], "real": [True], "column": [None],
                             "value": ['"x'], "message": ["has 1 fields; the header has 3"]}))
    log.append(pd.DataFrame({"line": [2], "real": [False], "column": ["date"],
                             "value": ["x"], "message": ["not a recognised date"]}))
    items = ingest_report._issue_list(log, lambda values: np.asarray(values) + 10, "errors")
    assert [(i["row"], i["message"]) for i in items] == [
        (None, "has 1 fields; the header has 3"), (12, "not a recognised date")]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
def test_no_500_nul_in_a_cell_is_a_rejected_row_on_both_backends(any_env, encoding):
    # PostgreSQL text cannot hold U+0000 (a 500 there, silently stored on SQLite). A UTF-8
    # NUL past the sniffed head (64 KB) used to pass the binary check too.
    filler = good_rows(3000, hourly=True) if encoding == "utf-8" else good_rows(2)
    text = ("lat,lon,date,ty\x00pe\n" + filler + "49.0021,-122.7566,2021-01-01,a\x00b\n"
            + good_rows(1, start_day=1000))
    report = any_env.run(text.encode(encoding))
    rows = len(filler.splitlines())
    assert (report["rows_imported"], report["rows_rejected"]) == (rows + 1, 1)
    assert report["errors"] == [{"row": rows + 2, "column": None, "value": None,
                                 "message": structure.NUL_MESSAGE}]
    with any_env.engine.connect() as conn:
        frame = store.incident_frame(conn, store.get_dataset(conn, "test")["id"])
    assert set(frame["type"]) == {"sighting"}  # the header's NUL is dropped: "type" matched
    assert "\x00" not in json.dumps(report)


def test_no_500_nul_in_a_rejected_value_is_shown_not_stored(any_env):
    report = any_env.run(HEADER + good_rows(1) + "49.0021,-122.7566,2021-01-0\x001,x\n")
    assert report["rows_rejected"] == 1
    assert {e["value"] for e in report["errors"]} >= {"2021-01-0\u24001"}


@pytest.mark.parametrize("field", ["title", "source", "license", "description"])
def test_no_500_nul_in_an_option_is_a_bad_request(any_env, field):
    # These are written to the datasets table: a 500 on PostgreSQL before.
    with pytest.raises(BadRequest, match=f"{field} contains a NUL character") as caught:
        ingest.options_from({field: "a\x00b"})
    assert caught.value.details == {"field": field}


def test_no_500_nul_in_the_file_name_is_dropped(any_env):
    report = any_env.run(HEADER + good_rows(1), filename="up\x00load.csv")
    with any_env.engine.connect() as conn:
        record = store.get_import(conn, report["import_id"],
                                  store.get_dataset(conn, "test"))
    assert record["filename"] == "upload.csv"


# --- 4. a CRS never names a file --------------------------------------------------------------

@pytest.mark.parametrize("template", [
    "+init={path}:mine", "+proj=longlat +datum=WGS84 +nadgrids={path}",
    "+proj=longlat +datum=WGS84 +geoidgrids={path}", "+proj=longlat +nadgrids=@{path}",
    "@{path}", "{path}",
    'GEOGCS["x",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563],'
    'EXTENSION["PROJ4_GRIDS","{path}"]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925]]',
])
def test_crs_naming_a_file_is_refused_before_proj_opens_it(tmp_path, template):
    # A readable PROJ init file and a missing one get the same 400: PROJ never read it
    # (before, the existing file was read and accepted as the CRS).
    real = tmp_path / "mine"
    real.write_text("<mine> +proj=longlat +datum=WGS84 +no_defs <>\n")
    missing = tmp_path / "missing"
    messages = []
    for path in (real, missing):
        with pytest.raises(BadRequest, match="is not accepted") as caught:
            ingest.options_from({"crs": template.format(path=path)})
        assert caught.value.details["field"] == "crs"
        messages.append(caught.value.message.replace(str(path), "PATH"))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("crs", [
    "EPSG:3978", "epsg:3978", "3978", "urn:ogc:def:crs:EPSG::3978",
    "+proj=lcc +lat_1=49 +lat_2=77 +lat_0=49 +lon_0=-95 +x_0=0 +y_0=0 +datum=NAD83 +units=m",
    'PROJCS["NAD83 / Canada Atlas Lambert",GEOGCS["NAD83",DATUM["North_American_Datum_1983",'
    'SPHEROID["GRS 1980",6378137,298.257222101]],PRIMEM["Greenwich",0],'
    'UNIT["degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic_2SP"],'
    'PARAMETER["latitude_of_origin",49],PARAMETER["central_meridian",-95],'
    'PARAMETER["standard_parallel_1",49],PARAMETER["standard_parallel_2",77],'
    'PARAMETER["false_easting",0],PARAMETER["false_northing",0],UNIT["metre",1]]',
])
def test_crs_codes_wkt_and_proj_strings_are_accepted(crs):
    transformer = ingest.transformer_for(crs)
    lon, lat = transformer.transform(0.0, 0.0)  # the projection's origin: 95°W 49°N
    assert (round(lon, 3), round(lat, 3)) == (-95.0, 49.0)


def test_crs_unknown_code_is_still_a_bad_request():
    with pytest.raises(BadRequest, match="not a known EPSG code"):
        ingest.options_from({"crs": "EPSG:999999"})


# --- 5. an import that rejects every row is refused -------------------------------------------

ALL_BAD = HEADER + "49.0021,-122.7566,45000,sighting\n48.99,-122.48,2099-01-01,sighting\n"


def test_all_rejected_import_is_refused_and_creates_no_dataset(any_env):
    with pytest.raises(Unprocessable, match="none of the file's 2 row") as caught:
        any_env.run(ALL_BAD)
    assert caught.value.status == 422
    assert caught.value.details["rows_rejected"] == 2
    assert [e["row"] for e in caught.value.details["errors"]] == [2, 3]
    assert any_env.state() is None
    any_env.run(HEADER + good_rows(2))
    before = any_env.state()
    with pytest.raises(Unprocessable, match="nothing was imported"):
        any_env.run(ALL_BAD)  # append into an existing dataset
    assert any_env.state() == before


def test_all_rejected_import_is_422_from_the_api(any_app, fake_regions):  # noqa: F811
    with db.engine_for(any_app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        token = accounts.create_token(conn, "script", "editor")
    client = any_app.test_client()
    response = client.post("/api/datasets/api-bad/incidents", data=ALL_BAD.encode(),
                           headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "text/csv"})
    assert response.status_code == 422, response.json
    body = response.get_data(as_text=True)
    assert "none of the file" in body and '"rows_rejected": 2' in body.replace('":2', '": 2')
    assert client.get("/api/datasets/api-bad").status_code == 404
    db.dispose_engine(any_app.config["DATABASE_URL"])


def test_all_rejected_import_is_422_from_the_form(app, fake_regions):  # noqa: F811
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
    client = app.test_client()
    client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass"})
    preview = client.post("/upload", content_type="multipart/form-data", data={
        "action": "preview", "dataset": "__new__", "new_slug": "form-bad", "title": "Bad",
        "mode": "append", "file": (io.BytesIO(ALL_BAD.encode()), "bad.csv")})
    import re
    fields = {m.group(1): m.group(2) for m in re.finditer(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', preview.get_data(as_text=True))}
    response = client.post("/upload", data=fields)
    assert response.status_code == 422
    assert "none of the file" in response.get_data(as_text=True)
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        assert store.get_dataset(conn, "form-bad", missing_ok=True) is None


def test_all_rejected_import_exits_non_zero_from_the_cli(app, runner, fake_regions,  # noqa: F811
                                                         tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(ALL_BAD)
    result = runner.invoke(args=["import-csv", str(path), "--dataset", "cli", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output.splitlines()[0])["rows_rejected"] == 2
    assert "none of the file's 2 row(s) could be imported" in result.output
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        assert store.get_dataset(conn, "cli", missing_ok=True) is None


@pytest.mark.parametrize("column", ["\u00b2", "9" * 5000, "0", "99"])
def test_no_500_odd_column_numbers_in_the_mapping(any_app, fake_regions, column):  # noqa: F811
    """A mapped column 'number' that str.isdigit takes but int() cannot read (or that is out
    of range) is a 400 naming the field, never a 500, and creates nothing."""
    with db.engine_for(any_app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        token = accounts.create_token(conn, "script", "editor")
    client = any_app.test_client()
    response = client.post(f"/api/datasets/odd-map/incidents?map_lat={column}",
                           data=(HEADER + good_rows(2)).encode(),
                           headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "text/csv"})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    error = response.json["error"]
    expected = "is not in the file" if column == "\u00b2" else "out of range"
    assert error["details"]["field"] == "lat" and expected in error["message"]
    assert len(error["message"]) < 200  # a 5000-digit value is not echoed whole
    assert client.get("/api/datasets/odd-map").status_code == 404
    db.dispose_engine(any_app.config["DATABASE_URL"])
