"""The columnar copy of a dataset version (`store.build_copy`, `store.CopyReader`, issue #20):
it answers every aggregation as the database does, including rows known only by sector, dates
known only by month and counts per border segment; it is named by the version it holds, so a
change never leaves a reader on an older copy; one process builds at a time; a partial file
is never opened."""

from __future__ import annotations

import datetime as dt
import fcntl
import io
from pathlib import Path

import pandas as pd
import pytest

from geomap import aggregate, db, ingest, maps, store

from ingest_helpers import FAKE_REGIONS
from ingest_helpers import fake_regions  # noqa: F401  (fixture)
from period_fixtures import csv_text, usbp_monthly_sector
from store_helpers import FILTERS, answers
from test_rollup_consistency import Env, rows


@pytest.fixture
def env(any_app, fake_regions):  # noqa: F811
    yield Env(any_app, Path(any_app.instance_path) / "columnar")
    db.dispose_engine(any_app.config["DATABASE_URL"])


def _copy_answers(env, dataset, fn):
    reader = store.CopyReader(env.copies)
    try:
        engine = reader.engine(dataset)
        assert engine is not None, "no copy of this version"
        with engine.connect() as duck:
            return fn(duck)
    finally:
        reader.close()


def test_copy_answers_as_the_database_with_regional_rows_and_segments(env,
                                                                      fake_display_layers):
    env.run(rows(120, seed=21))
    sectors, _expected = usbp_monthly_sector(fiscal_years=(2025,))
    sector_only = [row[:3] + row[5:] for row in sectors]  # no coordinates: the sector's name
    report = ingest.import_file(env.engine, io.BytesIO(csv_text(sector_only)), dataset="ds",
                                options=ingest.Options(filename="usbp.csv"),
                                settings=env.settings, regions=FAKE_REGIONS,
                                user_name="tester")
    assert report["rows_imported"] > 0
    steps = maps.segment_steps(fake_display_layers)
    with env.engine.connect() as conn:
        dataset = store.get_dataset(conn, "ds")
        expected = answers(conn, dataset["id"])
        segments = {name: aggregate.by_border_segment(conn, dataset["id"], f, steps)
                    for name, f in FILTERS.items()}
    assert expected["none", "location_precision"] == [("point", 120, expected["none", "extent"]
                                                       ["total"] - expected["none", "extent"]
                                                       ["regional_total"]),
                                                      ("sector", report["rows_imported"],
                                                       expected["none", "extent"]
                                                       ["regional_total"])]
    store.build_copy(env.engine, dataset["id"], env.copies)

    def read(duck):
        return answers(duck, dataset["id"]), {
            name: aggregate.by_border_segment(duck, dataset["id"], f, steps)
            for name, f in FILTERS.items()}

    got, got_segments = _copy_answers(env, dataset, read)
    assert got == expected
    for name in FILTERS:
        pd.testing.assert_frame_equal(got_segments[name], segments[name])


def test_a_copy_is_named_by_its_version_and_replaced_after_a_change(env):
    env.run(rows(40, seed=22))
    with env.engine.connect() as conn:
        first = store.get_dataset(conn, "ds")
    path = store.build_copy(env.engine, first["id"], env.copies)
    assert f"-v{first['incidents_version']}-{store.columnar.copy_format()}." in path.name
    assert store.build_copy(env.engine, first["id"], env.copies) == path  # already there
    reader = store.CopyReader(env.copies)
    old = reader.engine(first)
    with old.connect() as duck:  # a reader in the middle of the old version
        env.run(rows(10, seed=23, prefix="N"))
        with env.engine.connect() as conn:
            second = store.get_dataset(conn, "ds")
        assert second["version"] > first["version"]
        # No copy of the new version yet: readers of it get None (they read the database).
        assert reader.engine(second) is None
        newer = store.build_copy(env.engine, second["id"], env.copies)
        assert newer != path and not path.exists()  # the older version's copy is gone
        # The open connection still reads the old version whole (the file stays open).
        assert aggregate.extent(duck, first["id"])["n"] == 40
    assert reader.engine(first) is None  # the engine on the removed file was let go
    with reader.engine(second).connect() as duck:
        assert aggregate.extent(duck, second["id"])["n"] == 50
    reader.close()


def test_one_build_at_a_time_and_a_partial_copy_is_never_opened(env):
    env.run(rows(30, seed=24))
    with env.engine.connect() as conn:
        dataset = store.get_dataset(conn, "ds")
    env.copies.mkdir(parents=True)
    target = store.copy_path(env.copies, dataset)
    # What a build killed half-way leaves: a partial file under another name.
    (env.copies / f".{target.name}.dead.partial").write_bytes(b"not a database")
    assert store.CopyReader(env.copies).engine(dataset) is None
    # Another process building this dataset's copy holds its lock: this one does not wait.
    with open(env.copies / f".{dataset['id']}.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert store.build_copy(env.engine, dataset["id"], env.copies) is None
        assert not target.exists()
    assert store.build_copy(env.engine, dataset["id"], env.copies) == target
    assert not list(env.copies.glob("*.partial"))  # the stopped build's file is gone
    got = _copy_answers(env, dataset, lambda duck: aggregate.extent(duck, dataset["id"])["n"])
    assert got == 30


def test_no_copy_of_a_dataset_that_is_gone(env):
    env.run(rows(5, seed=25))
    with env.engine.begin() as conn:
        dataset = store.get_dataset(conn, "ds")
        store.delete_dataset(conn, dataset)
    assert store.build_copy(env.engine, dataset["id"], env.copies) is None
    assert not list(env.copies.glob("*.duckdb"))


def test_edits_besides_incidents_keep_the_copy(env):
    env.run(rows(20, seed=26))
    with env.engine.connect() as conn:
        first = store.get_dataset(conn, "ds")
    path = store.build_copy(env.engine, first["id"], env.copies)
    with env.engine.begin() as conn:
        store.update_dataset(conn, "ds", title="Renamed", published=True)
        edited = store.add_correction(conn, store.get_dataset(conn, "ds"),
                                      corrected_on=dt.date(2025, 3, 1), what="Fixed a date")
        edited = store.get_dataset(conn, "ds")
    assert edited["version"] == first["version"] + 2
    assert edited["incidents_version"] == first["incidents_version"]
    assert store.copy_path(env.copies, edited) == path  # no rebuild for a new title
    env.run(rows(5, seed=27, prefix="E"))
    with env.engine.connect() as conn:
        changed = store.get_dataset(conn, "ds")
    assert changed["incidents_version"] == changed["version"] == edited["version"] + 1
    assert store.copy_path(env.copies, changed) != path
