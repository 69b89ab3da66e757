"""PostgreSQL at volume: map and stats aggregation over millions of incidents.

Creates its own database inside the PostgreSQL server given by ``--pg`` (dropped afterwards
unless ``--keep``), migrates it, and generates ``--rows`` incidents (default 5M) straight into
it with ``COPY``: points scattered around 17 crossings (75 %) and spread along the border
between them (25 %), dated over 2024-25. Region columns (admin1, country, sector, border
mile/km, at_border) come from `geomap.regions.assign` on ``--base`` distinct points (default
100k); each incident is one of those points plus a few hundred metres of jitter and keeps its
region columns, so they are plausible and consistent.

Then, through the Flask app (test client, process-cold render cache before every cold
request), it times:

* ``/embed/bench?layer=...`` cold for heat (the goal: < 1 s), time, cluster and choropleth;
  plus the SQL aggregation alone (`maps.aggregate_db`) for each;
* ``/api/datasets/bench/stats`` filtered (``by=admin1&from&to&sector``: goal < 200 ms) and
  other stats for information.

Median of ``--rounds`` (default 3). The load itself takes a couple of minutes at 5M rows.

Usage: .venv/bin/python bench/scale.py [--pg URL] [--rows 5000000] [--rounds 3]
       [--keep] [--reuse NAME]
``--pg`` defaults to GEOMAP_TEST_DATABASE_URL or postgresql+psycopg://postgres@127.0.0.1:5432/test.
``--keep`` leaves the database (named in the output) for ``--reuse NAME`` next time.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geomap import create_app, db, maps, store  # noqa: E402
from geomap.web import render_cache  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Crossing points along the border (lon, lat), west to east, as in bench/ingest.py.
ANCHORS = np.array([
    (-122.76, 49.00), (-119.46, 49.00), (-115.06, 49.00), (-111.96, 49.00), (-104.0, 49.0),
    (-97.24, 49.00), (-95.38, 49.00), (-93.40, 48.61), (-84.36, 46.51), (-82.42, 43.00),
    (-83.07, 42.31), (-78.90, 42.91), (-75.98, 44.35), (-73.45, 45.01), (-72.10, 45.01),
    (-67.78, 46.14), (-67.28, 45.19),
])
COPY_COLUMNS = ("dataset_id", "occurred_at", "precision", "lat", "lon", "type", "count",
                "direction", "admin1", "country", "sector", "border_mile", "border_km",
                "at_border", "row_hash", "row_hash2")
STATS_FILTERED = "by=admin1&from=2025-03&to=2025-05&sector=BLW"


def base_points(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Distinct points near the border with their region columns from regions.assign."""
    from geomap import regions

    near = rng.random(n) < 0.75
    pick = rng.integers(0, len(ANCHORS), n)
    # Spread: a random point on the straight line between two consecutive crossings.
    seg = rng.integers(0, len(ANCHORS) - 1, n)
    t = rng.random(n)
    line = ANCHORS[seg] + (ANCHORS[seg + 1] - ANCHORS[seg]) * t[:, None]
    lon = np.where(near, ANCHORS[pick, 0] + rng.normal(0, 0.3, n), line[:, 0]
                   + rng.normal(0, 0.1, n))
    lat = np.where(near, ANCHORS[pick, 1] + rng.normal(0, 0.12, n), line[:, 1]
                   + rng.normal(0, 0.15, n))
    joined = regions.assign(lon, lat, regions.load())
    frame = pd.DataFrame({"lon": lon, "lat": lat})
    for col in ("admin1", "country", "sector", "border_mile", "border_km", "at_border"):
        frame[col] = joined[col].to_numpy()
    return frame


