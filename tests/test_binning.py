"""The one grid: numpy, SQL and rollup keys agree, also for points on cell lines."""

import numpy as np
import pytest
import sqlalchemy as sa

from geomap import binning, maps, store


def _sql_keys(values, shift, cell):
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        rows = sa.union_all(*(sa.select(sa.literal(float(v)).label("v")) for v in values)
                            ).subquery()
        query = sa.select(binning.sql_cell_key(conn, rows.c.v, shift, cell))
        return [int(k) for k in conn.execute(query).scalars()]


@pytest.mark.parametrize("cell", [0.005, 0.01, 0.1, 0.25])
def test_numpy_and_sql_keys_agree_on_cell_lines(cell):
    origin = binning.grid_origin(40.0, cell)
    values = np.array([40.0, 40.3, 40.0 + 3 * cell, 40.0 + 7 * cell + 1e-12, 41.234567])
    assert binning.cell_keys(values, origin, cell).tolist() == _sql_keys(values, -origin, cell)


def test_rollup_keys_are_the_sql_rollup_keys():
    lat = np.array([45.0, 45.01, 49.0, -10.005])
    lon = np.array([-75.0, -122.33, 0.0, 179.99])
    gy, gx = binning.rollup_keys(lat, lon)
    assert gy.tolist() == _sql_keys(lat, binning.LAT_SHIFT, binning.ROLLUP_CELL)
    assert gx.tolist() == _sql_keys(lon, binning.LON_SHIFT, binning.ROLLUP_CELL)


def test_one_definition_everywhere():
    assert maps.CELL_SIZES is binning.CELL_SIZES
    assert store.GRID_ROLLUP_CELL == binning.ROLLUP_CELL
    assert binning.rollup_factor(binning.ROLLUP_CELL, 0.2) == 20
    assert binning.rollup_factor(binning.ROLLUP_CELL, binning.CELL_SIZES[0]) is None
