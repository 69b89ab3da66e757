"""Map pages, embeds, PNG, oEmbed: visibility, headers, caching and escaping."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

import pytest

from geomap import db, maps, store
from geomap.web import published_embeds, render_cache
from ingest_helpers import fake_regions  # noqa: F401  (fixture)
from maps_fixtures import add_incidents, incident_rows, seed_dataset

EVIL = "<script>alert(1)</script>\"'&"


@pytest.fixture
def layers(fake_display_layers):
    """The display layers the app draws (passed to create_app as DISPLAY_LAYERS)."""
    return fake_display_layers


@pytest.fixture
def dataset(app, layers):
    return seed_dataset(app, title=f"Crossings {EVIL}", source=f"RCMP {EVIL}",
                        license="CC-BY-4.0", description=f"About {EVIL}")


def _csp(response) -> dict:
    out = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        bits = part.split()
        if bits:
            out[bits[0]] = bits[1:]
    return out


def _inline_scripts(html: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", html, flags=re.S)


@pytest.mark.parametrize("layer", ["heat", "cluster", "choropleth", "time"])
def test_map_page_renders_each_layer(client, dataset, layer):
    response = client.get(f"/maps/{dataset['slug']}?layer={layer}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "GeomapLayers.setup(" in html
    assert 'aria-current="page"' in html
    assert "/api/datasets/wa-bc/incidents.csv" in html
    assert "/api/datasets/wa-bc/incidents.geojson" in html
    assert "Copy embed code" in html and "&lt;iframe src=" in html
    assert 'type="application/json+oembed"' in html
    image = "wa-bc.png?layer=choropleth" if layer == "choropleth" else "wa-bc.png"
    assert f'property="og:image" content="http://localhost/maps/{image}"' in html
    assert "<table" in html and "<svg" in html
    # Months as readers say them, with the machine-readable month beside.
    assert '<th scope="col" class="num"><time datetime="2025-01">Jan 2025</time></th>' in html
    assert ">Jan 2025</text>" in html  # the chart's first tick
    # Regions by name (with their code) in the table and the filter form.
    assert '<th scope="row" title="US-WA">Washington</th>' in html
    assert '<option value="US-WA">Washington</option>' in html
    assert "Source: RCMP" in html and "Licence: CC-BY-4.0" in html and "Updated" in html
    assert "<noscript><img" in html


def test_everything_user_supplied_is_escaped(client, dataset):
    html = client.get("/maps/wa-bc?layer=cluster").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "Crossings &lt;script&gt;alert(1)&lt;/script&gt;" in html
    embed = client.get("/embed/wa-bc").get_data(as_text=True)
    assert "<script>alert(1)" not in embed


def test_csp_hashes_the_inline_script_and_frames(client, dataset, app):
    response = client.get("/maps/wa-bc")
    csp = _csp(response)
    scripts = _inline_scripts(response.get_data(as_text=True))
    assert len(scripts) == 1
    assert maps.csp_hash(scripts[0]) in csp["script-src"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["style-src"] == ["'self'"]
    embed = client.get("/embed/wa-bc")
    ecsp = _csp(embed)
    assert ecsp["frame-ancestors"] == ["*"]
    assert maps.csp_hash(_inline_scripts(embed.get_data(as_text=True))[0]) in ecsp["script-src"]
    assert "X-Frame-Options" not in embed.headers
    assert embed.headers["X-Content-Type-Options"] == "nosniff"


def test_embed_frame_ancestors_setting(app_factory, layers):
    app = app_factory(EMBED_FRAME_ANCESTORS="https://news.example https://*.news.example")
    seed_dataset(app)
    client = app.test_client()
    csp = _csp(client.get("/embed/wa-bc"))
    assert csp["frame-ancestors"] == ["https://news.example", "https://*.news.example"]
    assert _csp(client.get("/maps/wa-bc"))["frame-ancestors"] == ["'none'"]


def test_tiles_none_makes_no_third_party_reference(app_factory, layers):
    app = app_factory(TILES="none")
    seed_dataset(app)
    client = app.test_client()
    for url in ("/maps/wa-bc", "/embed/wa-bc", "/maps/wa-bc?layer=cluster"):
        response = client.get(url)
        html = response.get_data(as_text=True)
        assert "tile.openstreetmap.org" not in html and "{z}/{x}" not in html
        assert "GeomapLayers.basemap(" in html
        assert "https://" not in response.headers["Content-Security-Policy"]
        srcs = re.findall(r'<(?:script|link|img)[^>]*(?:src|href)="([^"]+)"', html)
        assert all(s.startswith(("/", "http://localhost/", "data:")) for s in srcs), srcs


def test_osm_tiles_are_allowed_as_images(client, dataset):
    csp = _csp(client.get("/maps/wa-bc"))
    assert "https://tile.openstreetmap.org" in csp["img-src"]


def test_embed_is_minimal_and_sets_no_cookie(client, dataset):
    response = client.get("/embed/wa-bc?theme=dark&utm_source=x")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "gm-dark" in html and "View larger map" in html
    assert 'href="http://localhost/maps/wa-bc?theme=dark"' in html
    assert "/static/embed-frame.js" in html
    assert "<form" not in html and "site-header" not in html
    assert response.headers["Cache-Control"] == "public, max-age=300"


def test_unpublished_and_missing_are_404(app, client, layers):
    seed_dataset(app, "draft", published=False)
    for url in ("/maps/draft", "/embed/draft", "/maps/draft.png", "/maps/nothing",
                "/embed/nothing"):
        assert client.get(url).status_code == 404, url
    assert client.get("/oembed?url=" + quote("http://localhost/maps/draft")).status_code == 404


def test_bad_filters_are_400_with_the_parameter(client, dataset):
    response = client.get("/maps/wa-bc?from=2025-13-01")
    assert response.status_code == 400
    assert "from" in response.get_data(as_text=True)
    assert client.get("/embed/wa-bc?layer=globe").status_code == 400
    assert client.get("/maps/wa-bc.png?country=MX").status_code == 400


def test_filters_change_the_map(client, dataset):
    full = client.get("/maps/wa-bc?layer=cluster").get_data(as_text=True)
    part = client.get("/maps/wa-bc?layer=cluster&type=crossing&from=2025-02")
    text = part.get_data(as_text=True)
    assert "60 incidents" in full
    assert re.search(r"(\d+) incidents, total", text).group(1) != "60"
    assert "Showing: from February 1, 2025; type: crossing" in text
    assert "incidents.csv?from=2025-02-01&amp;type=crossing" in text


def test_etag_304_and_version_invalidation(app, client, dataset):
    first = client.get("/embed/wa-bc?layer=heat")
    etag = first.headers["ETag"]
    again = client.get("/embed/wa-bc", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "public, max-age=300"
    # Same parameters in another order or spelling: same key.
    other = client.get("/embed/wa-bc?theme=light&layer=heat")
    assert other.headers["ETag"] == etag
    add_incidents(app, dataset, incident_rows(5, seed=99))
    after = client.get("/embed/wa-bc", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["ETag"] != etag
    assert "65 incidents" in after.get_data(as_text=True)
    page = client.get("/maps/wa-bc")
    assert page.headers["Cache-Control"] == "public, no-cache"
    assert client.get("/maps/wa-bc",
                      headers={"If-None-Match": page.headers["ETag"]}).status_code == 304


def test_render_cache_hits(app, client, dataset):
    with app.app_context():
        cache = render_cache.cache()
    client.get("/maps/wa-bc?layer=choropleth")
    misses, hits = cache.misses, cache.hits
    client.get("/maps/wa-bc?layer=choropleth")
    assert cache.misses == misses and cache.hits == hits + 1
    # Another layer for the same selection re-renders the map only (table, options and the
    # summary's counts by region and year reused).
    client.get("/maps/wa-bc?layer=heat")
    assert cache.misses == misses + 1 and cache.hits == hits + 4


def test_min_public_count_hides_small_groups(app, client, layers):
    seed_dataset(app, "private", min_public_count=100)
    html = client.get("/maps/private?layer=choropleth").get_data(as_text=True)
    assert "fewer than 100 incidents (hidden)" in html
    assert "&lt;100" in html  # the table too
    cluster = client.get("/maps/private?layer=cluster").get_data(as_text=True)
    assert "GeomapLayers.cells(" in cluster and "not shown in public views" in cluster
    heat = client.get("/embed/private").get_data(as_text=True)
    assert '"cells":[]' in heat


def test_download_links_only_when_readers_may_download(app, client, layers):
    # Rows of a dataset published only as totals answer 403: the page offers the totals.
    seed_dataset(app, "private", min_public_count=5)
    html = client.get("/maps/private?type=sighting").get_data(as_text=True)
    assert "incidents.csv" not in html and "incidents.geojson" not in html
    assert "published only as totals of at least 5 incidents" in html
    assert 'href="/api/datasets/private/stats?type=sighting"' in html
    assert client.get("/api/datasets/private/stats?type=sighting").status_code == 200
    seed_dataset(app, "open")
    html = client.get("/maps/open").get_data(as_text=True)
    assert 'href="/api/datasets/open/incidents.csv"' in html
    assert "published only as totals" not in html


def test_tiny_selection_totals_are_suppressed(app, client, layers):
    seed_dataset(app, "private", min_public_count=5)
    html = client.get("/embed/private?from=2025-01-01&to=2025-01-01").get_data(as_text=True)
    assert "Fewer than 5 incidents match (figures not shown)." in html
    assert not re.search(r"\d incidents, total count", html)  # (the script's words have {n})


def test_embed_shows_the_latest_correction(app, client, layers):
    row = seed_dataset(app, "fixed")
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        for day, what in (("2026-03-01", "Counts for March were revised <down>."),
                          ("2026-02-01", "February was first.")):
            store.add_correction(conn, row, corrected_on=dt.date.fromisoformat(day), what=what)
    html = client.get("/embed/fixed").get_data(as_text=True)
    assert ('<time datetime="2026-03-01">1 Mar 2026</time>:</strong> Counts for March were '
            "revised &lt;down&gt;.") in html
    assert "February was first" not in html  # the embed shows the latest entry only
    assert 'href="http://localhost/maps/fixed#corrections"' in html
    assert "All 2 corrections" in html


def test_png(client, dataset):
    response = client.get("/maps/wa-bc.png?admin1=US-WA")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data[:4] == b"\x89PNG"
    assert client.get("/maps/wa-bc.png", headers={"If-None-Match": response.headers["ETag"]}
                      ).status_code in (200, 304)


def test_png_follows_the_choropleth_and_draws_other_layers_as_heat(client, dataset):
    def etag(query):
        response = client.get("/maps/wa-bc.png" + query)
        assert response.status_code == 200 and response.mimetype == "image/png"
        return response.headers["ETag"], response.data

    heat = etag("")
    assert etag("?layer=time&by=sector") == heat == etag("?layer=cluster")  # one image
    sectors = etag("?layer=choropleth&by=sector")
    assert sectors[0] != heat[0] and sectors[1] != heat[1]
    assert etag("?layer=choropleth&by=admin1")[0] not in (heat[0], sectors[0])
    # Each page's static image (og:image, <noscript>) is the one it draws.
    page = client.get("/maps/wa-bc?layer=choropleth&by=sector").get_data(as_text=True)
    assert 'src="http://localhost/maps/wa-bc.png?layer=choropleth&amp;by=sector"' in page
    time_page = client.get("/embed/wa-bc?layer=time").get_data(as_text=True)
    assert 'src="http://localhost/maps/wa-bc.png"' in time_page


def test_oembed(client, dataset):
    url = "http://localhost/maps/wa-bc?layer=choropleth&by=sector"
    body = client.get("/oembed?url=" + quote(url) + "&maxwidth=400&maxheight=300").json
    assert body["version"] == "1.0" and body["type"] == "rich"
    assert body["width"] == 400 and body["height"] == 300
    assert 'src="http://localhost/embed/wa-bc?layer=choropleth&amp;by=sector"' in body["html"]
    assert "&lt;script&gt;" in body["html"] and "<script>" not in body["html"]
    assert body["thumbnail_url"].startswith("http://localhost/maps/wa-bc.png")
    embed_url = client.get("/oembed?url=" + quote("http://localhost/embed/wa-bc")).json
    assert embed_url["title"].startswith("Crossings")


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _thumbnail(client, limits: str) -> tuple[dict, object]:
    url = "http://localhost/maps/wa-bc?layer=choropleth&by=sector"
    body = client.get("/oembed?url=" + quote(url) + limits).json
    if "thumbnail_url" not in body:
        return body, None
    image = client.get(body["thumbnail_url"].removeprefix("http://localhost"))
    assert image.status_code == 200 and image.mimetype == "image/png"
    return body, image


def test_oembed_thumbnail_fits_maxwidth_and_maxheight(client, dataset):
    full, image = _thumbnail(client, "")
    assert (full["thumbnail_width"], full["thumbnail_height"]) == (1200, 630)
    assert "width=" not in full["thumbnail_url"] and _png_size(image.data) == (1200, 630)
    full_etag = image.headers["ETag"]

    narrow, image = _thumbnail(client, "&maxwidth=300")
    assert narrow["thumbnail_width"] <= 300 and narrow["width"] <= 300
    assert _png_size(image.data) == (narrow["thumbnail_width"], narrow["thumbnail_height"])
    assert _png_size(image.data) == (300, 158)  # 1200:630
    assert "layer=choropleth" in narrow["thumbnail_url"]  # still the page's drawing
    narrow_etag = image.headers["ETag"]
    assert narrow_etag != full_etag  # the ETag and the render cache are keyed by size
    assert client.get(narrow["thumbnail_url"].removeprefix("http://localhost"),
                      headers={"If-None-Match": narrow_etag}).status_code == 304
    assert client.get(full["thumbnail_url"].removeprefix("http://localhost"),
                      headers={"If-None-Match": narrow_etag}).status_code == 200

    low, image = _thumbnail(client, "&maxheight=200")
    assert low["thumbnail_height"] <= 200 and low["height"] <= 200
    assert _png_size(image.data) == (low["thumbnail_width"], low["thumbnail_height"])
    assert _png_size(image.data) == (380, 200)

    both, image = _thumbnail(client, "&maxwidth=1000&maxheight=400")
    assert _png_size(image.data) == (both["thumbnail_width"], both["thumbnail_height"])
    assert both["thumbnail_width"] <= 1000 and both["thumbnail_height"] <= 400

    # Below the smallest image served: no thumbnail fields at all (oEmbed: all or none).
    tiny, image = _thumbnail(client, "&maxwidth=150")
    assert image is None
    assert not {"thumbnail_url", "thumbnail_width", "thumbnail_height"} & set(tiny)


def test_png_width_parameter(client, dataset):
    default = client.get("/maps/wa-bc.png")
    explicit = client.get("/maps/wa-bc.png?width=1200")
    assert explicit.headers["ETag"] == default.headers["ETag"]
    assert _png_size(client.get("/maps/wa-bc.png?width=640").data) == (640, 336)
    for bad in ("199", "1201", "wide", "-300"):
        response = client.get("/maps/wa-bc.png?width=" + bad)
        assert response.status_code == 400 and "width" in response.get_data(as_text=True)


@pytest.mark.parametrize("query, status", [
    ("", 400), ("?url=" + quote("https://evil.example/maps/wa-bc"), 404),
    ("?url=" + quote("http://localhost/api/datasets/wa-bc"), 404),
    ("?url=" + quote("http://localhost/maps/wa-bc") + "&format=xml", 501),
    ("?url=" + quote("http://localhost/maps/wa-bc") + "&maxwidth=wide", 400),
    ("?url=" + quote("javascript:alert(1)"), 404),
])
def test_oembed_errors_are_json(client, dataset, query, status):
    response = client.get("/oembed" + query)
    assert response.status_code == status
    assert response.json["error"]["message"]


def test_editor_previews_a_draft_privately(app, client, layers):
    from geomap import access, accounts, db

    seed_dataset(app, "draft", published=False, title="Draft map")
    assert client.get("/maps/draft").status_code == 404
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        accounts.create_user(conn, "other", "s3cret-pass")
        access.set_member(conn, access.OPERATOR, "draft", "editor", "collaborator")
    # An editor who may not write the draft does not see it either.
    other = app.test_client()
    other.post("/auth/login", data={"name": "other", "password": "s3cret-pass"})
    assert other.get("/maps/draft").status_code == 404
    client.post("/auth/login", data={"name": "editor", "password": "s3cret-pass"})
    for url in ("/maps/draft", "/embed/draft", "/maps/draft.png"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "private, no-store", url


@pytest.mark.parametrize("url", [
    "/maps/wa-bc?layer=heat&from=2025-02", "/maps/wa-bc?layer=time&period=week",
    "/embed/wa-bc?layer=cluster&type=crossing", "/embed/wa-bc?layer=choropleth&by=sector",
    "/embed/wa-bc?layer=choropleth&by=border_segment", "/maps/wa-bc.png?country=US"])
def test_routes_on_each_backend(any_app, layers, url):
    seed_dataset(any_app)
    response = any_app.test_client().get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]


def test_empty_form_fields_mean_no_filter(client, dataset):
    plain = client.get("/maps/wa-bc")
    submitted = client.get("/maps/wa-bc?layer=heat&from=&to=&direction=&country=&by=admin1"
                           "&period=auto")
    assert submitted.status_code == 200
    assert submitted.headers["ETag"] == plain.headers["ETag"]


# --- published embeds answered without Flask (published_embeds.PublishedEmbeds) -------------------

def _lane_only(app):
    """The app's revalidation middleware with a Flask app behind it that must not be reached."""
    def unreachable(environ, start_response):
        start_response("599 REACHED FLASK", [])
        return [b""]

    lane = app.wsgi_app
    assert isinstance(lane, published_embeds.PublishedEmbeds)
    return published_embeds.PublishedEmbeds(unreachable, app)


