"""Preview and report benchmark (#18 items 1 and 5): the preview's dry run, the report page.

Usage::

    .venv/bin/python bench/preview.py [--rows 300000] [--rejected 50000] [--rounds 3]

It writes a synthetic file (`bench/ingest.py`'s generator) with `--rejected` rows damaged
(three in five outside the border area, one in five without a readable date, one in five
with a negative count), then, with the real region layers loaded once as a server has them:

- **preview**: `ingest.preview` alone (keep the file, sniff, resolve columns), and with the
  dry run (`check=`) over the whole file and over the first `PREVIEW_CHECK_ROWS` rows,
  side by side with `ingest.import_file` of the same file into a fresh SQLite database;
- **report page**: the import's report rendered by the report page as it is now (issues
  counted by reason, `upload/report.html`) and by the page before (every listed issue, up to
  1,000 errors and 1,000 warnings; its template read from git, ``--before`` commit),
  both through the app's Jinja environment with the same report, and the whole GET of the
  report page through the test client; page bytes and the median of `--rounds` renders.

Figures are wall-clock seconds on a shared machine: compare the columns of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from geomap import accounts, config, create_app, db, ingest, store  # noqa: E402
from ingest import generate  # noqa: E402  (bench/ingest.py)

REGIONS = os.environ.get("GEOMAP_REGIONS_PATH", str(ROOT / "shapefiles" / "regions.gpkg"))


def damaged(path: Path, rows: int, rejected: int, seed: int = 7) -> None:
    """Write `rows` generated incidents with `rejected` of them damaged (see the docstring)."""
    generate(path, rows)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    bad = rng.choice(rows, size=rejected, replace=False)
    kinds = np.arange(rejected) % 5
    frame.loc[bad[kinds < 3], "lat"] = "70.5"
    frame.loc[bad[kinds == 3], "date"] = "not a date"
    frame.loc[bad[kinds == 4], "count"] = "-1"
    frame.to_csv(path, index=False)


def timed(action, rounds: int = 1):
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--rejected", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check-rows", type=int, default=None,
                        help="the sample's rows (default: PREVIEW_CHECK_ROWS's default)")
    parser.add_argument("--before", default="37b304c",
                        help="commit whose upload/report.html is the page before")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-preview-"))
    path = work / "damaged.csv"
    damaged(path, args.rows, args.rejected)
    print(f"{args.rows:,} rows, {args.rejected:,} damaged, {path.stat().st_size / 2**20:.1f} MB, "
          f"load {os.getloadavg()[0]:.1f}")
    app = create_app({"INSTANCE_PATH": str(work / "instance"), "LOAD_SAMPLE": False,
                      "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite'}",
                      "REGIONS_PATH": REGIONS, "QUEUE_URL": "immediate",
                      "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False, "PRERENDER": False})
    settings = ingest.Settings.from_config(app.config)
    regions = ingest.load_regions(REGIONS)
    limit = args.check_rows or next(s.default for s in config.SETTINGS
                                    if s.name == "PREVIEW_CHECK_ROWS")
    options = ingest.Options(filename="damaged.csv")

    def preview(check=None):
        return ingest.preview(path, options, settings, check=check)

    t_plain, _ = timed(preview)
    t_whole, whole = timed(lambda: preview(ingest.Check(regions)))
    t_sample, sample = timed(lambda: preview(ingest.Check(regions, max_rows=limit)))
    engine = db.engine_for(app.config["DATABASE_URL"])
    t_import, report = timed(lambda: ingest.import_file(
        engine, path, dataset="bench", options=options, settings=settings, regions=regions))
    print("\npreview (seconds)")
    print("| preview alone | dry run, whole file | dry run, first "
          f"{limit:,} rows | import (SQLite) |")
    print("|---|---|---|---|")
    print(f"| {t_plain:.2f} | {t_whole:.2f} | {t_sample:.2f}"
          f"{' (sample)' if sample['check']['sample'] else ' (whole)'} | {t_import:.2f} |")
    check = whole["check"]
    assert check["rows_rejected"] == report["rows_rejected"], (check, report["rows_rejected"])
    assert check["rows_kept"] == report["rows_imported"] + report["rows_unchanged"] \
        + report["rows_updated"]
    print(f"dry run: {check['rows_kept']:,} kept, {check['rows_rejected']:,} rejected "
          f"= the import's {report['rows_imported'] + report['rows_unchanged']:,} / "
          f"{report['rows_rejected']:,}")

    before = subprocess.run(["git", "show", f"{args.before}:geomap/templates/upload/report.html"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    with engine.begin() as conn:
        accounts.create_user(conn, "bench", "bench-password", role="admin")
        dataset = store.get_dataset(conn, "bench")
        record = store.get_import(conn, report["import_id"], dataset)
    url = f"/upload/bench/imports/{report['import_id']}"
    with app.test_request_context(url):
        now_template = app.jinja_env.get_template("upload/report.html")
        then_template = app.jinja_env.from_string(before)
        context = {"report": record["report"], "record": record, "dataset": dataset,
                   "failed": None, "has_rejected": True}
        t_now, page_now = timed(lambda: now_template.render(**context), args.rounds)
        t_then, page_then = timed(lambda: then_template.render(**context), args.rounds)
    client = app.test_client()
    login = client.post("/auth/login", data={"name": "bench", "password": "bench-password"})
    assert login.status_code == 302, login.status_code
    t_get, response = timed(lambda: client.get(url), args.rounds)
    assert response.status_code == 200, response.status_code
    print("\nreport page")
    print("| page | bytes | render (s, median) |")
    print("|---|---|---|")
    print(f"| before ({args.before}: every listed issue) | {len(page_then.encode()):,} | "
          f"{t_then:.3f} |")
    print(f"| now (by reason) | {len(page_now.encode()):,} | {t_now:.3f} |")
    print(f"| now, whole GET through the test client | {len(response.data):,} | {t_get:.3f} |")
    print(f"stored report JSON: {len(str(record['report']).encode()):,} bytes; reasons: "
          + "; ".join(ingest.describe_group(g) for g in record["report"]["errors_by_reason"]))


if __name__ == "__main__":
    main()
