"""Revalidation cost inside the app: microseconds per embed request, without any HTTP server.

Calls the app's WSGI stack (the embed fast path, then Flask when it declines) in-process
for the sample's embed, N times per case, and prints the median of rounds in microseconds
per request: the 304 of a published embed (If-None-Match), the kept 200, and the same 304
through Flask (a session cookie makes the fast path hand over). Unlike bench/serve.py the
figures hardly move with the machine's load (one thread, no sockets), so they show what the
app itself adds to gunicorn's own cost per request.

Usage: .venv/bin/python bench/revalidate.py [--database-url URL] [--cache-url URL]
[--n 20000] [--rounds 5] (default database: SQLite in a temporary instance folder; a
PostgreSQL URL names an empty database the sample is loaded into.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from werkzeug.test import EnvironBuilder  # noqa: E402

from geomap import create_app  # noqa: E402


def _call(app, environ: dict) -> str:
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"] = status

    for _chunk in app.wsgi_app(dict(environ), start_response):
        pass
    return seen["status"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--cache-url", help="GEOMAP_CACHE_URL (default: instance/cache)")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="geomap-revalidate-"))
    config = {"INSTANCE_PATH": tmp / "instance", "TILES": "none", "SECRET_KEY": "bench",
              "PRERENDER": False}
    if args.database_url:
        config["DATABASE_URL"] = args.database_url
    if args.cache_url:
        config["CACHE_URL"] = args.cache_url
    app = create_app(config)
    client = app.test_client()
    slug = client.get("/api/datasets").get_json()["datasets"][0]["slug"]
    first = client.get(f"/embed/{slug}")
    etag = first.headers["ETag"]
    client.get(f"/embed/{slug}")  # kept by the fast path now
    base = EnvironBuilder(path=f"/embed/{slug}", base_url="http://localhost/")
    plain = base.get_environ()
    cases = {
        "304, fast path": dict(plain, HTTP_IF_NONE_MATCH=etag),
        "200 kept, fast path": plain,
        "304 through Flask (cookie)": dict(plain, HTTP_IF_NONE_MATCH=etag,
                                           HTTP_COOKIE="geomap_session=x"),
    }
    if args.cache_url:  # leave nothing in a shared Redis
        import atexit

        from geomap.web.render_cache import cache_for

        store = cache_for(app).store
        atexit.register(lambda: (store.clear(), store.client.delete(
            store.prefix + "epoch", store.prefix + "generation"), store.close()))
    print(f"# {app.config['DATABASE_URL'].split(':')[0]}, cache "
          f"{app.config.get('CACHE_URL', '(in-process LRU)') or 'instance/cache'}; "
          f"{args.n} requests x {args.rounds} rounds, median us/request")
    for name, environ in cases.items():
        status = _call(app, environ)
        times = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            for _ in range(args.n):
                _call(app, environ)
            times.append((time.perf_counter() - started) / args.n * 1e6)
        print(f"{name:30} {status:18} {statistics.median(times):8.1f} us")


if __name__ == "__main__":
    main()
