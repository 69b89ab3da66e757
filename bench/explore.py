"""Exploration benchmark (issue #20): every layer and stats grouping, cold, beside DuckDB.

For each size (``--rows``) and backend (``--backends``: SQLite, and PostgreSQL in a database of
its own on the server ``--pg`` names, dropped afterwards), it:

1. generates incidents along the real border from the sample generator's corridors
   (`geomap.sample.CORRIDORS`, its types and group sizes): 70 % scattered around the ports,
   30 % along the line between neighbouring ports, dated over 2024-25, directions 60/30/10;
2. imports them through the real import (`ingest.import_file`: parse, region join, dedupe,
   write, rollups through `store.incidents_changed`), timed, then waits for the dataset
   version's columnar copy (`store.build_copy`, which the commit starts in the background;
   its build time and size are printed) unless ``--no-columnar`` (every read on the database);
   on PostgreSQL a ``VACUUM (ANALYZE)`` then settles the server (autovacuum would otherwise
   work through the new rows while requests are timed);
3. copies the stored rows into an in-memory DuckDB table (the reference: a columnar engine
   running the same ``GROUP BY`` over the same rows);
4. for every map layer (heat, cluster, choropleth by admin1 / sector / border segment, time by
   week / month / quarter / year) and every stats grouping, under every filter combination,
   times through the Flask app the cold request (render cache emptied, database caches
   warm), the cached one and the 304 (``If-None-Match``), and DuckDB's ``GROUP BY`` with the
   same filter; the allowance is 3 x DuckDB + 150 ms (HTTP and rendering), and the case
   passes when the cold median is within it.

Medians of ``--rounds`` (default 3; DuckDB: the same). ``--quick``: three filter sets, one
round. The load average is printed: the ratio to DuckDB, measured in the same process, is
what travels between machines.

Usage: .venv/bin/python bench/explore.py [--rows 1M,5M] [--backends sqlite,postgresql]
       [--pg URL] [--rounds 3] [--quick] [--only heat,stats] [--csv out.csv]
       [--no-columnar]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
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

from geomap import create_app, db, ingest, maps, sample  # noqa: E402
from geomap.web import columnar, render_cache  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

#: name -> (query string, DuckDB WHERE). Dates as `filters.parse` reads them (to inclusive).
FILTERS = {
    "none": ("", "TRUE"),
    "date range": ("from=2025-03-01&to=2025-05-31",
                   "occurred_at >= '2025-03-01' AND occurred_at < '2025-06-01'"),
    "type": ("type=apprehension", "type = 'apprehension'"),
    "direction": ("direction=northbound", "direction = 'northbound'"),
    "side": ("country=CA", "country = 'CA'"),
    "region": ("admin1=US-WA", "admin1 = 'US-WA'"),
    "sector": ("sector=BLW", "sector = 'BLW'"),
    "date+type+direction": ("from=2025-01-01&to=2025-06-30&type=apprehension"
                            "&direction=northbound",
                            "occurred_at >= '2025-01-01' AND occurred_at < '2025-07-01' AND "
                            "type = 'apprehension' AND direction = 'northbound'"),
    "region+type+date": ("admin1=US-NY&type=sighting&from=2024-06-01&to=2025-05-31",
                         "admin1 = 'US-NY' AND type = 'sighting' AND "
                         "occurred_at >= '2024-06-01' AND occurred_at < '2025-06-01'"),
}
QUICK_FILTERS = ("none", "date range", "date+type+direction")

_CELL = "floor((lat + 90) / 0.05), floor((lon + 180) / 0.05)"
#: Map layers: name -> (embed query, DuckDB GROUP BY keys or None for the segment join).
LAYERS = {
    "heat": ("layer=heat", _CELL),
    "cluster": ("layer=cluster", _CELL),
    "choropleth admin1": ("layer=choropleth&by=admin1", "admin1"),
    "choropleth sector": ("layer=choropleth&by=sector", "sector"),
    "choropleth segment": ("layer=choropleth&by=border_segment", None),
    "time week": ("layer=time&period=week", _CELL + ", date_trunc('week', occurred_at)"),
    "time month": ("layer=time&period=month", _CELL + ", date_trunc('month', occurred_at)"),
    "time quarter": ("layer=time&period=quarter",
                     _CELL + ", date_trunc('quarter', occurred_at)"),
    "time year": ("layer=time&period=year", _CELL + ", date_trunc('year', occurred_at)"),
}
#: Stats groupings: by -> DuckDB GROUP BY key (None: the segment join).
STATS = {"admin1": "admin1", "sector": "sector", "week": "date_trunc('week', occurred_at)",
         "month": "date_trunc('month', occurred_at)",
         "quarter": "date_trunc('quarter', occurred_at)",
         "year": "date_trunc('year', occurred_at)", "border_segment": None,
         "location_precision": "location_precision", "place": "place"}
COLUMNS = ("occurred_at", "precision", "lat", "lon", "type", "count", "direction", "country",
           "admin1", "sector", "border_mile", "location_precision", "place")


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def generate(path: Path, rows: int, seed: int = 20) -> None:
    """Write `rows` incidents along the border (columns lat, lon, date, type, count, direction)."""
    rng = np.random.default_rng(seed)
    corridors = [c for c in sample.CORRIDORS if c[1] > -140]  # the lower 48's ports
    # The sample gives western Washington its own monthly plan (weight 0 there): even it out.
    weights = np.array([c[4] or 3.0 for c in corridors])
    weights = weights / weights.sum()
    anchors = np.array([(c[1], c[2]) for c in corridors])
    line = anchors[np.argsort(anchors[:, 0])]
    start_ts = pd.Timestamp("2024-01-01").value // 10**9
    chunk = 500_000
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("lat,lon,date,type,count,direction\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            near = rng.random(n) < 0.7
            pick = rng.choice(len(anchors), n, p=weights)
            seg = rng.integers(0, len(line) - 1, n)
            t = rng.random(n)
            between = line[seg] + (line[seg + 1] - line[seg]) * t[:, None]
            lon = np.where(near, anchors[pick, 0] + rng.normal(0, 0.12, n),
                           between[:, 0] + rng.normal(0, 0.05, n))
            lat = np.where(near, anchors[pick, 1] + rng.normal(0, 0.04, n),
                           between[:, 1] + rng.normal(0, 0.05, n))
            seconds = rng.integers(0, 731 * 86400, n)
            frame = pd.DataFrame({
                "lat": lat.round(5), "lon": lon.round(5),
                "date": pd.to_datetime((start_ts + seconds) * 10**9)
                .strftime("%Y-%m-%d %H:%M:%S"),
                "type": rng.choice(sample.TYPES, n, p=[0.55, 0.2, 0.15, 0.1]),
                "count": 1 + rng.poisson(0.8, n),
                "direction": rng.choice(["northbound", "southbound", "unknown"], n,
                                        p=[0.6, 0.3, 0.1]),
            })
            frame.to_csv(handle, index=False, header=False)


def make_app(url: str, instance: Path, columnar: bool = True):
    return create_app({"INSTANCE_PATH": instance, "LOAD_SAMPLE": False, "SECRET_KEY": "bench",
                       "TILES": "none", "TESTING": True, "DATABASE_URL": url,
                       "PRERENDER": False, "COLUMNAR": columnar})


def copy_cost(url: str, dataset_id: int) -> str:
    """Build the dataset's columnar copy again in a child process that does nothing else
    (into a folder of its own); its time, size and peak RSS (the child's own ``VmHWM``:
    ``ru_maxrss`` would count the pages it shared with this big process before exec)."""
    with tempfile.TemporaryDirectory(prefix="geomap-copy-") as folder:
        code = ("import sys, time; sys.path.insert(0, sys.argv[1]); "
                "from geomap import db, store; t = time.perf_counter(); "
                "p = store.build_copy(db.engine_for(sys.argv[2]), int(sys.argv[3]), sys.argv[4]); "
                "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]; "
                "print(time.perf_counter() - t, p.stat().st_size, hwm[0].split()[1])")
        proc = subprocess.Popen([sys.executable, "-c", code, str(ROOT), url, str(dataset_id),
                                 folder], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out = proc.communicate()[0].decode().split()
        if proc.returncode != 0 or len(out) != 3:
            return "copy build in a child process failed"
        return (f"copy build alone (child process): {float(out[0]):.1f} s, "
                f"{int(out[1]) / 1e6:.0f} MB, peak RSS {int(out[2]) / 1024:.0f} MB")


def wait_for_copy(app) -> str:
    """Wait for the columnar copy the import's commit started building; describe it."""
    copies = columnar.copies_for(app)
    if copies is None:
        return "no columnar copy (--no-columnar)"
    start = time.perf_counter()
    copies.wait()
    files = list(copies.folder.glob("*.duckdb"))
    if not files:
        raise SystemExit("the columnar copy was not built (see the log)")
    size = sum(f.stat().st_size for f in files) / 1e6
    return (f"columnar copy ready {time.perf_counter() - start:.1f} s after the import "
            f"returned, {size:.0f} MB")


