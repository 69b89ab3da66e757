"""deploy/: nginx (as shipped) in front of gunicorn (deploy/gunicorn.conf.py) caches what it should."""

import re
import runpy
import socket
import subprocess
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from maps_fixtures import add_incidents, incident_rows, seed_dataset
from servers import ROOT, gunicorn, http, nginx, nginx_binary

pytestmark = [pytest.mark.slow]


@pytest.fixture
def stack(tmp_path, app_factory):
    """gunicorn with the deploy settings on a seeded SQLite database, nginx in front."""
    if nginx_binary() is None:
        pytest.skip("nginx not installed (make test installs it as root)")
    app = app_factory(MAP_EMBED_MAX_AGE=1)
    published = seed_dataset(app, "open")
    seed_dataset(app, "draft", published=False)
    env = {"GEOMAP_DATABASE_URL": app.config["DATABASE_URL"], "GEOMAP_SECRET_KEY": "deploy",
           "GEOMAP_LOAD_SAMPLE": "false", "GEOMAP_TILES": "none",
           "GEOMAP_MAP_EMBED_MAX_AGE": "1", "GEOMAP_ACCESS_LOG": "",
           "GEOMAP_PROXY_HOPS": "1", "GEOMAP_INSTANCE_PATH": str(tmp_path / "instance")}
    with gunicorn(env, workers=2) as app_base, nginx(app_base, tmp_path / "nginx") as front:
        yield app, published, front


def _get(url, **headers):
    status, response_headers, body = http("GET", url, headers=headers)
    return status, response_headers.get("X-Cache-Status"), response_headers, body


def _until(fetch, done, seconds=15):
    """Call fetch until done(result) holds (nginx updates expired entries in the background)."""
    deadline = time.time() + seconds
    while True:
        result = fetch()
        if done(result) or time.time() > deadline:
            return result
        time.sleep(0.25)


def test_nginx_caches_a_published_embed_and_revalidates_it(stack):
    app, _dataset, front = stack
    status, cache, headers, body = _get(front + "/embed/open?layer=cluster")
    assert status == 200 and cache == "MISS"
    assert headers["Cache-Control"] == "public, max-age=1"
    assert "frame-ancestors" in headers["Content-Security-Policy"]
    status, cache, again, same = _get(front + "/embed/open?layer=cluster")
    assert (status, cache, same, again["ETag"]) == (200, "HIT", body, headers["ETag"])
    # After max-age nginx asks the app with If-None-Match; the version has not changed, so the
    # app answers 304 and nginx keeps serving the stored page.
    time.sleep(1.2)
    status, cache, _, stale_or_fresh = _get(front + "/embed/open?layer=cluster")
    assert status == 200 and cache in ("STALE", "UPDATING", "REVALIDATED", "HIT")
    assert stale_or_fresh == body
    status, cache, _, later = _until(lambda: _get(front + "/embed/open?layer=cluster"),
                                     lambda r: r[1] in ("HIT", "REVALIDATED"))
    assert later == body and cache in ("HIT", "REVALIDATED")


def test_a_new_import_reaches_readers_through_the_cache(stack):
    app, dataset, front = stack
    status, cache, headers, body = _get(front + "/embed/open")
    assert status == 200 and "60 incidents" in body.decode()
    add_incidents(app, dataset, incident_rows(5, seed=3))  # bumps the dataset version
    time.sleep(1.2)
    status, _cache, new_headers, new_body = _until(
        lambda: _get(front + "/embed/open"), lambda r: r[2].get("ETag") != headers["ETag"])
    assert status == 200 and new_headers["ETag"] != headers["ETag"]
    assert "65 incidents" in new_body.decode()


def test_drafts_errors_and_editors_are_never_cached(stack):
    _app, _dataset, front = stack
    for _ in range(2):
        status, cache, _, _ = _get(front + "/embed/draft")
        assert status == 404 and cache == "MISS"
        status, cache, _, _ = _get(front + "/embed/open?layer=nope")
        assert status == 400 and cache == "MISS"
    # Pages other than embeds and map images go straight to the app.
    status, cache, headers, _ = _get(front + "/maps/open")
    assert status == 200 and cache is None and headers["Server"].startswith("nginx")


def test_static_files_come_from_disk(stack):
    from servers import ROOT

    _app, _dataset, front = stack
    status, cache, headers, body = _get(front + "/static/site.css")
    assert status == 200 and body == (ROOT / "static" / "site.css").read_bytes()
    assert headers["Cache-Control"] == "public, max-age=3600" and cache is None
    assert headers["X-Content-Type-Options"] == "nosniff"
    vendor = sorted((ROOT / "static" / "vendor").rglob("*.js"))[0]
    status, _, _, body = _get(front + "/static/" + str(vendor.relative_to(ROOT / "static")))
    assert status == 200 and body == vendor.read_bytes()



