"""gunicorn settings for geomap: gunicorn -c deploy/gunicorn.conf.py wsgi:app."""

import multiprocessing
import os

# Bind to loopback: nginx (deploy/nginx.conf) is the only client. Facing clients directly,
# a few slow-header connections hold every worker thread (each waits for a whole request
# header); nginx absorbs them. Bind elsewhere (GEOMAP_BIND) only behind another such proxy.
bind = os.environ.get("GEOMAP_BIND", "127.0.0.1:8000")
# Map rendering is CPU-bound, so one worker per core (plus one) keeps every core busy without
# thrashing. Threaded workers keep connections alive (nginx's upstream keepalive pool, readers'
# browsers): sync workers close every connection, and reconnecting cost half their throughput
# on small embeds (bench/serve.py). Threads also overlap database waits; a render holds the GIL,
# so more than a few per process buys nothing.
workers = int(os.environ.get("GEOMAP_WORKERS", multiprocessing.cpu_count() + 1))
worker_class = os.environ.get("GEOMAP_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GEOMAP_THREADS", 4))
# HTTP is parsed in C by gunicorn_h1c (requirements.txt): gunicorn's default http_parser,
# "auto", uses it when installed and falls back to the Python parser.
# Large CSV imports (1M rows) take tens of seconds; readers' requests are far shorter.
timeout = int(os.environ.get("GEOMAP_TIMEOUT", 300))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that a slow leak cannot grow without bound, but rarely: a
# new worker starts with an empty in-memory front of the render cache (the shared cache,
# GEOMAP_CACHE_URL, keeps the renderings), and at 2,000 requests a busy server recycled
# each worker every second or two (bench/serve.py: 2.3x the throughput, 304 p99 300 -> 17 ms).
max_requests = 100000
max_requests_jitter = 10000
# Load the app before forking: the region layers are read once and shared copy-on-write.
preload_app = True
# Access log to stdout (the journal); GEOMAP_ACCESS_LOG="" turns it off when nginx's access log
# already records every request (formatting and writing a line costs ~5% of a cached embed).
accesslog = os.environ.get("GEOMAP_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GEOMAP_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'
# Behind nginx on the same host: trust its X-Forwarded-* headers.
forwarded_allow_ips = "127.0.0.1"


def post_fork(server, worker):
    """Give each worker its own database connections (never share pooled ones across fork)."""
    from geomap import db

    db.reset_after_fork()
