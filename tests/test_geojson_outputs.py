"""Every GeoJSON the app outputs conforms (tests/geojson_conformance.py): the regions API on
the real shapefiles/regions.gpkg for each layer and level, point downloads and exports.
(The region polygons map pages embed are checked in tests/maps/test_shapes.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pyogrio
import pytest

from geojson_conformance import assert_conforms
from geomap import db, ingest, maps

from ingest_helpers import FAKE_REGIONS, fake_regions  # noqa: F401  (fixture)

DATA = Path(__file__).parent / "data" / "ingest"
REGIONS = Path(__file__).resolve().parent.parent / "shapefiles" / "regions.gpkg"
#: The GeoPackage layer each API layer is drawn from (display-simplified polygons).
SOURCE = {"admin1": "admin1_display", "usbp_sectors": "usbp_sectors_display",
          "border": "border", "border_segments": "border_segments"}


def _positions(doc) -> int:
    def count(value):
        if value and isinstance(value[0], (int, float)):
            return 1
        return sum(count(v) for v in value)

    return sum(count(f["geometry"]["coordinates"]) for f in doc["features"] if f["geometry"])


@pytest.mark.parametrize("layer", list(maps.REGION_LAYERS))
def test_regions_api_serves_rfc_7946_for_every_layer_and_level(app, layer):
    assert app.config["REGIONS_PATH"] == str(REGIONS)
    source = pyogrio.read_dataframe(REGIONS, layer=SOURCE[layer], read_geometry=False)
    client = app.test_client()
    positions = []
    for level in maps.SIMPLIFY_LEVELS:
        response = client.get(f"/api/regions/{layer}.geojson?simplify={level}")
        assert response.status_code == 200 and response.mimetype == "application/geo+json"
        assert_conforms(response.get_data(), f"{layer} at simplify={level}")
        doc = json.loads(response.get_data(as_text=True))
        # Every region is there, in the file's order, none lost to simplification.
        assert [f["properties"]["code"] for f in doc["features"]] == source["code"].tolist()
        assert all(f["geometry"] is not None for f in doc["features"])
        assert {f["properties"]["country"] for f in doc["features"]} == set(source["country"])
        if "mile_from" in source:
            assert [f["properties"]["mile_to"] for f in doc["features"]] == pytest.approx(
                source["mile_to"].tolist())
        positions.append(_positions(doc))
    assert positions == sorted(positions, reverse=True) and positions[0] > positions[-1]


def _import(app, name, **options):
    return ingest.import_file(db.engine_for(app.config["DATABASE_URL"]), DATA / name,
                              dataset="data", options=ingest.Options(**options),
                              settings=ingest.Settings.from_config(app.config),
                              regions=FAKE_REGIONS, user_name="t")


def test_point_downloads_and_exports_conform(app, runner, fake_regions):  # noqa: F811
    _import(app, "basic.csv", publish=True)
    client = app.test_client()
    whole = client.get("/api/datasets/data/incidents.geojson")
    assert whole.status_code == 200
    assert_conforms(whole.get_data(), "incidents.geojson")
    assert len(json.loads(whole.get_data(as_text=True))["features"]) == 3
    page = client.get("/api/datasets/data/incidents.geojson?limit=2&offset=1&admin1=US-WA")
    assert_conforms(page.get_data(), "a filtered page")
    exported = runner.invoke(args=["export", "--dataset", "data", "--format", "geojson"])
    assert exported.exit_code == 0, exported.output
    assert_conforms(exported.output, "export --format geojson")
    assert len(json.loads(exported.output)["features"]) == 3
