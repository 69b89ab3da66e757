"""Issue #18 items 2-4 through every door: the CLI (import-csv --again/--key, revert-import,
delete-dataset), the API (?again=1, ?key=, POST .../revert, DELETE) and the editor pages
(the preview's checkbox and key columns, the revert button, the delete confirmation), each
with its own words for confirming."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from geomap import access, accounts, db, store

from ingest_helpers import fake_regions  # noqa: F401  (fixture)

HEADER = "Port Code,Date,Measure,Value,lat,lon\n"
ROWS = ["3004,2025-01-01,Trucks,120,49.002,-122.757",
        "3004,2025-01-01,Buses,7,49.002,-122.757",
        "0712,2025-01-01,Trucks,300,45.01,-73.45"]


def csv(rows=ROWS) -> bytes:
    return (HEADER + "\n".join(rows) + "\n").encode()


def dataset(app, slug="ports"):
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        return store.get_dataset(conn, slug, missing_ok=True)


def incidents(app, slug="ports"):
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        frame = store.incident_frame(conn, store.get_dataset(conn, slug)["id"])
        return frame.set_index("source_id")["count"].to_dict()


def kept_imports(app, slug="ports"):
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        return conn.execute(sa.select(db.imports.c.id, db.imports.c.dataset_id).where(
            db.imports.c.dataset_slug == slug).order_by(db.imports.c.id)).all()


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_again_key_revert_and_delete(app, runner, fake_regions, tmp_path):  # noqa: F811
    path = tmp_path / "ports.csv"
    path.write_bytes(csv())
    base = ["import-csv", str(path), "--dataset", "ports", "--map", "count=Value"]
    first = runner.invoke(args=base + ["--key", "Port Code,Date,Measure"])
    assert first.exit_code == 0, first.output
    refused = runner.invoke(args=base)
    assert refused.exit_code == 1
    assert re.search(r"already imported into dataset 'ports' on \S+ \S+ UTC as import 1 "
                     r"\(ports.csv\).*add --again to import it anyway", refused.output)
    changed = tmp_path / "changed.csv"
    changed.write_bytes(csv([ROWS[0].replace(",120,", ",125,")]))
    upsert = runner.invoke(args=["import-csv", str(changed), "--dataset", "ports",
                                 "--map", "count=Value"])  # the remembered key
    assert upsert.exit_code == 0 and "1 updated" in upsert.output, upsert.output
    assert incidents(app)["3004|2025-01-01|Trucks"] == 125
    again = runner.invoke(args=base + ["--again"])
    # Confirmed: the 125 goes back to the file's 120.
    assert again.exit_code == 0 and "1 updated, 2 unchanged" in again.output, again.output

    reverted = runner.invoke(args=["revert-import", "ports"])
    assert reverted.exit_code == 0, reverted.output
    assert "Reverted import 3 of dataset ports: removed 1 rows, restored 1; now at version " \
        "4." in reverted.output
    assert incidents(app)["3004|2025-01-01|Trucks"] == 125
    # Import 3 updated rows, so it dropped import 2's copies: 2 cannot be reverted now.
    dropped = runner.invoke(args=["revert-import", "ports"])
    assert dropped.exit_code == 1 and "import 2 can no longer be reverted" in dropped.output
    twice = runner.invoke(args=["revert-import", "ports", "--import", "3"])
    assert twice.exit_code == 1 and "import 3 was already reverted" in twice.output
    assert incidents(app)["3004|2025-01-01|Trucks"] == 125

    unconfirmed = runner.invoke(args=["delete-dataset", "ports"])
    assert unconfirmed.exit_code == 1 and "add --yes to confirm" in unconfirmed.output
    assert dataset(app) is not None
    deleted = runner.invoke(args=["delete-dataset", "ports", "--yes"])
    assert deleted.exit_code == 0, deleted.output
    assert "Deleted dataset ports (3 incidents); the records of its 3 import(s) are kept" \
        in deleted.output
    assert dataset(app) is None and [r[1] for r in kept_imports(app)] == [None] * 3
    missing = runner.invoke(args=["delete-dataset", "ports", "--yes"])
    assert missing.exit_code == 1 and "no dataset 'ports'" in missing.output


# --- API ---------------------------------------------------------------------------------------

@pytest.fixture
def api(any_app, fake_regions):  # noqa: F811
    with db.engine_for(any_app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        accounts.create_user(conn, "helper", "s3cret-pass")
        token = accounts.create_token(conn, "script", "editor")
        helper = accounts.create_token(conn, "helper-script", "helper")
    yield (any_app.test_client(), {"Authorization": f"Bearer {token}"},
           {"Authorization": f"Bearer {helper}"})
    db.dispose_engine(any_app.config["DATABASE_URL"])


def test_api_again_key_revert_and_delete(api):
    client, auth, helper = api
    post = "/api/datasets/ports/incidents?map=count=Value"
    headers = {**auth, "Content-Type": "text/csv"}
    first = client.post(post + "&key=Port+Code,Date,Measure", data=csv(), headers=headers)
    assert first.status_code == 201, first.json
    refused = client.post(post, data=csv(), headers=headers)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "already_imported"
    message = refused.json["error"]["message"]
    assert f"as import {first.json['import_id']}" in message and "send again=1" in message
    assert refused.json["error"]["details"]["import_id"] == first.json["import_id"]
    changed = client.post(post, data=csv([ROWS[1].replace(",7,", ",8,")]), headers=headers)
    assert changed.status_code == 201 and changed.json["rows_updated"] == 1
    app = client.application
    first_revert = f"/api/datasets/ports/imports/{first.json['import_id']}/revert"
    revert = f"/api/datasets/ports/imports/{changed.json['import_id']}/revert"
    assert app.test_client().post(revert).status_code == 401  # anonymous
    not_latest = client.post(first_revert, headers=auth)
    assert not_latest.status_code == 409 and "came after" in not_latest.json["error"]["message"]
    done = client.post(revert, headers=auth)
    assert done.status_code == 200, done.json
    assert (done.json["removed"], done.json["restored"]) == (1, 1)
    assert done.json["version"] == dataset(app)["version"] == 3
    assert incidents(app)["3004|2025-01-01|Buses"] == 7
    twice = client.post(revert, headers=auth)
    assert twice.status_code == 409 and "already reverted" in twice.json["error"]["message"]
    again = client.post(post + "&again=1", data=csv(), headers=headers)
    assert again.status_code == 200 and again.json["rows_unchanged"] == 3
    imports = client.get("/api/datasets/ports", headers=auth).json["imports"]
    assert [i["reverted_at"] is not None for i in imports] == [False, True, False]
    assert imports[1]["reverted_by"] == "editor"
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        store.set_published(conn, "ports", True)
    public = app.test_client().get("/api/datasets/ports").json["imports"]
    assert public[1]["reverted_at"] == imports[1]["reverted_at"]  # readers see what changed,
    assert "reverted_by" not in public[1] and "user_name" not in public[1]  # not who did it

    assert client.post("/api/datasets/ports/imports/999/revert", headers=auth).status_code \
        == 404
    forbidden = client.delete("/api/datasets/ports", headers=helper)
    assert forbidden.status_code == 403 and dataset(app) is not None
    gone = client.delete("/api/datasets/ports", headers=auth)
    assert gone.status_code == 200, gone.json
    assert gone.json == {"deleted": True, "slug": "ports", "incidents": 3, "imports": 3,
                         "corrections": 0}
    assert client.get("/api/datasets/ports", headers=auth).status_code == 404
    assert client.delete("/api/datasets/ports", headers=auth).status_code == 404


# --- editor pages ------------------------------------------------------------------------------

@pytest.fixture
def site(app_factory, fake_regions):  # noqa: F811
    """CSRF on: an editor (owner of what they import) and a collaborator, both signed in."""
    app = app_factory(WTF_CSRF_ENABLED=True)
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        accounts.create_user(conn, "colla", "s3cret-pass")
    clients = {}
    for name in ("editor", "colla"):
        client = app.test_client()
        page = client.get("/auth/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert client.post("/auth/login", data={"name": name, "password": "s3cret-pass",
                                                "csrf_token": token}).status_code == 302
        clients[name] = client
    return app, clients


def _token(client, path="/upload") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _fields(html: str) -> dict:
    fields = {m.group(1): m.group(2) for m in
              re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)}
    fields["key"] = re.findall(r'name="key" value="([^"]*)" checked', html)
    return fields


def _preview(client, data=None):
    return client.post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "ports", "mode": "append",
        "map_count": "Value", "csrf_token": _token(client),
        "file": (io.BytesIO(data or csv()), "ports.csv")}, content_type="multipart/form-data")


def test_editor_preview_key_again_revert_and_delete(site):
    app, clients = site
    editor = clients["editor"]
    html = _preview(editor).get_data(as_text=True)
    assert re.findall(r'name="key" value="([^"]*)"', html) == ["Port Code", "Date", "Measure",
                                                               "Value", "lat", "lon"]
    assert 'id="earlier-import"' not in html and 'name="again"' not in html
    fields = {**_fields(html), "key": ["Port Code", "Date", "Measure"]}
    imported = editor.post("/upload", data=fields)
    assert imported.status_code == 302, imported.get_data(as_text=True)
    assert dataset(app)["natural_key"] == ["Port Code", "Date", "Measure"]

    # The same file again: the preview says so, the key is ticked, importing is refused.
    html = _preview(editor).get_data(as_text=True)
    assert re.search(r'already imported into <code>ports</code> on \S+ \S+ UTC as import 1 '
                     r'\(ports.csv\)', html)
    fields = _fields(html)
    assert fields["key"] == ["Port Code", "Date", "Measure"]
    refused = editor.post("/upload", data=fields)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert "tick “Import it again” to import it anyway" in page and 'name="again"' in page
    assert len(kept_imports(app)) == 1
    again = editor.post("/upload", data={**_fields(page), "again": "on"})
    assert again.status_code == 302

    # The imports table: only the latest has the button; revert it, then the first.
    edit = editor.get("/editor/datasets/ports").get_data(as_text=True)
    assert edit.count(">Revert</button>") == 1 and "/imports/2/revert" in edit
    token = _token(editor, "/editor/datasets/ports")
    assert editor.post("/editor/datasets/ports/imports/2/revert").status_code == 400  # no CSRF
    done = editor.post("/editor/datasets/ports/imports/2/revert", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "Reverted import 2: 0 rows removed, 0 restored" in done
    assert re.search(r"reverted \S+ \S+ by editor", done) and "/imports/1/revert" in done
    early = editor.post("/editor/datasets/ports/imports/2/revert", data={"csrf_token": token},
                        follow_redirects=True).get_data(as_text=True)
    assert "import 2 was already reverted" in early
    editor.post("/editor/datasets/ports/imports/1/revert", data={"csrf_token": token})
    assert incidents(app) == {} and dataset(app)["version"] == 3

    # Deleting: collaborators may not; the owner confirms by typing the slug.
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        access.set_member(conn, access.OPERATOR, "ports", "colla", "collaborator")
    assert clients["colla"].get("/editor/datasets/ports/delete").status_code == 403
    assert "Delete “ports”…" not in clients["colla"].get("/editor/datasets/ports").get_data(
        as_text=True)
    page = editor.get("/editor/datasets/ports/delete").get_data(as_text=True)
    assert "Type the slug" in page
    token = _token(editor, "/editor/datasets/ports/delete")
    assert editor.post("/editor/datasets/ports/delete", data={"confirm": "ports"}
                       ).status_code == 400  # no CSRF token
    wrong = editor.post("/editor/datasets/ports/delete",
                        data={"confirm": "port", "csrf_token": token})
    assert wrong.status_code == 400 and dataset(app) is not None
    assert "Type the dataset&#39;s slug, ports, to confirm" in wrong.get_data(as_text=True)
    gone = editor.post("/editor/datasets/ports/delete",
                       data={"confirm": "ports", "csrf_token": token}, follow_redirects=True)
    assert "Deleted dataset ports (0 incidents). The records of its 2 import(s) are kept" in \
        gone.get_data(as_text=True)
    assert dataset(app) is None and len(kept_imports(app)) == 2
