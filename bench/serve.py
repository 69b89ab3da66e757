"""Serving benchmark: nginx static vs nginx cache in front of gunicorn vs gunicorn vs 304s.

Runs everything on 127.0.0.1 only, with bounded wrk runs (-t2 -c32 -d8s by default), and
prints requests/s, latency percentiles and the ratios the deploy goals are stated in:
(b) nginx+cache >= 80% of (a) nginx static; (c) gunicorn >= 10% of (a); 304 p99 < 30 ms.

(e) is the ceiling: the same bytes from a bare WSGI function under the same gunicorn settings;
(f) the same function's 304 (no body), the ceiling of (d).

Usage: .venv/bin/python bench/serve.py [--seconds 8] [--rounds 3]
Needs nginx and wrk (Debian: apt-get install nginx-light wrk); installs them when run as root.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import runpy
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_PORT, STATIC_PORT, CACHE_PORT, BARE_PORT = 18000, 18080, 18081, 18001
# (e) the ceiling for any Python app here: the same page bytes from a WSGI function that does
# nothing else, under the same gunicorn settings.
BARE_APP = """
from pathlib import Path
BODY = (Path(__file__).parent / "static" / "embed" / "index.html").read_bytes()
HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(BODY)))]
def app(environ, start_response):
    if environ.get("HTTP_IF_NONE_MATCH"):  # (f): a 304 and nothing else
        start_response("304 Not Modified", [("ETag", environ["HTTP_IF_NONE_MATCH"])])
        return []
    start_response("200 OK", HEADERS)
    return [BODY]
