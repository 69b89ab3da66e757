"""One render cache for every worker: shared renderings, versions without database reads,
invalidation after every kind of dataset change, prerendering after imports.

Two app instances on one database and one instance folder stand for two workers of a server
(what they share is on disk or in Redis, never in the process); `test_two_servers_*` runs
real gunicorn processes. Renderings are counted by the cache (`RenderCache.misses`) and, over
HTTP, by ``Server-Timing: render``, which only a response its request rendered carries.
"""

from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa

from geomap import db, store
from geomap.web.caching import HOOK, heads_for
from geomap.web.prerender import prerender
from geomap.web.render_cache import cache_for
from geomap.web.shared_cache import RedisStore, open_store
from maps_fixtures import add_incidents, incident_rows, seed_dataset
from servers import gunicorn, http

REDIS_ENV = "GEOMAP_TEST_REDIS_URL"
VIEWS = ("/maps/wa-bc", "/maps/wa-bc?layer=choropleth", "/embed/wa-bc",
         "/embed/wa-bc?layer=cluster", "/maps/wa-bc.png", "/maps/wa-bc.png?width=400")


@pytest.fixture
def redis_url():
    """A Redis URL (GEOMAP_TEST_REDIS_URL, default the local server), skipped visibly if down.

    .ci/run starts the machine's Redis when it is not running, as it does PostgreSQL.
    """
    import redis

    url = os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"Redis not reachable at {url} ({exc}); start it or set {REDIS_ENV}")
    finally:
        client.close()
    return url


@pytest.fixture(params=["disk", "redis"])
def backend(request):
    """Settings of each shared store: the instance folder's diskcache, and Redis."""
    if request.param == "disk":
        return {}
    return {"CACHE_URL": request.getfixturevalue("redis_url")}


@pytest.fixture
def workers(app_factory, fake_display_layers, backend):
    """Two apps on one database and instance folder: two workers of one server."""
    one, two = app_factory(**backend), app_factory(**backend)
    yield one, two
    _forget(cache_for(one).store)
    cache_for(two).store.close()  # its epoch listener (Redis) too


def _forget(store) -> None:
    """Redis outlives the test: leave nothing of it there (entries, then the epoch)."""
    store.clear()
    if isinstance(store, RedisStore):
        store.client.delete(store.prefix + "epoch", store.prefix + "generation")
        store.close()


def _get(app, path, **headers):
    return app.test_client().get(path, headers=headers)


def test_the_second_worker_never_renders_what_the_first_did(workers):
    one, two = workers
    seed_dataset(one)
    first = {path: _get(one, path) for path in VIEWS}
    assert all(r.status_code == 200 and "render;dur=" in r.headers["Server-Timing"]
               for r in first.values())
    # and the page's table and form options, and the counts by region and year that pages
    # and embeds of one selection share (summary sentence, embed table)
    assert cache_for(one).misses == len(VIEWS) + 3
    for path in VIEWS:
        again = _get(two, path)
        assert again.status_code == 200 and "Server-Timing" not in again.headers, path
        assert again.get_data() == first[path].get_data()
        assert again.headers["ETag"] == first[path].headers["ETag"]
    assert cache_for(two).misses == 0 and cache_for(two).hits >= len(VIEWS)
    # The tables under the map page are shared too: another layer renders the map only.
    page = _get(two, "/maps/wa-bc?layer=time")
    assert "render;dur=" in page.headers["Server-Timing"]
    assert cache_for(two).misses == 1  # the map; the tables and options came from worker one


def test_a_304_reads_no_dataset_row(workers):
    one, two = workers
    seed_dataset(one)
    etag = _get(one, "/embed/wa-bc").headers["ETag"]
    heads = heads_for(two)
    assert _get(two, "/embed/wa-bc", **{"If-None-Match": etag}).status_code == 304
    assert heads.reads == 1  # the first request of this worker read the version once
    tags = {path: _get(two, path).headers["ETag"] for path in ("/embed/wa-bc", "/maps/wa-bc")}
    reads = heads.reads  # and a rendering reads it again (/maps/wa-bc was rendered here)
    for path, tag in tags.items():
        for _ in range(5):
            assert _get(two, path, **{"If-None-Match": tag}).status_code == 304
            assert _get(two, path).status_code == 200  # the cached page: no read either
    assert heads.reads == reads


