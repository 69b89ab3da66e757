"""The corrections log: its rules, its three doors (editor page, JSON API, CLI), how map pages
and embeds show it (and stop showing a cached page without it), reverts and deletes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from attack import HOSTILE, MARKERS, SLUG as HOSTILE_SLUG, seed
from geomap import access, accounts, db, store
from geomap.errors import BadRequest
from ingest_helpers import fake_regions  # noqa: F401  (fixture)
from test_attack import _audit_html

DATA = Path(__file__).parent / "data" / "ingest"
TODAY = dt.date(2026, 12, 7)


def _engine(app):
    return db.engine_for(app.config["DATABASE_URL"])


def _log(app, slug):
    with _engine(app).connect() as conn:
        return store.list_corrections(conn, store.get_dataset(conn, slug)["id"])


def _version(app, slug):
    with _engine(app).connect() as conn:
        return store.get_dataset(conn, slug)["version"]


@pytest.fixture
def api(any_app, fake_regions):  # noqa: F811
    """An editor's token, a collaborator on "fixes", which has one import (3 incidents)."""
    with _engine(any_app).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        accounts.create_user(conn, "stranger", "s3cret-pass")
        token = accounts.create_token(conn, "script", "editor")
        stranger = accounts.create_token(conn, "other", "stranger")
        store.create_dataset(conn, "fixes", "Fixes", published=True)
        access.set_member(conn, access.OPERATOR, "fixes", "editor", "collaborator")
    client = any_app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    response = client.post("/api/datasets/fixes/incidents", data=(DATA / "basic.csv").read_bytes(),
                           headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == 201, response.json
    yield client, auth, {"Authorization": f"Bearer {stranger}"}, response.json["import_id"]
    db.dispose_engine(any_app.config["DATABASE_URL"])


# --- the rules ---------------------------------------------------------------------------------

def test_an_entry_is_read_with_its_defaults():
    entry = store.parse_correction({"what": "  Rows 3-5 moved to Emerson  "}, today=TODAY)
    assert entry == {"corrected_on": TODAY, "what": "Rows 3-5 moved to Emerson", "why": "",
                     "import_id": None}
    entry = store.parse_correction({"what": "x", "why": "y", "date": "2026-12-08",
                                    "import_id": "12"}, today=TODAY)
    assert entry["corrected_on"] == dt.date(2026, 12, 8) and entry["import_id"] == 12


@pytest.mark.parametrize("values,message", [
    ({}, "what must not be empty"),
    ({"what": "   "}, "what must not be empty"),
    ({"what": "x" * 2001}, "what is 2001 characters long; the limit is 2000"),
    ({"what": "x", "why": "y" * 2001}, "why is 2001 characters long"),
    ({"what": "a\x00b"}, "what contains a NUL character"),
    ({"what": 12}, "what must be text, got int"),
    ({"what": "x", "date": "07/12/2026"},
     "date must be a day written YYYY-MM-DD, got '07/12/2026'"),
    ({"what": "x", "date": "2026-02-30"}, "date must be a day written YYYY-MM-DD"),
    ({"what": "x", "date": 20261207}, "date must be a day written YYYY-MM-DD"),
    ({"what": "x", "date": "2026-12-09"}, "date 2026-12-09 is not between 1900-01-01 and today"),
    ({"what": "x", "date": "1899-12-31"}, "is not between 1900-01-01 and today"),
    ({"what": "x", "import_id": "twelve"}, "import_id must be the number of one of the dataset's"),
    ({"what": "x", "import_id": "\u00b2"}, "import_id must be the number"),
    ({"what": "x", "import_id": "9" * 5000}, "import_id must be the number"),
    ({"what": "x", "import_id": True}, "import_id must be the number"),
    ({"what": "x", "import_id": -3}, "import_id must be the number"),
])
def test_a_bad_entry_is_refused_saying_why(values, message):
    with pytest.raises(BadRequest) as caught:
        store.parse_correction(values, today=TODAY)
    assert message in caught.value.message and caught.value.details["field"]


# --- the API door ------------------------------------------------------------------------------

def test_api_adds_an_entry_and_readers_see_the_log_newest_first(api):
    client, auth, _stranger, import_id = api
    before = client.get("/api/datasets/fixes").json["version"]
    first = client.post("/api/datasets/fixes/corrections", headers=auth, json={
        "what": "Port of Emerson counts were doubled", "why": "the file was appended twice",
        "date": "2026-11-30", "import_id": import_id})
    assert first.status_code == 201, first.json
    assert first.json["correction"]["import_id"] == import_id
    assert first.json["correction"]["user_name"] == "editor"
    assert first.json["version"] == before + 1
    second = client.post("/api/datasets/fixes/corrections", headers=auth,
                         json={"what": "Sector names spelled out"})
    assert second.status_code == 201 and second.json["version"] == before + 2
    assert second.json["correction"]["date"] == store.utcnow().date().isoformat()
    public = client.get("/api/datasets/fixes").json
    assert [c["what"] for c in public["corrections"]] == [
        "Sector names spelled out", "Port of Emerson counts were doubled"]
    assert public["corrections"][1] == {
        "id": first.json["correction"]["id"], "date": "2026-11-30",
        "what": "Port of Emerson counts were doubled", "why": "the file was appended twice",
        "import_id": import_id, "recorded_at": public["corrections"][1]["recorded_at"]}
    assert "correction" not in public  # the single note is gone
    assert client.get("/api/datasets/fixes", headers=auth).json["corrections"][0][
        "user_name"] == "editor"  # who wrote it: for the dataset's writers only


@pytest.mark.parametrize("kwargs,status,message", [
    ({"data": "what=x", "content_type": "application/x-www-form-urlencoded"}, 415,
     "send the entry as a JSON object"),
    ({"data": "{not json", "content_type": "application/json"}, 400,
     "the body must be a JSON object"),
    ({"json": ["what", "x"]}, 400, "the body must be a JSON object"),
    ({"json": {"what": "x", "reason": "y"}}, 400, "unknown field(s) 'reason'"),
    ({"json": {"why": "y"}}, 400, "what must not be empty"),
    ({"json": {"what": "x", "import_id": 99999}}, 400,
     "import 99999 is not an import of dataset 'fixes'"),
])
def test_api_refuses_a_bad_entry_and_writes_nothing(api, kwargs, status, message):
    client, auth, _stranger, _import_id = api
    version = client.get("/api/datasets/fixes").json["version"]
    response = client.post("/api/datasets/fixes/corrections", headers=auth, **kwargs)
    assert response.status_code == status and message in response.json["error"]["message"]
    after = client.get("/api/datasets/fixes").json
    assert after["corrections"] == [] and after["version"] == version


def test_api_checks_who_writes(api):
    client, _auth, stranger, _import_id = api
    assert client.post("/api/datasets/fixes/corrections", json={"what": "x"}).status_code == 401
    response = client.post("/api/datasets/fixes/corrections", headers=stranger,
                           json={"what": "x"})
    assert response.status_code == 403 and "may not write dataset 'fixes'" in \
        response.json["error"]["message"]
    assert client.post("/api/datasets/nope/corrections", headers=stranger,
                       json={"what": "x"}).status_code == 404
    assert client.get("/api/datasets/fixes").json["corrections"] == []


def test_an_import_of_another_dataset_is_refused(api):
    client, auth, _stranger, import_id = api
    with _engine(client.application).begin() as conn:
        store.create_dataset(conn, "other", "Other")
        access.set_member(conn, access.OPERATOR, "other", "editor", "owner")
    response = client.post("/api/datasets/other/corrections", headers=auth,
                           json={"what": "x", "import_id": import_id})
    assert response.status_code == 400
    assert f"import {import_id} is not an import of dataset 'other'" in \
        response.json["error"]["message"]


# --- map pages and embeds ----------------------------------------------------------------------

def test_pages_and_embeds_show_a_new_entry_at_once(api):
    """A cached page or embed (keyed by version) is not served after the log changed."""
    client, auth, _stranger, import_id = api
    page = client.get("/maps/fixes")
    embed = client.get("/embed/fixes")
    assert page.status_code == embed.status_code == 200
    assert 'id="corrections"' not in page.get_data(as_text=True)
    assert client.get("/maps/fixes", headers={"If-None-Match": page.headers["ETag"]}
                      ).status_code == 304
    for day, what in (("2026-11-02", "Older entry"), ("2026-12-07", "Emerson <moved>")):
        assert client.post("/api/datasets/fixes/corrections", headers=auth, json={
            "what": what, "why": "wrong port code", "date": day, "import_id": import_id}
        ).status_code == 201
    again = client.get("/maps/fixes", headers={"If-None-Match": page.headers["ETag"]})
    assert again.status_code == 200 and again.headers["ETag"] != page.headers["ETag"]
    html = again.get_data(as_text=True)
    newest = html.index("Emerson &lt;moved&gt;")
    assert newest < html.index("Older entry", newest)  # the log, newest first
    assert '<time datetime="2026-12-07">7 Dec 2026</time>' in html
    assert 'href="#corrections"' in html and f'href="#import-{import_id}"' in html
    assert f'id="import-{import_id}"' in html and "Why: wrong port code" in html
    embed_html = client.get("/embed/fixes").get_data(as_text=True)
    assert ("Corrected <time datetime=\"2026-12-07\">7 Dec 2026</time>:</strong> "
            "Emerson &lt;moved&gt;") in embed_html
    assert "Older entry" not in embed_html
    assert 'href="http://localhost/maps/fixes#corrections" target="_blank"' in embed_html


def test_a_reverted_import_is_said_so_in_the_log(api):
    client, auth, _stranger, import_id = api
    assert client.post("/api/datasets/fixes/corrections", headers=auth, json={
        "what": "Imported the November file", "import_id": import_id}).status_code == 201
    assert client.post(f"/api/datasets/fixes/imports/{import_id}/revert",
                       headers=auth).status_code == 200
    html = client.get("/maps/fixes").get_data(as_text=True)
    assert "Imported the November file" in html and "since reverted" in html
    # An entry may name the reverted import, to say why it was undone.
    assert client.post("/api/datasets/fixes/corrections", headers=auth, json={
        "what": "Reverted the November file", "import_id": import_id}).status_code == 201


def test_deleting_a_dataset_keeps_its_log_as_it_keeps_its_imports(api):
    client, auth, _stranger, _import_id = api
    assert client.post("/api/datasets/fixes/corrections", headers=auth,
                       json={"what": "Kept for the record"}).status_code == 201
    with _engine(client.application).begin() as conn:
        access.set_member(conn, access.OPERATOR, "fixes", "editor", "owner")
    deleted = client.delete("/api/datasets/fixes", headers=auth)
    assert deleted.status_code == 200 and deleted.json["corrections"] == 1
    with _engine(client.application).connect() as conn:
        rows = conn.execute(db.dataset_corrections.select()).mappings().all()
        assert [(r["dataset_id"], r["dataset_slug"], r["what"]) for r in rows] == [
            (None, "fixes", "Kept for the record")]
        again = store.create_dataset(conn, "fixes", "Fixes again")
        assert store.list_corrections(conn, again["id"]) == []  # a new dataset, a new log


def test_hostile_entries_are_inert_everywhere(app, client, fake_regions):  # noqa: F811
    """The attack corpus's seed writes its correction through the API; every page showing it
    is parsed for anything a browser would run."""
    seed(app, client)
    for path in (f"/maps/{HOSTILE_SLUG}", f"/embed/{HOSTILE_SLUG}",
                 f"/editor/datasets/{HOSTILE_SLUG}"):
        if path.startswith("/editor"):
            client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass"})
            with _engine(app).begin() as conn:
                access.set_member(conn, access.OPERATOR, HOSTILE_SLUG, "editor", "owner")
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        _audit_html(html, path)
        assert "&lt;script&gt;alert(&#39;xss-script&#39;)&lt;/script&gt;" in html, path
        assert not any(f"alert('{m}')" in html for m in MARKERS), path
    entry = client.get(f"/api/datasets/{HOSTILE_SLUG}").json["corrections"][0]
    assert entry["what"] == entry["why"] == HOSTILE


# --- the editor's page -------------------------------------------------------------------------

@pytest.fixture
def editor(app):
    """An editor signed in, collaborator on the draft "draft-one"; a stranger's client."""
    with _engine(app).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        accounts.create_user(conn, "stranger", "s3cret-pass")
        store.create_dataset(conn, "draft-one", "Draft one")
        access.set_member(conn, access.OPERATOR, "draft-one", "editor", "collaborator")
    client = app.test_client()
    client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass"})
    return client


def test_editor_adds_an_entry_on_the_datasets_page(app, editor):
    page = editor.get("/editor/datasets/draft-one").get_data(as_text=True)
    assert 'id="correction-form"' in page and "No corrections yet." in page
    assert f'value="{store.utcnow().date().isoformat()}"' in page  # dated today by default
    response = editor.post("/editor/datasets/draft-one/corrections", data={
        "date": "2026-12-01", "what": "Counts for <March> revised", "why": "late reports"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/editor/datasets/draft-one#corrections")
    [entry] = _log(app, "draft-one")
    assert (entry["corrected_on"], entry["what"], entry["why"], entry["user_name"]) == (
        dt.date(2026, 12, 1), "Counts for <March> revised", "late reports", "editor")
    assert _version(app, "draft-one") == 2
    page = editor.get("/editor/datasets/draft-one").get_data(as_text=True)
    assert "Counts for &lt;March&gt; revised" in page and "Correction of 2026-12-01 added" in page


def test_editor_sees_a_refused_entry_again_with_its_reason(app, editor):
    response = editor.post("/editor/datasets/draft-one/corrections", data={
        "date": "2026-13-01", "what": "Keep <this> text", "why": "and this"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "date must be a day written YYYY-MM-DD, got &#39;2026-13-01&#39;" in html
    assert ">Keep &lt;this&gt; text</textarea>" in html and 'value="2026-13-01"' in html
    assert _log(app, "draft-one") == [] and _version(app, "draft-one") == 1


def test_editor_page_door_checks_who_writes(app, editor):
    anonymous = app.test_client()
    response = anonymous.post("/editor/datasets/draft-one/corrections", data={"what": "x"})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    stranger = app.test_client()
    stranger.post("/auth/login", data={"name": "stranger", "password": "s3cret-pass"})
    assert stranger.post("/editor/datasets/draft-one/corrections",
                         data={"what": "x"}).status_code == 403
    assert editor.post("/editor/datasets/nope/corrections",
                       data={"what": "x"}).status_code == 404
    assert _log(app, "draft-one") == []


def test_editor_form_needs_the_csrf_token(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True)
    with _engine(app).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass", role="admin")
        store.create_dataset(conn, "draft-one", "Draft one")
    client = app.test_client()
    login = client.get("/auth/login").get_data(as_text=True)
    token = login.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass",
                                     "csrf_token": token})
    refused = client.post("/editor/datasets/draft-one/corrections", data={"what": "forged"})
    assert refused.status_code in (400, 403) and _log(app, "draft-one") == []
    page = client.get("/editor/datasets/draft-one").get_data(as_text=True)
    token = page.split('id="correction-form"')[1].split('name="csrf_token" value="')[1] \
        .split('"')[0]
    sent = client.post("/editor/datasets/draft-one/corrections",
                       data={"what": "real", "csrf_token": token})
    assert sent.status_code == 302 and [e["what"] for e in _log(app, "draft-one")] == ["real"]
    db.dispose_engine(app.config["DATABASE_URL"])


# --- the CLI -----------------------------------------------------------------------------------

def test_cli_adds_an_entry(app, runner):
    with _engine(app).begin() as conn:
        store.create_dataset(conn, "cli-one", "CLI one")
    result = runner.invoke(args=["add-correction", "cli-one", "--what", "Renamed a sector",
                                 "--why", "USBP renamed it", "--date", "2026-10-01"])
    assert result.exit_code == 0, result.output
    assert "Added the correction of 2026-10-01 to dataset cli-one's log" in result.output
    [entry] = _log(app, "cli-one")
    assert entry["user_name"] == "cli" and entry["why"] == "USBP renamed it"
    bad = runner.invoke(args=["add-correction", "cli-one", "--what", "x", "--import", "abc"])
    assert bad.exit_code != 0 and "import_id must be the number" in bad.output
    missing = runner.invoke(args=["add-correction", "nope", "--what", "x"])
    assert missing.exit_code != 0 and "no dataset 'nope'" in missing.output
