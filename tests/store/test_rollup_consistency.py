"""Rollups and the columnar copy answer as the incidents do (issue #20): after an append, an
upsert by natural key, a replace, a revert, a delete and a killed import, every stats grouping
and time-layer grid read from the rollups (grid, days, weeks and months, cells per period)
equals the same answer computed from the incidents table, under filters each grain answers,
on both backends; and the dataset version's columnar copy (`store.build_copy`, DuckDB) gives
every one of them too."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from geomap import db, ingest, store

from ingest_helpers import FAKE_REGIONS, kill_import_after_first_write
from store_helpers import answers
from ingest_helpers import fake_regions  # noqa: F401  (fixture)

HEADER = "id,lat,lon,date,type,count,direction\n"
D = dt.datetime

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


def assert_rollups_answer_as_incidents(engine, slug: str = "ds", copies=None) -> dict:
    """Compare every answer from the rollups with the same from the incidents, and (with a
    folder ``copies``) from the dataset version's columnar copy; return them."""
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
    if copies is not None:
        path = store.build_copy(engine, dataset["id"], copies)
        assert path == store.copy_path(copies, dataset) and path.exists()
        assert [p.name for p in copies.glob("*.duckdb")] == [path.name]  # older ones pruned
        reader = store.CopyReader(copies)
        try:
            with reader.engine(dataset).connect() as duck:
                assert duck.dialect.name == "duckdb"
                from_copy = answers(duck, dataset["id"])
        finally:
            reader.close()
        assert from_copy.keys() == from_rollups.keys()
        for key in from_rollups:
            assert from_copy[key] == from_rollups[key], key
    return from_rollups


class Env:
    def __init__(self, app, copies):
        self.app = app
        self.copies = copies
        self.settings = ingest.Settings.from_config(app.config)
        self.engine = db.engine_for(app.config["DATABASE_URL"])

    def run(self, data, dataset="ds", **options):
        options.setdefault("filename", "f.csv")
        return ingest.import_file(self.engine, io.BytesIO(csv(data)), dataset=dataset,
                                  options=ingest.Options(**options), settings=self.settings,
                                  regions=FAKE_REGIONS, user_name="tester")


@pytest.fixture
def env(any_app, fake_regions):  # noqa: F811
    yield Env(any_app, Path(any_app.instance_path) / "columnar")
    db.dispose_engine(any_app.config["DATABASE_URL"])


def test_rollups_after_a_new_import_and_an_append(env):
    env.run(rows(80, seed=1))
    first = assert_rollups_answer_as_incidents(env.engine, copies=env.copies)
    env.run(rows(60, seed=2, prefix="S"))  # appended: merged into the rollups
    after = assert_rollups_answer_as_incidents(env.engine, copies=env.copies)
    assert after["extent"]["n"] == first["extent"]["n"] + 60


def test_rollups_after_an_upsert_by_natural_key(env):
    base = rows(80, seed=3)
    env.run(base)
    changed = [(key, lat, lon, date, "sighting", count + 3, "S")
               for key, lat, lon, date, _type, count, _d in base[:20]]
    report = env.run(changed + rows(5, seed=4, prefix="U"))
    assert (report["rows_updated"], report["rows_imported"]) == (20, 5)
    assert_rollups_answer_as_incidents(env.engine, copies=env.copies)


def test_rollups_after_a_replace_and_its_revert(env):
    env.run(rows(70, seed=5))
    env.run(rows(30, seed=6, prefix="T"))
    before = assert_rollups_answer_as_incidents(env.engine, copies=env.copies)
    env.run(rows(20, seed=7, prefix="V"), mode="replace")
    replaced = assert_rollups_answer_as_incidents(env.engine, copies=env.copies)
    assert replaced["extent"]["n"] == 20
    ingest.revert_import(env.engine, "ds")
    assert assert_rollups_answer_as_incidents(env.engine, copies=env.copies) == before


def test_rollups_after_reverting_an_append(env):
    env.run(rows(50, seed=8))
    before = assert_rollups_answer_as_incidents(env.engine, copies=env.copies)
    env.run(rows(40, seed=9, prefix="W"))
    ingest.revert_import(env.engine, "ds")
    assert assert_rollups_answer_as_incidents(env.engine, copies=env.copies) == before


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
    assert_rollups_answer_as_incidents(env.engine, "other", copies=env.copies)




@pytest.mark.parametrize("mode", ["append", "replace"])
def test_rollups_after_a_killed_import(env, tmp_path, mode):
    env.run(rows(60, seed=12))
    before = assert_rollups_answer_as_incidents(env.engine, copies=env.copies)
    big = tmp_path / "big.csv"
    big.write_bytes(csv(rows(3000, seed=13, prefix="K")))
    kill_import_after_first_write(env.app.config["DATABASE_URL"], big, "ds", mode, tmp_path)
    assert assert_rollups_answer_as_incidents(env.engine, copies=env.copies) == before