"""

NGINX_CONF = """
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ text/html html; }}
    proxy_cache_path {tmp}/cache levels=1:2 keys_zone=geomap:10m max_size=100m use_temp_path=off;
    upstream geomap_app {{ server 127.0.0.1:{app_port}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{static_port};
        root {tmp}/static;
        etag on;
    }}
    server {{
        listen 127.0.0.1:{cache_port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        location /embed/ {{
            proxy_pass http://geomap_app;
            proxy_cache geomap;
            proxy_cache_key $scheme$host$request_uri;
            proxy_cache_revalidate on;
            proxy_cache_lock on;
            proxy_cache_use_stale updating;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""


def ensure_tools() -> None:
    """Install nginx and wrk from Debian when missing (root only)."""
    if shutil.which("nginx") or Path("/usr/sbin/nginx").exists():
        if shutil.which("wrk"):
            return
    if os.geteuid() != 0:
        sys.exit("bench/serve.py needs nginx and wrk: apt-get install nginx-light wrk")
    subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                   "apt-get install -y -qq nginx-light wrk", shell=True, check=True)


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def _cpu_seconds(roots: list[int]) -> float:
    """Return the user+system CPU time of these processes and their children (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1]
                                               .split()[1])
            except (OSError, IndexError, ValueError):
                continue
    pids = set(roots) | {pid for pid, ppid in parents.items() if ppid in roots}
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int, headers: dict | None = None, servers: list[int] = ()) -> dict:
    """Run one bounded wrk load: requests/s, latency percentiles in ms, server CPU per request.

    CPU per request (all processes of the servers answering, in microseconds) depends far
    less on what else the machine is doing than requests per second do.
    """
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", url]
    for key, value in (headers or {}).items():
        cmd[1:1] = ["-H", f"{key}: {value}"]
    cpu_before = _cpu_seconds(list(servers))
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu = _cpu_seconds(list(servers)) - cpu_before
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        lat[pct] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat["50"], "p90": lat["90"], "p99": lat["99"],
            "cpu_us": cpu / max(requests, 1) * 1e6,
            "errors": int(non2xx.group(1)) if non2xx else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", help="default: deploy/gunicorn.conf.py's")
    parser.add_argument("--threads", type=int, help="default: deploy/gunicorn.conf.py's")
    args = parser.parse_args()
    deploy = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    args.worker_class = args.worker_class or deploy["worker_class"]
    args.threads = args.threads or deploy["threads"]
    server_args = ["--workers", str(args.workers), "--worker-class", args.worker_class,
                   "--threads", str(args.threads)]
    ensure_tools()
    print(f"# serving benchmark; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="geomap-serve-"))
    tmp.chmod(0o755)  # nginx workers run as an unprivileged user and must read the files
    env = dict(os.environ, GEOMAP_INSTANCE_PATH=str(tmp / "instance"), GEOMAP_TILES="none",
               GEOMAP_SECRET_KEY="bench", GEOMAP_ACCESS_LOG="")  # as nginx's access_log off
    venv_bin = Path(sys.executable).parent
    gunicorn = subprocess.Popen(
        [str(venv_bin / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
         *server_args, "--bind", f"127.0.0.1:{APP_PORT}",
         "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=env)
    nginx = bare = None
    try:
        wait_for(f"http://127.0.0.1:{APP_PORT}/healthz")
        # The first request on an empty database loads the sample; then find its embed.
        with urllib.request.urlopen(f"http://127.0.0.1:{APP_PORT}/api/datasets") as response:
            import json
            slug = json.load(response)["datasets"][0]["slug"]
        path = f"/embed/{slug}"
        with urllib.request.urlopen(f"http://127.0.0.1:{APP_PORT}{path}") as response:
            body, etag = response.read(), response.headers.get("ETag")
        (tmp / "static" / "embed").mkdir(parents=True)
        (tmp / "static" / "embed" / "index.html").write_bytes(body)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "cache"):
            (tmp / sub).mkdir()
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, app_port=APP_PORT, static_port=STATIC_PORT,
                                          cache_port=CACHE_PORT))
        nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp), "-g", "daemon off;"])
        (tmp / "bare_wsgi.py").write_text(BARE_APP)
        bare = subprocess.Popen(
            [str(venv_bin / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
             *server_args, "--bind", f"127.0.0.1:{BARE_PORT}",
             "--chdir", str(tmp), "--pythonpath", str(ROOT),
             "--log-level", "warning", "bare_wsgi:app"], cwd=tmp, env=env)
        wait_for(f"http://127.0.0.1:{STATIC_PORT}/embed/index.html")
        wait_for(f"http://127.0.0.1:{CACHE_PORT}{path}")
        wait_for(f"http://127.0.0.1:{BARE_PORT}/")
        ng, app, ceiling = [nginx.pid], [gunicorn.pid], [bare.pid]
        configs = {
            "a nginx static 200": (f"http://127.0.0.1:{STATIC_PORT}/embed/index.html", None,
                                   ng),
            "b nginx cache -> gunicorn 200": (f"http://127.0.0.1:{CACHE_PORT}{path}", None,
                                              ng + app),
            "c gunicorn 200": (f"http://127.0.0.1:{APP_PORT}{path}", None, app),
            "d gunicorn 304 (If-None-Match)": (f"http://127.0.0.1:{APP_PORT}{path}",
                                               {"If-None-Match": etag} if etag else None, app),
            "e bare WSGI app 200 (ceiling)": (f"http://127.0.0.1:{BARE_PORT}/", None, ceiling),
            "f bare WSGI app 304 (ceiling)": (f"http://127.0.0.1:{BARE_PORT}/",
                                              {"If-None-Match": '"x"'}, ceiling),
        }
        results = {name: [] for name in configs}
        for _ in range(args.rounds):
            for name, (url, headers, servers) in configs.items():
                results[name].append(wrk(url, args.seconds, headers, servers))
        report(results, len(body), etag, args)
    finally:
        for proc in (nginx, bare, gunicorn):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=40)  # gunicorn's graceful_timeout is 30 s
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def _has_h1c() -> bool:
    return importlib.util.find_spec("gunicorn_h1c") is not None


def report(results: dict, size: int, etag: str | None, args) -> None:
    print(f"embed page: {size / 1024:.1f} KB, ETag {'present' if etag else 'MISSING'}; "
          f"wrk -t2 -c32 -d{args.seconds}s, {args.rounds} rounds, gunicorn {args.workers} "
          f"{args.worker_class} workers x {args.threads} threads, HTTP parser "
          f"{'gunicorn_h1c' if _has_h1c() else 'python'}; median of rounds")
    print(f"{'config':34} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
          f"{'CPU us/req':>10} {'errors':>7}")
    medians = {}
    for name, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs)
               for k in ("rps", "p50", "p90", "p99", "cpu_us")}
        med["errors"] = sum(r["errors"] for r in runs)
        medians[name] = med
        print(f"{name:34} {med['rps']:9.0f} {med['p50']:8.2f} {med['p90']:8.2f} "
              f"{med['p99']:8.2f} {med['cpu_us']:10.0f} {med['errors']:7d}")
    a = medians["a nginx static 200"]["rps"]
    b = medians["b nginx cache -> gunicorn 200"]["rps"]
    c = medians["c gunicorn 200"]["rps"]
    p99 = medians["d gunicorn 304 (If-None-Match)"]["p99"]
    e = medians["e bare WSGI app 200 (ceiling)"]["rps"]
    d, f = medians["d gunicorn 304 (If-None-Match)"]["rps"], medians[
        "f bare WSGI app 304 (ceiling)"]["rps"]
    print(f"(b)/(a) = {b / a:.2f} (goal >= 0.80)   (c)/(a) = {c / a:.3f} (goal >= 0.10)   "
          f"304 p99 = {p99:.1f} ms (goal < 30)")
    print(f"ceiling: (e)/(a) = {e / a:.3f}; (c)/(e) = {c / e:.2f} of what any app under these "
          f"gunicorn settings can serve here; load average {os.getloadavg()[0]:.1f}")
    print(f"304s: (d)/(a) = {d / a:.3f}; (d)/(f) = {d / f:.2f} of a bare function's 304s under "
          "the same gunicorn settings")
    cpu = {key: medians[name]["cpu_us"] for key, name in zip("ace", (
        "a nginx static 200", "c gunicorn 200", "e bare WSGI app 200 (ceiling)"))}
    print(f"server CPU per request: (a) {cpu['a']:.0f} us, (c) {cpu['c']:.0f} us, (e) "
          f"{cpu['e']:.0f} us; (a)/(c) = {cpu['a'] / cpu['c']:.3f}, the throughput ratio "
          "(c)/(a) on a machine whose cores only the servers used")


if __name__ == "__main__":
    main()
