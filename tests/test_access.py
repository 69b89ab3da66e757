"""Roles and ownership (issue #15): who may write which dataset, through every write path.

Alice (editor) owns the dataset she created by an import; Bob (editor) is no member of it;
Carol (editor) becomes its collaborator; Root is an admin. Everything goes through the real
app: forms with a session, the write API with tokens, import reports, pages for users and
tokens.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from geomap import access, accounts, db, store

from ingest_helpers import FAKE_REGIONS, fake_regions  # noqa: F401  (fixture)

DATA = Path(__file__).parent / "data" / "ingest"
PW = "s3cret-pass"
CSV = (DATA / "basic.csv").read_bytes()


def _engine(app):
    return db.engine_for(app.config["DATABASE_URL"])


def _post_csv(client, slug, token, body=CSV, query=""):
    return client.post(f"/api/datasets/{slug}/incidents{query}", data=body,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})


def _signed_in(app, name):
    client = app.test_client()
    response = client.post("/auth/login", data={"name": name, "password": PW})
    assert response.status_code == 302, name
    return client


def _incidents(app, slug):
    with _engine(app).connect() as conn:
        return store.count_incidents(conn, store.get_dataset(conn, slug)["id"])


@pytest.fixture
def world(any_app, fake_regions):  # noqa: F811
    """Users and their tokens; Alice's draft "alice-data" created by her own import."""
    app = any_app
    with _engine(app).begin() as conn:
        for name in ("alice", "bob", "carol"):
            accounts.create_user(conn, name, PW)
        accounts.create_user(conn, "root", PW, role="admin")
        tokens = {name: accounts.create_token(conn, f"{name}-script", name)
                  for name in ("alice", "bob", "carol", "root")}
    created = _post_csv(app.test_client(), "alice-data", tokens["alice"])
    assert created.status_code == 201, created.json
    yield app, tokens
    db.dispose_engine(app.config["DATABASE_URL"])


def test_roles_and_ownership_import_makes_the_importer_owner(world):
    app, _tokens = world
    with _engine(app).connect() as conn:
        dataset = store.get_dataset(conn, "alice-data")
        assert access.list_members(conn, dataset["id"]) == [
            {"user_name": "alice", "role": "owner"}]


def test_roles_and_ownership_api_token_writes_only_what_its_user_may(world):
    app, tokens = world
    client = app.test_client()
    other = (DATA / "dms.csv").read_bytes()
    denied = _post_csv(client, "alice-data", tokens["bob"], other, "?mode=replace")
    assert denied.status_code == 403
    error = denied.json["error"]
    assert error["code"] == "forbidden" and "may not write dataset 'alice-data'" in error["message"]
    assert _incidents(app, "alice-data") == 3  # nothing replaced
    assert _post_csv(client, "alice-data", tokens["carol"], other).status_code == 403
    with _engine(app).begin() as conn:
        access.set_member(conn, access.OPERATOR, "alice-data", "carol")
    assert _post_csv(client, "alice-data", tokens["carol"], other).status_code == 201
    assert _post_csv(client, "alice-data", tokens["root"], other,
                     "?mode=replace").status_code in (200, 201)
    # Bob may still create datasets of his own, which he then owns and Alice may not write.
    assert _post_csv(client, "bob-data", tokens["bob"]).status_code == 201
    assert _post_csv(client, "bob-data", tokens["alice"], other).status_code == 403


def test_roles_and_ownership_forms_refuse_other_editors(world):
    app, tokens = world
    bob = _signed_in(app, "bob")
    # The editor list shows only what one may write; admins see everything.
    assert "alice-data" not in bob.get("/editor/").get_data(as_text=True)
    assert "alice-data" in _signed_in(app, "root").get("/editor/").get_data(as_text=True)
    assert "alice-data" in _signed_in(app, "alice").get("/editor/").get_data(as_text=True)
    page = bob.get("/editor/datasets/alice-data")
    assert page.status_code == 403 and "may not write dataset" in page.get_data(as_text=True)
    edit = bob.post("/editor/datasets/alice-data", data={"title": "Mine now", "published": "on"})
    assert edit.status_code == 403
    with _engine(app).connect() as conn:
        row = store.get_dataset(conn, "alice-data")
    assert row["title"] != "Mine now" and row["published"] is False
    # The upload form: the dataset is not offered, and naming it is refused before reading.
    assert 'value="alice-data"' not in bob.get("/upload").get_data(as_text=True)
    preview = bob.post("/upload", data={
        "action": "preview", "dataset": "alice-data", "mode": "append",
        "file": (io.BytesIO(CSV), "b.csv")}, content_type="multipart/form-data")
    assert preview.status_code == 403 and "may not write" in preview.get_data(as_text=True)
    # Import step with a file already kept by another preview: still refused, nothing written.
    mine = bob.post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "bob-new", "mode": "append",
        "file": (io.BytesIO((DATA / "dms.csv").read_bytes()), "d.csv")},
        content_type="multipart/form-data")
    sha = re.search(r'name="sha256" value="([0-9a-f]{64})"', mine.get_data(as_text=True))[1]
    imported = bob.post("/upload", data={"action": "import", "dataset": "alice-data",
                                         "mode": "append", "sha256": sha, "filename": "d.csv"})
    assert imported.status_code == 403
    assert _incidents(app, "alice-data") == 3
    # Import reports (HTML and JSON) are the dataset writers' too.
    with _engine(app).connect() as conn:
        [imp] = store.list_imports(conn, store.get_dataset(conn, "alice-data")["id"])
    assert bob.get(f"/upload/alice-data/imports/{imp['id']}").status_code == 403
    url = f"/api/datasets/alice-data/imports/{imp['id']}"
    assert app.test_client().get(url, headers={
        "Authorization": f"Bearer {tokens['bob']}"}).status_code == 403
    assert app.test_client().get(url, headers={
        "Authorization": f"Bearer {tokens['alice']}"}).status_code == 200


