"""Stats from the day rollup answer exactly as grouping the incidents does."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from geomap import aggregate, db, store

from .helpers import FILTERS, rows as _rows


def _answers(conn, dataset_id: int, filters: dict) -> list[pd.DataFrame]:
    out = [aggregate.by_period(conn, dataset_id, filters, period)
           for period in aggregate.PERIOD_FORMATS]
    for column in store.DAY_COLUMNS:
        out.append(aggregate.by_column(conn, dataset_id, filters, column))
        out.append(aggregate.by_column(conn, dataset_id, filters, column, period="month"))
    return out


@pytest.mark.parametrize("filters", FILTERS)
def test_the_day_rollup_answers_as_the_incidents_do(conn, filters):
    ds = store.create_dataset(conn, "days", "Days")
    store.insert_incidents(conn, _rows(ds["id"]))
    store.write_rollups(conn, ds["id"])
    rolled = _answers(conn, ds["id"], filters)
    # Without the dataset's row in incident_grids, readers group the incidents.
    conn.execute(sa.delete(db.incident_grids).where(db.incident_grids.c.dataset_id == ds["id"]))
    direct = _answers(conn, ds["id"], filters)
    for got, expected in zip(rolled, direct):
        pd.testing.assert_frame_equal(got, expected)
    if filters.get("admin1") != ("US-NY",):
        assert all(len(frame) for frame in direct)


def test_the_rollup_is_read_only_for_bounds_on_whole_days(conn):
    ds = store.create_dataset(conn, "days", "Days")
    store.insert_incidents(conn, _rows(ds["id"]))
    store.write_rollups(conn, ds["id"])
    whole = {"from": dt.datetime(2025, 2, 5)}
    partial = {"from": dt.datetime(2025, 2, 5, 12)}
    expected = [aggregate.by_period(conn, ds["id"], f) for f in (whole, partial)]
    assert expected[0]["n"].sum() > expected[1]["n"].sum()  # the half day counts
    # Doubling the rollup's counts shows which answers come from it.
    conn.execute(sa.update(db.incident_days).values(n=db.incident_days.c.n * 2))
    assert (aggregate.by_period(conn, ds["id"], whole)["n"] == expected[0]["n"] * 2).all()
    pd.testing.assert_frame_equal(aggregate.by_period(conn, ds["id"], partial), expected[1])
    # Columns the rollup does not hold are grouped from the incidents.
    assert aggregate.by_column(conn, ds["id"], whole, "at_border")["n"].sum() == \
        expected[0]["n"].sum()
