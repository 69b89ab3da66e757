"""deploy/: nginx (as shipped) in front of gunicorn (deploy/gunicorn.conf.py) caches what it should."""

import time

import pytest

from maps_fixtures import add_incidents, incident_rows, seed_dataset
from servers import gunicorn, http, nginx, nginx_binary

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(nginx_binary() is None,
                                 reason="nginx not installed (make test installs it as root)")]


@pytest.fixture
def stack(tmp_path, app_factory):
    """gunicorn with the deploy settings on a seeded SQLite database, nginx in front."""
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

