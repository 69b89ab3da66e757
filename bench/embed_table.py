"""What the embed's table of counts and summary sentence cost (issue #21 item 4).

Two datasets on SQLite with the real region layers: the illustrative sample (through the
import pipeline, so with its rollups) and ``--rows`` synthetic incidents (default 200k) over
five years, written with `store.insert_incidents` and passed through
`store.incidents_changed` (rollups built, as an import does). For each, in one process and
interleaved round by round:

* ``before``: a cold ``/embed/<slug>`` (render cache cleared) with the view's table step
  replaced by an empty table (what the embed cost without it);
* ``after``: the same cold embed as shipped (table and summary);
* ``data_table``: `maps.data_table` alone (its one GROUP BY and the bounding);

render time is the response's ``Server-Timing: render;dur``; also the embed's size. Median
and best of ``--rounds`` (default 7).

Usage: .venv/bin/python bench/embed_table.py [--rows 200000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geomap import create_app, db, maps, sample, store  # noqa: E402
from geomap.web import maps as web_maps  # noqa: E402
from geomap.web import render_cache  # noqa: E402


def synthetic(rows: int, dataset_id: int, seed: int = 3) -> pd.DataFrame:
    """Incidents along the western border over 2021-2025 in three states/provinces."""
    rng = np.random.default_rng(seed)
    lat = 49.0 + rng.uniform(-0.4, 0.4, rows)
    lon = rng.uniform(-123.0, -110.0, rows)
    start = dt.datetime(2021, 1, 1)
    days = rng.integers(0, 5 * 365, rows)
    admin1 = np.where(lat >= 49, "CA-BC", np.where(lon < -117, "US-WA", "US-MT"))
    return pd.DataFrame({
        "dataset_id": dataset_id,
        "occurred_at": [start + dt.timedelta(days=int(d)) for d in days],
        "lat": lat, "lon": lon, "type": "crossing", "count": rng.integers(1, 5, rows),
        "direction": "northbound", "description": "", "admin1": admin1,
        "country": [a[:2] for a in admin1],
        "sector": np.where(lon < -120, "BLW", np.where(lon < -114, "SPW", "HVM")),
        "border_mile": rng.uniform(0, 800, rows), "border_km": (lat - 49) * 111,
        "row_hash": np.arange(rows) + seed * 10**7, "row_hash2": seed,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="geomap-bench-table-"))
    app = create_app({"INSTANCE_PATH": tmp / "instance", "LOAD_SAMPLE": False,
                      "SECRET_KEY": "bench", "PRERENDER": False, "TILES": "none",
                      "CACHE_URL": "memory", "QUEUE_URL": "immediate"})
    sample.load(app)
    engine = db.engine_for(app.config["DATABASE_URL"])
    with engine.begin() as conn:
        row = store.create_dataset(conn, "big", "Synthetic", published=True)
        store.insert_incidents(conn, synthetic(args.rows, row["id"]))
        store.incidents_changed(conn, row, created=True)
    client = app.test_client()
    real = web_maps._data_table
    empty = lambda conn, dataset, params, spec: maps.DataTable(  # noqa: E731
        by=maps.table_regions(params["by"]), threshold=spec.min_public_count)

    def cold(url: str, table: bool) -> tuple[float, int]:
        web_maps._data_table = real if table else empty
        with app.app_context():
            render_cache.cache().clear()
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        timing = response.headers["Server-Timing"]
        return float(timing.split("dur=")[1]), len(response.data)

    print(f"rows={args.rows} rounds={args.rounds}")
    print("| data | embed | before: median / best ms | after: median / best ms "
          "| data_table alone: median / best ms | bytes before → after |")
    print("| --- | --- | --- | --- | --- | --- |")
    for slug in (sample.SLUG, "big"):
        with engine.connect() as conn:
            dataset = store.get_dataset(conn, slug)
        for query in ("", "?layer=choropleth&by=sector"):
            url = f"/embed/{slug}{query}"
            before, after, alone = [], [], []
            size = {}
            cold(url, True)  # warm the process (layers, templates), not the render cache
            for _round in range(args.rounds):
                ms, size[False] = cold(url, False)
                before.append(ms)
                ms, size[True] = cold(url, True)
                after.append(ms)
                with engine.connect() as conn:
                    started = time.perf_counter()
                    maps.data_table(conn, dataset["id"], None,
                                    "sector" if "sector" in query else "admin1", 1)
                    alone.append((time.perf_counter() - started) * 1000)
            fmt = lambda xs: f"{statistics.median(xs):.0f} / {min(xs):.0f}"  # noqa: E731
            print(f"| {slug} | `{query or '(heat)'}` | {fmt(before)} | {fmt(after)} | "
                  f"{statistics.median(alone):.1f} / {min(alone):.1f} | "
                  f"{size[False]:,} → {size[True]:,} |")
    web_maps._data_table = real


if __name__ == "__main__":
    main()