def test_roles_and_ownership_owner_manages_collaborators(world):
    app, _tokens = world
    alice, carol, bob = (_signed_in(app, n) for n in ("alice", "carol", "bob"))
    members = "/editor/datasets/alice-data/members"
    # Bob, no member, may not add himself.
    assert bob.post(members, data={"action": "add", "user_name": "bob"}).status_code == 403
    assert alice.post(members, data={"action": "add", "user_name": "carol",
                                     "role": "collaborator"}).status_code == 302
    page = alice.get("/editor/datasets/alice-data").get_data(as_text=True)
    assert "carol" in page and "collaborator" in page
    # The collaborator writes the dataset but does not manage its members.
    saved = carol.post("/editor/datasets/alice-data", data={"title": "By Carol"})
    assert saved.status_code == 302
    assert "By Carol" in carol.get("/editor/").get_data(as_text=True)
    assert carol.post(members, data={"action": "add", "user_name": "bob"}).status_code == 403
    assert 'name="action" value="add"' not in \
        carol.get("/editor/datasets/alice-data").get_data(as_text=True)
    # Unknown users are reported on the page, not as an error page.
    unknown = alice.post(members, data={"action": "add", "user_name": "nobody"},
                         follow_redirects=True)
    assert "no user &#39;nobody&#39;" in unknown.get_data(as_text=True)
    assert alice.post(members, data={"action": "remove", "user_name": "carol"}).status_code == 302
    assert carol.get("/editor/datasets/alice-data").status_code == 403


def test_roles_and_ownership_disabled_users_tokens_stop_working(world):
    app, tokens = world
    client = app.test_client()
    session = _signed_in(app, "alice")
    with _engine(app).begin() as conn:
        accounts.set_disabled(conn, "alice", True)
    refused = _post_csv(client, "alice-data", tokens["alice"])
    assert refused.status_code == 401 and refused.json["error"]["code"] == "unauthorized"
    assert session.get("/editor/").status_code == 302  # her session ended
    login = client.post("/auth/login", data={"name": "alice", "password": PW})
    assert login.status_code == 401
    with _engine(app).begin() as conn:
        accounts.set_disabled(conn, "alice", False)
    # The same file again (confirmed): unchanged rows.
    assert _post_csv(client, "alice-data", tokens["alice"], query="?again=1").status_code == 200


def test_roles_and_ownership_userless_operator_token_acts_as_admin(world):
    app, _tokens = world
    result = app.test_cli_runner().invoke(args=["create-token", "ops"])
    token = result.output.strip().splitlines()[-1]
    response = _post_csv(app.test_client(), "alice-data", token, (DATA / "dms.csv").read_bytes())
    assert response.status_code == 201
    with _engine(app).connect() as conn:
        [last, *_] = store.list_imports(conn, store.get_dataset(conn, "alice-data")["id"])
    assert last["user_name"] == "token:ops"