def _call(wsgi, path, query="", method="GET", body=False, **headers):
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, query_string=query, headers=headers, method=method,
                             base_url=headers.pop("base_url", "http://localhost/")).get_environ()
    seen = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(response_headers)

    content = b"".join(wsgi(environ, start_response))
    result = int(seen["status"].split()[0]), seen["headers"]
    return result + (content,) if body else result


@pytest.mark.parametrize("base", ["http://localhost/", "https://maps.example.org:8443/"])
def test_revalidation_answers_304_without_flask(app, client, dataset, base):
    first = client.get("/embed/wa-bc?layer=cluster&theme=dark", base_url=base)
    etag = first.headers["ETag"]
    status, headers = _call(_lane_only(app), "/embed/wa-bc", "theme=dark&layer=cluster",
                            base_url=base, **{"If-None-Match": etag})
    assert status == 304 and headers["ETag"] == etag
    flask_304 = client.get("/embed/wa-bc?layer=cluster&theme=dark", base_url=base,
                           headers={"If-None-Match": etag})
    assert flask_304.status_code == 304
    assert headers == {k: v for k, v in flask_304.headers.items() if k != "Content-Length"} \
        or headers == dict(flask_304.headers)
    # No policy on a 304: it would replace the embed's own CSP in the browser's cache.
    assert "Content-Security-Policy" not in headers
    assert "Content-Security-Policy" not in flask_304.headers


