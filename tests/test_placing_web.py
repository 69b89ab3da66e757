"""Maps, stats and downloads of a dataset mixing points with rows known only by sector or
state/province (#17 item 3): heat and cluster draw the points and say how many are regional;
choropleths, stats and exports count and carry every row."""

from __future__ import annotations

import json

import pytest

from geomap import db, ingest
from geomap.config import PROJECT_ROOT

GPKG = PROJECT_ROOT / "shapefiles" / "regions.gpkg"
pytestmark = pytest.mark.skipif(not GPKG.exists(), reason="shapefiles/regions.gpkg not built")

ROWS = ("lat,lon,date,sector,state,count\n"
        "48.99,-122.75,2024-01-01,,,5\n"        # a point near Blaine
        "45.01,-73.45,2024-01-02,,,7\n"         # a point near Champlain
        ",,2024-01-02,Blaine Sector,,100\n"     # by sector only
        ",,2024-02-02,Swanton,,200\n"
        ",,2024-02-03,,Montana,40\n")           # by state only


@pytest.fixture
def mixed(any_app, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(ROWS)
    from geomap import regions

    report = ingest.import_file(db.engine_for(any_app.config["DATABASE_URL"]), path,
                                dataset="mixed", options=ingest.Options(publish=True),
                                settings=ingest.Settings.from_config(any_app.config),
                                regions=regions.load(str(GPKG)), user_name="t")
    assert report["rows_imported"] == 5, report
    return any_app.test_client()


def test_stats_by_precision_and_sector_count_every_row(mixed):
    by_precision = mixed.get("/api/datasets/mixed/stats?by=location_precision").get_json()
    assert {g["key"]: g["total"] for g in by_precision["groups"]} == {
        "point": 12, "sector": 300, "admin1": 40}
    by_sector = mixed.get("/api/datasets/mixed/stats?by=sector").get_json()
    totals = {g["key"]: g["total"] for g in by_sector["groups"]}
    assert totals["BLW"] == 105 and totals["SWB"] == 207
    by_admin1 = mixed.get("/api/datasets/mixed/stats?by=admin1").get_json()
    assert {g["key"]: g["total"] for g in by_admin1["groups"]}["US-MT"] == 40
    # Filters work the same for every precision.
    filtered = mixed.get("/api/datasets/mixed/stats?by=location_precision&sector=BLW")
    assert {g["key"]: g["total"] for g in filtered.get_json()["groups"]} == {
        "point": 5, "sector": 100}


@pytest.mark.parametrize("layer", ["heat", "cluster", "time"])
def test_point_layers_draw_points_and_tell_the_rest(mixed, layer):
    page = mixed.get(f"/maps/mixed?layer={layer}").get_data(as_text=True)
    assert ("340 counted in 3 records known only by sector or state/province are not drawn "
            "here") in page


def test_choropleth_counts_regional_rows(mixed):
    page = mixed.get("/maps/mixed?layer=choropleth&by=sector").get_data(as_text=True)
    assert "not drawn here" not in page
    assert "352" in page  # 12 + 300 + 40: every row in the summary
    assert ("40 counted in 1 record with no sector (known only by state/province, or outside "
            "every sector) are not on this map") in page
    by_state = mixed.get("/maps/mixed?layer=choropleth&by=admin1").get_data(as_text=True)
    assert "300 counted in 2 records with no state/province (known only by sector" in by_state


def test_downloads_carry_precision_and_place(mixed):
    geojson = json.loads(mixed.get("/api/datasets/mixed/incidents.geojson").get_data())
    by_count = {f["properties"]["count"]: f for f in geojson["features"]}
    assert by_count[100]["geometry"] is None
    assert by_count[100]["properties"]["location_precision"] == "sector"
    assert by_count[100]["properties"]["place"] == "Blaine Sector"
    assert by_count[40]["properties"]["place"] == "Montana"
    assert by_count[5]["geometry"]["type"] == "Point"
    assert by_count[5]["properties"]["location_precision"] == "point"
    text = mixed.get("/api/datasets/mixed/incidents.csv").get_data(as_text=True)
    header = text.splitlines()[0].split(",")
    assert "location_precision" in header and "place" in header
    assert "Swanton Sector" in text


def test_upload_form_report_groups_names(app, tmp_path):
    import io
    import re

    from geomap import accounts
    from published import bts_ports

    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
    client = app.test_client()
    client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass"})
    expected = bts_ports(tmp_path / "ports.csv", months=1)
    preview = client.post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "ports", "title": "Ports",
        "mode": "append", "file": (io.BytesIO((tmp_path / "ports.csv").read_bytes()),
                                   "ports.csv")}, content_type="multipart/form-data")
    fields = {m.group(1): m.group(2) for m in re.finditer(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', preview.get_data(as_text=True))}
    response = client.post("/upload", data=fields)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Located by name" in page and "Names not placed (6)" in page
    assert f"place {expected['northern_rows']:,}" in page
    row = re.search(r"<td>Nogales</td><td class=\"num\">(\d+)</td><td>([^<]+)</td>", page)
    assert row and row.group(1) == "3" and "US-Mexico Border" in row.group(2)


def test_other_views_of_mixed_precisions(mixed, any_app, tmp_path):
    segments = mixed.get("/maps/mixed?layer=choropleth&by=border_segment")
    assert segments.status_code == 200
    png = mixed.get("/maps/mixed.png?layer=heat")
    assert png.status_code == 200 and png.get_data().startswith(b"\x89PNG")
    per_mile = mixed.get("/maps/mixed?layer=choropleth&by=admin1&per=border_mile")
    assert per_mile.status_code == 200
    import geopandas as gpd

    from geomap import exporting

    path = tmp_path / "mixed.gpkg"
    with db.engine_for(any_app.config["DATABASE_URL"]).connect() as conn:
        assert exporting.write_file(conn, "mixed", "gpkg", path) == 5
    frame = gpd.read_file(path).set_index("count")
    assert frame.loc[100, "geometry"] is None and frame.loc[100, "place"] == "Blaine Sector"
    assert frame.loc[5, "geometry"].geom_type == "Point"
    assert set(frame["location_precision"]) == {"point", "sector", "admin1"}


def test_import_csv_summary_lists_names_not_placed(app, tmp_path):
    path = tmp_path / "towns.csv"
    path.write_text("Crossing,Juris,Date\nDerby Line,VT,2024-01-01\nSweetgras,MT,2024-01-01\n"
                    "Nogales,AZ,2024-01-01\n")
    result = app.test_cli_runner().invoke(args=[
        "import-csv", str(path), "--dataset", "towns", "--map", "place=Crossing",
        "--map", "region=Juris"])
    assert result.exit_code == 0, result.output
    assert "Located by: place 1" in result.output
    assert ("not placed: Sweetgras [Crossing], 1 rows: Sweetgras, MT is not a known place near "
            "the US–Canada border; closest known: Sweet Grass, MT") in result.output
    assert "not placed: Nogales [Crossing], 1 rows: outside the US–Canada border area" \
        in result.output
