"""Where an import's time goes, per function: cProfile of one import of a realistic file.

Usage::

    .venv/bin/python bench/ingest_profile.py [--rows 305000] [--top 25] [--tree DIR]

Generates a file shaped like the published ones rather than bench/ingest.py's clean one
(header names to resolve; dates as ISO days, ISO times and month names such as ``Mar 2024``;
types and directions in several spellings and cases; counts with blanks; declared states
and provinces by name, code or ISO code; a free-text description), imports it into a fresh
SQLite database under cProfile (region layers loaded first, not profiled), and prints the
functions with the most time of their own and the import's wall time. cProfile sees one
thread, so the writer thread's jobs (hash, dedupe, write) run inline for the profile. ``--tree`` profiles
another checkout's geomap (an exported copy of main) on the same file, for before/after.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

# bench/ingest.py's crossing points (not imported: it would import this checkout's geomap
# before --tree's).
ANCHORS = np.array([
    (-122.76, 49.00), (-119.46, 49.00), (-115.06, 49.00), (-111.96, 49.00), (-104.0, 49.0),
    (-97.24, 49.00), (-95.38, 49.00), (-93.40, 48.61), (-84.36, 46.51), (-82.42, 43.00),
    (-83.07, 42.31), (-78.90, 42.91), (-75.98, 44.35), (-73.45, 45.01), (-72.10, 45.01),
    (-67.78, 46.14), (-67.28, 45.19),
])

TYPES = ["Apprehension", "apprehension", "SIGHTING", "Sighting ", "interdiction", "Turn-back"]
DIRECTIONS = ["Northbound", "NB", "north bound", "S", "Southbound", "to Canada", "SB", "",
              "unknown"]
STATES = ["Washington", "WA", "US-WA", "Montana", "MT", "British Columbia", "BC", "CA-QC",
          "Quebec", "New York", "NY", "Ontario", "ON", "Maine", "Vermont", "Minnesota", ""]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write `rows` incidents in published spellings (see the module docstring)."""
    rng = np.random.default_rng(seed)
    chunk = 100_000
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("ID,Latitude,Longitude,Date,Type,Persons,Direction,"
                     "State/Province,Notes\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            anchor = ANCHORS[rng.integers(0, len(ANCHORS), n)]
            lon = anchor[:, 0] + rng.normal(0, 0.3, n)
            lat = anchor[:, 1] + rng.normal(0, 0.12, n)
            when = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3650, n),
                                                                 unit="D")
            style = rng.integers(0, 3, n)
            days = np.asarray(when.strftime("%Y-%m-%d"), dtype=object)
            times = np.asarray((when + pd.to_timedelta(rng.integers(0, 1440, n), unit="min"))
                               .strftime("%Y-%m-%d %H:%M"), dtype=object)
            months = np.asarray(when.strftime("%b %Y"), dtype=object)
            date = np.where(style == 0, days, np.where(style == 1, times, months))
            persons = rng.geometric(0.5, n).astype(object)
            persons[rng.random(n) < 0.05] = ""
            frame = pd.DataFrame({
                "id": [f"E{i:07d}" for i in range(start, start + n)],
                "lat": lat.round(5), "lon": lon.round(5), "date": date,
                "type": rng.choice(TYPES, n), "persons": persons,
                "direction": rng.choice(DIRECTIONS, n), "state": rng.choice(STATES, n),
                "notes": [f"report {k} near crossing {a}" for k, a in
                          zip(rng.integers(0, 500, n), rng.integers(0, 17, n))],
            })
            frame.to_csv(handle, index=False, header=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=305_000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--tree", default=str(HERE.parent))
    parser.add_argument("--dump", help="also write the raw profile here (pstats format)")
    args = parser.parse_args()
    sys.path.insert(0, args.tree)
    from geomap import config, db, ingest
    from geomap.ingest import storing

    # cProfile sees one thread: the writer's jobs (hash, dedupe, write) run inline here.
    storing.BlockWriter.submit = lambda self, job: job()

    with tempfile.TemporaryDirectory(prefix="geomap-profile-") as tmp:
        work = Path(tmp)
        path = work / "incidents.csv"
        generate(path, args.rows)
        regions = ingest.load_regions(str(config.PROJECT_ROOT / "shapefiles" / "regions.gpkg"))
        url = f"sqlite:///{work / 'profile.sqlite'}"
        db.migrate(url)
        settings = ingest.Settings.from_config({"UPLOAD_FOLDER": str(work / "uploads")})
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.enable()
        report = ingest.import_file(db.engine_for(url), path, dataset="profile",
                                    options=ingest.Options(), settings=settings,
                                    regions=regions, user_name="bench")
        profile.disable()
        wall = time.perf_counter() - start
        if args.dump:
            profile.dump_stats(args.dump)
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())
        import geomap
        print(f"geomap from {Path(geomap.__file__).parent.parent}: {args.rows:,} rows, {report['rows_imported']:,} imported, "
              f"{report['rows_rejected']:,} rejected, {len(report['warnings'])} warnings "
              f"shown; import {wall:.1f} s under cProfile")


if __name__ == "__main__":
    main()