def test_compressed_embeds_revalidate_and_are_kept_per_accept_encoding(app, client, dataset):
    import gzip

    gz = {"Accept-Encoding": "gzip"}
    identity = client.get("/embed/wa-bc?layer=cluster")
    zipped = client.get("/embed/wa-bc?layer=cluster", headers=gz)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in identity.headers
    assert gzip.decompress(zipped.get_data()) == identity.get_data()
    etag = identity.headers["ETag"]
    assert zipped.headers["ETag"] == etag[:-1] + ':gzip"'  # never the identity's strong ETag
    assert zipped.headers["Vary"] == identity.headers["Vary"] == "Accept-Encoding"
    lane = _lane_only(app)
    for held in (etag, zipped.headers["ETag"], "W/" + etag):  # W/: nginx's gzipped copy
        status, headers = _call(lane, "/embed/wa-bc", "layer=cluster", **gz,
                                **{"If-None-Match": held})
        flask_304 = client.get("/embed/wa-bc?layer=cluster", headers={**gz, "If-None-Match": held})
        assert status == flask_304.status_code == 304
        assert headers == {k: v for k, v in flask_304.headers.items() if k != "Content-Length"} \
            or headers == dict(flask_304.headers)
        assert headers["ETag"] == held.removeprefix("W/") and "Content-Encoding" not in headers
    # The kept 200s: each Accept-Encoding gets the representation the view gave it.
    status, headers, body = _call(lane, "/embed/wa-bc", "layer=cluster", body=True, **gz)
    assert status == 200 and body == zipped.get_data() and headers == dict(zipped.headers)
    status, headers, body = _call(lane, "/embed/wa-bc", "layer=cluster", body=True)
    assert status == 200 and body == identity.get_data()
    assert headers == {k: v for k, v in identity.headers.items() if k != "Server-Timing"}
    assert _call(lane, "/embed/wa-bc", "layer=cluster", **{"Accept-Encoding": "br"})[0] == 599