def import_csv(app, path: Path) -> float:
    """Import the file as the published dataset 'bench' through the real import; seconds."""
    settings = ingest.Settings.from_config(app.config)
    regions_obj = app.extensions["geomap.region_layers"].join()
    engine = db.engine_for(app.config["DATABASE_URL"])
    start = time.perf_counter()
    ingest.import_file(engine, path, dataset="bench",
                       options=ingest.Options(publish=True, title="Exploration benchmark"),
                       settings=settings, regions=regions_obj, user_name="bench")
    return time.perf_counter() - start


def duck_copy(url: str):
    """Copy the dataset's stored rows into an in-memory DuckDB table ``t``."""
    import duckdb

    con = duckdb.connect()
    engine = db.engine_for(url)
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    first = True
    with engine.connect() as conn:
        for part in pd.read_sql_query(sa.text(f"SELECT {cols} FROM incidents"), conn,
                                      chunksize=500_000):
            part["occurred_at"] = pd.to_datetime(part["occurred_at"])
            con.register("part", part)
            con.execute("CREATE TABLE t AS SELECT * FROM part" if first
                        else "INSERT INTO t SELECT * FROM part")
            con.unregister("part")
            first = False
    return con


def duck_segments(con, steps) -> None:
    """Segment cuts as a table for DuckDB's ASOF join (the same step function as the app)."""
    cuts = steps.cuts[:-1]
    rows = [label if isinstance(label, int) else (-1 if label is None else label.first)
            for label in steps.labels]
    con.register("cuts_frame", pd.DataFrame({"mile": cuts, "row": rows}))
    con.execute("CREATE OR REPLACE TABLE cuts AS SELECT * FROM cuts_frame ORDER BY mile")


