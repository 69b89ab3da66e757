"""Ingest against the real region layers (skipped until shapefiles/regions.gpkg exists)."""

from __future__ import annotations

from pathlib import Path

import pytest

from geomap import db, ingest, store
from geomap.config import PROJECT_ROOT

DATA = Path(__file__).parent.parent / "data" / "ingest"
GPKG = PROJECT_ROOT / "shapefiles" / "regions.gpkg"

pytestmark = pytest.mark.skipif(not GPKG.exists(), reason="shapefiles/regions.gpkg not built")


@pytest.fixture(scope="module")
def regions_obj():
    regions = pytest.importorskip("geomap.regions")
    return regions.load(str(GPKG))


def _run(app, regions_obj, src, **options):
    return ingest.import_file(db.engine_for(app.config["DATABASE_URL"]), src, dataset="real",
                              options=ingest.Options(**options),
                              settings=ingest.Settings.from_config(app.config),
                              regions=regions_obj, user_name="t")


def _frame(app):
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        return store.incident_frame(conn, store.get_dataset(conn, "real")["id"])


def test_real_regions_join_and_measure(app, regions_obj, tmp_path):
    path = tmp_path / "real.csv"
    path.write_text("id,lat,lon,date,state\n"
                    "R1,49.0100,-122.7566,2025-01-03,BC\n"      # just north of Peace Arch
                    "R2,48.9900,-122.7566,2025-01-03,Washington\n"
                    "R3,45.0000,-73.4525,2025-01-04,\n"        # Champlain / Lacolle, at the line
                    "R4,51.5,-122.75,2025-01-05,\n"            # ~280 km north: far, kept
                    "R5,35.0,-100.0,2025-01-06,\n"             # Texas panhandle: outside
                    "R6,48.9,-122.75,2025-01-07,Idaho\n")     # declared wrong, not at border
    report = _run(app, regions_obj, path)
    assert report["rows_rejected"] == 1
    assert report["errors"][0]["row"] == 6
    assert "outside the area" in report["errors"][0]["message"]
    frame = _frame(app).set_index("source_id")
    assert frame.loc["R1", "admin1"] == "CA-BC" and frame.loc["R1", "country"] == "CA"
    assert frame.loc["R2", "admin1"] == "US-WA" and frame.loc["R2", "border_km"] < 0
    assert frame.loc["R1", "border_km"] > 0
    assert frame.loc["R1", "border_mile"] == pytest.approx(frame.loc["R2", "border_mile"],
                                                           abs=2)
    warnings = {w["row"]: w["message"] for w in report["warnings"] if w["row"]}
    assert "km from the border" in warnings[5]
    assert "US-ID" in warnings[7]
    assert set(report["regions"]) >= {"CA-BC", "US-WA"}


def test_real_regions_swapped_and_projected(app, regions_obj):
    report = _run(app, regions_obj, DATA / "swapped.csv")
    assert report["rows_imported"] == 2
    assert any("swapped" in w["message"] for w in report["warnings"])
    report = _run(app, regions_obj, DATA / "epsg3978.csv", crs="EPSG:3978", mode="replace")
    assert report["rows_imported"] == 2, report