def test_revalidation_declines_what_the_view_must_answer(app, client, dataset):
    etag = client.get("/embed/wa-bc").headers["ETag"]
    lane = _lane_only(app)
    # A new version (import in any process): the stored ETag no longer matches.
    add_incidents(app, dataset, incident_rows(3, seed=5))
    assert _call(lane, "/embed/wa-bc", **{"If-None-Match": etag})[0] == 599
    etag = client.get("/embed/wa-bc").headers["ETag"]
    assert _call(lane, "/embed/wa-bc", **{"If-None-Match": etag})[0] == 304
    # Bad parameters, unknown datasets, sub-paths, session cookies: the view decides.
    assert _call(lane, "/embed/wa-bc", "layer=nope", **{"If-None-Match": etag})[0] == 599
    assert _call(lane, "/embed/nope", **{"If-None-Match": etag})[0] == 599
    assert _call(lane, "/embed/wa-bc/x", **{"If-None-Match": etag})[0] == 599
    assert _call(lane, "/embed/wa-bc", **{"If-None-Match": etag,
                                          "Cookie": "geomap_session=x"})[0] == 599
    assert client.get("/embed/wa-bc?layer=nope",
                      headers={"If-None-Match": etag}).status_code == 400


def test_a_published_embed_is_served_again_without_flask(app, client, dataset):
    lane = _lane_only(app)
    # Nothing kept yet: the view must render it.
    assert _call(lane, "/embed/wa-bc", "layer=cluster")[0] == 599
    first = client.get("/embed/wa-bc?layer=cluster")
    assert first.status_code == 200
    status, headers, body = _call(lane, "/embed/wa-bc", "layer=cluster", body=True)
    assert status == 200 and body == first.get_data()
    # CSP with script hashes, ETag, Cache-Control, ...; Server-Timing only where it rendered
    assert headers == {k: v for k, v in first.headers.items() if k != "Server-Timing"}
    assert "Server-Timing" in first.headers
    assert "frame-ancestors" in headers["Content-Security-Policy"]
    # Same canonical query, different spelling; HEAD gets the headers only.
    assert _call(lane, "/embed/wa-bc", "layer=cluster&from=", body=True)[2] == body
    status, headers, body = _call(lane, "/embed/wa-bc", "layer=cluster", method="HEAD", body=True)
    assert status == 200 and body == b"" and headers["ETag"] == first.headers["ETag"]
    # Another host is another ETag (absolute links in the page): not served from this entry.
    assert _call(lane, "/embed/wa-bc", "layer=cluster", base_url="https://news.example/")[0] \
        == 599