# --- compression: nginx for clients, the app (flask-compress) when it serves them alone -----

@pytest.fixture
def compressing(tmp_path, app_factory):
    """gunicorn and nginx in front; a published dataset whose GeoJSON is about 1 MB."""
    if nginx_binary() is None:
        pytest.skip("nginx not installed (make test installs it as root)")
    app = app_factory(MAP_EMBED_MAX_AGE=1)
    seed_dataset(app, "open")
    seed_dataset(app, "big", n=3000)
    env = {"GEOMAP_DATABASE_URL": app.config["DATABASE_URL"], "GEOMAP_SECRET_KEY": "deploy",
           "GEOMAP_LOAD_SAMPLE": "false", "GEOMAP_TILES": "none",
           "GEOMAP_MAP_EMBED_MAX_AGE": "1", "GEOMAP_ACCESS_LOG": "",
           "GEOMAP_PROXY_HOPS": "1", "GEOMAP_INSTANCE_PATH": str(tmp_path / "instance")}
    with gunicorn(env, workers=2) as app_base, nginx(app_base, tmp_path / "nginx") as front:
        yield app_base, front


def test_geojson_download_is_gzipped_through_nginx_and_the_app_alone(compressing):
    import gzip
    import json

    app_base, front = compressing
    path = "/api/datasets/big/incidents.geojson"
    status, _, plain_headers, plain = _get(front + path)
    assert status == 200 and "Content-Encoding" not in plain_headers
    assert len(plain) > 900_000  # about 1 MB
    assert len(json.loads(plain)["features"]) == 3000
    for base in (front, app_base):
        status, _, headers, body = _get(base + path, **{"Accept-Encoding": "gzip"})
        assert status == 200 and headers["Content-Encoding"] == "gzip", base
        assert "Accept-Encoding" in headers["Vary"], base
        assert headers["Content-Type"].startswith("application/geo+json")
        assert len(body) < len(plain) / 4, base  # much smaller
        assert gzip.decompress(body) == plain, base
        # Never the identity copy's strong ETag on the compressed one.
        assert headers["ETag"] != plain_headers["ETag"], base
    # The app alone, asked for identity, sends identity.
    status, _, headers, body = _get(app_base + path)
    assert status == 200 and "Content-Encoding" not in headers and body == plain


@pytest.mark.parametrize("where", ["nginx", "app"])
def test_every_text_type_is_compressed_and_small_bodies_are_not(compressing, where):
    app_base, front = compressing
    base = front if where == "nginx" else app_base
    gz = {"Accept-Encoding": "gzip"}
    for path, mimetype in [("/embed/open", "text/html"), ("/maps/open", "text/html"),
                           ("/api/datasets/big/incidents.csv", "text/csv"),
                           ("/api/datasets/big/incidents.geojson", "application/geo+json"),
                           ("/static/site.css", "text/css")]:
        status, _, headers, body = _get(base + path, **gz)
        assert status == 200, (path, status)
        assert headers["Content-Type"].startswith(mimetype), path
        assert headers.get("Content-Encoding") == "gzip", (where, path)
    # A small body (under 1 KB) is sent as it is.
    status, _, headers, body = _get(base + "/api/datasets/big/stats", **gz)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert len(body) < 1024 and "Content-Encoding" not in headers
    # Images are not compressed again.
    status, _, headers, body = _get(base + "/maps/open.png", **gz)
    assert status == 200 and "Content-Encoding" not in headers and body[:4] == b"\x89PNG"


def test_compressed_embeds_still_revalidate_with_304(compressing):
    app_base, front = compressing
    gz = {"Accept-Encoding": "gzip"}
    for base in (front, app_base):
        for headers in (gz, {}):
            status, _, first, body = _get(base + "/embed/open?layer=cluster", **headers)
            assert status == 200, base
            etag = first["ETag"]
            assert ("Content-Encoding" in first) == bool(headers), (base, headers)
            # Twice: the second answer may come from nginx's cache or the app's fast path.
            for _ in range(2):
                status, _, again, empty = _get(base + "/embed/open?layer=cluster",
                                               **headers, **{"If-None-Match": etag})
                assert status == 304 and empty == b"", (base, headers, status)
                # nginx weakens the ETag of what it compresses (W/"..."); its 304 from the
                # cache names the stored copy's tag.
                assert again["ETag"].removeprefix("W/") == etag.removeprefix("W/")
                assert "Content-Encoding" not in again
    # The app alone: the identity and gzip copies have different strong ETags, and each 304
    # echoes the one the client holds.
    _, _, identity, _ = _get(app_base + "/embed/open?layer=heat")
    _, _, zipped, _ = _get(app_base + "/embed/open?layer=heat", **gz)
    assert zipped["ETag"] == identity["ETag"][:-1] + ':gzip"'
    assert "Accept-Encoding" in zipped["Vary"] and "Accept-Encoding" in identity["Vary"]