def duck_sql(keys: str | None, where: str) -> str:
    if keys is None:  # per border segment: the rows' miles against the segments' cuts
        return ("SELECT c.row, count(*), sum(t.count) FROM t ASOF LEFT JOIN cuts c "
                f"ON t.border_mile >= c.mile WHERE {where} GROUP BY c.row")
    return f"SELECT {keys}, count(*), sum(count) FROM t WHERE {where} GROUP BY ALL"


def median_ms(fn, rounds: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), out


def cases(only: set[str] | None, filter_names):
    for fname in filter_names:
        query, where = FILTERS[fname]
        for layer, (layer_query, keys) in LAYERS.items():
            if only and layer.split()[0] not in only:
                continue
            url = f"/embed/bench?{layer_query}" + (f"&{query}" if query else "")
            yield layer, fname, url, duck_sql(keys, where)
        if only and "stats" not in only:
            continue
        for by, keys in STATS.items():
            url = f"/api/datasets/bench/stats?by={by}" + (f"&{query}" if query else "")
            yield f"stats {by}", fname, url, duck_sql(keys, where)


def measure(app, con, backend: str, rows: int, rounds: int, only, filter_names, out: list
            ) -> None:
    client = app.test_client()
    client.get("/embed/bench?layer=choropleth&by=border_segment")  # loads the layers
    duck_segments(con, maps.segment_steps(app.extensions["geomap.region_layers"].display()))
    con.execute(duck_sql(_CELL, "TRUE")).fetchall()  # DuckDB's first query pays its warm-up
    print(f"{'case':24} {'filter':21} {'cold ms':>8} {'cached':>7} {'304':>6} "
          f"{'duckdb':>7} {'allow':>7}  result", flush=True)
    for case, fname, url, sql in cases(only, filter_names):
        def cold():
            with app.app_context():
                render_cache.cache().clear()
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code,
                                                  response.data[:300])
            return response
        cold_ms, response = median_ms(cold, rounds)
        cached_ms, response = median_ms(lambda: client.get(url), rounds)
        etag = response.headers.get("ETag")
        nm_ms = None
        if etag:
            nm_ms, nm = median_ms(lambda: client.get(url, headers={"If-None-Match": etag}),
                                  rounds)
            if nm.status_code != 304:
                nm_ms = None
        duck_ms, _ = median_ms(lambda: con.execute(sql).fetchall(), rounds)
        allowance = 3 * duck_ms + 150
        ok = cold_ms <= allowance
        out.append({"backend": backend, "rows": rows, "case": case, "filter": fname,
                    "cold_ms": round(cold_ms, 1), "cached_ms": round(cached_ms, 1),
                    "not_modified_ms": None if nm_ms is None else round(nm_ms, 1),
                    "duckdb_ms": round(duck_ms, 1), "allowance_ms": round(allowance, 1),
                    "pass": ok})
        nm_text = f"{nm_ms:6.1f}" if nm_ms is not None else "     -"
        print(f"{case:24} {fname:21} {cold_ms:8.0f} {cached_ms:7.1f} {nm_text} "
              f"{duck_ms:7.1f} {allowance:7.0f}  {'pass' if ok else 'FAIL'}", flush=True)


