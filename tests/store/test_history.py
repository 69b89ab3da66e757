"""Undo and delete: reverting the latest import (appends, upserts, replaces) leaves the
dataset, its rollups and stats exactly as a fresh import of the same rows; deleting a
dataset keeps its imports' records and lets prune-uploads remove its files."""

from __future__ import annotations

import io
import os
import time

import pandas as pd
import pytest
import sqlalchemy as sa

from db_helpers import day_rollup
from geomap import access, aggregate, db, ingest, store
from geomap.errors import Conflict, Forbidden, NotFound

from ingest_helpers import FAKE_REGIONS, fake_regions  # noqa: F401  (fixture)

HEADER = "id,lat,lon,date,type,count,direction\n"
BASE = [("A1", 49.002, -122.757, "2025-01-03", "crossing", 2, "N"),
        ("A2", 48.990, -122.480, "2025-01-04", "sighting", 1, "S"),
        ("A3", 45.010, -73.450, "2025-02-10", "crossing", 3, "N")]
UNKEYED = [("", 49.001, -122.700, "2025-03-01", "sighting", 4, "S"),
           ("", 45.020, -73.460, "2025-03-02", "crossing", 1, "N")]


def csv(rows) -> bytes:
    return (HEADER + "".join(",".join(str(v) for v in r) + "\n" for r in rows)).encode()


class Env:
    def __init__(self, app):
        self.app = app
        self.settings = ingest.Settings.from_config(app.config)
        self.engine = db.engine_for(app.config["DATABASE_URL"])

    def run(self, rows, dataset="ds", **options):
        options.setdefault("filename", "f.csv")
        return ingest.import_file(self.engine, io.BytesIO(csv(rows)), dataset=dataset,
                                  options=ingest.Options(**options), settings=self.settings,
                                  regions=FAKE_REGIONS, user_name="tester")

    def dataset(self, slug="ds"):
        with self.engine.connect() as conn:
            return store.get_dataset(conn, slug)

    def state(self, slug="ds", ids=True) -> dict:
        """Everything a reader sees of a dataset: incidents, rollups, stats, totals."""
        with self.engine.connect() as conn:
            ds = store.get_dataset(conn, slug)
            frame = store.incident_frame(conn, ds["id"])
            if not ids:
                frame = frame.drop(columns=["id"])
            frame = frame.sort_values(["occurred_at", "lat"]).reset_index(drop=True)
            g = db.incident_grid_cells.c
            cells = conn.execute(sa.select(g.gy, g.gx, g.n, g.total, g.lat_min, g.lat_max,
                                           g.lon_min, g.lon_max)
                                 .where(g.dataset_id == ds["id"]).order_by(g.gy, g.gx)).all()
            [listed] = store.list_datasets(conn, published_only=False, slug=slug)
            by_type = aggregate.by_column(conn, ds["id"], {}, "type")
            return {"frame": frame, "cells": cells, "days": day_rollup(conn, ds["id"]),
                    "totals": (listed["incidents"], listed["total_count"]),
                    "by_type": by_type.sort_values(by_type.columns[0]).reset_index(drop=True)}

    def fresh(self, rows) -> dict:
        """The state of a new dataset made by importing `rows` once."""
        slug = f"fresh-{time.monotonic_ns()}"
        self.run(rows, dataset=slug)
        return self.state(slug, ids=False)


def same(a: dict, b: dict) -> None:
    pd.testing.assert_frame_equal(a["frame"], b["frame"])
    pd.testing.assert_frame_equal(a["by_type"], b["by_type"])
    assert (a["cells"], a["days"], a["totals"]) == (b["cells"], b["days"], b["totals"])


@pytest.fixture
def env(any_app, fake_regions):  # noqa: F811
    yield Env(any_app)
    db.dispose_engine(any_app.config["DATABASE_URL"])


def test_reverting_an_append_removes_its_rows_and_matches_a_fresh_import(env):
    env.run(BASE)
    before = env.state()
    added = env.run(UNKEYED + BASE[:1])
    assert added["rows_imported"] == 2
    done = ingest.revert_import(env.engine, "ds")
    assert (done["import_id"], done["removed"], done["restored"]) == (added["import_id"], 2, 0)
    assert done["version"] == added["version"] + 1 == env.dataset()["version"]
    same(env.state(), before)
    same(env.state(ids=False), env.fresh(BASE))


def test_reverting_an_upsert_brings_the_rows_back_as_they_were(env):
    env.run(BASE + UNKEYED)
    before = env.state()
    changed = [("A1", 49.002, -122.757, "2025-01-03", "crossing", 7, "N"), BASE[1],
               ("A4", 45.0, -73.0, "2025-02-11", "crossing", 1, "S")]
    report = env.run(changed)
    assert (report["rows_imported"], report["rows_updated"]) == (1, 1)
    done = ingest.revert_import(env.engine, "ds", report["import_id"])
    assert (done["removed"], done["restored"]) == (2, 1)
    same(env.state(), before)  # ids included: the updated incident is the same one again
    with env.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count())
                            .select_from(db.superseded_incidents)).scalar() == 0


