"""Run the app in real servers: gunicorn processes, or a thread for browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ThreadedServer:
    """Serve a WSGI app or a static handler on 127.0.0.1 in a daemon thread."""

    def __init__(self, server):
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@contextmanager
def serving(app):
    """Serve a geomap app in a thread for a browser test; yield its origin, then stop it
    and close its database connections."""
    from werkzeug.serving import make_server

    from geomap import db

    running = ThreadedServer(make_server("127.0.0.1", 0, app, threaded=True))
    try:
        yield running.origin
    finally:
        running.stop()
        db.dispose_engine(app.config["DATABASE_URL"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 120) -> tuple[int, dict, bytes]:
    """Make one request and return (status, headers, body) without raising on 4xx/5xx."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@contextmanager
def gunicorn(env: dict, workers: int = 2):
    """Start gunicorn on a free loopback port with extra environment; yield its base URL."""
    port = free_port()
    venv_bin = Path(sys.executable).parent
    log = open(Path(env["GEOMAP_INSTANCE_PATH"]).parent / f"gunicorn-{port}.log", "wb")
    proc = subprocess.Popen(
        [str(venv_bin / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
         "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log.name}")
            try:
                if http("GET", base + "/healthz", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"gunicorn did not answer within 60 s; see {log.name}")
            time.sleep(0.2)
        yield base
    finally:
        _stop(proc, log)


def _stop(proc: subprocess.Popen, log) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def nginx_binary() -> str | None:
    """Return the nginx executable, or None when it is not installed."""
    import shutil

    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@contextmanager
def nginx(app_base: str, folder: Path):
    """Run deploy/nginx.conf (as shipped, paths and ports rewritten) in front of app_base.

    The file is included inside an ``http {}`` block as the README says; only the cache
    folder, the checkout path, the upstream port and the listening port are replaced.
    Yields nginx's base URL.
    """
    binary = nginx_binary()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)  # nginx's workers may run as another user
    port = free_port()
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    replacements = {"/var/cache/nginx/geomap": str(folder / "cache"),
                    "/srv/geomap/": str(ROOT) + "/",
                    "server 127.0.0.1:8000;": f"server {app_base.split('//', 1)[1]};",
                    "listen 80;": f"listen 127.0.0.1:{port};"}
    for old, new in replacements.items():
        assert old in site, f"deploy/nginx.conf no longer contains {old!r}"
        site = site.replace(old, new)
    (folder / "geomap.conf").write_text(site)
    mime = Path("/etc/nginx/mime.types")
    (folder / "nginx.conf").write_text(f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 256; }}
http {{
    {f"include {mime};" if mime.exists() else ""}
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/geomap.conf;
}}
""")
    check = subprocess.run([binary, "-t", "-p", str(folder), "-c", str(folder / "nginx.conf")],
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t failed: {check.stderr}")
    log = open(folder / "stderr.log", "wb")
    proc = subprocess.Popen([binary, "-p", str(folder), "-c", str(folder / "nginx.conf"),
                             "-g", "daemon off;"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                http("GET", base + "/healthz", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"nginx did not start; see {log.name}")
                time.sleep(0.2)
        yield base
    finally:
        _stop(proc, log)
