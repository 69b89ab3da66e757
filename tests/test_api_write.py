"""POST /api/datasets/<slug>/incidents: token auth, CSV body or multipart, report JSON, limits."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from geomap import accounts, db, store

from ingest_helpers import fake_regions  # noqa: F401  (fixture)

DATA = Path(__file__).parent / "data" / "ingest"


def _token(app) -> str:
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        return accounts.create_token(conn, "script", "editor")


@pytest.fixture
def api(any_app, fake_regions):  # noqa: F811
    token = _token(any_app)
    client = any_app.test_client()
    yield client, {"Authorization": f"Bearer {token}"}
    db.dispose_engine(any_app.config["DATABASE_URL"])


def test_csv_body_returns_the_report(api):
    client, auth = api
    body = (DATA / "basic.csv").read_bytes()
    response = client.post("/api/datasets/api-test/incidents?title=From+API&publish=true",
                           data=body, headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == 201, response.json
    report = response.json
    assert report["rows_imported"] == 3 and report["dataset"] == "api-test"
    again = client.post("/api/datasets/api-test/incidents?again=1", data=body,
                        headers={**auth, "Content-Type": "text/csv; charset=utf-8"})
    assert again.status_code == 200 and again.json["rows_unchanged"] == 3
    listed = client.get("/api/datasets/api-test").json
    assert listed["title"] == "From API" and len(listed["imports"]) == 2
    # The import records who made it (shown to editors; readers' JSON leaves it out).
    assert "user_name" not in listed["imports"][0]
    app = client.application
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        dataset = store.get_dataset(conn, "api-test")
        assert store.list_imports(conn, dataset["id"])[0]["user_name"] == "editor"


def test_multipart_with_options(api):
    client, auth = api
    data = {"file": (io.BytesIO((DATA / "no_header.csv").read_bytes()), "x.csv"),
            "no_header": "1", "map": ["lat=1", "lon=2", "occurred_at=3"], "mode": "replace"}
    response = client.post("/api/datasets/api-test/incidents", data=data, headers=auth,
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    assert response.json["rows_imported"] == 2


def test_strict_failure_is_422_with_the_report(api):
    client, auth = api
    response = client.post("/api/datasets/api-test/incidents?strict=1",
                           data=(DATA / "out_of_range.csv").read_bytes(),
                           headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "unprocessable" and error["details"]["rows_rejected"] == 5


@pytest.mark.parametrize("body, status, code", [
    (b"PK\x03\x04" + b"\x00" * 50, 422, "unprocessable"),
    (b"", 422, "unprocessable"),
    (b"name\nalpha\n", 422, "unprocessable"),
])
def test_bad_files_are_json_errors(api, body, status, code):
    client, auth = api
    response = client.post("/api/datasets/api-test/incidents", data=body,
                           headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert "\n" not in response.json["error"]["message"]
    assert client.get("/api/datasets/api-test").status_code == 404


def test_bad_requests(api):
    client, auth = api
    response = client.post("/api/datasets/api-test/incidents", data="{}",
                           headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 415 and "text/csv" in response.json["error"]["message"]
    response = client.post("/api/datasets/Bad Slug/incidents", data=b"lat,lon,date\n",
                           headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == 400
    response = client.post("/api/datasets/api-test/incidents?mode=merge", data=b"lat,lon,date\n",
                           headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == 400 and "mode" in response.json["error"]["message"]


def test_writes_need_a_token(api):
    client, _auth = api
    response = client.post("/api/datasets/api-test/incidents", data=b"lat,lon,date\n",
                           headers={"Content-Type": "text/csv"})
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"
    response = client.post("/api/datasets/api-test/incidents", data=b"lat,lon,date\n",
                           headers={"Content-Type": "text/csv", "Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_over_the_size_limit_is_413_json(app_factory, fake_regions):  # noqa: F811
    app = app_factory(MAX_UPLOAD_MB=0.01)
    auth = {"Authorization": f"Bearer {_token(app)}"}
    client = app.test_client()
    big = b"lat,lon,date\n" + b"49.0021,-122.7566,2025-01-03\n" * 1000
    response = client.post("/api/datasets/api-test/incidents", data=big,
                           headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == 413
    assert response.json["error"]["code"] == "too_large"
    response = client.post("/api/datasets/api-test/incidents", headers=auth,
                           data={"file": (io.BytesIO(big), "big.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