def test_reverting_a_replace_brings_every_replaced_row_back(env):
    env.run(BASE)
    env.run(UNKEYED)
    before = env.state()
    replaced = env.run(BASE[:1], mode="replace")
    assert replaced["rows_imported"] == 1 and len(env.state()["frame"]) == 1
    with env.engine.connect() as conn:
        record = store.get_import(conn, replaced["import_id"])
        assert record["rows_superseded"] == 5
    done = ingest.revert_import(env.engine, "ds")
    assert (done["removed"], done["restored"]) == (1, 5)
    same(env.state(), before)
    same(env.state(ids=False), env.fresh(BASE + UNKEYED))


def test_reverting_the_first_import_empties_the_dataset(env):
    env.run(BASE)
    ingest.revert_import(env.engine, "ds")
    state = env.state()
    assert state["frame"].empty and state["cells"] == [] and state["days"] == []
    assert state["totals"] == (0, 0)


def test_only_the_latest_import_can_be_reverted_and_only_once(env):
    first = env.run(BASE)
    second = env.run(UNKEYED)
    with pytest.raises(Conflict, match=f"import {second['import_id']} came after"):
        ingest.revert_import(env.engine, "ds", first["import_id"])
    ingest.revert_import(env.engine, "ds", second["import_id"])
    with pytest.raises(Conflict, match="was already reverted on 20"):
        ingest.revert_import(env.engine, "ds", second["import_id"])
    # The reverted one no longer counts: the first is now the latest, and revertible.
    assert ingest.revert_import(env.engine, "ds")["import_id"] == first["import_id"]
    with pytest.raises(NotFound, match="has no import to revert"):
        ingest.revert_import(env.engine, "ds")
    with pytest.raises(NotFound, match="no import 999"):
        ingest.revert_import(env.engine, "ds", 999)


def test_a_reverted_file_may_be_imported_again_without_confirming(env):
    env.run(BASE)
    ingest.revert_import(env.engine, "ds")
    assert env.run(BASE)["rows_imported"] == 3


def test_only_the_latest_superseding_import_keeps_its_rows(env):
    """A replace keeps what it replaced; the next import that supersedes rows drops that
    copy (storage does not grow with the history), so the replace can no longer be undone."""
    env.run(BASE)
    first = env.run(UNKEYED, mode="replace")
    second = env.run([("A1", 49.002, -122.757, "2025-01-03", "crossing", 9, "N")] + UNKEYED,
                     mode="replace")
    with env.engine.connect() as conn:
        s = db.superseded_incidents.c
        kept = conn.execute(sa.select(s.superseded_by).distinct()).scalars().all()
        assert kept == [second["import_id"]]
        assert store.get_import(conn, first["import_id"])["undo_dropped_at"] is not None
    ingest.revert_import(env.engine, "ds")
    with pytest.raises(Conflict, match="can no longer be reverted: the rows it replaced"):
        ingest.revert_import(env.engine, "ds")


def test_a_pure_append_keeps_the_earlier_replace_revertible(env):
    env.run(BASE)
    env.run(UNKEYED, mode="replace")
    before_append = env.state()
    env.run(BASE[:1])
    ingest.revert_import(env.engine, "ds")
    same(env.state(), before_append)
    ingest.revert_import(env.engine, "ds")
    same(env.state(ids=False), env.fresh(BASE))


def test_restored_rows_whose_id_was_taken_get_new_ids(env):
    """SQLite hands the ids of deleted rows at the end of the table out again."""
    env.run(BASE)
    env.run(UNKEYED, mode="replace")
    with env.engine.connect() as conn:
        s = db.superseded_incidents.c
        old_ids = conn.execute(sa.select(s.incident_id)).scalars().all()
    # Another dataset's rows take one of those ids (SQLite does so by itself here; on
    # PostgreSQL, whose sequence never goes back, the test moves a row there).
    other = env.run(UNKEYED, dataset="other")
    other_id = env.dataset("other")["id"]
    with env.engine.begin() as conn:
        i = db.incidents.c
        taken = set(conn.execute(sa.select(i.id).where(i.dataset_id == other_id)).scalars())
        if not taken & set(old_ids):
            free = sorted(set(old_ids) - set(conn.execute(sa.select(i.id)).scalars()))
            conn.execute(sa.update(db.incidents).where(i.id == min(taken)).values(id=free[0]))
        clash = set(conn.execute(sa.select(i.id).where(i.dataset_id == other_id)).scalars())
    assert clash & set(old_ids) and other["rows_imported"] == 2
    done = ingest.revert_import(env.engine, "ds")
    assert done["restored"] == 3
    same(env.state(ids=False), env.fresh(BASE))
    assert len(env.state("other")["frame"]) == 2


