"""Ingest benchmark: a generated CSV imported end to end, against pyarrow's parse of the same file.

Usage::

    .venv/bin/python bench/ingest.py [--rows 1000000] [--pg URL] [--rounds 1] [--floor]

For each backend (SQLite always; PostgreSQL with ``--pg`` or ``GEOMAP_TEST_DATABASE_URL``) it
runs, in the same process and interleaved: ``pyarrow.csv.read_csv`` of the file (the
baseline) and ``ingest.import_file`` of the same file into a fresh database (parse, validate,
region join, border measures, dedupe, write, commit). It prints both times, the ratio
(goals: <= 25x on SQLite, <= 30x on PostgreSQL) and the peak RSS of a separate process that
only imports the file into SQLite (goal < 1 GB; ``--memory-only`` measures just that).
``--memory 100000,1000000,5000000 [--reference TREE]`` measures only memory and time, in
import-only child processes (`bench/import_child.py`), on SQLite and PostgreSQL, at each
size, for this checkout and a reference checkout alternately: the RSS before the import
(libraries, region layers), the peak while reading and writing blocks, during the index
rebuild and after (rollups, commit), and the kernel's peak for the process.
It also prints the CPU seconds each import used (this process, and the local PostgreSQL
server's processes) and what that work allows on this machine's cores; ``--floor`` times
bare sqlite3 inserting as many rows as wide as incidents, with no index, and committing.
The region layers are the real ones (``GEOMAP_REGIONS_PATH``, default shapefiles/regions.gpkg),
loaded once before timing, as a server process would have them.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geomap import config, db, ingest  # noqa: E402
from geomap.ingest import pipeline, storing  # noqa: E402
from geomap.ingest import rows as row_rules  # noqa: E402

# Crossing points along the border (lon, lat) the generator scatters incidents around.
ANCHORS = np.array([
    (-122.76, 49.00), (-119.46, 49.00), (-115.06, 49.00), (-111.96, 49.00), (-104.0, 49.0),
    (-97.24, 49.00), (-95.38, 49.00), (-93.40, 48.61), (-84.36, 46.51), (-82.42, 43.00),
    (-83.07, 42.31), (-78.90, 42.91), (-75.98, 44.35), (-73.45, 45.01), (-72.10, 45.01),
    (-67.78, 46.14), (-67.28, 45.19),
])


def generate(path: Path, rows: int, seed: int = 1) -> None:
    """Write `rows` synthetic incidents near the border: id, lat, lon, date, type, count, direction."""
    rng = np.random.default_rng(seed)
    chunk = 250_000
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("incident_id,lat,lon,date,type,count,direction\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            anchor = ANCHORS[rng.integers(0, len(ANCHORS), n)]
            lon = anchor[:, 0] + rng.normal(0, 0.3, n)
            lat = anchor[:, 1] + rng.normal(0, 0.12, n)
            days = rng.integers(0, 700, n)
            frame = pd.DataFrame({
                "incident_id": [f"INC-{i:08d}" for i in range(start, start + n)],
                "lat": lat.round(5), "lon": lon.round(5),
                "date": (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D"))
                .strftime("%Y-%m-%d"),
                "type": rng.choice(["apprehension", "sighting", "interdiction", "turn-back"], n),
                "count": rng.geometric(0.6, n),
                "direction": rng.choice(["northbound", "southbound", "N", "S"], n),
            })
            frame.to_csv(handle, index=False, header=False)


STAGES: dict[str, float] = {}
CPU: dict[str, float] = {}


def _timed(owner, name: str, label: str) -> None:
    """Wrap owner.name so its time is added to STAGES[label] (the stage breakdown)."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            STAGES[label] = STAGES.get(label, 0.0) + time.perf_counter() - start

    setattr(owner, name, wrapper)


def instrument() -> None:
    """Time the pipeline's stages: validate (incl. the region join), join, hash, write."""
    from geomap import store

    _timed(pipeline, "validate", "validate+join")
    _timed(row_rules.RegionJoin, "assign", "join (regions.assign)")
    _timed(store.hashing, "row_hashes", "hash (store.row_hashes)")
    _timed(storing, "insert_rows", "write (insert)")
    _timed(storing.BulkIndexes, "restore", "rebuild indexes")


