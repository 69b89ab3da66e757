"""Run the app in real server processes (gunicorn) for multi-process tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