def generate_chunks(rows: int, base: pd.DataFrame, dataset_id: int, rng: np.random.Generator,
                    chunk: int = 500_000):
    """Yield CSV bytes (COPY_COLUMNS order) for `rows` incidents, chunk by chunk."""
    start_ts = pd.Timestamp("2024-01-01").value // 10**9
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        idx = rng.integers(0, len(base), n)
        b = base.iloc[idx]
        seconds = rng.integers(0, 730 * 86400, n)
        frame = pd.DataFrame({
            "dataset_id": dataset_id,
            "occurred_at": pd.to_datetime((start_ts + seconds) * 10**9),
            "precision": "second",
            "lat": (b["lat"].to_numpy() + rng.normal(0, 0.003, n)).round(6),
            "lon": (b["lon"].to_numpy() + rng.normal(0, 0.004, n)).round(6),
            "type": rng.choice(["apprehension", "sighting", "interdiction", "turn-back"], n),
            "count": rng.geometric(0.6, n),
            "direction": rng.choice(["northbound", "southbound", "unknown"], n,
                                    p=[0.6, 0.3, 0.1]),
            "admin1": b["admin1"].to_numpy(), "country": b["country"].to_numpy(),
            "sector": b["sector"].to_numpy(),
            "border_mile": b["border_mile"].to_numpy().round(3),
            "border_km": b["border_km"].to_numpy().round(4),
            "at_border": np.where(b["at_border"].fillna(False).to_numpy(dtype=bool), "t", "f"),
            # Distinct placeholder content hashes (two 64-bit halves, as storage keeps them).
            "row_hash": np.arange(start, start + n), "row_hash2": 0,
        })
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, header=False,
                     date_format="%Y-%m-%d %H:%M:%S")
        yield buffer.getvalue().encode()


def load(url: str, rows: int, base_n: int, seed: int = 7) -> int:
    """Create the published dataset 'bench' and COPY `rows` incidents into it; return its id."""
    engine = db.engine_for(url)
    with engine.begin() as conn:
        dataset = store.create_dataset(conn, "bench", "Scale benchmark", published=True,
                                       source="bench/scale.py (synthetic)")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    base = base_points(base_n, rng)
    print(f"  regions.assign on {base_n:,} base points: {time.perf_counter() - t0:.1f} s",
          flush=True)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        # Bulk load into a table of our own: indexes built once afterwards (by sorting), and
        # no per-row foreign-key trigger. Only this benchmark's database is touched.
        found = conn.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'incidents' "
            "AND indexname <> 'incidents_pkey'").fetchall()
        for name, _sql in found:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        raw = conn.connection.driver_connection
        columns = ", ".join(f'"{c}"' for c in COPY_COLUMNS)
        with raw.cursor() as cur, cur.copy(
                f"COPY incidents ({columns}) FROM STDIN (FORMAT csv)") as copy:
            for data in generate_chunks(rows, base, dataset["id"], rng):
                copy.write(data)
        copied = time.perf_counter() - t0
        t1 = time.perf_counter()
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        for _name, sql in found:
            conn.exec_driver_sql(sql)
        indexed = time.perf_counter() - t1
    t1 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) incidents")
    print(f"  generate + COPY {rows:,} rows: {copied:.1f} s; {len(found)} indexes: "
          f"{indexed:.1f} s; VACUUM ANALYZE: {time.perf_counter() - t1:.1f} s", flush=True)
    build_rollup(url, dataset["id"])
    return dataset["id"]


def build_rollup(url: str, dataset_id: int) -> None:
    """Rebuild the grid and day rollups as an import that rewrites rows does (refresh_rollups)."""
    t0 = time.perf_counter()
    with db.engine_for(url).begin() as conn:
        cells = store.refresh_rollups(conn, dataset_id)
    print(f"  grid and day rollups (store.refresh_rollups, GROUP BY over the table): "
          f"{time.perf_counter() - t0:.1f} s, {cells:,} cells", flush=True)


