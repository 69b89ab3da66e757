"""Editors list all datasets and edit one; readers cannot."""

import pytest

from geomap import access, accounts, db, store


@pytest.fixture
def signed_in(app, client):
    """An editor signed in, owner of the draft "draft-one"."""
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        store.create_dataset(conn, "draft-one", "Draft one", source="RCMP")
        access.set_member(conn, access.OPERATOR, "draft-one", "editor", "owner")
    client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass"})
    return client


def _dataset(app, slug):
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        return store.get_dataset(conn, slug)


def test_anonymous_is_sent_to_login(client):
    assert "/auth/login" in client.get("/editor/").headers["Location"]
    assert client.post("/editor/datasets/x", data={}).status_code == 302


def test_editor_sees_drafts(signed_in):
    html = signed_in.get("/editor/").get_data(as_text=True)
    assert "Draft one" in html and "draft" in html


def test_edit_publishes_and_bumps_version(app, signed_in):
    response = signed_in.post("/editor/datasets/draft-one", data={
        "title": "Crossings <b>2025</b>", "source": "RCMP", "license": "CC-BY-4.0",
        "description": "d", "min_public_count": "3", "published": "on"})
    assert response.status_code == 302
    row = _dataset(app, "draft-one")
    assert row["published"] is True and row["version"] == 2 and row["min_public_count"] == 3
    page = signed_in.get("/editor/datasets/draft-one").get_data(as_text=True)
    assert "Crossings &lt;b&gt;2025&lt;/b&gt;" in page


@pytest.mark.parametrize("field,value,message", [
    ("title", "", "title must not be empty"),
    ("min_public_count", "-4", "min_public_count must be a whole number"),
    ("min_public_count", "\u00b2", "min_public_count must be a whole number"),
    ("min_public_count", "9" * 5000, "min_public_count must be a whole number"),
    ("min_public_count", "\u0661\u0662", "min_public_count must be a whole number"),
    ("source", "x" * 501, "source is 501 characters long"),
])
def test_bad_edit_is_400_and_changes_nothing(app, signed_in, field, value, message):
    data = {"title": "T", "min_public_count": "1", field: value}
    response = signed_in.post("/editor/datasets/draft-one", data=data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert _dataset(app, "draft-one")["version"] == 1


def test_unknown_dataset_is_404(signed_in):
    assert signed_in.get("/editor/datasets/nope").status_code == 404


def test_imports_link_to_their_reports(app, signed_in):
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        dataset = store.get_dataset(conn, "draft-one")
        import_id = store.record_import(conn, dataset["id"], user_name="editor",
                                        filename="<b>crossings</b>.csv", rows_total=3,
                                        report={"dataset": "draft-one", "rows_total": 3,
                                                  "errors": [], "warnings": []})
    html = signed_in.get("/editor/datasets/draft-one").get_data(as_text=True)
    link = f'href="/upload/draft-one/imports/{import_id}"'
    assert link in html and "&lt;b&gt;crossings&lt;/b&gt;.csv" in html
    assert signed_in.get(f"/upload/draft-one/imports/{import_id}").status_code == 200


def test_rejected_edit_never_shows_another_datasets_imports(app, signed_in):
    """Form fields named id or slug do not select whose imports and members are shown."""
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        other = store.create_dataset(conn, "others", "Others")
        store.record_import(conn, other["id"], user_name="x", filename="secret-file.csv")
    response = signed_in.post("/editor/datasets/draft-one", data={
        "title": "", "id": str(other["id"]), "slug": "others"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "secret-file.csv" not in html
    assert "/upload/others/" not in html and "draft-one" in html
