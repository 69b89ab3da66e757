"""Two stateless app servers sharing one PostgreSQL: writes, cache invalidation and columnar
copies (each server builds its own) cross over."""

import json
import time

import pytest

from geomap import accounts, db, store

from servers import gunicorn, http

pytestmark = pytest.mark.slow

CSV = b"""source_id,date,lat,lon,count,direction
a1,2025-01-03,49.0100,-122.7500,2,northbound
a2,2025-01-04,49.0120,-122.7400,1,northbound
"""
MORE = b"""source_id,date,lat,lon,count,direction
b1,2025-02-03,45.0200,-73.4500,3,northbound
"""


def test_two_servers_share_writes_and_invalidate_caches(tmp_path, pg_url, app_factory):
    application = app_factory(DATABASE_URL=pg_url)
    with db.engine_for(pg_url).begin() as conn:
        store.create_dataset(conn, "shared", "Shared", published=True)
        token = accounts.create_token(conn, "writer")
    common = {"GEOMAP_DATABASE_URL": pg_url, "GEOMAP_SECRET_KEY": "same-on-every-server",
              "GEOMAP_LOAD_SAMPLE": "false", "GEOMAP_TILES": "none"}
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with gunicorn({**common, "GEOMAP_INSTANCE_PATH": str(tmp_path / "one" / "instance")},
                  workers=1) as one, \
         gunicorn({**common, "GEOMAP_INSTANCE_PATH": str(tmp_path / "two" / "instance")},
                  workers=1) as two:
        status, headers, _ = http("GET", two + "/embed/shared")
        assert status == 200
        etag_before = headers["ETag"]
        assert http("GET", two + "/embed/shared", headers={"If-None-Match": etag_before})[0] == 304

        status, _h, body = http("POST", one + "/api/datasets/shared/incidents", CSV, auth)
        assert status == 201, body
        version = json.loads(body)["version"]

        # Visible through the other server at once, with the new version.
        detail = json.loads(http("GET", two + "/api/datasets/shared")[2])
        assert detail["incidents"] == 2 and detail["version"] == version
        # Its render cache is keyed by version: the old ETag no longer validates.
        status, headers, page = http("GET", two + "/embed/shared",
                                     headers={"If-None-Match": etag_before})
        assert status == 200 and headers["ETag"] != etag_before
        etag_after = headers["ETag"]

        status, _h, body = http("POST", two + "/api/datasets/shared/incidents", MORE, auth)
        assert status == 201, body
        detail = json.loads(http("GET", one + "/api/datasets/shared")[2])
        assert detail["incidents"] == 3
        status, headers, _ = http("GET", one + "/embed/shared",
                                  headers={"If-None-Match": etag_after})
        assert status == 200 and headers["ETag"] != etag_after
        # Behind one load balancer (same Host), both servers agree on the ETag of a version.
        host = {"Host": "maps.example.org"}
        assert (http("GET", one + "/embed/shared", headers=host)[1]["ETag"]
                == http("GET", two + "/embed/shared", headers=host)[1]["ETag"])

        # Each server counts the other's writes at once (from the database until it has
        # built its own columnar copy of the new version), then from that copy.
        with db.engine_for(pg_url).connect() as conn:
            dataset = store.get_dataset(conn, "shared")
        copies = [store.copy_path(tmp_path / name / "instance" / "columnar", dataset)
                  for name in ("one", "two")]
        for query in ("by=sector", "by=month"):  # the first reads start the builds
            for server in (one, two):
                assert _stats_n(server, query) == 3
        deadline = time.time() + 60
        while not all(path.exists() for path in copies) and time.time() < deadline:
            time.sleep(0.2)
        assert all(path.exists() for path in copies), copies
        for server in (one, two):
            assert _stats_n(server, "by=year") == 3
    assert application.config["DATABASE_URL"] == pg_url


def _stats_n(base: str, query: str) -> int:
    status, _h, body = http("GET", base + f"/api/datasets/shared/stats?{query}")
    assert status == 200, body
    return json.loads(body)["n"]