def parse_time(path: Path) -> float:
    start = time.perf_counter()
    pacsv.read_csv(path)
    return time.perf_counter() - start


def _own_cpu() -> float:
    """CPU seconds (user + system) this process has used, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _postgres_cpu() -> float | None:
    """CPU seconds used so far by the local PostgreSQL server's live processes (Linux /proc).

    Only meaningful when the server runs on this machine (as in CI); None without /proc.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total, seen = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1:text.rfind(")")]
        if name.startswith("postgres"):
            fields = text[text.rfind(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            seen = True
    return total / ticks if seen else None


def import_time(path: Path, url: str, workdir: Path, regions_obj) -> tuple[float, dict]:
    db.migrate(url)
    engine = db.engine_for(url)
    settings = ingest.Settings.from_config({"UPLOAD_FOLDER": str(workdir / "uploads"),
                                            "AT_BORDER_M": 100.0, "MAX_BORDER_KM": 100.0})
    STAGES.clear()
    server = _postgres_cpu() if url.startswith("postgresql") else None
    cpu = _own_cpu()
    start = time.perf_counter()
    report = ingest.import_file(engine, path, dataset="bench", options=ingest.Options(),
                                settings=settings, regions=regions_obj, user_name="bench")
    elapsed = time.perf_counter() - start
    CPU["client"] = _own_cpu() - cpu
    # Read before the engine is disposed: the import's backend process is still alive.
    after = _postgres_cpu() if server is not None else None
    CPU["server"] = after - server if after is not None else 0.0
    db.dispose_engine(url)
    return elapsed, report


def sqlite_floor(rows: int, workdir: Path) -> tuple[float, float]:
    """Seconds for bare sqlite3 to insert `rows` rows as wide as incidents, and to commit.

    The same pragmas and transaction as an import, a table with the incidents table's
    columns and no index, values already Python tuples: what writing alone costs, before
    any validation, join, hashing or index.
    """
    import sqlite3

    columns = [c.name for c in db.incidents.columns if c.name != "id"]
    rng = np.random.default_rng(2)
    data = [rng.random(rows).tolist() if i % 3 else
            [f"v{i}-{j % 1000:04d}" for j in range(rows)] for i in range(len(columns))]
    tuples = list(zip(*data))
    del data
    con = sqlite3.connect(workdir / "floor.sqlite", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL",
                   f"cache_size=-{int(storing.DEFAULT_CACHE_MB * 1024)}"):
        con.execute(f"PRAGMA {pragma}")
    con.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, {', '.join(columns)})")
    con.execute("BEGIN")
    start = time.perf_counter()
    con.executemany(f"INSERT INTO t ({', '.join(columns)}) VALUES "
                    f"({', '.join('?' * len(columns))})", tuples)
    inserted = time.perf_counter()
    con.execute("COMMIT")
    committed = time.perf_counter()
    con.close()
    return inserted - start, committed - inserted


def _pg_database(base: str) -> tuple[str, sa.Engine, str]:
    url = sa.make_url(base)
    name = f"geomap_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False), admin, name


def child_import(path: str, url: str, regions_path: str, workdir: str) -> None:
    """Import `path` into `url` and nothing else (run in a child process to measure its RSS)."""
    regions_obj = ingest.load_regions(regions_path)
    db.migrate(url)
    settings = ingest.Settings.from_config({
        "UPLOAD_FOLDER": str(Path(workdir) / "uploads-child"), "AT_BORDER_M": 100.0,
        "MAX_BORDER_KM": 100.0})
    ingest.import_file(db.engine_for(url), path, dataset="bench", options=ingest.Options(),
                       settings=settings, regions=regions_obj, user_name="bench")


def import_rss(path: Path, workdir: Path, regions_path: str) -> float:
    """Peak RSS (MB) of a separate process that only imports the file into SQLite.

    The in-process figure also holds the generator and the baseline's whole pyarrow Table,
    which at 5M rows is larger than the import itself.
    """
    import subprocess

    url = f"sqlite:///{workdir / f'rss-{uuid.uuid4().hex[:6]}.sqlite'}"
    subprocess.run([sys.executable, __file__, "--child-import", str(path), url, regions_path,
                    str(workdir)], check=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _child(tree: Path, path: Path, url: str, regions_path: str, workdir: Path) -> dict:
    """Run one import in a child process (`bench/import_child.py`) with `tree`'s geomap;
    return its JSON figures and its peak RSS as the kernel counted it (``wait4``)."""
    import json
    import subprocess

    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("import_child.py")),
                              str(tree), str(path), url, regions_path, str(workdir)],
                             stdout=subprocess.PIPE, text=True)
    out = child.stdout.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"the import child failed ({child.returncode}) for {tree}")
    figures = json.loads(out.strip().splitlines()[-1])
    figures["wait4_maxrss_mb"] = usage.ru_maxrss / 1024
    return figures