def measure(app, rounds: int) -> None:
    client = app.test_client()
    # One uncounted request loads the display layers and warms the process (not the cache).
    client.get("/embed/bench?layer=choropleth")
    print(f"{'request':74} {'ms (median)':>11} {'min':>7} {'max':>7} {'KB':>6}")

    def cold(url: str):
        def run():
            with app.app_context():
                render_cache.cache().clear()
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response
        return run

    def row(label: str, fn, goal: float | None = None) -> None:
        times = []
        out = None
        for _ in range(rounds):
            start = time.perf_counter()
            out = fn()
            times.append((time.perf_counter() - start) * 1000)
        size = len(out.data) / 1024 if hasattr(out, "data") else 0
        mark = ""
        if goal is not None:
            mark = f"  goal < {goal:.0f} ms: {'met' if statistics.median(times) < goal else 'NOT met'}"
        print(f"{label:74} {statistics.median(times):11.0f} {min(times):7.0f} "
              f"{max(times):7.0f} {size:6.1f}{mark}", flush=True)

    for layer, extra, goal in (("heat", "", 1000), ("time", "", None), ("cluster", "", None),
                               ("choropleth", "", None),
                               ("choropleth", "&by=sector", None),
                               ("choropleth", "&by=border_segment", None)):
        url = f"/embed/bench?layer={layer}{extra}"
        row(f"cold {url}", cold(url), goal)
    url = "/embed/bench?layer=heat&from=2025-03&to=2025-05&sector=BLW"
    row(f"cold {url}", cold(url))
    for query, goal in ((STATS_FILTERED, 200), ("by=sector&from=2025-01&to=2025-06", None),
                        ("by=month&admin1=US-WA", None),
                        ("by=border_segment&direction=northbound", None),
                        ("by=admin1", None), ("by=month", None)):
        url = f"/api/datasets/bench/stats?{query}"
        row(url, lambda url=url: client.get(url), goal)
    # The SQL aggregation alone (no folium, no template), for each map layer.
    with app.app_context():
        engine = db.engine_for(app.config["DATABASE_URL"])
        with engine.connect() as conn:
            dataset = store.get_dataset(conn, "bench")
            layers = maps.display_layers(app.config["REGIONS_PATH"])
            for layer, by in (("heat", "admin1"), ("time", "admin1"), ("cluster", "admin1"),
                              ("choropleth", "admin1"), ("choropleth", "border_segment")):
                spec = maps.MapSpec(layer=layer, by=by, tiles="none", embed=True, title="b")
                row(f"SQL only: maps.aggregate_db {layer} {by if layer == 'choropleth' else ''}",
                    lambda spec=spec: maps.aggregate_db(conn, dataset["id"], None, spec, layers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("GEOMAP_TEST_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--base", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--reuse", help="an existing database from --keep (skips the load)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    base = sa.make_url(args.pg)
    name = args.reuse or f"geomap_scale_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        # `make bench` runs every script: without a server this one has nothing to measure.
        print(f"# PostgreSQL at volume: skipped, no server at {base.host}:{base.port} "
              f"({type(exc.orig).__name__}); pass --pg URL")
        return
    if not args.reuse:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    print(f"# PostgreSQL at volume: database {name} on {base.host}:{base.port}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            app = create_app({"INSTANCE_PATH": Path(tmp) / "instance", "LOAD_SAMPLE": False,
                              "SECRET_KEY": "bench", "TILES": "none", "TESTING": True,
                              "DATABASE_URL": url})
            print(f"  migrations: {time.perf_counter() - t0:.1f} s", flush=True)
            if not args.reuse:
                load(url, args.rows, args.base)
            else:
                with db.engine_for(url).connect() as conn:
                    dataset_id = store.get_dataset(conn, "bench")["id"]
                build_rollup(url, dataset_id)
            with db.engine_for(url).connect() as conn:
                n = conn.exec_driver_sql("SELECT count(*) FROM incidents").scalar()
                size = conn.exec_driver_sql(
                    "SELECT pg_size_pretty(pg_table_size('incidents')), "
                    "pg_size_pretty(pg_indexes_size('incidents'))").one()
            print(f"  {n:,} incidents; table {size[0]}, indexes {size[1]}; "
                  f"rounds: {args.rounds}", flush=True)
            measure(app, args.rounds)
            db.dispose_engine(url)
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"  kept database {name} (rerun with --reuse {name})")
        admin.dispose()


if __name__ == "__main__":
    main()
