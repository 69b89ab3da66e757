"""Downloads, statistics and rejected rows: GET /api/datasets/<slug>/..."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from geomap import accounts, db, ingest, storage

from ingest_helpers import fake_regions  # noqa: F401  (fixture)

DATA = Path(__file__).parent / "data" / "ingest"


def _import(app, name, slug="data", **options):
    return ingest.import_file(db.engine_for(app.config["DATABASE_URL"]), DATA / name,
                              dataset=slug, options=ingest.Options(**options),
                              settings=dict(app.config), regions=None, user_name="t")


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
    assert all(g["mile_to"] - g["mile_from"] == 25 for g in out["groups"])
    assert sum(g["n"] for g in out["groups"]) == 4
    assert client.get("/api/datasets/data/stats?by=colour").status_code == 400
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        storage.update_dataset(conn, "data", min_public_count=2)
    out = client.get("/api/datasets/data/stats?by=admin1").json
    assert out["groups"] == [{"key": "CA-BC", "n": 2, "total": 3}]
    assert out["hidden"] == {"groups": 2, "min_public_count": 2}
    assert client.get("/api/datasets/data/incidents.csv").status_code == 403


def test_rejected_rows_download(loaded):
    app, report = loaded
    client = app.test_client()
    url = f"/api/datasets/data/imports/{report['import_id']}/rejected.csv"
    assert client.get(url).status_code == 401
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        token = accounts.create_token(conn, "t", "editor")
    response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [{"row": "3", "lat": "48.99", "lon": "-122.48", "date": "bad",
                     "description": "'@SUM(A1)", "reason": rows[0]["reason"]}]
    assert "date" in rows[0]["reason"]
    other = client.get(f"/api/datasets/data/imports/{report['import_id'] + 99}/rejected.csv",
                       headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 404
