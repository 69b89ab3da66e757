"""Rollups answer as the incidents do (issue #20): after an append, an upsert by natural key, a
replace, a revert, a delete and a killed import, every stats grouping and time-layer grid read
from the rollups (grid, days, weeks and months, cells per period) equals the same answer
computed from the incidents table, under filters each grain answers, on both backends."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import pytest
import sqlalchemy as sa

from geomap import aggregate, binning, db, ingest, store

from ingest_helpers import FAKE_REGIONS, kill_import_after_first_write
from ingest_helpers import fake_regions  # noqa: F401  (fixture)

HEADER = "id,lat,lon,date,type,count,direction\n"
D = dt.datetime
#: Filters each rollup grain answers: none, whole months, Monday to Monday, plain days, values.
FILTERS = {
    "none": {},
    "months": {"from": D(2025, 1, 1), "to": D(2025, 3, 1)},
    "weeks": {"from": D(2025, 1, 6), "to": D(2025, 2, 3)},
    "days": {"from": D(2025, 1, 4), "to": D(2025, 2, 11)},
    "type": {"type": ("crossing",)},
    "direction+country": {"direction": ("northbound",), "country": ("US",)},
    "months+type": {"from": D(2024, 12, 1), "to": D(2025, 2, 1), "type": ("sighting",)},
}


def rows(n: int, seed: int, prefix: str = "R") -> list[tuple]:
    """Incidents on both sides near two crossings over Dec 2024 - Mar 2025; every seventh is
    dated only by its month (precision 'month')."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        west = rng.random() < 0.5
        lat = round((49.0 if west else 45.01) + rng.normal(0, 0.05), 5)
        lon = round((-122.75 if west else -73.45) + rng.normal(0, 0.3), 5)
        day = D(2024, 12, 1) + dt.timedelta(days=int(rng.integers(0, 120)))
        date = day.strftime("%Y-%m") if i % 7 == 0 else day.strftime("%Y-%m-%d")
        out.append((f"{prefix}{i}", lat, lon, date, str(rng.choice(["crossing", "sighting"])),
                    int(rng.integers(1, 5)), str(rng.choice(["N", "S", "unknown"]))))
    return out


def csv(data) -> bytes:
    return (HEADER + "".join(",".join(str(v) for v in r) + "\n" for r in data)).encode()


def _frame(frame: pd.DataFrame) -> list:
    frame = frame.astype(object).where(frame.notna(), None)
    return sorted(map(tuple, frame.to_numpy().tolist()), key=repr)


def answers(conn, dataset_id: int) -> dict:
    """Every answer the rollups serve, as plain values."""
    out = {}
    ext = aggregate.extent(conn, dataset_id, None)
    out["extent"] = {k: ext[k] for k in ("n", "total", "lat_min", "lat_max", "lon_min",
                                         "lon_max")}
    for name, filters in FILTERS.items():
        for column in ("admin1", "sector", "type", "direction", "precision",
                       "location_precision"):
            out[name, column] = _frame(aggregate.by_column(conn, dataset_id, filters, column))
        for period in aggregate.PERIODS:
            out[name, period] = _frame(aggregate.by_period(conn, dataset_id, filters, period))
            out[name, "admin1", period] = _frame(
                aggregate.by_column(conn, dataset_id, filters, "admin1", period=period))
        out[name, "span"] = aggregate.span(conn, dataset_id, filters)
    if ext["n"]:
        cell = 0.2  # a multiple of the time rollup's cell, as for the whole border
        lat0 = binning.grid_origin(ext["lat_min"], cell)
        lon0 = binning.grid_origin(ext["lon_min"], cell)
        for period in aggregate.PERIODS:
            out["grid", period] = _frame(aggregate.grid(
                conn, dataset_id, None, cell=cell, lat0=lat0, lon0=lon0, period=period))
        out["grid", "month", "precision"] = _frame(aggregate.grid(
            conn, dataset_id, None, cell=cell, lat0=lat0, lon0=lon0, period="month",
            precision=True))
    rollup = aggregate.rollup_extent(conn, dataset_id)
    if rollup is not None:
        out["extent"] = {k: rollup[k] for k in out["extent"]}
    return out


