"""Aggregation at volume: the grid rollup, covering indexes and the 0001 -> head migration."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command

from geomap import aggregate, db, maps, store

from db_helpers import day_rollup, insert_before_0003
from maps_fixtures import incident_rows


def wide_rows(n: int, dataset_id: int, *, span: float = 55.0, seed: int = 3) -> pd.DataFrame:
    """n incidents spread over `span` degrees of longitude along the border, some on cell lines."""
    rng = np.random.default_rng(seed)
    frame = incident_rows(n, seed=seed, dataset_id=dataset_id)
    frame["lon"] = -123.0 + rng.uniform(0, span, n)
    frame["lat"] = 48.5 + rng.uniform(0, 1.0, n)
    # Points exactly on rollup and map cell lines, and at the extremes of the extent.
    frame.loc[:4, "lat"] = [49.0, 48.6, 48.8, 49.2, 49.4]
    frame.loc[:4, "lon"] = [-122.0, -121.8, -100.0, -95.2, -80.0]
    frame["row_hash"] = np.arange(n) + seed * 10**6
    return frame


def _cells(agg) -> pd.DataFrame:
    cols = ["lat", "lon", "n", "total"]
    return agg.cells[cols].sort_values(["lat", "lon"]).reset_index(drop=True)


def _drop_rollup(conn, dataset_id: int) -> None:
    conn.execute(sa.delete(db.incident_grids).where(db.incident_grids.c.dataset_id == dataset_id))


@pytest.mark.parametrize("span, max_cells", [(55.0, 6000), (55.0, 40), (6.0, 6000), (1.5, 6000)])
@pytest.mark.parametrize("layer", ["heat", "cluster"])
def test_rollup_grid_matches_the_direct_grid(conn, span, max_cells, layer):
    row = store.create_dataset(conn, "wide", "Wide", published=True)
    frame = wide_rows(400, row["id"], span=span)
    store.insert_incidents(conn, frame)
    spec = maps.MapSpec(layer=layer, heat_max_cells=max_cells, cluster_limit=10)
    direct = maps.aggregate_db(conn, row["id"], {}, spec)
    assert store.refresh_rollups(conn, row["id"]) > 0
    rolled = maps.aggregate_db(conn, row["id"], {}, spec)
    expected = maps.aggregate_frame(frame, spec)
    assert rolled.n == direct.n == expected.n == 400
    assert rolled.total == direct.total == expected.total
    assert rolled.bounds == direct.bounds == expected.bounds
    assert rolled.cell == direct.cell == expected.cell
    pd.testing.assert_frame_equal(_cells(rolled), _cells(direct), check_dtype=False)
    pd.testing.assert_frame_equal(_cells(rolled), _cells(expected), check_dtype=False)


def test_rollup_is_used_only_without_filters(conn):
    row = store.create_dataset(conn, "wide", "Wide", published=True)
    store.insert_incidents(conn, wide_rows(300, row["id"]))
    store.refresh_rollups(conn, row["id"])
    ext = aggregate.rollup_extent(conn, row["id"])
    assert ext["n"] == 300 and ext["rollup_cell"] == store.GRID_ROLLUP_CELL
    assert ext == {**aggregate.extent(conn, row["id"], None),
                   "rollup_cell": store.GRID_ROLLUP_CELL}
    # Rollup cells now disagree with the incidents: a filter must still read the incidents,
    # no filter reads the rollup (which is why every change of incidents rebuilds it).
    conn.execute(sa.update(db.incident_grid_cells).values(n=db.incident_grid_cells.c.n * 2))
    spec = maps.MapSpec(layer="heat")
    assert maps.aggregate_db(conn, row["id"], {}, spec).n == 600
    assert maps.aggregate_db(conn, row["id"], {"from": dt.datetime(2025, 1, 1)}, spec).n == 300
    _drop_rollup(conn, row["id"])
    assert aggregate.rollup_extent(conn, row["id"]) is None
    assert maps.aggregate_db(conn, row["id"], {}, spec).n == 300


def test_bump_version_rebuilds_the_rollup(conn):
    row = store.create_dataset(conn, "wide", "Wide", published=True)
    store.insert_incidents(conn, wide_rows(100, row["id"]))
    store.bump_version(conn, row["id"])
    assert aggregate.rollup_extent(conn, row["id"])["n"] == 100
    store.insert_incidents(conn, wide_rows(50, row["id"], seed=9))
    store.bump_version(conn, row["id"])
    assert aggregate.rollup_extent(conn, row["id"])["n"] == 150
    store.delete_incidents(conn, row["id"])
    store.bump_version(conn, row["id"])
    empty = aggregate.rollup_extent(conn, row["id"])
    assert empty["n"] == 0 and empty["lat_min"] is None
    assert maps.aggregate_db(conn, row["id"], {}, maps.MapSpec()).n == 0


CSV = "\n".join(["source_id,date,lat,lon,count,direction"] + [
    f"r{i},2025-01-{1 + i % 28:02d},{49.0 + (i % 7) * 0.01:.4f},{-122.75 + i * 0.4:.4f},"
    f"{1 + i % 3},northbound" for i in range(120)]).encode() + b"\n"


def test_imports_build_the_rollup(any_app):
    """A first import (which creates the dataset) and later ones leave a current rollup."""
    client = any_app.test_client()
    from geomap import accounts

    engine = db.engine_for(any_app.config["DATABASE_URL"])
    with engine.begin() as conn:
        token = accounts.create_token(conn, "writer")
        store.create_dataset(conn, "placeholder", "Placeholder")
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    response = client.post("/api/datasets/fresh/incidents?publish=true", data=CSV, headers=auth)
    assert response.status_code in (200, 201), response.get_json()
    with engine.connect() as conn:
        dataset = store.get_dataset(conn, "fresh")
        ext = aggregate.rollup_extent(conn, dataset["id"])
        assert ext is not None and ext["n"] == store.count_incidents(conn, dataset["id"])
    more = CSV.replace(b"r", b"s").replace(b"2025-01", b"2025-02")
    response = client.post("/api/datasets/fresh/incidents", data=more, headers=auth)
    assert response.status_code in (200, 201), response.get_json()
    with engine.connect() as conn:
        n = store.count_incidents(conn, dataset["id"])
        assert n > ext["n"] and aggregate.rollup_extent(conn, dataset["id"])["n"] == n


def test_upgrade_from_0001_keeps_data(database_url):
    """A database at revision 0001 holding data migrates to head with nothing lost."""
    engine = db.engine_for(database_url)
    cfg = db.alembic_config(database_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        assert db.current_revision(conn) == "0001"
        now = dt.datetime(2025, 3, 1)
        conn.execute(sa.insert(db.datasets).values(slug="old", title="Old", published=True,
                                                   created_at=now, updated_at=now))
        dataset_id = conn.execute(sa.select(db.datasets.c.id)).scalar_one()
        frame = wide_rows(200, dataset_id)
        insert_before_0003(conn, frame)
    db.migrate(database_url)
    with engine.begin() as conn:
        assert db.current_revision(conn) == db.head_revision() != "0001"
        assert store.count_incidents(conn, dataset_id) == 200
        total = conn.execute(sa.select(sa.func.sum(db.incidents.c["count"]))).scalar_one()
        assert total == int(frame["count"].sum())
        indexes = {ix["name"]: ix for ix in sa.inspect(conn).get_indexes("incidents")}
        # 0002's covering indexes went with 0005 (the day rollup answers region stats).
        assert "ix_incidents_dataset_date" in indexes
        assert not {"ix_incidents_dataset_sector", "ix_incidents_dataset_admin1"} & set(indexes)
        days = day_rollup(conn, dataset_id)
        assert sum(r[-1] for r in days) == total and sum(r[-2] for r in days) == 200
        # No grid rollup yet: maps and stats read the incidents until the next import
        # builds the rollups.
        assert aggregate.rollup_extent(conn, dataset_id) is None
        spec = maps.MapSpec(layer="heat")
        before = maps.aggregate_db(conn, dataset_id, {}, spec)
        by_state = aggregate.by_column(conn, dataset_id, {}, "admin1", period="week")
        store.bump_version(conn, dataset_id)
        after = maps.aggregate_db(conn, dataset_id, {}, spec)
        assert before.n == after.n == 200
        pd.testing.assert_frame_equal(_cells(before), _cells(after), check_dtype=False)
        pd.testing.assert_frame_equal(
            by_state, aggregate.by_column(conn, dataset_id, {}, "admin1", period="week"))
        assert day_rollup(conn, dataset_id) == days
    # And back down (the downgrade restores 0001's indexes and drops the rollup).
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with engine.begin() as conn:
        assert store.count_incidents(conn, dataset_id) == 200
        assert not sa.inspect(conn).has_table("incident_grids")
