"""Lighthouse on a phone: performance and accessibility of every map layer, page and embed.

Serves the illustrative sample with gunicorn (deploy/gunicorn.conf.py, tiles off: nothing
leaves 127.0.0.1) and runs Lighthouse (npm ``lighthouse``, pinned in package.json) on Debian's
Chromium (CHROME_PATH=/usr/bin/chromium, ``--headless --no-sandbox --disable-gpu``) with its
default mobile profile: an emulated mid-range phone, simulated slow 4G and a 4x slower CPU.
Prints, per layer, the median performance and accessibility scores of the map page and the
embed over ``--rounds`` runs, with first/largest contentful paint, total blocking time and
speed index. The goal (issue #22) is performance >= 95 on every layer; recorded, not asserted.

``--app-root DIR`` serves another checkout (its own geomap package and static files) with the
same settings: the reference column of BENCHMARKS.md is main before the scripts were deferred
(``git archive <commit> | tar -x -C DIR``, with .venv, node_modules and static/vendor linked).

Usage: .venv/bin/python bench/lighthouse.py [--rounds 3] [--layers heat cluster ...]
       [--app-root DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from servers import _stop, free_port, http  # noqa: E402

LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = "--headless --no-sandbox --disable-gpu --disable-background-networking"
LAYERS = ("heat", "cluster", "choropleth", "time")
SLUG = "sample-northern-border-2025"
#: Lighthouse audits printed beside the scores (their numericValue, in ms; speed index too).
METRICS = {"first-contentful-paint": "FCP", "largest-contentful-paint": "LCP",
           "total-blocking-time": "TBT", "speed-index": "SI"}


def serve(app_root: Path, folder: Path):
    """Load the sample into a new SQLite database and start gunicorn on it; yield the base URL."""
    env = {**os.environ, "GEOMAP_INSTANCE_PATH": str(folder / "instance"),
           "GEOMAP_DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite'}",
           "GEOMAP_SECRET_KEY": "lighthouse-bench", "GEOMAP_TILES": "none",
           "GEOMAP_LOAD_SAMPLE": "false", "PYTHONPATH": str(app_root)}
    venv_bin = Path(sys.executable).parent
    subprocess.run([str(venv_bin / "flask"), "--app", "geomap", "load-sample"], cwd=app_root,
                   env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    log = open(folder / "gunicorn.log", "wb")
    proc = subprocess.Popen(
        [str(venv_bin / "gunicorn"), "-c", str(app_root / "deploy" / "gunicorn.conf.py"),
         "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=app_root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log.name}")
        try:
            if http("GET", base + "/healthz", timeout=5)[0] == 200:
                return base, proc, log
        except OSError:
            pass
        if time.time() > deadline:
            _stop(proc, log)
            raise RuntimeError(f"gunicorn did not answer within 60 s; see {log.name}")
        time.sleep(0.2)


def lighthouse(url: str, out: Path) -> dict:
    """Run Lighthouse once (mobile profile) and return scores (0-100) and metrics (ms)."""
    subprocess.run(
        [str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={out}",
         "--only-categories=performance,accessibility", f"--chrome-flags={CHROME_FLAGS}"],
        env={**os.environ, "CHROME_PATH": CHROMIUM}, check=True, timeout=300)
    report = json.loads(out.read_text())
    if report.get("runtimeError"):
        raise RuntimeError(f"{url}: {report['runtimeError']}")
    result = {name: round(100 * report["categories"][name]["score"])
              for name in ("performance", "accessibility")}
    for audit, label in METRICS.items():
        result[label] = report["audits"][audit]["numericValue"]
    return result


def median_run(runs: list[dict]) -> dict:
    """The median of each figure over the rounds."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layers", nargs="+", choices=LAYERS, default=list(LAYERS))
    parser.add_argument("--app-root", type=Path, default=ROOT)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    for need in (LIGHTHOUSE, Path(CHROMIUM)):
        if not need.exists():
            sys.exit(f"{need} missing: npm ci (lighthouse) and apt-get install chromium")

    with tempfile.TemporaryDirectory(prefix="geomap-lighthouse-") as tmp:
        folder = Path(tmp)
        base, proc, log = serve(args.app_root.resolve(), folder)
        figures = {}
        try:
            pages = [(f"{layer} {kind}", f"{base}/{kind_path}/{SLUG}?layer={layer}")
                     for layer in args.layers
                     for kind, kind_path in (("page", "maps"), ("embed", "embed"))]
            for name, url in pages:
                http("GET", url)  # rendered once before measuring: the render cache's state
                runs = [lighthouse(url, folder / "report.json") for _ in range(args.rounds)]
                figures[name] = median_run(runs)
                figures[name]["performance runs"] = [run["performance"] for run in runs]
                f = figures[name]
                print(f"{name:18} performance {f['performance']:5.0f} "
                      f"{str(f['performance runs']):14} accessibility {f['accessibility']:4.0f}"
                      f"   FCP {f['FCP']:6.0f} ms  LCP {f['LCP']:6.0f} ms  "
                      f"TBT {f['TBT']:5.0f} ms  SI {f['SI']:6.0f}", flush=True)
        finally:
            _stop(proc, log)
    worst = min(figures.values(), key=lambda f: f["performance"])
    print(f"lowest performance: {worst['performance']:.0f} (goal >= 95 on every layer); "
          f"app: {args.app_root}, median of {args.rounds} runs")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
