"""The write API is not a CSRF hole, and every cookie-authenticated write needs the CSRF
token: the API's incidents POST, the upload and editor forms and logout (issue #15).

The test app disables CSRF (tests/conftest.py make_app); these tests enable it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from geomap import access, accounts, db, store
from ingest_helpers import fake_regions  # noqa: F401  (fixture)

DATA = Path(__file__).parent / "data" / "ingest"
WRITE = "/api/datasets/api-test/incidents"


@pytest.fixture
def site(app_factory, fake_regions):  # noqa: F811
    """A CSRF-enabled app, an editor signed in through the real form, and the editor's
    page token; returns (app, client, csrf_token, bearer_token)."""
    app = app_factory(WTF_CSRF_ENABLED=True)
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        bearer = accounts.create_token(conn, "script", "editor")
        store.create_dataset(conn, "kept", "Kept", published=False)
        access.set_member(conn, access.OPERATOR, "kept", "editor", "owner")
    client = app.test_client()
    login_page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    signed_in = client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass",
                                                 "csrf_token": token})
    assert signed_in.status_code == 302
    page = client.get("/").get_data(as_text=True)
    csrf_token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
    return app, client, csrf_token, bearer


def _csv() -> bytes:
    return (DATA / "basic.csv").read_bytes()


def _incidents(app) -> int:
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        try:
            dataset = store.get_dataset(conn, "api-test")
        except Exception:  # noqa: BLE001 - no such dataset: nothing was written
            return 0
        return store.count_incidents(conn, dataset["id"])


@pytest.mark.parametrize("headers", [
    {"Content-Type": "text/csv"},
    {"Content-Type": "text/csv", "X-CSRFToken": "forged-token"},
    {"Content-Type": "application/octet-stream", "Origin": "http://localhost"},
])
def test_write_api_is_not_a_csrf_hole_cookie_without_token_is_403(site, headers):
    app, client, _token, _bearer = site
    response = client.post(WRITE + "?publish=true", data=_csv(), headers=headers)
    assert response.status_code == 403
    error = response.json["error"]
    assert error["code"] == "forbidden"
    assert "CSRF token" in error["message"] and "X-CSRFToken" in error["message"]
    assert error["details"]["reason"].startswith("The CSRF")
    assert _incidents(app) == 0


def test_write_api_is_not_a_csrf_hole_multipart_with_cookie_needs_the_token(site):
    app, client, token, _bearer = site
    forged = client.post(WRITE, data={"file": (io.BytesIO(_csv()), "x.csv")},
                         content_type="multipart/form-data")
    assert forged.status_code == 403 and "CSRF token" in forged.json["error"]["message"]
    assert _incidents(app) == 0
    ok = client.post(WRITE, data={"file": (io.BytesIO(_csv()), "x.csv"), "csrf_token": token},
                     content_type="multipart/form-data")
    assert ok.status_code == 201, ok.json
    assert _incidents(app) == 3


def test_write_api_is_not_a_csrf_hole_cookie_with_token_works(site):
    app, client, token, _bearer = site
    response = client.post(WRITE, data=_csv(),
                           headers={"Content-Type": "text/csv", "X-CSRFToken": token})
    assert response.status_code == 201, response.json
    assert response.json["rows_imported"] == 3 and _incidents(app) == 3


def test_write_api_is_not_a_csrf_hole_bearer_needs_no_token(site):
    app, _client, _token, bearer = site
    fresh = app.test_client()  # no session cookie at all
    response = fresh.post(WRITE, data=_csv(), headers={"Content-Type": "text/csv",
                                                       "Authorization": f"Bearer {bearer}"})
    assert response.status_code == 201, response.json
    assert _incidents(app) == 3


def test_write_api_is_not_a_csrf_hole_reads_need_no_token(site):
    _app, client, _token, _bearer = site
    assert client.get("/api/datasets/kept/imports/1").status_code == 404  # not 403


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=utf-8",
                                          "application/x-www-form-urlencoded",
                                          "application/json"])
def test_write_api_is_not_a_csrf_hole_text_plain_is_not_csv(site, content_type):
    app, _client, _token, bearer = site
    response = app.test_client().post(WRITE, data=_csv(), headers={
        "Content-Type": content_type, "Authorization": f"Bearer {bearer}"})
    assert response.status_code == 415
    error = response.json["error"]
    assert error["code"] == "unsupported_media_type"
    assert "Content-Type: text/csv" in error["message"]
    assert "text/plain" not in error["details"]["accepted"]
    assert _incidents(app) == 0


@pytest.mark.parametrize("path, data", [
    ("/upload", {"dataset": "__new__", "new_slug": "forged", "action": "import"}),
    ("/upload", {"dataset": "__new__", "new_slug": "forged", "action": "repreview"}),
    ("/editor/datasets/kept", {"title": "Forged", "published": "on"}),
    ("/auth/logout", {}),
])
def test_cookie_writes_need_the_csrf_token(site, path, data):
    app, client, token, _bearer = site
    forged = client.post(path, data=data)
    assert forged.status_code == 400
    assert "CSRF token is missing" in forged.get_data(as_text=True)
    wrong = client.post(path, data={**data, "csrf_token": "forged-token"})
    assert wrong.status_code == 400 and "CSRF" in wrong.get_data(as_text=True)
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        assert store.get_dataset(conn, "kept")["title"] == "Kept"
        assert [d["slug"] for d in store.list_datasets(conn, published_only=False)] == ["kept"]
    assert "Sign out editor" in client.get("/").get_data(as_text=True)  # still signed in
    # With the token the same request is served.
    allowed = client.post(path, data={**data, "csrf_token": token})
    assert "CSRF" not in allowed.get_data(as_text=True)
    if path == "/upload":  # the form answers: no stored file to import
        assert allowed.status_code == 400 and "Upload" in allowed.get_data(as_text=True)
    elif path == "/auth/logout":
        assert allowed.status_code == 302
        assert "Sign out" not in client.get("/").get_data(as_text=True)
    else:
        assert allowed.status_code == 302
        with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
            assert store.get_dataset(conn, "kept")["title"] == "Forged"
