"""Periods as published: month names (English, French), quarters, years, fiscal years with
months, wide tables; the precision kept. Tables come from tests/period_fixtures.py."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from geomap.regions.sectors import find_sector

from geomap import db, ingest
from geomap.errors import Unprocessable
from geomap.ingest import cells, periods, wide
from geomap.ingest.columns import resolve_columns

from ingest_helpers import fake_regions  # noqa: F401  (fixture)
from period_fixtures import csv_text, rcmp_table, usbp_by_sector, usbp_monthly_sector
from spreadsheets import xlsx_bytes
from .test_pipeline import Env, any_env  # noqa: F401  (fixture)


@pytest.mark.parametrize("text, expected", [
    ("janv. 2025", (2025, 1, "month")), ("janvier 2025", (2025, 1, "month")),
    ("févr. 2024", (2024, 2, "month")), ("FÉVRIER 2024", (2024, 2, "month")),
    ("août 2023", (2023, 8, "month")), ("aout 2023", (2023, 8, "month")),
    ("déc. 2022", (2022, 12, "month")), ("juil. 2021", (2021, 7, "month")),
    ("Jan 2024", (2024, 1, "month")), ("January 2024", (2024, 1, "month")),
    ("Sept. 2020", (2020, 9, "month")), ("2024 janvier", (2024, 1, "month")),
    ("Mar-2019", (2019, 3, "month")), ("03/2025", (2025, 3, "month")),
    ("2025 Q1", (2025, 1, "quarter")), ("Q1 2025", (2025, 1, "quarter")),
    ("2025-Q4", (2025, 10, "quarter")), ("T3 2024", (2024, 7, "quarter")),
    ("2024", (2024, 1, "year")),
    ("Smarch 2024", None), ("13/2025", None), ("Q5 2025", None), ("", None), ("x", None),
])
def test_parse_period(text, expected):
    assert periods.parse_period(text) == expected


@pytest.mark.parametrize("text, month", [
    ("02 November", 11), ("01 October", 10), ("12 September", 9), ("November", 11),
    ("nov.", 11), ("févr", 2), ("Août", 8), ("7", 7), ("12", 12), ("13", None),
    ("Sector", None), ("", None)])
def test_month_number(text, month):
    assert periods.month_number(text) == month


def test_fiscal_months_are_calendar_months_of_the_year_before_from_october():
    assert periods.calendar_month(2025, 11, True) == (2024, 11)
    assert periods.calendar_month(2025, 10, True) == (2024, 10)
    assert periods.calendar_month(2025, 9, True) == (2025, 9)
    assert periods.calendar_month(2025, 11, False) == (2025, 11)
    assert [periods.fiscal_year(t) for t in ("FY2025", "FY 2025", "fy25", "2025", "FY")] == \
        [2025, 2025, 2025, 2025, None]


def test_each_distinct_value_is_parsed_once():
    seen = []

    def parse(value):
        seen.append(value)
        return periods.parse_period(value)

    column = pd.Series(["Jan 2024", "janv. 2024", None, "Jan 2024"] * 1000)
    out = periods.per_distinct(column, parse)
    assert sorted(seen) == ["Jan 2024", "janv. 2024"]
    assert list(out[:4]) == [(2024, 1, "month"), (2024, 1, "month"), None, (2024, 1, "month")]


def test_general_dates_keep_each_precision_and_equal_row_by_row_parsing():
    values = pd.Series(["janv. 2025", "2025 Q2", "2023", "2024-03-01", "3/4/2024 10:00",
                        "45231", "Smarch 2024"] * 50)
    when, precision, problem = cells.parse_general_dates(values, "mdy")
    assert [str(t)[:10] if pd.notna(t) else None for t in when[:7]] == [
        "2025-01-01", "2025-04-01", "2023-01-01", "2024-03-01", "2024-03-04", None, None]
    assert list(precision[:5]) == ["month", "quarter", "year", "day", "second"]
    assert "serial" in problem[5] and "a quarter (2025 Q1)" in problem[6]
    # The distinct-value path (this column) and the row-by-row path agree.
    again = cells._parse_general(values, "mdy")
    for a, b in zip((when, precision, problem), again):
        assert a.equals(b)


def test_wide_headers_are_found_and_totals_left_out():
    names = ["Province", "Latitude", "Longitude", "janv. 2024", "févr. 2024", "2024 Q1",
             "Total"]
    columns = resolve_columns(names, {}, header=True, wide=True)
    assert columns.wide == {"janv. 2024": "period", "févr. 2024": "period",
                            "2024 Q1": "period"}
    assert columns.fields["occurred_at"] == wide.PERIOD_COLUMN
    assert columns.fields["count"] == wide.VALUE_COLUMN
    assert columns.extra == []  # Province is the declared region; Total is left out
    by_year = resolve_columns(["Sector", "lat", "lon", "FY", "Oct", "Nov", "Dec", "2024"], {},
                              header=True, wide=True)
    assert by_year.wide == {"Oct": "month", "Nov": "month", "Dec": "month"}
    assert by_year.fields["fiscal_year"] == "FY" and by_year.fields["month"] == wide.PERIOD_COLUMN
    with pytest.raises(Unprocessable, match="no column header names a month"):
        resolve_columns(["lat", "lon", "Province", "Count"], {}, header=True, wide=True)


def test_a_lone_latitude_column_beside_a_location_column_stays_an_attribute():
    columns = resolve_columns(["location", "lat", "Year", "Month"], {}, header=True)
    assert columns.fields == {"location": "location", "year": "Year", "month": "Month"}
    assert columns.extra == ["lat"]


def test_a_table_without_date_or_year_column_is_refused_naming_both():
    with pytest.raises(Unprocessable, match="or a year or fiscal year column"):
        resolve_columns(["lat", "lon", "Place", "Count"], {}, header=True)
    # A month column alone holds whole periods (January 2024): it dates the records.
    assert resolve_columns(["lat", "lon", "Mois", "Nombre"], {}, header=True).fields[
        "occurred_at"] == "Mois"


def _by_month(frame: pd.DataFrame) -> dict[str, int]:
    months = frame["occurred_at"].dt.strftime("%Y-%m")
    return {k: int(v) for k, v in frame.groupby(months)["count"].sum().items()}


@pytest.mark.parametrize("located", ["points", "sector only"])
def test_usbp_monthly_sector_sheet_fiscal_months_become_calendar_months(any_env, located):
    rows, expected = usbp_monthly_sector()
    if located == "sector only":  # as USBP publishes it: no coordinates, the sector's name
        rows = [row[:3] + row[5:] for row in rows]
    title = [["U.S. Border Patrol Monthly Encounters by Sector"], []]
    book = xlsx_bytes({"Notes": [["Read me"]], "Monthly Sector": title + rows
                       + [[], ["Note: FY2025 data are provisional."]]})
    report = any_env.run(io.BytesIO(book), sheet="Monthly Sector", filename="usbp.xlsx")
    northern = (len(rows) - 1) * 5 // 7
    assert report["rows_imported"] == northern
    assert report["rows_rejected"] == len(rows) - 1 - northern
    reasons = {e["message"].split(":")[0] for e in report["errors"]}
    assert reasons == ({"outside the area of interest"} if located == "points"
                       else {"outside the US–Canada border area"}), reasons
    notes = [w["message"] for w in report["warnings"] if w["row"] is None]
    assert any(f"{len(rows) - 1:,} records dated by US federal fiscal year" in m
               and "FY2025 November is November 2024" in m for m in notes), notes
    frame = any_env.incidents()
    assert set(frame["precision"]) == {"month"}
    assert _by_month(frame) == expected
    # Per sector and calendar month.
    months = frame["occurred_at"].dt.strftime("%Y-%m")
    # The Sector column as published (kept among the attributes) names each row's sector.
    sectors = frame["attributes"].map(
        lambda a: (a if isinstance(a, dict) else json.loads(a))["Sector"])
    by_sector = frame.groupby([sectors, months])["count"].sum()
    assert {(find_sector(sector).code, month): int(v)
            for (sector, month), v in by_sector.items()} == {
        (find_sector(name).code, month): total
        for (name, month), total in usbp_by_sector(rows if located == "points" else [
            row[:3] + [None, None] + row[3:] for row in rows]).items()}
    assert set(frame["location_precision"]) == ({"point"} if located == "points"
                                                else {"sector"})
    # FY2025 "02 November" is November 2024: the first fiscal month is October of 2023.
    assert min(expected) == "2023-10" and max(expected) == "2025-09"


def test_fiscal_year_alone_and_bad_months_are_rejected_by_row(any_env):
    text = ("lat,lon,Fiscal Year,Month,Quantity\n49.0,-122.7,FY2025,02 November,5\n"
            "49.0,-122.7,FY2025,Brumaire,3\n49.0,-122.7,20x5,November,2\n")
    report = any_env.run(io.BytesIO(text.encode()))
    assert report["rows_imported"] == 1
    assert [(e["row"], e["column"], e["message"]) for e in report["errors"]] == [
        (3, "Month", "month is not a month name (English or French), a number 1 to 12 or a "
                     "quarter (Q1 to Q4)"),
        (4, "Fiscal Year", "year is not a year (2025, FY2025)")]
    with pytest.raises(Unprocessable) as refused:
        any_env.run(io.BytesIO(b"lat,lon,FY,Quantity\n49.0,-122.7,FY2025,5\n"),
                    dataset="alone")
    assert "spans two calendar years" in refused.value.details["errors"][0]["message"]
    years = any_env.run(io.BytesIO(b"lat,lon,Year,Count\n49.0,-122.7,2023,5\n"),
                        dataset="years")
    assert years["rows_imported"] == 1
    frame = any_env.incidents("years")
    assert list(frame["precision"]) == ["year"]
    assert str(frame["occurred_at"][0]) == "2023-01-01 00:00:00"


def test_year_and_quarter_columns_calendar_and_fiscal(any_env):
    text = ("lat,lon,Year,Quarter,Count\n49.0,-122.7,2024,Q1,5\n49.0,-122.7,2024,T4,7\n"
            "49.0,-122.7,2024,Q5,1\n")
    report = any_env.run(io.BytesIO(text.encode()))
    assert report["rows_imported"] == 2
    assert [(e["row"], e["column"]) for e in report["errors"]] == [(4, "Quarter")]
    frame = any_env.incidents()
    assert [(str(t)[:7], p) for t, p in zip(frame["occurred_at"], frame["precision"])] == [
        ("2024-01", "quarter"), ("2024-10", "quarter")]
    # A fiscal year's quarters start in October: FY2025 Q1 is October-December 2024.
    fiscal = any_env.run(io.BytesIO(b"lat,lon,FY,Qtr,Count\n49.0,-122.7,FY2025,Q1,5\n"
                                    b"49.0,-122.7,FY2025,Q2,6\n49.0,-122.7,FY2025,Q4,7\n"),
                         dataset="fq")
    assert fiscal["rows_imported"] == 3
    frame = any_env.incidents("fq")
    assert [str(t)[:7] for t in frame["occurred_at"]] == ["2024-10", "2025-01", "2025-07"]
    assert set(frame["precision"]) == {"quarter"}
    # A quarter column alone holds whole quarters.
    alone = any_env.run(io.BytesIO(b"lat,lon,Trimestre,Nombre\n49.0,-122.7,T2 2024,4\n"),
                        dataset="alone-q")
    assert alone["rows_imported"] == 1
    assert list(any_env.incidents("alone-q")["precision"]) == ["quarter"]


@pytest.mark.parametrize("french", [False, True], ids=["english", "french"])
@pytest.mark.parametrize("is_wide", [False, True], ids=["long", "wide"])
def test_rcmp_province_by_month_tables(any_env, french, is_wide):
    rows, expected = rcmp_table(french=french, wide=is_wide)
    report = any_env.run(io.BytesIO(csv_text(rows)), wide=is_wide)
    assert report["rows_rejected"] == 0, report["errors"]
    assert report["rows_imported"] == 46  # 48 province-months, one '..' and one empty
    frame = any_env.incidents()
    assert _by_month(frame) == expected
    assert set(frame["precision"]) == {"month"}
    if is_wide:
        notes = [w["message"] for w in report["warnings"] if w["row"] is None]
        assert any(m.startswith("wide table: 12 period columns") for m in notes), notes
        # Each record points at its province's line; no Total attribute.
        assert all("Total" not in (a or {}) for a in frame["attributes"])
    # The same table in the other language and shape gives the same months and totals.
    other, other_expected = rcmp_table(french=not french, wide=not is_wide)
    assert other_expected == expected


def test_wide_table_errors_name_the_month_column_and_the_line(any_env):
    text = ("lat,lon,Province,Jan 2024,Feb 2024,Mar 2024\n"
            "45.01,-73.45,Quebec,10,lots,..\n"
            "49.01,-122.75,British Columbia,,4,-2\n")
    report = any_env.run(io.BytesIO(text.encode()), wide=True)
    assert report["rows_imported"] == 2
    assert [(e["row"], e["column"], e["value"], e["message"]) for e in report["errors"]] == [
        (2, "Feb 2024", "lots", "count is not a number"),
        (3, "Mar 2024", "-2", "count must be 0 or more")]
    assert report["rows_rejected"] == 2
    # Two bad cells on one line are two rejected records (the report counts records).
    two = any_env.run(io.BytesIO(b"lat,lon,Jan 2024,Feb 2024,Mar 2024\n"
                                 b"45.01,-73.45,x1,x2,5\n"), dataset="two", wide=True)
    assert (two["rows_total"], two["rows_imported"], two["rows_rejected"]) == (3, 1, 2)


def test_cli_and_api_take_wide(any_app, fake_regions, tmp_path):  # noqa: F811
    rows, expected = rcmp_table(french=True, wide=True)
    path = tmp_path / "rcmp.csv"
    path.write_bytes(csv_text(rows))
    result = any_app.test_cli_runner().invoke(args=[
        "import-csv", str(path), "--dataset", "rcmp", "--wide", "--json"])
    assert result.exit_code == 0, result.output
    env = Env(any_app)
    assert _by_month(env.incidents("rcmp")) == expected
    from test_api_write import _token
    client = any_app.test_client()
    headers = {"Authorization": f"Bearer {_token(any_app)}", "Content-Type": "text/csv"}
    response = client.post("/api/datasets/rcmp-api/incidents?wide=1", data=csv_text(rows),
                           headers=headers)
    assert response.status_code == 201, response.json
    assert _by_month(env.incidents("rcmp-api")) == expected
    refused = client.post("/api/datasets/rcmp-api/incidents?wide=maybe", data=b"x",
                          headers=headers)
    assert refused.status_code == 400 and "wide" in refused.json["error"]["message"]
    db.dispose_engine(any_app.config["DATABASE_URL"])


def test_month_name_dates_parse_as_before_at_scale():
    months = pd.period_range("1995-01", "2024-12", freq="M").strftime("%b %Y")
    values = pd.Series(np.resize(np.asarray(months), 20_000))
    when, precision, problem = cells.parse_dates(values)
    assert problem.isna().all() and (precision == "month").all()
    assert when.dt.strftime("%b %Y").equals(values)


def test_form_wide_box_previews_and_imports_the_month_columns(app, fake_regions):  # noqa: F811
    import re

    from test_upload import _hidden, _login

    rows, expected = rcmp_table(french=True, wide=True)
    client = app.test_client()
    _login(app, client)
    form = client.get("/upload").get_data(as_text=True)
    assert 'name="wide"' in form and 'name="map_fiscal_year"' in form
    preview = client.post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "form-wide", "title": "T",
        "mode": "append", "wide": "on", "file": (io.BytesIO(csv_text(rows)), "rcmp.csv")},
        content_type="multipart/form-data")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    assert "wide table: 12 period columns (janv. 2024, févr. 2024, mars 2024, … déc. 2024)" \
        in html
    assert "the period columns&#39; headers" in html
    fields = _hidden(html)
    assert fields.get("wide") == "on"
    response = client.post("/upload", data=fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    env = Env(app)
    assert _by_month(env.incidents("form-wide")) == expected
    assert re.search(r"/upload/form-wide/imports/\d+", response.headers["Location"])