def test_a_kept_embed_expires_with_the_dataset_version(app, client, dataset):
    lane = _lane_only(app)
    old = client.get("/embed/wa-bc").get_data()
    assert _call(lane, "/embed/wa-bc", body=True)[2] == old
    add_incidents(app, dataset, incident_rows(5, seed=7))
    assert _call(lane, "/embed/wa-bc")[0] == 599  # a new version: the view renders it
    new = client.get("/embed/wa-bc")
    assert new.get_data() != old and "65 incidents" in new.get_data(as_text=True)
    assert _call(lane, "/embed/wa-bc", body=True)[2] == new.get_data()


def test_only_public_answers_are_kept(app, client, dataset):
    lane = _lane_only(app)
    assert client.get("/embed/wa-bc?layer=nope").status_code == 400
    assert _call(lane, "/embed/wa-bc", "layer=nope")[0] == 599
    client.set_cookie("geomap_session", "x")
    assert client.get("/embed/wa-bc?layer=heat").status_code == 200
    assert _call(lane, "/embed/wa-bc", "layer=heat")[0] == 599  # not kept from a cookie request
    client.delete_cookie("geomap_session")
    with app.app_context():
        render_cache.cache().clear()  # clearing the render cache forgets kept responses too
    client.get("/embed/wa-bc?layer=heat")
    assert _call(lane, "/embed/wa-bc", "layer=heat")[0] == 200
    with app.app_context():
        render_cache.cache().clear()
    assert _call(lane, "/embed/wa-bc", "layer=heat")[0] == 599


