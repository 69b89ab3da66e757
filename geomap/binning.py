"""The one grid every map cell, stats query and rollup is binned on.

A cell is a square of ``cell`` degrees; its row and column are counted from an origin that
is a multiple of the cell size (`grid_origin`), so cells stay put when a filter changes the
extent. The key of a value is ``floor((value - origin) / cell + EPS)``: a point on a cell
line lands in the cell above, on every path (numpy `cell_keys`, SQL `sql_cell_key`, the
rollup). The grid rollup is the same grid at `ROLLUP_CELL` degrees counted from (-90, -180);
map cells that are whole multiples of it are sums of rollup cells (`rollup_factor`).

This module knows no database, no Flask and no maps: `store` (rollups), `aggregate` (SQL
grids) and `maps` (numpy grids, cell sizes) all import it, so the lowest layer and the top
one read one definition.
"""

from __future__ import annotations

import math

import numpy as np
import sqlalchemy as sa

#: Nice cell sizes in degrees; the fitted size is the smallest one at or above span / columns.
CELL_SIZES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0)
#: Columns of cells a map aims at across its extent (`fit_cell`).
TARGET_COLUMNS = 400
#: Added to ``(value - origin) / cell`` before the floor: floating error must not move a
#: point that lies on a cell line (0.3 / 0.1 = 2.9999999999999996) into the cell below, and
#: every path adds the same amount so numpy, SQL and the rollup bin alike.
EPS = 1e-9
#: Cell size (degrees) of the grid rollup; every map cell size that is a multiple of it can
#: be summed from the rollup (all of `CELL_SIZES` except the finest).
ROLLUP_CELL = 0.01
#: Rollup keys are counted from (-90, -180), i.e. shifted to be non-negative, so integer
#: division is floor division on every backend: gy = floor((lat + 90) / cell),
#: gx = floor((lon + 180) / cell).
LAT_SHIFT, LON_SHIFT = 90.0, 180.0


def fit_cell(bounds: list[list[float]] | None, columns: int = TARGET_COLUMNS) -> float:
    """Return the grid cell size (degrees) that fits the extent with about `columns` columns.

    Parameters
    ----------
    bounds : list of [lat, lon] pairs, optional
        ``[[lat_min, lon_min], [lat_max, lon_max]]``; None (nothing selected) gives the
        coarsest size.
    columns : int
        Columns wanted across the extent (east-west span, or the north-south span stretched
        by the latitude, whichever is wider).
    """
    if not bounds:
        return CELL_SIZES[-1]
    (lat_min, lon_min), (lat_max, lon_max) = bounds
    mid = math.radians((lat_min + lat_max) / 2)
    span = max(lon_max - lon_min, (lat_max - lat_min) / max(math.cos(mid), 0.2), 0.0)
    wanted = span / columns
    for size in CELL_SIZES:
        if size >= wanted:
            return size
    return CELL_SIZES[-1]


def grid_origin(value: float, cell: float) -> float:
    """Return the grid line at or below value (cells are aligned to multiples of cell)."""
    return math.floor(value / cell) * cell


def cell_keys(values: np.ndarray, origin: float, cell: float) -> np.ndarray:
    """Return each value's cell index counted from origin (int64; see `EPS`)."""
    return np.floor((values - origin) / cell + EPS).astype(np.int64)


def sql_cell_key(conn: sa.Connection, column, shift: float, cell: float = ROLLUP_CELL):
    """Return the SQL expression ``floor((column + shift) / cell + EPS)`` as an integer.

    ``shift`` is minus the origin (``-lat0``), or `LAT_SHIFT` / `LON_SHIFT` for rollup keys;
    ``column + shift`` must not be negative: SQLite's cast truncates, which is floor only
    for values at or above zero.
    """
    scaled = (column + shift) / cell + EPS
    if conn.dialect.name != "sqlite":  # PostgreSQL, and DuckDB (a dataset's columnar copy)
        return sa.cast(sa.func.floor(scaled), sa.Integer)
    return sa.cast(scaled, sa.Integer)


def rollup_keys(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the rollup cell keys (gy, gx) of points, as `sql_cell_key` computes them."""
    return (np.floor((lat + LAT_SHIFT) / ROLLUP_CELL + EPS).astype(np.int64),
            np.floor((lon + LON_SHIFT) / ROLLUP_CELL + EPS).astype(np.int64))


def rollup_factor(rollup_cell: float, cell: float) -> int | None:
    """Return how many rollup cells make one map cell, or None when cell is not a multiple."""
    k = round(cell / rollup_cell)
    if k >= 1 and abs(k * rollup_cell - cell) < 1e-9:
        return k
    return None


def origin_index(origin: float, shift: float, cell: float) -> int:
    """Return the index, counted from ``-shift``, of the map cell whose corner is origin.

    Rollup keys divided by the factor count map cells from (-90, -180); subtracting this
    counts them from the map's origin instead.
    """
    return int(round((origin + shift) / cell))


def cell_centres(gy: np.ndarray, gx: np.ndarray, lat0: float, lon0: float, cell: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Return the centres (lat, lon, rounded to 3 decimals) of cells counted from an origin."""
    return (np.round(lat0 + (gy + 0.5) * cell, 3), np.round(lon0 + (gx + 0.5) * cell, 3))