def assert_rollups_answer_as_incidents(engine, slug: str = "ds") -> dict:
    """Compare every answer from the rollups with the same from the incidents; return them."""
    with engine.connect() as conn:
        dataset = store.get_dataset(conn, slug)
        assert store.rollup_cell(conn, dataset["id"]) is not None
        from_rollups = answers(conn, dataset["id"])
        # Without its incident_grids row a dataset has no rollups for readers: every answer
        # comes from the incidents table. Rolled back.
        conn.execute(sa.delete(db.incident_grids)
                     .where(db.incident_grids.c.dataset_id == dataset["id"]))
        from_incidents = answers(conn, dataset["id"])
        conn.rollback()
    assert from_rollups.keys() == from_incidents.keys()
    for key in from_rollups:
        assert from_rollups[key] == from_incidents[key], key
    return from_rollups


class Env:
    def __init__(self, app):
        self.app = app
        self.settings = ingest.Settings.from_config(app.config)
        self.engine = db.engine_for(app.config["DATABASE_URL"])

    def run(self, data, dataset="ds", **options):
        options.setdefault("filename", "f.csv")
        return ingest.import_file(self.engine, io.BytesIO(csv(data)), dataset=dataset,
                                  options=ingest.Options(**options), settings=self.settings,
                                  regions=FAKE_REGIONS, user_name="tester")


@pytest.fixture
def env(any_app, fake_regions):  # noqa: F811
    yield Env(any_app)
    db.dispose_engine(any_app.config["DATABASE_URL"])


def test_rollups_after_a_new_import_and_an_append(env):
    env.run(rows(80, seed=1))
    first = assert_rollups_answer_as_incidents(env.engine)
    env.run(rows(60, seed=2, prefix="S"))  # appended: merged into the rollups
    after = assert_rollups_answer_as_incidents(env.engine)
    assert after["extent"]["n"] == first["extent"]["n"] + 60


def test_rollups_after_an_upsert_by_natural_key(env):
    base = rows(80, seed=3)
    env.run(base)
    changed = [(key, lat, lon, date, "sighting", count + 3, "S")
               for key, lat, lon, date, _type, count, _d in base[:20]]
    report = env.run(changed + rows(5, seed=4, prefix="U"))
    assert (report["rows_updated"], report["rows_imported"]) == (20, 5)
    assert_rollups_answer_as_incidents(env.engine)


def test_rollups_after_a_replace_and_its_revert(env):
    env.run(rows(70, seed=5))
    env.run(rows(30, seed=6, prefix="T"))
    before = assert_rollups_answer_as_incidents(env.engine)
    env.run(rows(20, seed=7, prefix="V"), mode="replace")
    replaced = assert_rollups_answer_as_incidents(env.engine)
    assert replaced["extent"]["n"] == 20
    ingest.revert_import(env.engine, "ds")
    assert assert_rollups_answer_as_incidents(env.engine) == before


def test_rollups_after_reverting_an_append(env):
    env.run(rows(50, seed=8))
    before = assert_rollups_answer_as_incidents(env.engine)
    env.run(rows(40, seed=9, prefix="W"))
    ingest.revert_import(env.engine, "ds")
    assert assert_rollups_answer_as_incidents(env.engine) == before


def test_deleting_a_dataset_deletes_every_rollup_of_it(env):
    env.run(rows(40, seed=10))
    env.run(rows(40, seed=11), dataset="other")
    with env.engine.begin() as conn:
        dataset = store.get_dataset(conn, "ds")
        store.delete_dataset(conn, dataset)
    with env.engine.connect() as conn:
        for table in (db.incident_grid_cells, db.incident_days, db.incident_periods,
                      db.incident_cell_periods, db.incident_grids):
            left = conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.dataset_id == dataset["id"])).scalar()
            assert left == 0, table.name
    assert_rollups_answer_as_incidents(env.engine, "other")




@pytest.mark.parametrize("mode", ["append", "replace"])
def test_rollups_after_a_killed_import(env, tmp_path, mode):
    env.run(rows(60, seed=12))
    before = assert_rollups_answer_as_incidents(env.engine)
    big = tmp_path / "big.csv"
    big.write_bytes(csv(rows(3000, seed=13, prefix="K")))
    kill_import_after_first_write(env.app.config["DATABASE_URL"], big, "ds", mode, tmp_path)
    assert assert_rollups_answer_as_incidents(env.engine) == before
