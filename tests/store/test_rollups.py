"""Rollups: a merged append equals a rebuild."""

from db_helpers import day_rollup
from geomap import store


def _rollup(conn, dataset_id):
    from geomap import db
    import sqlalchemy as sa

    cells = db.incident_grid_cells
    rows = conn.execute(sa.select(cells).where(cells.c.dataset_id == dataset_id)
                        .order_by(cells.c.gy, cells.c.gx)).all()
    grid = conn.execute(sa.select(db.incident_grids.c.cells)
                        .where(db.incident_grids.c.dataset_id == dataset_id)).scalar_one()
    return [tuple(r) for r in rows], grid, day_rollup(conn, dataset_id)


def test_merged_rollup_of_an_append_equals_a_rebuild(conn):
    from maps_fixtures import incident_rows

    ds = store.create_dataset(conn, "merge", "Merge")
    first = incident_rows(300, seed=1, dataset_id=ds["id"])
    store.insert_incidents(conn, first)
    store.bump_version(conn, ds["id"])  # full rebuild
    # Appended rows: some in cells the rollup has (new extremes), some in new cells.
    added = incident_rows(200, seed=2, dataset_id=ds["id"])
    added.loc[:49, "lat"] = added.loc[:49, "lat"] + 1.5
    added.loc[50:52, ["lat", "lon"]] = [[49.0, -122.0], [48.9, -122.7], [49.2, -121.9]]
    rollup = store.RollupAccumulator(delta=True)
    rollup.add(added)
    store.insert_incidents(conn, added)
    store.bump_version(conn, ds["id"], rollup=rollup)
    merged = _rollup(conn, ds["id"])
    store.refresh_rollups(conn, ds["id"])
    assert merged == _rollup(conn, ds["id"])
    assert merged[1] == len(merged[0])


def test_merge_without_a_rollup_rebuilds_it(conn):
    from maps_fixtures import incident_rows

    ds = store.create_dataset(conn, "norollup", "No rollup")
    rows = incident_rows(50, dataset_id=ds["id"])
    store.insert_incidents(conn, rows)
    rollup = store.RollupAccumulator(delta=True)  # saw none of the rows already there
    assert store.merge_rollups(conn, ds["id"], rollup) > 0
    merged = _rollup(conn, ds["id"])
    store.refresh_rollups(conn, ds["id"])
    assert merged == _rollup(conn, ds["id"])