def test_every_change_of_a_dataset_reaches_every_worker_at_once(workers):
    one, two = workers
    dataset = seed_dataset(one)
    seen = set()

    def embed(**headers):
        response = _get(two, "/embed/wa-bc", **headers)
        if response.status_code == 200:
            assert response.headers["ETag"] not in seen  # a stale-version key never returns
            seen.add(response.headers["ETag"])
        return response

    first = embed()
    etag = first.headers["ETag"]
    assert "60 incidents" in first.get_data(as_text=True)
    assert embed(**{"If-None-Match": etag}).status_code == 304
    engine = db.engine_for(one.config["DATABASE_URL"])

    # An import (in "another worker": through the database, as any door writes it).
    add_incidents(one, dataset, incident_rows(5, seed=3))
    after = embed(**{"If-None-Match": etag})
    assert after.status_code == 200 and "65 incidents" in after.get_data(as_text=True)
    etag = after.headers["ETag"]

    # A title edit.
    with engine.begin() as conn:
        store.update_dataset(conn, "wa-bc", title="Renamed crossings")
    renamed = embed(**{"If-None-Match": etag})
    assert renamed.status_code == 200 and "Renamed crossings" in renamed.get_data(as_text=True)
    etag = renamed.headers["ETag"]

    # Unpublishing: neither the 304 nor the kept page is served any more.
    with engine.begin() as conn:
        store.set_published(conn, "wa-bc", False)
    assert embed(**{"If-None-Match": etag}).status_code == 404
    assert embed().status_code == 404
    with engine.begin() as conn:
        store.set_published(conn, "wa-bc", True)
    etag = embed().headers["ETag"]

    # Deleting the dataset, then a new one of the same slug (it starts again at version 1).
    with engine.begin() as conn:
        conn.execute(sa.delete(db.datasets).where(db.datasets.c.slug == "wa-bc"))
    assert embed(**{"If-None-Match": etag}).status_code == 404
    seed_dataset(one, n=12, title="Renamed crossings")
    new = embed(**{"If-None-Match": etag})
    assert new.status_code == 200 and "12 incidents" in new.get_data(as_text=True)


def test_a_rolled_back_change_leaves_the_versions_alone(workers):
    one, two = workers
    dataset = seed_dataset(one)
    etag = _get(two, "/embed/wa-bc").headers["ETag"]
    reads = heads_for(two).reads
    engine = db.engine_for(one.config["DATABASE_URL"])
    with engine.connect() as conn, conn.begin() as tx:
        store.bump_version(conn, dataset["id"])
        tx.rollback()
    assert _get(two, "/embed/wa-bc", **{"If-None-Match": etag}).status_code == 304
    assert heads_for(two).reads == reads  # no epoch bump: nothing was committed


def test_without_a_shared_cache_each_request_reads_the_version(app_factory, fake_display_layers):
    app = app_factory(CACHE_URL="memory")
    seed_dataset(app)
    etag = _get(app, "/embed/wa-bc").headers["ETag"]
    reads = heads_for(app).reads
    for _ in range(3):
        assert _get(app, "/embed/wa-bc", **{"If-None-Match": etag}).status_code == 304
    assert heads_for(app).reads == reads + 3


def test_a_change_made_around_the_app_counts_after_the_version_ttl(app_factory,
                                                                   fake_display_layers):
    app = app_factory(CACHE_VERSION_TTL=0)
    seed_dataset(app)
    etag = _get(app, "/embed/wa-bc").headers["ETag"]
    # SQL by hand, not through SQLAlchemy: no event tells the cache; the TTL (0 here) does.
    import sqlite3

    path = sa.make_url(app.config["DATABASE_URL"]).database
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE datasets SET version = version + 1 WHERE slug = 'wa-bc'")
    assert _get(app, "/embed/wa-bc", **{"If-None-Match": etag}).status_code == 200