def test_api_honesty_token_reads_its_users_drafts(world):
    app, tokens = world
    client = app.test_client()
    urls = ["/api/datasets/alice-data", "/api/datasets/alice-data/stats",
            "/api/datasets/alice-data/incidents.csv"]

    def statuses(token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return [client.get(url, headers=headers).status_code for url in urls]

    assert statuses() == [404, 404, 404]
    assert statuses(tokens["bob"]) == [404, 404, 404]  # may not write it: as anonymous
    assert statuses(tokens["alice"]) == [200, 200, 200]
    assert statuses(tokens["root"]) == [200, 200, 200]
    described = client.get(urls[0], headers={"Authorization": f"Bearer {tokens['alice']}"})
    assert described.json["imports"][0]["user_name"] == "alice"
    assert described.headers["Cache-Control"] == "private, no-store"
    assert statuses("gm_wrong") == [401, 401, 401]  # a wrong token is said so, not ignored


def test_roles_and_ownership_users_page_is_for_admins(world):
    app, _tokens = world
    assert _signed_in(app, "bob").get("/editor/users").status_code == 403
    assert app.test_client().get("/editor/users").status_code == 302  # to the login form
    root = _signed_in(app, "root")
    created = root.post("/editor/users", data={"action": "create", "name": "<b>dee</b>",
                                               "password": PW, "role": "editor"},
                        follow_redirects=True)
    html = created.get_data(as_text=True)
    assert "&lt;b&gt;dee&lt;/b&gt;" in html and "<b>dee</b>" not in html
    assert root.post("/editor/users", data={"action": "role", "name": "bob",
                                            "role": "admin"}).status_code == 302
    bob = _signed_in(app, "bob")
    assert "alice-data" in bob.get("/editor/").get_data(as_text=True)  # admins see all
    assert root.post("/editor/users", data={"action": "disable", "name": "bob"}).status_code == 302
    assert bob.get("/editor/").status_code == 302  # disabling ended his session
    # An admin cannot lock themselves out from the web.
    itself = root.post("/editor/users", data={"action": "disable", "name": "root"},
                       follow_redirects=True)
    assert "cannot disable or enable your own account" in itself.get_data(as_text=True)
    with _engine(app).connect() as conn:
        users = {u["name"]: u for u in accounts.list_users(conn)}
    assert users["<b>dee</b>"]["role"] == "editor" and users["bob"]["role"] == "admin"
    assert users["bob"]["disabled_at"] is not None and users["root"]["disabled_at"] is None


def test_roles_and_ownership_tokens_page_shows_a_token_once(world):
    app, _tokens = world
    carol = _signed_in(app, "carol")
    response = carol.post("/editor/tokens", data={"name": "laptop"})
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    token = re.search(r'<code id="new-token">(gm_[^<]+)</code>',
                      response.get_data(as_text=True))[1]
    listing = carol.get("/editor/tokens").get_data(as_text=True)
    assert "laptop" in listing and token not in listing and "alice-script" not in listing
    with _engine(app).connect() as conn:
        hashes = conn.execute(sa.select(db.api_tokens.c.token_hash)).scalars().all()
        token_id = conn.execute(sa.select(db.api_tokens.c.id)
                                .where(db.api_tokens.c.name == "laptop")).scalar_one()
    assert token not in hashes
    # The token acts for Carol: she owns a dataset it creates.
    assert _post_csv(app.test_client(), "carol-data", token).status_code == 201
    # Nobody else revokes it (but an admin may); Carol can.
    assert _signed_in(app, "bob").post(f"/editor/tokens/{token_id}/revoke").status_code == 403
    assert carol.post(f"/editor/tokens/{token_id}/revoke").status_code == 302
    assert _post_csv(app.test_client(), "carol-data", token).status_code == 401


def test_account_forms_need_the_csrf_token(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True)
    with _engine(app).begin() as conn:
        accounts.create_user(conn, "root", PW, role="admin")
    client = app.test_client()
    login = client.get("/auth/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login)[1]
    client.post("/auth/login", data={"name": "root", "password": PW, "csrf_token": csrf})
    for url, data in (("/editor/users", {"action": "create", "name": "x", "password": PW}),
                      ("/editor/tokens", {"name": "t"})):
        response = client.post(url, data=data)
        assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True), url
    page = client.get("/editor/tokens").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    assert client.post("/editor/tokens", data={"name": "t", "csrf_token": csrf}).status_code == 201


def test_roles_and_ownership_import_checks_access_in_its_transaction(world, tmp_path):
    """The domain import itself refuses (a form checked earlier may be out of date)."""
    from geomap import ingest
    from geomap.errors import Forbidden, Unauthorized

    app, _tokens = world
    with _engine(app).connect() as conn:
        bob = access.actor_from(conn.execute(sa.select(db.users).where(
            db.users.c.name == "bob")).mappings().one())
    path = tmp_path / "x.csv"
    path.write_bytes((DATA / "dms.csv").read_bytes())
    kwargs = dict(dataset="alice-data", options=ingest.Options(),
                  settings=ingest.Settings.from_config(app.config), regions=FAKE_REGIONS)
    with pytest.raises(Forbidden):
        ingest.import_file(_engine(app), path, actor=bob, **kwargs)
    with pytest.raises(Unauthorized):
        ingest.import_file(_engine(app), path, actor=None, **kwargs)
    assert _incidents(app, "alice-data") == 3


def test_api_honesty_token_lists_its_users_drafts(world):
    """The dataset list shows drafts to whoever may write them (marked, never cached) and
    to nobody else."""
    app, tokens = world
    client = app.test_client()

    def listed(token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = client.get("/api/datasets", headers=headers)
        assert response.status_code == 200
        return response, {d["slug"]: d["published"] for d in response.json["datasets"]}

    anonymous, seen = listed()
    assert "alice-data" not in seen and "private" not in anonymous.headers.get("Cache-Control", "")
    assert "alice-data" not in listed(tokens["bob"])[1]
    for who in ("alice", "root"):
        response, seen = listed(tokens[who])
        assert seen["alice-data"] is False
        assert response.headers["Cache-Control"] == "private, no-store"
    assert all(d["map_url"].endswith("/maps/" + d["slug"])
               for d in listed(tokens["root"])[0].json["datasets"])
