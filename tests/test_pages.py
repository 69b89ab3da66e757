"""The index page, health check, datasets API and error rendering."""

from geomap import db, store


def _add(app, slug, published=True, **fields):
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        return store.create_dataset(conn, slug, fields.pop("title", slug),
                                    published=published, **fields)


def test_index_lists_published_only_and_escapes(app, client):
    _add(app, "open", title="<script>alert(1)</script> Open", source="RCMP & USBP")
    _add(app, "draft", published=False, title="Secret draft")
    html = client.get("/").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Open" in html
    assert "<script>alert(1)" not in html
    assert "RCMP &amp; USBP" in html and 'href="/maps/open"' in html
    assert "Secret draft" not in html


def test_empty_index_explains_what_to_do(client):
    assert "No dataset is published yet" in client.get("/").get_data(as_text=True)


def test_api_datasets(app, client):
    _add(app, "open", title="Open", license="CC-BY-4.0")
    _add(app, "draft", published=False)
    body = client.get("/api/datasets").json
    assert [d["slug"] for d in body["datasets"]] == ["open"]
    assert body["datasets"][0]["license"] == "CC-BY-4.0"
    assert body["datasets"][0]["incidents"] == 0
    assert client.get("/api/datasets/open").json["imports"] == []
    missing = client.get("/api/datasets/draft")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"


def test_healthz_reports_database(client):
    body = client.get("/healthz").json
    assert body["status"] == "ok" and body["database"]["backend"] == "sqlite"
    assert body["database"]["revision"] == db.head_revision()


def test_healthz_503_when_database_unreachable(app_factory, tmp_path):
    application = app_factory()
    application.config["DATABASE_URL"] = f"sqlite:///{tmp_path}/missing-dir/x.sqlite"
    response = application.test_client().get("/healthz")
    assert response.status_code == 503 and response.json["database"]["ok"] is False


def test_errors_are_html_or_json(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "text/html" in page.content_type
    api = client.get("/api/no-such")
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"
    wrong_method = client.delete("/api/datasets")
    assert wrong_method.status_code == 405 and wrong_method.json["error"]["code"] == "method_not_allowed"


def test_security_headers_everywhere(client):
    for path in ("/", "/api/datasets", "/no-such-page"):
        headers = client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_pages_set_no_cookie_for_readers(client):
    assert "Set-Cookie" not in client.get("/").headers


def test_public_pages_do_not_vary_by_cookie_for_readers(client):
    # A shared cache may keep one copy for every reader only if the response does not vary
    # by cookie; readers send none, so the session is never touched.
    for path in ("/", "/api/datasets", "/healthz"):
        assert "Cookie" not in client.get(path).headers.get("Vary", "")


def test_footer_links_to_sources_and_licences(client):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/static/ATTRIBUTION.txt"' in html
    response = client.get("/static/ATTRIBUTION.txt")
    text = response.get_data(as_text=True)
    response.close()
    assert "OpenStreetMap contributors" in text and "ODbL" in text and "LGPL" in text


def test_api_dataset_imports_hide_editors_and_file_names_from_readers(app, client):
    from geomap import access, accounts

    dataset = _add(app, "hist", title="History")
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        store.record_import(conn, dataset["id"], filename="leak.csv", user_name="ana",
                            sha256="ab" * 32, rows_total=3, rows_imported=3)
        accounts.create_user(conn, "ana", "s3cret-pass")
        accounts.create_user(conn, "bo", "s3cret-pass")
        access.set_member(conn, access.OPERATOR, "hist", "ana", "collaborator")
    [public] = client.get("/api/datasets/hist").json["imports"]
    assert public["rows_imported"] == 3 and public["sha256"] == "ab" * 32
    assert "filename" not in public and "user_name" not in public
    # Who uploaded which file is for the dataset's writers, not every signed-in editor.
    other = app.test_client()
    other.post("/auth/login", data={"name": "bo", "password": "s3cret-pass"})
    assert "filename" not in other.get("/api/datasets/hist").json["imports"][0]
    client.post("/auth/login", data={"name": "ana", "password": "s3cret-pass"})
    [private] = client.get("/api/datasets/hist").json["imports"]
    assert private["filename"] == "leak.csv" and private["user_name"] == "ana"


def test_static_files_are_compressed_and_closed(client):
    """A static text file served by the app alone is compressed for clients that accept it,
    and its file is closed (flask-compress's streaming path left it open: a ResourceWarning,
    which pytest turns into an error, and a leaked descriptor per request)."""
    import gc
    import gzip
    from pathlib import Path

    plain = client.get("/static/site.css")
    expected = (Path(__file__).parent.parent / "static" / "site.css").read_bytes()
    assert plain.get_data() == expected
    packed = client.get("/static/site.css", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.get_data()) == expected
    partial = client.get("/static/site.css", headers={"Accept-Encoding": "gzip",
                                                       "Range": "bytes=0-9"})
    assert partial.status_code == 206 and "Content-Encoding" not in partial.headers
    assert partial.get_data() == expected[:10]
    for response in (plain, packed, partial):
        response.close()
    gc.collect()
