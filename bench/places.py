"""Place-matching benchmark: rows located by port name and state instead of coordinates.

Usage::

    .venv/bin/python bench/places.py [--rows 100000,1000000] [--names 90] [--no-import]

For each size it builds a BTS-like block (Port Name, State) of `--names` distinct ports
drawn from the gazetteer (places within 30 km of the border, seeded) and times, in the same
process:

- ``locate``: `ingest.placing.locate`, as an import runs it on a block (each distinct
  (name, state) matched once: factorize -> match -> take);
- ``per row``: the reference, `Gazetteer.find` called once per row (what a loop over the
  rows would cost; at 1M rows it is extrapolated from the first 100k);
- ``join``: `regions.assign` of the placed points (the point join every placed row then
  goes through, for scale);
- ``import names`` / ``import points``: `ingest.import_file` into a fresh SQLite database of
  the same rows as a CSV with Port Name + State and no coordinates, and with lat/lon columns
  instead (the reference), end to end.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geomap import config, db, ingest, regions  # noqa: E402
from geomap.ingest import placing  # noqa: E402
from geomap.ingest.rows import Issues  # noqa: E402
from geomap.regions.names import ADMIN1_NAMES  # noqa: E402
from geomap.regions.places import load_places  # noqa: E402


def block(n: int, names: int, seed: int = 7) -> tuple[pd.DataFrame, list]:
    """A frame of `n` rows naming `names` distinct ports (name, full state name)."""
    places = [p for p in load_places().places if p.border_km < 30 and p.admin1.startswith("US")]
    rng = random.Random(seed)
    chosen = rng.sample(places, names)
    pick = np.random.default_rng(seed).integers(0, names, n)
    frame = pd.DataFrame({
        "Port Name": np.array([p.name for p in chosen], dtype=object)[pick],
        "State": np.array([ADMIN1_NAMES[p.admin1] for p in chosen], dtype=object)[pick],
        "Date": "2020-02-01", "Value": "12"})  # ISO dates: the fast path, so places show
    return frame, chosen


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    out = function(*args, **kwargs)
    return time.perf_counter() - start, out


def import_seconds(frame: pd.DataFrame, points: bool, layers, folder: Path) -> float:
    """Import `frame` as CSV (with lat/lon columns when `points`) into a fresh SQLite db."""
    csv_path = folder / ("points.csv" if points else "names.csv")
    frame.to_csv(csv_path, index=False)
    url = f"sqlite:///{folder / ('p.sqlite' if points else 'n.sqlite')}"
    db.migrate(url)
    settings = ingest.Settings(upload_folder=str(folder / "uploads"),
                               regions_path=str(regions.DEFAULT_PATH), at_border_m=100.0,
                               max_border_km=100.0, area_km=500.0)
    seconds, report = timed(ingest.import_file, db.engine_for(url), csv_path, dataset="b",
                            options=ingest.Options(), settings=settings, regions=layers,
                            user_name="bench")
    db.dispose_engine(url)
    assert report["rows_rejected"] == 0, report["errors"][:3]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--names", type=int, default=90)
    parser.add_argument("--no-import", action="store_true")
    args = parser.parse_args()
    layers = regions.load(str(config.PROJECT_ROOT / "shapefiles" / "regions.gpkg"))
    places = load_places()
    fields = {"place": "Port Name", "region": "State"}
    print(f"{'rows':>9} {'locate':>8} {'per row':>9} {'ratio':>6} {'join':>7} "
          f"{'import names':>13} {'import points':>14}")
    for n in (int(x) for x in args.rows.split(",")):
        frame, _ = block(n, args.names)
        rows = np.ones(n, dtype=bool)
        t_locate, located = timed(placing.locate, frame, fields, rows, Issues(), places=places,
                                  tally=placing.PlaceTally())
        assert located.mask.all(), "every name should be placed"
        sample = min(n, 100_000)
        names, states = frame["Port Name"].to_numpy()[:sample], frame["State"].to_numpy()[:sample]
        start = time.perf_counter()
        for name, state in zip(names, states):
            places.find(name, regions.normalise_region(state))
        t_row = (time.perf_counter() - start) * n / sample
        t_join, _ = timed(regions.assign, located.lon, located.lat, layers)
        if args.no_import:
            names_s = points_s = float("nan")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                names_s = import_seconds(frame, False, layers, Path(tmp))
                with_points = frame.drop(columns=["Port Name", "State"]).assign(
                    lat=located.lat, lon=located.lon)
                points_s = import_seconds(with_points, True, layers, Path(tmp))
        print(f"{n:>9,} {t_locate:>7.3f}s {t_row:>8.2f}s {t_row / t_locate:>5.0f}x "
              f"{t_join:>6.2f}s {names_s:>12.2f}s {points_s:>13.2f}s", flush=True)


if __name__ == "__main__":
    main()
