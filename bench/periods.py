"""Periods: the cost of parsing published periods, and the time layer on a 30-year series.

    .venv/bin/python bench/periods.py [--rows 305000] [--rounds 3] [--database-url URL]
                                      [--only parsing|time]

1. Parsing a date column of 305k month names (``Jan 1996`` ... ``Dec 2024``, 360 distinct
   values, as the BTS long series publishes them), side by side: the general date path as
   of 39fdb20 (read from git: a regular expression per row), the general path without its
   distinct-value step (`cells._parse_general`) and `cells.parse_dates` (each distinct value
   parsed once, taken back to the rows). Then French month names, and US federal fiscal
   year + month columns (`dates.from_year_month`) against parsing every row's pair.
2. The time layer on 30 years of monthly counts at 89 ports (32,040 records): the frame
   path (`maps.render_map`) and the SQL path (`maps.aggregate_db` + render) on SQLite (and
   the URL given), with the payload size, the cell size and the frames, beside what the old
   rule (fit cells x months into the 6,000-cell cap by coarsening cells) made of it.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from geomap import binning, db, maps, store  # noqa: E402
from geomap.ingest import cells, dates  # noqa: E402
from geomap.ingest.columns import Columns  # noqa: E402
from geomap.maps.grid import fit_grid, group_cells  # noqa: E402
from period_fixtures import FRENCH_SHORT, monthly_series  # noqa: E402

REFERENCE = "39fdb20"


def timed(fn, rounds: int):
    times, out = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def old_cells():
    """geomap/ingest/cells.py as of REFERENCE (before distinct-value parsing)."""
    text = subprocess.run(["git", "show", f"{REFERENCE}:geomap/ingest/cells.py"], cwd=ROOT,
                          check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("old_cells", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(text, "old_cells.py", "exec"), module.__dict__)
    return module


def parsing(rows: int, rounds: int) -> None:
    months = pd.period_range("1995-01", "2024-12", freq="M")
    english = pd.Series(np.resize(months.strftime("%b %Y").to_numpy(), rows)).astype("str")
    french_names = [f"{FRENCH_SHORT[p.month - 1]} {p.year}" for p in months]
    french = pd.Series(np.resize(np.array(french_names, dtype=object), rows)).astype("str")
    old = old_cells()
    print(f"\n## Parsing {rows:,} month-name dates ({len(months)} distinct values)\n")
    print("| column | path | time | rows/s |")
    print("|---|---|---|---|")
    cases = [("Jan 1995 (English)", english,
              [(f"as of {REFERENCE}: regex per row", lambda: old.parse_general_dates(
                  english, "mdy")),
               ("every row (no distinct step)", lambda: cells._parse_general(english, "mdy")),
               ("parse_dates: distinct values", lambda: cells.parse_dates(english))]),
             ("janv. 1995 (French)", french,
              [("every row (no distinct step)", lambda: cells._parse_general(french, "mdy")),
               ("parse_dates: distinct values", lambda: cells.parse_dates(french))])]
    for name, values, paths in cases:
        results = []
        for label, fn in paths:
            seconds, out = timed(fn, rounds)
            results.append(out)
            print(f"| {name} | {label} | {seconds * 1000:,.0f} ms | {rows / seconds:,.0f} |")
        new = results[-1]
        assert new[2].isna().all() and (new[1] == "month").all(), "a month failed to parse"
    # Fiscal year + month columns (USBP's Monthly Sector shape).
    labels = [f"{i:02d} {m}" for i, m in enumerate(
        ("October", "November", "December", "January", "February", "March", "April", "May",
         "June", "July", "August", "September"), 1)]
    years = [f"FY{y}" for y in range(1995, 2025)]
    fy = pd.Series(np.resize(np.repeat(years, 12), rows)).astype("str")
    month = pd.Series(np.resize(np.tile(labels, len(years)), rows)).astype("str")
    frame = pd.DataFrame({"FY": fy, "Month": month})
    ctx = SimpleNamespace(columns=Columns({"fiscal_year": "FY", "month": "Month"}, [], []),
                          periods={}, file_notes=[])
    errors = SimpleNamespace(add=lambda *a, **k: None)

    def every_row():
        pairs = (frame["FY"] + "\x1f" + frame["Month"]).tolist()
        memo_free = [p.split("\x1f") for p in pairs]
        return [dates.periods.calendar_month(dates.periods.fiscal_year(y),
                                             dates.periods.month_number(m), True)
                for y, m in memo_free]

    for label, fn in (("every row's pair parsed", every_row),
                      ("from_year_month: distinct pairs",
                       lambda: dates.from_year_month(frame, ctx, errors))):
        seconds, _ = timed(fn, rounds)
        print(f"| FY + Month ({len(years) * 12} pairs) | {label} | {seconds * 1000:,.0f} ms "
              f"| {rows / seconds:,.0f} |")


def old_rule(frame: pd.DataFrame, spec: maps.MapSpec) -> tuple[float, int]:
    """The cell size and rows the time layer made before: month cells coarsened into the
    heat cap (`fit_grid` of cells x months)."""
    lat, lon = frame["lat"].to_numpy(), frame["lon"].to_numpy()
    bounds = [[lat.min(), lon.min()], [lat.max(), lon.max()]]
    cell = binning.fit_cell(bounds)
    gy = binning.cell_keys(lat, binning.grid_origin(lat.min(), cell), cell)
    gx = binning.cell_keys(lon, binning.grid_origin(lon.min(), cell), cell)
    _labels, pidx = np.unique(frame["date"].to_numpy(dtype=str), return_inverse=True)
    fine = group_cells(gy, gx, np.ones(len(frame), np.int64),
                       frame["count"].to_numpy(np.int64), pidx.ravel())
    cells, size = fit_grid(fine, cell, spec.heat_max_cells, by_period=True)
    return size, len(cells)


def time_layer(rounds: int, urls: list[str]) -> None:
    series, _expected = monthly_series()
    frame = series.assign(occurred_at=pd.to_datetime(series["date"]), precision="month")
    print(f"\n## Time layer: 30 years of monthly counts at 89 ports ({len(frame):,} records)\n")
    print("| path | frames | cell | (cell, frame) pairs | payload | time |")
    print("|---|---|---|---|---|---|")
    spec = maps.MapSpec(layer="time", tiles="none", embed=True)
    size, pairs = old_rule(frame, spec)
    print(f"| *as of {REFERENCE}: monthly frames, cells coarsened into the cap* | 360 months "
          f"| {size:g}° | {pairs:,} | | |")
    for label, asked in (("frame path, period=auto", spec),
                         ("frame path, period=month asked", maps.MapSpec(
                             layer="time", period="month", tiles="none", embed=True)),
                         ("frame path, cumulative=1", maps.MapSpec(
                             layer="time", cumulative=True, tiles="none", embed=True))):
        seconds, html = timed(lambda: maps.render_map(frame, asked), rounds)
        agg = maps.aggregate_frame(frame, asked)
        print(f"| {label} | {len(agg.periods)} {agg.framing.period}s | {agg.cell:g}° "
              f"| {len(agg.frames):,} | {len(html.encode()) / 1024:,.0f} KB "
              f"| {seconds * 1000:,.0f} ms |")
    for url in urls:
        db.migrate(url)
        engine = db.engine_for(url)
        with engine.begin() as conn:
            row = store.create_dataset(conn, f"ports-{int(time.time())}", "Ports")
            store.insert_incidents(conn, frame.drop(columns=["date", "port"]).assign(
                dataset_id=row["id"]))
            store.write_rollups(conn, row["id"])

        def sql():
            with engine.connect() as conn:
                return maps.aggregate_db(conn, row["id"], {}, spec)

        seconds, agg = timed(sql, rounds)
        print(f"| SQL path ({engine.dialect.name}), aggregate_db | {len(agg.periods)} "
              f"{agg.framing.period}s | {agg.cell:g}° | {len(agg.frames):,} | "
              f"| {seconds * 1000:,.0f} ms |")
        db.dispose_engine(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=305_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", action="append", default=[],
                        help="Also time the SQL path on this database (e.g. PostgreSQL).")
    parser.add_argument("--only", choices=("parsing", "time"), default=None,
                        help="Run one of the two parts.")
    args = parser.parse_args()
    if args.only != "time":
        parsing(args.rows, args.rounds)
    if args.only != "parsing":
        with tempfile.TemporaryDirectory() as folder:
            time_layer(args.rounds, [f"sqlite:///{folder}/bench.sqlite", *args.database_url])


if __name__ == "__main__":
    main()