def memory(sizes: list[int], trees: dict[str, Path], pg: str | None, regions_path: str,
           workdir: Path) -> None:
    """Peak RSS and time of import-only processes: each size, each backend, each tree.

    The trees (this checkout, and a reference such as an exported copy of main) alternate
    on the same file, so they see the same machine load; each import goes into a fresh
    database (SQLite file, or a PostgreSQL database created and dropped per run).
    """
    backends = ["sqlite"] + (["postgresql"] if pg else [])
    rows_out = []
    for rows in sizes:
        path = workdir / f"memory-{rows}.csv"
        generate(path, rows)
        for backend in backends:
            for label, tree in trees.items():
                if backend == "sqlite":
                    url = f"sqlite:///{workdir / f'mem-{uuid.uuid4().hex[:6]}.sqlite'}"
                    figures = _child(tree, path, url, regions_path, workdir)
                    Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
                else:
                    url, admin, name = _pg_database(pg)
                    try:
                        figures = _child(tree, path, url, regions_path, workdir)
                    finally:
                        with admin.connect() as conn:
                            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                        admin.dispose()
                assert figures["rows_imported"] + figures["rows_rejected"] == rows, figures
                line = (f"{rows:>9,} | {backend:<10} | {label:<9} | {figures['seconds']:7.1f} s | "
                        f"{figures['rss_before_mb']:5.0f} MB | {figures['peak_reading_mb']:5.0f} MB | "
                        f"{figures['peak_indexes_mb']:5.0f} MB | "
                        f"{figures['peak_finishing_mb']:5.0f} MB | "
                        f"{figures['wait4_maxrss_mb']:5.0f} MB")
                rows_out.append(line)
                print(line, flush=True)
        path.unlink()
    print("\nrows | backend | tree | import | RSS before | peak reading | peak indexes | "
          "peak finishing | peak RSS (wait4)")
    print("\n".join(rows_out))


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child-import":
        child_import(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--memory-only", action="store_true",
                        help="only measure the peak RSS of an import process (SQLite)")
    parser.add_argument("--floor", action="store_true",
                        help="also time bare sqlite3 writing as many rows as wide (no index)")
    parser.add_argument("--memory", metavar="ROWS,ROWS",
                        help="peak RSS and time of import-only processes at these sizes "
                        "(e.g. 100000,1000000,5000000), SQLite and PostgreSQL; nothing else")
    parser.add_argument("--reference", metavar="TREE",
                        help="with --memory: also import with this checkout's geomap (e.g. "
                        "`git archive main | tar -x -C /tmp/ref`), alternating with this one")
    parser.add_argument("--pg", default=os.environ.get("GEOMAP_TEST_DATABASE_URL"))
    parser.add_argument("--regions", default=os.environ.get(
        "GEOMAP_REGIONS_PATH", str(config.PROJECT_ROOT / "shapefiles" / "regions.gpkg")))
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="geomap-bench-"))
    if args.memory:
        trees = {"this": Path(__file__).resolve().parent.parent}
        if args.reference:
            trees = {"reference": Path(args.reference).resolve(), **trees}
        try:
            memory([int(n) for n in args.memory.split(",")], trees, args.pg, args.regions,
                   workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    try:
        path = workdir / "incidents.csv"
        generate(path, args.rows)
        size = path.stat().st_size
        print(f"file: {args.rows:,} rows, {size / 2**20:.1f} MB")
        if args.memory_only:
            peak = import_rss(path, workdir, args.regions)
            print(f"import process peak RSS: {peak:.0f} MB "
                  f"({'meets' if peak < 1024 else 'MISSES'} the < 1 GB goal)")
            return
        start = time.perf_counter()
        regions_obj = ingest.load_regions(args.regions)
        # A server has its layers loaded and prepared; so does the benchmark (not timed).
        row_rules.RegionJoin(regions_obj).assign(np.array([-122.75, -73.45]),
                                                 np.array([49.01, 45.0]), at_border_m=100.0,
                                                 max_border_km=100.0, aoi_km=500.0)
        print(f"regions loaded and prepared in {time.perf_counter() - start:.1f} s (once per "
              "process, not counted)")
        instrument()
        backends = ([] if os.environ.get("BENCH_ONLY_PG") else ["sqlite"]) + (["postgresql"] if args.pg else [])
        results: dict[str, list[tuple[float, float]]] = {b: [] for b in backends}
        for _round in range(args.rounds):
            for backend in backends:
                parse = parse_time(path)
                if backend == "sqlite":
                    url = f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.sqlite'}"
                    elapsed, report = import_time(path, url, workdir, regions_obj)
                else:
                    url, admin, name = _pg_database(args.pg)
                    try:
                        elapsed, report = import_time(path, url, workdir, regions_obj)
                    finally:
                        with admin.connect() as conn:
                            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                        admin.dispose()
                assert report["rows_imported"] + report["rows_rejected"] == args.rows, report
                results[backend].append((parse, elapsed))
                print(f"{backend}: parse {parse:.3f} s, import {elapsed:.2f} s, ratio "
                      f"{elapsed / parse:.1f}x ({report['rows_imported']:,} imported, "
                      f"{report['rows_rejected']:,} rejected, "
                      f"{args.rows / elapsed / 1e6:.2f} M rows/s)")
                print("  stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in STAGES.items()))
                # Work done, wherever it ran: with every core busy all the time the import
                # could not take less than this divided by the cores.
                work = CPU["client"] + CPU["server"]
                floor = work / (os.cpu_count() or 1)
                print(f"  cpu: import process {CPU['client']:.1f} s"
                      + (f", PostgreSQL server {CPU['server']:.1f} s" if backend != "sqlite"
                         else "")
                      + f"; on {os.cpu_count()} cores no less than {floor:.1f} s "
                      f"({floor / parse:.0f}x the parse) without less work")
        goals = {"sqlite": 25, "postgresql": 30}
        for backend, runs in results.items():
            parse = float(np.median([p for p, _e in runs]))
            elapsed = float(np.median([e for _p, e in runs]))
            ratio = elapsed / parse
            verdict = "meets" if ratio <= goals[backend] else "MISSES"
            print(f"median {backend}: parse {parse:.3f} s, import {elapsed:.2f} s, "
                  f"ratio {ratio:.1f}x ({verdict} the <= {goals[backend]}x goal)")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process (generator, baseline Table, imports): {peak:.0f} MB")
        peak = import_rss(path, workdir, args.regions)
        print(f"import process peak RSS: {peak:.0f} MB "
              f"({'meets' if peak < 1024 else 'MISSES'} the < 1 GB goal)")
        if args.floor:
            insert, commit = sqlite_floor(args.rows, workdir)
            print(f"bare sqlite3, {args.rows:,} rows x {len(db.incidents.columns) - 1} "
                  f"columns, no index: executemany {insert:.2f} s, commit {commit:.2f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
