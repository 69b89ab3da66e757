"""Rows located by a named place: BTS-style ports files and CBP-style sector tables without
coordinates, against the real region layers and gazetteer, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from geomap import db, ingest, store
from geomap.config import PROJECT_ROOT
from geomap.ingest import placing
from geomap.ingest.rows import Issues

from published import MEXICAN_PORTS, SECTOR_NAMES, bts_ports, usbp_sectors

GPKG = PROJECT_ROOT / "shapefiles" / "regions.gpkg"
PLACES = PROJECT_ROOT / "shapefiles" / "places.csv"

pytestmark = pytest.mark.skipif(not (GPKG.exists() and PLACES.exists()),
                                reason="shapefiles/regions.gpkg or places.csv not built")


@pytest.fixture(scope="module")
def regions_obj():
    from geomap import regions

    return regions.load(str(GPKG))


def _run(app, regions_obj, src, slug="placed", **options):
    return ingest.import_file(db.engine_for(app.config["DATABASE_URL"]), src, dataset=slug,
                              options=ingest.Options(**options),
                              settings=ingest.Settings.from_config(app.config),
                              regions=regions_obj, user_name="t")


def _frame(app, slug="placed"):
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        return store.incident_frame(conn, store.get_dataset(conn, slug)["id"])


def test_bts_ports_file_placed_by_port_name(any_app, regions_obj, tmp_path):
    expected = bts_ports(tmp_path / "ports.csv")
    report = _run(any_app, regions_obj, tmp_path / "ports.csv")
    assert report["rows_total"] == expected["rows"]
    frame = _frame(any_app)
    # At least nine northern rows in ten are placed by port name, each in its declared state.
    assert len(frame) >= 0.9 * expected["northern_rows"]
    assert len(frame) == expected["northern_rows"]  # in fact all of them
    assert set(frame["location_precision"]) == {"place"}
    assert frame["lat"].notna().all() and frame["place"].notna().all()
    codes = frame["attributes"].map(lambda a: a["Port Code"])
    admin1_by_code = frame.groupby(codes)["admin1"].agg(set)
    for (name, admin1), code in expected["code_of"].items():
        assert admin1_by_code[code] == {admin1}, (name, admin1, admin1_by_code[code])
    # Exact totals per port and per state.
    assert frame.groupby(codes)["count"].sum().to_dict() == expected["by_code"]
    assert frame.groupby("admin1")["count"].sum().to_dict() == expected["by_state"]
    assert report["regions"] == {k: v for k, v in Counter(frame["admin1"]).items()}
    # Mexican-border rows are rejected as outside the area, with the reason, grouped by name.
    assert report["rows_rejected"] == expected["mexican_rows"]
    outside = {u["value"]: u for u in report["places"]["unplaced"]}
    assert set(outside) == set(MEXICAN_PORTS)
    assert all(u["rows"] == 9 for u in outside.values())  # 3 months x 3 measures
    assert "Nogales is on the US-Mexico Border (column Border)" in outside["Nogales"]["reason"]
    assert all(u["outcome"] == "outside" for u in outside.values())
    assert all("outside the US–Canada border area" in e["message"] for e in report["errors"])
    assert report["places"]["precision"] == {"place": expected["northern_rows"]}
    matched = {m["place"]: m["rows"] for m in report["places"]["matched"]}
    assert matched["Sweet Grass, MT"] == 9 and matched["Champlain, NY"] == 9


def test_ports_named_by_state_column_or_suffix(app, regions_obj, tmp_path):
    path = tmp_path / "towns.csv"
    path.write_text("Port,State,Date,Count\n"
                    "\"Sweetgrass, MT\",,2024-01-01,3\n"
                    "Eastport,Idaho,2024-01-01,4\n"
                    "Eastport,ME,2024-01-01,5\n"
                    "Eastport,,2024-01-01,6\n"          # in several states: no state given
                    "Sweetgras,Montana,2024-01-01,7\n"  # misspelt: suggestions
                    "\"Tucson, AZ\",,2024-01-01,8\n"      # off this border
                    "Laredo,,2024-01-01,9\n"            # a southwest sector's name
                    "Lacolle,Québec,2024-01-01,2\n"     # Canadian side, French province name
                    ",,2024-01-01,1\n", encoding="utf-8")
    report = _run(app, regions_obj, path)
    frame = _frame(app).set_index("count")
    assert frame.loc[3, "admin1"] == "US-MT" and frame.loc[3, "place"] == "Sweet Grass, MT"
    assert frame.loc[4, "admin1"] == "US-ID" and frame.loc[5, "admin1"] == "US-ME"
    assert frame.loc[2, "admin1"] == "CA-QC" and frame.loc[2, "country"] == "CA"
    assert set(frame["location_precision"]) == {"place"}
    errors = {e["row"]: e["message"] for e in report["errors"]}
    assert "several states" in errors[5] and "Eastport, ID" in errors[5]
    assert "closest known: Sweet Grass, MT" in errors[6]
    assert errors[7].startswith("outside the US–Canada border area") and "Arizona" in errors[7]
    assert "Laredo Sector" in errors[8] and errors[8].startswith("outside")
    assert "no place, sector or state/province" in errors[10]
    unplaced = {u["value"]: u for u in report["places"]["unplaced"]}
    assert unplaced["Sweetgras"]["suggestions"] == ["Sweet Grass, MT"]
    assert unplaced["Eastport"]["outcome"] == "ambiguous"


def test_sector_table_all_twenty_sectors(any_app, regions_obj, tmp_path):
    expected = usbp_sectors(tmp_path / "sectors.csv")
    report = _run(any_app, regions_obj, tmp_path / "sectors.csv")
    frame = _frame(any_app)
    assert len(frame) == expected["northern_rows"]
    assert set(frame["location_precision"]) == {"sector"}
    assert frame["lat"].isna().all() and frame["lon"].isna().all()  # no invented coordinates
    assert (frame["country"] == "US").all()
    assert frame.groupby("sector")["count"].sum().to_dict() == expected["by_sector"]
    assert report["rows_rejected"] == expected["other_rows"]
    reasons = {u["value"]: u for u in report["places"]["unplaced"]}
    assert set(reasons) == {n for n, (_c, north) in SECTOR_NAMES.items() if not north}
    assert all(u["outcome"] == "outside" and u["rows"] == 4 for u in reasons.values())
    assert "Tucson Sector, AZ" in reasons["Tucson"]["reason"]
    # The rollups: days count every row, the grid none (no coordinates).
    with db.engine_for(any_app.config["DATABASE_URL"]).connect() as conn:
        dataset = store.get_dataset(conn, "placed")
        cells = conn.execute(sa.select(sa.func.count()).select_from(db.incident_grid_cells)
                             .where(db.incident_grid_cells.c.dataset_id == dataset["id"])
                             ).scalar()
        days = conn.execute(sa.select(sa.func.sum(db.incident_days.c.total)).where(
            db.incident_days.c.dataset_id == dataset["id"])).scalar()
    assert cells == 0 and days == sum(expected["by_sector"].values())


def test_states_and_provinces_english_and_french(app, regions_obj, tmp_path):
    path = tmp_path / "provinces.csv"
    path.write_text("Province,Date,Count\nQuébec,2024-01-01,10\nColombie-Britannique,"
                    "2024-01-01,20\nUS-WA,2024-01-01,30\nMB,2024-01-01,40\n"
                    "Nova Scotia,2024-01-01,50\nAtlantis,2024-01-01,60\n", encoding="utf-8")
    report = _run(app, regions_obj, path)
    frame = _frame(app)
    assert dict(zip(frame["admin1"], frame["count"])) == {"CA-QC": 10, "CA-BC": 20,
                                                          "US-WA": 30, "CA-MB": 40}
    assert set(frame["location_precision"]) == {"admin1"} and frame["lat"].isna().all()
    assert set(frame["place"]) == {"Quebec", "British Columbia", "Washington", "Manitoba"}
    errors = {e["row"]: e["message"] for e in report["errors"]}
    assert "Nova Scotia is not on the US–Canada border" in errors[6]
    assert "not a known state or province" in errors[7]


def test_points_and_names_mixed_and_reimport_unchanged(app, regions_obj, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("lat,lon,date,sector,count\n"
                    "48.99,-122.75,2024-01-01,,1\n"       # a point (Blaine)
                    ",,2024-01-02,Blaine,2\n"              # no coordinates: by sector
                    ",,2024-01-02,Spokane Sector,3\n"
                    ",,2024-01-02,,4\n")                   # neither
    report = _run(app, regions_obj, path)
    frame = _frame(app).set_index("count")
    assert frame.loc[1, "location_precision"] == "point" and frame.loc[1, "sector"] == "BLW"
    assert frame.loc[2, "location_precision"] == "sector" and frame.loc[2, "sector"] == "BLW"
    assert frame.loc[3, "sector"] == "SPW"
    assert {e["message"] for e in report["errors"]} == {"latitude is missing",
                                                      "longitude is missing"}
    assert {e["row"] for e in report["errors"]} == {5}
    again = _run(app, regions_obj, path, again=True)  # the same file, confirmed
    assert again["rows_unchanged"] == 3 and again["rows_imported"] == 0


def test_explicit_mapping_of_place_and_state_columns(app, regions_obj, tmp_path):
    path = tmp_path / "crossings.csv"
    path.write_text("Crossing;Juris;When;N\nDerby Line;VT;2024-03-01;6\n"
                    "Stanstead;QC;2024-03-01;2\n", encoding="utf-8")
    mapping = ingest.parse_mapping(["place=Crossing", "region=Juris", "occurred_at=When",
                                    "count=N"])
    report = _run(app, regions_obj, path, mapping=mapping)
    frame = _frame(app).set_index("count")
    assert frame.loc[6, "place"] == "Derby Line, VT" and frame.loc[6, "admin1"] == "US-VT"
    assert frame.loc[6, "sector"] == "SWB"
    errors = {e["row"]: e["message"] for e in report["errors"]}
    assert list(errors) == [3] and "Stanstead, QC is not a known place" in errors[3]


def test_preview_of_a_file_without_coordinates(app, tmp_path):
    expected = bts_ports(tmp_path / "ports.csv", months=1)
    preview = ingest.preview(tmp_path / "ports.csv", ingest.Options(),
                             ingest.Settings.from_config(app.config))
    assert preview["fields"]["place"] == "Port Name" and preview["fields"]["region"] == "State"
    assert preview["fields"]["count"] == "Value" and preview["fields"]["border"] == "Border"
    assert "lat" not in preview["fields"] and expected["rows"] > 0


def test_without_a_gazetteer_place_rows_are_rejected_saying_why():
    frame = pd.DataFrame({"Port": ["Blaine", ""], "Sector": ["", "Blaine"]})
    errors, tally = Issues(), placing.PlaceTally()
    located = placing.locate(frame, {"place": "Port", "sector": "Sector"},
                             np.ones(2, dtype=bool), errors, places=None, tally=tally)
    assert located.mask.tolist() == [False, True]  # the sector needs no gazetteer
    assert "no gazetteer of places on this server" in errors.frame()["message"].iloc[0]