def test_prerender_after_an_import_leaves_no_cold_view(app_factory, fake_display_layers):
    app = app_factory(PRERENDER=True)
    dataset = seed_dataset(app)
    assert _get(app, "/embed/wa-bc").status_code == 200  # a reader: its host is remembered
    add_incidents(app, dataset, incident_rows(5, seed=11))
    for thread in app.extensions[HOOK].prerenders:
        thread.join(timeout=120)
    misses = cache_for(app).misses
    # English and French readers alike: the page by their browser's language, the embed and
    # the image by ?lang=.
    for path, lang in (("/maps/wa-bc", "en"), ("/embed/wa-bc", "en"), ("/maps/wa-bc.png", "en"),
                       ("/maps/wa-bc", "fr"), ("/embed/wa-bc?lang=fr", "fr"),
                       ("/maps/wa-bc.png?lang=fr", "fr")):
        response = _get(app, path, **{"Accept-Language": lang})
        assert response.status_code == 200 and "Server-Timing" not in response.headers, path
    assert "65 incidents" in _get(app, "/embed/wa-bc").get_data(as_text=True)
    assert "65 incidents" in _get(app, "/maps/wa-bc", **{"Accept-Language": "en"}).get_data(
        as_text=True)
    assert 'lang="fr"' in _get(app, "/maps/wa-bc", **{"Accept-Language": "fr"}).get_data(
        as_text=True)
    assert cache_for(app).misses == misses
    # Called directly (a job runner's hook): the three views in each language, for each host
    # readers used.
    done = prerender(app, "wa-bc")
    assert [status for _url, status in done] == [200] * 6
    assert [url for url, _status in done][1::3] == ["http://localhost/embed/wa-bc",
                                                  "http://localhost/embed/wa-bc?lang=fr"]


def test_prerender_skips_drafts_and_unknown_hosts(app_factory, fake_display_layers):
    app = app_factory()
    seed_dataset(app)
    assert prerender(app, "wa-bc") == []  # no reader yet: no host to render for
    seed_dataset(app, "draft", published=False)
    _get(app, "/embed/wa-bc")
    assert [status for _url, status in prerender(app, "draft")] == [404] * 6


@pytest.mark.parametrize("shared", ["disk", "redis"])
def test_two_servers_share_renderings(tmp_path, shared, request):
    """Two gunicorn servers on one instance folder (SQLite, the default cache) or on Redis."""
    env = {"GEOMAP_INSTANCE_PATH": str(tmp_path / "instance"), "GEOMAP_TILES": "none",
           "GEOMAP_SECRET_KEY": "same", "GEOMAP_PRERENDER": "false"}
    if shared == "redis":
        env["GEOMAP_CACHE_URL"] = request.getfixturevalue("redis_url")
    with gunicorn(env, workers=1) as one:
        slug = json.loads(http("GET", one + "/api/datasets")[2])["datasets"][0]["slug"]
        with gunicorn(env, workers=1) as two:
            try:
                host = {"Host": "maps.example.org"}  # one site: both behind one proxy
                for path in (f"/embed/{slug}?layer=cluster", f"/maps/{slug}.png"):
                    status, headers, body = http("GET", one + path, headers=host)
                    assert status == 200 and "render;dur=" in headers["Server-Timing"]
                    status, again, same = http("GET", two + path, headers=host)
                    assert status == 200 and "Server-Timing" not in again and same == body
                    assert http("GET", two + path, headers={
                        **host, "If-None-Match": headers["ETag"]})[0] == 304
            finally:
                if shared == "redis":
                    url = f"sqlite:///{tmp_path / 'instance' / 'geomap.sqlite'}"
                    _forget(open_store(env["GEOMAP_CACHE_URL"], url, tmp_path, 1))