def test_revert_needs_write_access(env):
    env.run(BASE)
    outsider = access.Actor(id=12345, name="outsider", role="editor")
    with pytest.raises(Forbidden):
        ingest.revert_import(env.engine, "ds", actor=outsider)
    assert len(env.state()["frame"]) == 3


# --- deleting datasets -----------------------------------------------------------------------

def test_deleting_keeps_the_audit_record_and_prune_removes_the_files(env):
    first = env.run(BASE)
    env.run(UNKEYED, mode="replace")  # superseded rows too
    env.run(BASE, dataset="kept")
    upload = env.settings.upload_folder
    with env.engine.connect() as conn:
        ds = env.dataset()
        files = [store.get_import(conn, i["id"])["stored_path"]
                 for i in store.list_imports(conn, ds["id"])]
    done = ingest.delete_dataset(env.engine, "ds")
    assert done == {"slug": "ds", "incidents": 2, "imports": 2, "corrections": 0}
    with env.engine.connect() as conn:
        assert store.get_dataset(conn, "ds", missing_ok=True) is None
        for table in (db.incidents, db.incident_grid_cells, db.incident_days,
                      db.superseded_incidents):
            left = conn.execute(sa.select(table.c.dataset_id).distinct()).scalars().all()
            assert left == [env.dataset("kept")["id"]] if table is not \
                db.superseded_incidents else left == [], table.name
        audit = conn.execute(sa.select(db.imports).where(db.imports.c.dataset_slug == "ds")
                             .order_by(db.imports.c.id)).mappings().all()
        assert [(a["id"], a["dataset_id"], a["user_name"]) for a in audit] == [
            (first["import_id"], None, "tester"), (first["import_id"] + 1, None, "tester")]
        deleted = conn.execute(sa.select(db.deleted_datasets)).mappings().one()
        assert (deleted["slug"], deleted["incidents"], deleted["deleted_by"]) == ("ds", 2, "cli")
        # Files only the deleted dataset's imports referred to go; the one "kept" uses stays.
        later = time.time() + 10 * 86400
        pruned = ingest.prune_uploads(conn, upload, older_than_s=3600, now=later)
    removed = {p.name for p in pruned.removed}
    assert files[0] in removed  # UNKEYED's file (the newest import first)
    assert files[1] not in removed and os.path.exists(os.path.join(upload, files[1]))


def test_a_dataset_made_again_under_a_deleted_slug_starts_above_its_version(env):
    env.run(BASE)
    env.run(UNKEYED)
    old = env.dataset()["version"]
    ingest.delete_dataset(env.engine, "ds")
    env.run(BASE)
    assert env.dataset()["version"] == old + 1
    assert env.run(UNKEYED)["version"] == old + 2


def test_only_owners_and_admins_delete(env):
    env.run(BASE)
    with env.engine.begin() as conn:
        from geomap import accounts

        accounts.create_user(conn, "colla", "pass-word-1")
        access.set_member(conn, access.OPERATOR, "ds", "colla", "collaborator")
        user = conn.execute(sa.select(db.users).where(db.users.c.name == "colla")
                            ).mappings().one()
    with pytest.raises(Forbidden, match="only owners of dataset 'ds' and admins may delete"):
        ingest.delete_dataset(env.engine, "ds", actor=access.actor_from(user))
    with pytest.raises(NotFound):
        ingest.delete_dataset(env.engine, "nope")
    assert env.dataset()["slug"] == "ds"


def test_reverting_a_big_replace_rebuilds_sqlite_indexes(app, fake_regions):  # noqa: F811
    """A revert restoring as many rows as the table holds drops the SQLite indexes and
    rebuilds them after (as a big import does); the dataset comes back whole and indexed."""
    from geomap.ingest import storing

    env = Env(app)
    n = storing.BULK_MIN_ROWS
    rows = [(f"K{i}", 49.0 + (i % 97) * 1e-4, -122.7 - (i % 89) * 1e-4,
             f"2025-01-{1 + i % 28:02d}", "crossing", 1 + i % 3, "N") for i in range(n)]
    env.run(rows)
    with env.engine.connect() as conn:
        indexes = sorted(conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'incidents'").all())
    before = env.state()
    env.run(BASE, mode="replace")
    done = ingest.revert_import(env.engine, "ds")
    assert (done["removed"], done["restored"]) == (3, n)
    same(env.state(), before)
    with env.engine.connect() as conn:
        assert sorted(conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'incidents'").all()) == indexes
