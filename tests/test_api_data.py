"""Downloads, statistics and rejected rows: GET /api/datasets/<slug>/..."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import re
from urllib.parse import parse_qsl

import numpy as np
import pytest
import shapely
from werkzeug.datastructures import MultiDict

from geomap import access, accounts, db, filters, ingest, maps, store

from ingest_helpers import FAKE_REGIONS, fake_regions  # noqa: F401  (fixture)
from maps_fixtures import display_layers, incident_rows, seed_dataset

DATA = Path(__file__).parent / "data" / "ingest"


def _import(app, name, slug="data", **options):
    return ingest.import_file(db.engine_for(app.config["DATABASE_URL"]), DATA / name,
                              dataset=slug, options=ingest.Options(**options),
                              settings=ingest.Settings.from_config(app.config),
                              regions=FAKE_REGIONS, user_name="t")


@pytest.fixture
def loaded(any_app, fake_regions):  # noqa: F811
    _import(any_app, "basic.csv", publish=True)
    report = _import(any_app, "formula.csv")
    yield any_app, report
    db.dispose_engine(any_app.config["DATABASE_URL"])


def test_csv_download_is_formula_safe_and_filterable(loaded):
    app, _report = loaded
    client = app.test_client()
    response = client.get("/api/datasets/data/incidents.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["X-Total-Count"] == "4"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 4
    by_description = {r["description"] for r in rows}
    assert "'=HYPERLINK(\"http://x\")" in by_description
    assert "-122.7566" in {r["lon"] for r in rows}
    filtered = client.get("/api/datasets/data/incidents.csv?admin1=CA-QC")
    assert len(list(csv.DictReader(io.StringIO(filtered.get_data(as_text=True))))) == 1
    bad = client.get("/api/datasets/data/incidents.csv?from=yesterday")
    assert bad.status_code == 400 and bad.json["error"]["code"] == "bad_request"


def test_geojson_pages(loaded):
    app, _report = loaded
    client = app.test_client()
    response = client.get("/api/datasets/data/incidents.geojson?limit=3")
    doc = json.loads(response.get_data(as_text=True))
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 3
    assert 'rel="next"' in response.headers["Link"] and "offset=3" in response.headers["Link"]
    rest = json.loads(client.get("/api/datasets/data/incidents.geojson?limit=3&offset=3")
                      .get_data(as_text=True))
    assert len(rest["features"]) == 1
    assert client.get("/api/datasets/data/incidents.geojson?limit=0").status_code == 400


def test_drafts_are_not_public(any_app, fake_regions):  # noqa: F811
    _import(any_app, "basic.csv")
    client = any_app.test_client()
    assert client.get("/api/datasets/data/incidents.csv").status_code == 404
    assert client.get("/api/datasets/data/stats").status_code == 404
    db.dispose_engine(any_app.config["DATABASE_URL"])


@pytest.mark.parametrize("by, keys", [
    ("admin1", {"CA-BC", "CA-QC", "US-WA"}),
    ("sector", {"Blaine", "Spokane"}),
    ("month", {"2025-01", "2025-02"}),
])
def test_stats(loaded, by, keys):
    app, _report = loaded
    out = app.test_client().get(f"/api/datasets/data/stats?by={by}").json
    assert {g["key"] for g in out["groups"]} == keys
    assert out["n"] == 4


def test_stats_by_border_segment_and_threshold(loaded):
    app, _report = loaded
    client = app.test_client()
    out = client.get("/api/datasets/data/stats?by=border_segment").json
    # The fake regions put the Blaine rows at miles 11 and 23, the Quebec one at 2,230.
    assert [(g["key"], g["n"]) for g in out["groups"]] == [("L48-001", 3), ("L48-090", 1)]
    first = out["groups"][0]
    assert first["name"] == "Border miles 0–25 (lower 48)"
    assert (first["mile_from"], first["mile_to"]) == (0.0, 24.996)
    assert out["n"] == 4 and out["total"] == 7 and "hidden" not in out
    assert client.get("/api/datasets/data/stats?by=colour").status_code == 400
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        store.update_dataset(conn, "data", min_public_count=2)
    out = client.get("/api/datasets/data/stats?by=admin1").json
    assert out["groups"] == [{"key": "CA-BC", "n": 2, "total": 3}]
    assert out["hidden"] == {"groups": 2, "min_public_count": 2}
    out = client.get("/api/datasets/data/stats?by=border_segment").json
    assert [g["key"] for g in out["groups"]] == ["L48-001"]
    assert out["hidden"] == {"groups": 1, "min_public_count": 2} and out["n"] == 3
    assert client.get("/api/datasets/data/incidents.csv").status_code == 403


def _around_boundaries(segments) -> "pd.DataFrame":
    """Incidents either side of segment ends, at mile 0, at the lower-48/Alaska join and beyond."""
    by_code = segments.set_index("code")
    ends = [by_code.loc[code, "mile_to"] for code in ("L48-001", "L48-050", "AK-010")]
    dixon = shapely.get_coordinates(by_code.loc["AK-001"].geometry)[0]
    atlantic = shapely.get_coordinates(by_code.loc["L48-162"].geometry)[-1]
    join = by_code.loc["AK-001", "mile_from"]
    places = [(0.0, -123.0, 49.0), (join - 0.0004, *dixon), (join - 0.0004, *atlantic),
              (6000.0, -141.0, 69.6), (np.nan, -123.0, 49.0)]
    for end in ends:
        places += [(np.nextafter(end, -np.inf), -110.0, 49.0), (end, -110.0, 49.0)]
    places = places * 3
    frame = incident_rows(len(places))
    frame["border_mile"], frame["lon"], frame["lat"] = zip(*places)
    return frame


@pytest.mark.parametrize("query", ["", "type=crossing", "direction=northbound&country=US"])
def test_stats_by_border_segment_are_the_maps_segments(any_app, query):
    layers = maps.display_layers(any_app.config["REGIONS_PATH"])
    dataset = seed_dataset(any_app, "edges", frame=_around_boundaries(layers["border_segment"]))
    client = any_app.test_client()
    out = client.get(f"/api/datasets/edges/stats?by=border_segment&{query}").json
    api = {g["key"]: (g["n"], g["total"]) for g in out["groups"]}
    selection = filters.selection(filters.parse(MultiDict(parse_qsl(query))))
    spec = maps.MapSpec(layer="choropleth", by="border_segment")
    with db.engine_for(any_app.config["DATABASE_URL"]).connect() as conn:
        agg = maps.aggregate_db(conn, dataset["id"], selection, spec, layers)
    drawn = {code: (int(n), int(t)) for code, n, t in
             zip(agg.segments["code"], agg.segments["n"], agg.segments["total"]) if n}
    assert api == drawn and out["n"] == agg.n       # incidents in no segment: key None
    if query:
        assert out["n"] < client.get("/api/datasets/edges/stats?by=border_segment").json["n"]
    else:
        assert {"L48-001", "L48-002", "L48-162", "AK-001", None} <= set(api)
        assert api["L48-001"][0] == 6 and api["AK-001"][0] == 3 and api["L48-162"][0] == 3
    page = client.get(f"/maps/edges?layer=choropleth&by=border_segment&{query}")
    payload = json.loads(re.search(r"GeomapLayers\.regions\(map_\w+, (.*)\);\n",
                                   page.get_data(as_text=True)).group(1))
    features = payload["features"]["features"]
    assert features
    for feature in features:
        props = feature["properties"]
        assert props["n"] == api.get(props["code"], (0, 0))[0], props["code"]
    db.dispose_engine(any_app.config["DATABASE_URL"])


def test_stats_by_border_segment_without_the_layer_is_unavailable(app, tmp_path):
    seed_dataset(app, "data")
    client = app.test_client()
    app.config["REGIONS_PATH"] = str(tmp_path / "missing.gpkg")
    response = client.get("/api/datasets/data/stats?by=border_segment")
    assert response.status_code == 503 and response.json["error"]["code"] == "unavailable"
    assert "border_segments" in response.json["error"]["message"]
    assert client.get("/api/datasets/data/stats?by=admin1").status_code == 200
    partial = tmp_path / "partial.gpkg"
    display_layers()["border"].to_file(partial, layer="border")
    app.config["REGIONS_PATH"] = str(partial)
    assert client.get("/api/datasets/data/stats?by=border_segment").status_code == 503
    assert client.get("/api/datasets/nope/stats?by=border_segment").status_code == 404


def test_import_report_json_twin(loaded):
    app, report = loaded
    client = app.test_client()
    url = f"/api/datasets/data/imports/{report['import_id']}"
    assert client.get(url).status_code == 401
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
    client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass"})
    assert client.get(url).status_code == 403  # reports are for the dataset's writers
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        access.set_member(conn, access.OPERATOR, "data", "editor", "collaborator")
    response = client.get(url)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "private, no-store"
    body = response.json
    assert body["report"] == report  # the report as the import returned it
    assert body["import"]["id"] == report["import_id"] and body["import"]["mode"] == "append"
    assert body["import"]["rows_rejected"] == report["rows_rejected"] == 1
    assert body["rejected_csv"] == f"{url}/rejected.csv"
    # The HTML report links its JSON twin.
    page = client.get(f"/upload/data/imports/{report['import_id']}").get_data(as_text=True)
    assert f'href="{url}"' in page
    assert client.get(f"/api/datasets/data/imports/{report['import_id'] + 99}").status_code == 404
    assert client.get(f"/api/datasets/nope/imports/{report['import_id']}").status_code == 404


def test_rejected_rows_download(loaded):
    app, report = loaded
    client = app.test_client()
    url = f"/api/datasets/data/imports/{report['import_id']}/rejected.csv"
    assert client.get(url).status_code == 401
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        token = accounts.create_token(conn, "t", "editor")
    response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and "may not write" in response.json["error"]["message"]
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        access.set_member(conn, access.OPERATOR, "data", "editor", "collaborator")
    response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [{"row": "3", "lat": "48.99", "lon": "-122.48", "date": "bad",
                     "description": "'@SUM(A1)", "reason": rows[0]["reason"]}]
    assert "date" in rows[0]["reason"]
    other = client.get(f"/api/datasets/data/imports/{report['import_id'] + 99}/rejected.csv",
                       headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 404