def test_a_cache_that_stops_answering_costs_speed_not_answers(app_factory, fake_display_layers):
    # Nothing listens on port 1: every Redis call fails at once; readers still get their maps.
    app = app_factory(CACHE_URL="redis://127.0.0.1:1/0")
    seed_dataset(app)
    first = _get(app, "/embed/wa-bc")
    assert first.status_code == 200 and "60 incidents" in first.get_data(as_text=True)
    assert _get(app, "/embed/wa-bc", **{"If-None-Match": first.headers["ETag"]}).status_code \
        == 304
    assert _get(app, "/maps/wa-bc.png").status_code == 200
    reads = heads_for(app).reads
    _get(app, "/embed/wa-bc")
    assert heads_for(app).reads == reads + 1  # no epoch to trust: the database says


def test_an_unknown_cache_url_is_a_configuration_error(app_factory):
    from geomap.errors import ConfigError

    with pytest.raises(ConfigError, match="GEOMAP_CACHE_URL='mongodb://x'"):
        app_factory(CACHE_URL="mongodb://x")


def test_every_process_hears_the_redis_epoch_without_asking(redis_url):
    import time
    import uuid

    prefix = f"geomap:test-{uuid.uuid4().hex[:8]}:"
    reader, writer = RedisStore(redis_url, prefix), RedisStore(redis_url, prefix)
    try:
        before = reader.epoch()  # starts the reader's listener
        assert reader._listener is not None and reader._listener.live
        writer.bump_epoch()  # another process's commit
        deadline = time.monotonic() + 5
        while reader.epoch() == before and time.monotonic() < deadline:
            time.sleep(0.002)
        assert reader.epoch() == before + 1
        # Without a live listener the key is read (and a new listener started).
        reader._listener.stop()
        writer.bump_epoch()
        assert reader.epoch() == before + 2
    finally:
        writer.client.delete(prefix + "epoch")
        reader.close()
        writer.close()


def test_simultaneous_first_readers_render_once(workers):
    import threading

    one, two = workers
    started, release = threading.Event(), threading.Event()
    made = []

    def slow_render():
        made.append("one")
        started.set()
        assert release.wait(30)
        return (b"<html>rendered once</html>", None)

    def never():
        made.append("two")
        return (b"<html>rendered twice</html>", None)

    first = threading.Thread(target=lambda: cache_for(one).get_or_make("page:k", slow_render))
    first.start()
    assert started.wait(30)
    got = {}
    second = threading.Thread(
        target=lambda: got.setdefault("value", cache_for(two).get_or_make("page:k", never)))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waiting for worker one's rendering, not making its own
    release.set()
    first.join(30)
    second.join(30)
    assert made == ["one"] and got["value"] == (b"<html>rendered once</html>", None)
    assert cache_for(two).misses == 0


STATS = ("/api/datasets/wa-bc/stats", "/api/datasets/wa-bc/stats?by=month&type=crossing",
         "/api/datasets/wa-bc/stats?by=border_segment&from=2025-01&to=2025-06")


def test_stats_are_computed_once_for_every_worker_and_again_after_a_change(workers):
    one, two = workers
    seed_dataset(one)
    first = {path: _get(one, path) for path in STATS}
    assert all(r.status_code == 200 for r in first.values())
    assert cache_for(one).misses == len(STATS)
    for path in STATS:
        again = _get(two, path)
        assert again.json == first[path].json
        assert again.headers["ETag"] == first[path].headers["ETag"]
    # The same selection written another way is the same entry (canonical query).
    assert _get(two, STATS[1].replace("by=month&type=crossing", "type=crossing&by=month")
                ).headers["ETag"] == first[STATS[1]].headers["ETag"]
    assert cache_for(two).misses == 0
    etag = first[STATS[0]].headers["ETag"]
    assert _get(two, STATS[0], **{"If-None-Match": etag}).status_code == 304
    # A change of the incidents bumps the version: a new answer, counted again.
    before = first[STATS[0]].json
    with db.engine_for(one.config["DATABASE_URL"]).connect() as conn:
        dataset = store.get_dataset(conn, "wa-bc")
    add_incidents(one, dataset, incident_rows(5, seed=9))
    after = _get(two, STATS[0])
    assert after.headers["ETag"] != etag and cache_for(two).misses == 1
    assert after.json["n"] == before["n"] + 5 and after.json["version"] == before["version"] + 1
    assert _get(two, STATS[0], **{"If-None-Match": etag}).status_code == 200