def test_revalidation_never_serves_drafts(app, client, layers):
    seed_dataset(app, "draft", published=False)
    assert client.get("/embed/draft", headers={"If-None-Match": "*"}).status_code == 404
    assert _call(_lane_only(app), "/embed/draft", **{"If-None-Match": "*"})[0] == 599
    assert _call(_lane_only(app), "/embed/draft")[0] == 599


def test_choropleth_per_border_mile_uses_the_regions_border_lengths(client, dataset,
                                                                   fake_regions):  # noqa: F811
    html = client.get(f"/embed/{dataset['slug']}?layer=choropleth&per=border_mile"
                      ).get_data(as_text=True)
    assert "per 100 miles of border" in html
    page = client.get(f"/maps/{dataset['slug']}?layer=choropleth&per=border_mile"
                      ).get_data(as_text=True)
    assert '<option value="border_mile" selected>' in page
    assert client.get(f"/maps/{dataset['slug']}?per=furlong").status_code == 400


def test_map_page_shows_updated_and_import_history(app, client, dataset):
    from geomap import db, store

    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        ds = store.get_dataset(conn, dataset["slug"])
        store.record_import(conn, ds["id"], filename="<b>secret-name</b>.csv", mode="replace",
                            rows_total=12, rows_imported=10, rows_rejected=2)
        store.bump_version(conn, ds["id"])
    html = client.get(f"/maps/{dataset['slug']}").get_data(as_text=True)
    assert "Data history" in html and "updated" in html
    history = html[html.index("gm-history-heading"):]
    assert "<td>replace</td>" in history and '<td class="num">12</td>' in history
    assert "secret-name" not in html  # file names are for editors, not readers
    assert f'type="application/json" href="/api/datasets/{dataset["slug"]}"' in html


def test_table_and_chart_months_in_french(client, dataset):
    html = client.get("/maps/wa-bc?lang=fr").get_data(as_text=True)
    assert '<time datetime="2025-01">janv. 2025</time></th>' in html
    assert ">janv. 2025</text>" in html
    assert "<title>janv. 2025\u00a0: " in html or "<title>janv. 2025 : " in html