# --- serving without a proxy: loopback by default, slow clients stop at nginx ---------------

#: Slow-header clients: twice the threads of the test's gunicorn (2 workers x 4 threads).
SLOW_CLIENTS = 16


@contextmanager
def _slow_headers(base: str, n: int = SLOW_CLIENTS):
    """Open n connections to base that each start a request header and never finish it.

    Yields a function that sends one more header line on every connection (a slow-loris
    keeps the server waiting that way). Every connection is closed at the end.
    """
    parts = urlsplit(base)
    assert parts.hostname == "127.0.0.1"  # all traffic stays on loopback
    socks = []
    try:
        for _ in range(n):
            sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(sock)

        def trickle():
            for sock in socks:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass  # nginx may drop a slow client: that is the point

        yield trickle
    finally:
        for sock in socks:
            sock.close()


def _healthz_seconds(base: str, timeout: float) -> float:
    started = time.monotonic()
    status, _headers, body = http("GET", base + "/healthz", timeout=timeout)
    assert status == 200 and b'"status"' in body
    return time.monotonic() - started


def test_serving_without_a_proxy_nginx_absorbs_slow_headers(stack):
    _app, _dataset, front = stack
    with _slow_headers(front) as trickle:
        trickle()
        for _ in range(4):  # bounded: about 2 s of slow clients
            time.sleep(0.5)
            trickle()
            assert _healthz_seconds(front, timeout=10) < 2.0


def test_serving_without_a_proxy_gunicorn_alone_is_starved(tmp_path, app_factory):
    """The control: the same clients straight at gunicorn hold its every thread."""
    app = app_factory()
    env = {"GEOMAP_DATABASE_URL": app.config["DATABASE_URL"], "GEOMAP_SECRET_KEY": "deploy",
           "GEOMAP_LOAD_SAMPLE": "false", "GEOMAP_ACCESS_LOG": "",
           "GEOMAP_INSTANCE_PATH": str(tmp_path / "instance")}
    with gunicorn(env, workers=1) as app_base:  # 4 threads, so 16 clients hold all of them
        with _slow_headers(app_base) as trickle:
            trickle()
            time.sleep(0.5)
            with pytest.raises(OSError):  # timed out: no thread left to read the request
                http("GET", app_base + "/healthz", timeout=3)
        # Once they are gone it answers again.
        deadline = time.monotonic() + 10
        while True:
            try:
                assert _healthz_seconds(app_base, timeout=2) < 2.0
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not recover"


def test_serving_without_a_proxy_binds_loopback_by_default(monkeypatch):
    monkeypatch.delenv("GEOMAP_BIND", raising=False)
    assert runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))["bind"] == "127.0.0.1:8000"
    procfile = (ROOT / "Procfile").read_text()
    bind = re.search(r'--bind\s+("[^"]*"|\S+)', procfile).group(1)
    for env, expected in (({}, "127.0.0.1:8000"), ({"PORT": "5000"}, "127.0.0.1:5000"),
                          ({"GEOMAP_BIND": "10.0.0.5:80"}, "10.0.0.5:80")):
        shown = subprocess.run(["sh", "-c", f"printf %s {bind}"], env=env, capture_output=True,
                               text=True, check=True).stdout
        assert shown == expected, (env, shown)
    assert "0.0.0.0" not in procfile
    for name in ("geomap.service", "geomap.env.example", "gunicorn.conf.py"):
        assert "0.0.0.0" not in (ROOT / "deploy" / name).read_text(), name


def test_serving_without_a_proxy_nginx_times_out_slow_clients():
    site = (ROOT / "deploy" / "nginx.conf").read_text()

    def seconds(name: str) -> int:
        match = re.search(rf"^\s*{name}\s+(\d+)s;", site, flags=re.M)
        assert match, f"deploy/nginx.conf sets no {name}"
        return int(match.group(1))

    assert seconds("client_header_timeout") <= 15
    assert seconds("client_body_timeout") <= 60
    assert seconds("send_timeout") <= 60
    assert seconds("keepalive_timeout") <= 75
    assert re.search(r"^\s*reset_timedout_connection on;", site, flags=re.M)
    assert not re.search(r"^\s*proxy_request_buffering off;", site, flags=re.M)
