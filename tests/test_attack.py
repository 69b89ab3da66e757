"""A hostile CSV can do nothing visible to a reader: every output is parsed to prove it inert."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from urllib.parse import quote

import pytest

from attack import FILENAME, HOSTILE, PAYLOADS, SLUG, seed

LAYERS = ("heat", "cluster", "choropleth", "time")


class _Audit(HTMLParser):
    """Collect what a browser would execute: script elements, event handlers, URL schemes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.scripts: list[dict] = []
        self._in_script = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "formaction", "data") and value and \
                    value.strip().lower().startswith(("javascript:", "data:text/html")):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "img" and dict(attrs).get("src") == "x":
            self.problems.append(f"injected <{tag}>")
        if tag == "script":
            self._in_script = {"attrs": dict(attrs), "text": ""}

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script["text"] += data

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            self.scripts.append(self._in_script)
            self._in_script = None


def _audit_html(html: str, where: str) -> None:
    audit = _Audit()
    audit.feed(html)
    assert not audit.problems, (where, audit.problems)
    for script in audit.scripts:
        src = script["attrs"].get("src")
        if src:
            assert src.startswith("/static/"), (where, src)
            continue
        text = script["text"]
        # Payload text may sit inside JS string literals only in escaped form: no raw '<'
        # (so no </script>), no raw double quote that would end a JSON string, no raw
        # U+2028/2029. (A backtick inside a double-quoted string is plain text; whether the
        # page's JS ever evaluates one is what the browser test checks.)
        for payload in PAYLOADS:
            if any(ch in payload for ch in '<"\u2028'):
                assert payload not in text, (where, payload)
        assert "\u2028" not in text and "\u2029" not in text, where


@pytest.fixture
def hostile(app_factory):
    application = app_factory(TILES="none")
    client = application.test_client()
    seed(application, client)
    return application, client


def _get(client, url: str, status: int = 200):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code,
                                            response.get_data(as_text=True)[:300])
    return response


def test_html_pages_are_inert(hostile):
    _app, client = hostile
    pages = ["/", f"/maps/{SLUG}", f"/embed/{SLUG}"]
    pages += [f"/maps/{SLUG}?layer={layer}" for layer in LAYERS]
    pages += [f"/embed/{SLUG}?layer={layer}&theme=dark" for layer in LAYERS]
    pages += [f"/maps/{SLUG}?layer=choropleth&by=sector", f"/maps/{SLUG}?type={quote(PAYLOADS[0])}"]
    for url in pages:
        html = _get(client, url).get_data(as_text=True)
        _audit_html(html, url)
        # The payloads reach the page as text (escaped), so the parser sees them as data.
        assert "xss-script" in html or url.startswith("/embed") or "layer=" in url


def test_editor_pages_and_upload_report_are_inert(hostile):
    app, client = hostile
    client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass"})
    for url in ("/editor/", f"/editor/datasets/{SLUG}"):
        _audit_html(_get(client, url).get_data(as_text=True), url)
    report = client.post("/upload", data={
        "file": (io.BytesIO(b"lat,lon,date,description\n91,0,2025-01-01,<script>alert('xss-rep')</script>\n"),
                 FILENAME), "dataset": SLUG, "mode": "append", "step": "import"},
        content_type="multipart/form-data", follow_redirects=True)
    assert report.status_code in (200, 400, 422)
    _audit_html(report.get_data(as_text=True), "upload report")


def test_oembed_and_json_are_inert(hostile):
    _app, client = hostile
    for url in (f"http://localhost/maps/{SLUG}", f"http://localhost/embed/{SLUG}?layer=cluster"):
        body = _get(client, f"/oembed?url={quote(url)}").json
        assert body["type"] == "rich"
        _audit_html(body["html"], "oembed html")
        assert "<script" not in body["title"] or body["title"] == HOSTILE[:len(body["title"])]
    response = _get(client, f"/api/datasets/{SLUG}")
    raw = response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<" not in raw and ">" not in raw, "JSON escapes < and > so it is inert even as HTML"
    assert json.loads(raw)["title"] == HOSTILE[:300].strip()


def test_csv_download_neutralises_formulas(hostile):
    _app, client = hostile
    text = _get(client, f"/api/datasets/{SLUG}/incidents.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(PAYLOADS)
    for row in rows:
        for column, value in row.items():
            if value and value[0] in "=+@\t\r" and column not in ("lat", "lon"):
                pytest.fail(f"formula not neutralised in {column}: {value!r}")
            if value.startswith("-") and column not in ("lat", "lon", "border_km"):
                # Only numbers may start with '-'.
                float(value)
    lons = [float(r["lon"]) for r in rows]
    assert all(lon < 0 for lon in lons), "plain negative numbers stay numbers"


def test_geojson_download_keeps_text_as_data(hostile):
    _app, client = hostile
    body = _get(client, f"/api/datasets/{SLUG}/incidents.geojson").json
    descriptions = {f["properties"]["description"] for f in body["features"]}
    # Stored and returned as data (surrounding white space is trimmed on import).
    assert {p.strip() for p in PAYLOADS} == descriptions


@pytest.mark.parametrize("param", ["type", "admin1", "sector", "direction", "country", "from",
                                   "to", "layer", "by", "theme"])
def test_sql_and_markup_in_filters_are_harmless(hostile, param):
    _app, client = hostile
    for value in ("' OR 1=1 --", "x'; DROP TABLE incidents; --", "<script>alert(1)</script>"):
        for base in (f"/maps/{SLUG}", f"/embed/{SLUG}", f"/api/datasets/{SLUG}/incidents.geojson"):
            response = client.get(f"{base}?{param}={quote(value)}")
            assert response.status_code in (200, 400), (base, param, response.status_code)
            if response.status_code == 200 and base.endswith("geojson"):
                assert response.json["features"] == [] or param in ("layer", "by", "theme")
            if "html" in response.content_type:
                _audit_html(response.get_data(as_text=True), f"{base}?{param}")
    # The table is still there.
    assert len(_get(client, f"/api/datasets/{SLUG}/incidents.geojson").json["features"]) == len(PAYLOADS)


def test_uploaded_file_name_is_never_a_path(hostile):
    app, _client = hostile
    from pathlib import Path

    stored = list(Path(app.config["UPLOAD_FOLDER"]).rglob("*"))
    assert stored and all(Path(app.config["UPLOAD_FOLDER"]) in p.resolve().parents for p in stored)
    assert not any("script" in p.name or ".." in p.name for p in stored)
