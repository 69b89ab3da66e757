"""Re-import benchmark: the cost of cross-import dedupe, of keeping replaced rows, of a revert.

Usage::

    .venv/bin/python bench/reimport.py [--rows 100000,1000000] [--pg URL] [--sqlite-only]

For each size and backend (SQLite always; PostgreSQL with ``--pg`` or
``GEOMAP_TEST_DATABASE_URL``), in a fresh database, with the real region layers, it prints
side by side:

- **fresh**: a file without ids (dedupe by content) imported into an empty dataset (the
  reference: no lookup, nothing to compare with);
- **dedupe, all known**: the same file appended again (``again``) into the dataset holding
  it: every row's content hash is looked up and found (cross-import dedupe, nothing written);
- **dedupe, none known**: another file of as many rows appended: every lookup misses, every
  row is written;
- **replace**: a keyed file replacing a keyed dataset of as many rows, which copies the
  replaced rows into ``superseded_incidents`` first (the *supersede* column is that copy
  alone, timed inside the import), and **revert** of that replace (its rows deleted, the
  replaced ones restored, the rollups rebuilt).

Figures are wall-clock seconds of one run each; the machine is shared, so compare columns of
one row rather than runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.csv as pacsv
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from geomap import db, ingest, store  # noqa: E402
from geomap.store import history  # noqa: E402
from ingest import _pg_database, generate  # noqa: E402  (bench/ingest.py)

REGIONS = os.environ.get("GEOMAP_REGIONS_PATH", str(Path(__file__).resolve().parent.parent
                                                    / "shapefiles" / "regions.gpkg"))


def files(rows: int, workdir: Path) -> dict[str, Path]:
    """Keyed files A and B (other ids, other rows) and A and B without their id column."""
    out = {}
    for name, seed in (("a", 1), ("b", 2)):
        keyed = workdir / f"{name}-{rows}.csv"
        generate(keyed, rows, seed=seed)
        if name == "b":  # other ids too: B replaces A's rows, it does not upsert them
            text = keyed.read_text().replace("INC-", "OTHER-")
            keyed.write_text(text)
        table = pacsv.read_csv(keyed)
        plain = workdir / f"{name}-{rows}-plain.csv"
        pacsv.write_csv(table.drop(["incident_id"]), plain)
        out[name], out[name + "_plain"] = keyed, plain
    out["warm"] = workdir / "warm.csv"
    generate(out["warm"], 2000, seed=3)
    return out


def timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def run(url: str, rows: int, paths: dict[str, Path], regions, workdir: Path) -> dict:
    db.migrate(url)
    engine = db.engine_for(url)
    settings = ingest.Settings.from_config({"UPLOAD_FOLDER": str(workdir / "uploads"),
                                            "AT_BORDER_M": 100.0, "MAX_BORDER_KM": 100.0})

    def load(path, dataset, **options):
        return ingest.import_file(engine, path, dataset=dataset,
                                  options=ingest.Options(**options), settings=settings,
                                  regions=regions, user_name="bench")

    # Warm-up (not timed): the first import of a process pays one-off costs (the region
    # join's lookups, pandas/pyarrow initialisation) that would be charged to "fresh".
    load(paths["warm"], "warm-up")
    out = {}
    out["fresh"], _ = timed(lambda: load(paths["a_plain"], "plain"))
    out["dedupe_known"], report = timed(lambda: load(paths["a_plain"], "plain", again=True))
    assert report["rows_imported"] == 0, report
    out["dedupe_new"], report = timed(lambda: load(paths["b_plain"], "plain"))
    assert report["rows_unchanged"] < rows // 100, report

    kept = load(paths["a"], "keyed")["rows_imported"]
    copy = {"s": 0.0}
    original = history.supersede

    def measured(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            copy["s"] += time.perf_counter() - start

    store.supersede = measured  # the name pipeline calls (store's public face)
    try:
        out["replace"], report = timed(lambda: load(paths["b"], "keyed", mode="replace"))
    finally:
        store.supersede = original
    out["supersede"] = copy["s"]
    out["revert"], done = timed(lambda: ingest.revert_import(engine, "keyed"))
    assert done["restored"] == kept and done["removed"] == report["rows_imported"], done
    with engine.connect() as conn:
        ds = store.get_dataset(conn, "keyed")
        assert store.count_incidents(conn, ds["id"]) == kept
    db.dispose_engine(url)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--pg", default=os.environ.get("GEOMAP_TEST_DATABASE_URL"))
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    regions = ingest.load_regions(REGIONS)
    print("| N | backend | fresh | dedupe, all known | dedupe, none known | replace "
          "(supersede copy) | revert |")
    print("|---|---|---|---|---|---|---|")
    for rows in [int(r) for r in args.rows.split(",")]:
        workdir = Path(tempfile.mkdtemp(prefix="geomap-reimport-"))
        try:
            paths = files(rows, workdir)
            backends = [("SQLite", f"sqlite:///{workdir / 'bench.sqlite'}", None)]
            if args.pg and not args.sqlite_only:
                url, admin, name = _pg_database(args.pg)
                backends.append(("PostgreSQL", url, (admin, name)))
            for label, url, cleanup in backends:
                try:
                    t = run(url, rows, paths, regions, workdir)
                finally:
                    if cleanup is not None:
                        db.dispose_engine(url)
                        admin, name = cleanup
                        with admin.connect() as conn:
                            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
                print(f"| {rows:,} | {label} | {t['fresh']:.2f} s | {t['dedupe_known']:.2f} s "
                      f"| {t['dedupe_new']:.2f} s | {t['replace']:.2f} s "
                      f"({t['supersede']:.2f} s) | {t['revert']:.2f} s |", flush=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