def run(backend: str, rows: int, csv_path: Path, args, out: list) -> None:
    with tempfile.TemporaryDirectory(prefix="geomap-explore-") as tmp:
        admin = name = None
        if backend == "sqlite":
            url = f"sqlite:///{tmp}/explore.db"
        else:
            base = sa.make_url(args.pg)
            name = f"geomap_explore_{uuid.uuid4().hex[:10]}"
            admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            url = base.set(database=name).render_as_string(hide_password=False)
        try:
            app = make_app(url, Path(tmp) / "instance", not args.no_columnar)
            seconds = import_csv(app, csv_path)
            copy_note = wait_for_copy(app)
            if args.copy_cost:
                copy_note += "; " + copy_cost(url, 1)
            if backend == "postgresql":
                # Settle the server: autovacuum would otherwise work through the 5M new rows
                # on the same two cores while the requests are timed.
                with db.engine_for(url).connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                        "VACUUM (ANALYZE)")
            with db.engine_for(url).connect() as conn:
                days = conn.exec_driver_sql("SELECT count(*) FROM incident_days").scalar()
                cells = conn.exec_driver_sql(
                    "SELECT count(*) FROM incident_grid_cells").scalar()
                extra = rollup_sizes(conn)
            start = time.perf_counter()
            con = duck_copy(url)
            print(f"## {backend}, {rows:,} rows: import {seconds:.1f} s; rollups: "
                  f"{cells:,} grid cells, {days:,} day rows{extra}; DuckDB copy "
                  f"{time.perf_counter() - start:.1f} s; {copy_note}; load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
            filter_names = QUICK_FILTERS if args.quick else tuple(FILTERS)
            only = set(args.only.split(",")) if args.only else None
            if args.rollup_cost:
                rollup_cost(url)
            measure(app, con, backend, rows, 1 if args.quick else args.rounds, only,
                    filter_names, out)
            con.close()
            db.dispose_engine(url)
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()


def rollup_cost(url: str) -> None:
    """Print what the period rollups (issue #20) add to writing a dataset's rollups, same run.

    On the imported dataset, in transactions rolled back: `store.refresh_rollups` (the
    GROUP BY rebuild after upserts and reverts) with and without `refresh_periods`, and
    `store.RollupAccumulator.add` over its rows (what an import does per block) with and
    without the cells per period; and the rows each rollup holds.
    """
    from unittest import mock

    from geomap import store
    from geomap.store import period_rollups, rollups

    engine = db.engine_for(url)
    with engine.connect() as conn:
        dataset = store.get_dataset(conn, "bench")
        sizes = {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
                 for t in ("incidents", "incident_grid_cells", "incident_days",
                           "incident_periods", "incident_cell_periods")}
        frame = store.incident_frame(conn, dataset["id"])
    print("  rows: " + ", ".join(f"{t} {n:,}" for t, n in sizes.items()), flush=True)

    def refresh(with_periods: bool) -> float:
        with engine.connect() as conn:
            with conn.begin() as tx:
                start = time.perf_counter()
                if with_periods:
                    store.refresh_rollups(conn, dataset["id"])
                else:
                    with mock.patch.object(rollups, "refresh_periods", lambda *a: None):
                        store.refresh_rollups(conn, dataset["id"])
                seconds = time.perf_counter() - start
                tx.rollback()
        return seconds

    def accumulate(with_periods: bool) -> float:
        rollup = store.RollupAccumulator()
        if not with_periods:
            rollup.cell_periods = mock.Mock()
        start = time.perf_counter()
        for begin in range(0, len(frame), 250_000):
            rollup.add(frame.iloc[begin:begin + 250_000])
        rollup.days()
        if with_periods:
            rollup.cell_periods.merged()
        return time.perf_counter() - start

    for label, fn in (("refresh_rollups (GROUP BY rebuild)", refresh),
                      ("RollupAccumulator.add (import)", accumulate)):
        without, with_ = fn(False), fn(True)
        print(f"  {label}: {without:.1f} s without the period rollups, {with_:.1f} s with "
              f"them (+{with_ - without:.1f} s)", flush=True)
    del period_rollups


def rollup_sizes(conn) -> str:
    """The sizes of any further rollup tables (issue #20's time-keyed rollups)."""
    names = sa.inspect(conn).get_table_names()
    parts = []
    for table in sorted(n for n in names if n.startswith("rollup_")):
        parts.append(f"{conn.exec_driver_sql(f'SELECT count(*) FROM {table}').scalar():,} "
                     f"{table}")
    return ("; " + ", ".join(parts)) if parts else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1M,5M")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg", default=os.environ.get("GEOMAP_TEST_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="three filter sets, one round")
    parser.add_argument("--only", help="comma list of layers (heat, cluster, choropleth, "
                        "time) and/or 'stats'")
    parser.add_argument("--csv", help="also write the results to this CSV file")
    parser.add_argument("--no-columnar", action="store_true",
                        help="aggregate on the database (no columnar copies), as before #20")
    parser.add_argument("--copy-cost", action="store_true",
                        help="also build the columnar copy in a child process: time, peak RSS")
    parser.add_argument("--rollup-cost", action="store_true",
                        help="also time writing the rollups with and without the period ones")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    out: list[dict] = []
    print(f"# exploration benchmark: {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    try:
        for rows in (parse_size(s) for s in args.rows.split(",")):
            with tempfile.TemporaryDirectory(prefix="geomap-explore-csv-") as tmp:
                path = Path(tmp) / "incidents.csv"
                generate(path, rows)
                for backend in args.backends.split(","):
                    run(backend.strip(), rows, path, args, out)
    finally:
        if out:
            frame = pd.DataFrame(out)
            for (backend, rows), part in frame.groupby(["backend", "rows"]):
                print(f"# {backend} {rows:,}: {int(part['pass'].sum())} of {len(part)} cases "
                      "within 3 x DuckDB + 150 ms", flush=True)
            if args.csv:
                frame.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
