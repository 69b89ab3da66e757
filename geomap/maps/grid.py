"""Grid cells of a map: cells summed with numpy, coarsening to a cap, cell centres.

The grid itself (cell sizes, origin, keys) is `geomap.binning`'s, shared with the SQL
aggregation and the rollups, so every path bins alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import binning

def group_cells(gy: np.ndarray, gx: np.ndarray, n: np.ndarray, total: np.ndarray,
                extra: np.ndarray | None = None) -> pd.DataFrame:
    """Sum n and total per (gy, gx[, extra]) with numpy (fast at millions of rows)."""
    if len(gy) == 0:
        cols = {"gy": [], "gx": [], "n": [], "total": []}
        if extra is not None:
            cols["pidx"] = []
        return pd.DataFrame({k: np.asarray(v, dtype=np.int64) for k, v in cols.items()})
    columns = [gy, gx] if extra is None else [gy, gx, extra]
    # One int64 key per row (mixed radix) makes np.unique a fast 1-D sort.
    key = np.zeros(len(gy), dtype=np.int64)
    radices = []
    for col in columns:
        radix = int(col.max()) + 1 if len(col) else 1
        radices.append(radix)
        key = key * radix + col
    uniq, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.ravel()
    parts = []
    rest = uniq
    for radix in reversed(radices):
        parts.append(rest % radix)
        rest = rest // radix
    parts.reverse()
    out = {"gy": parts[0], "gx": parts[1],
           "n": np.bincount(inverse, weights=n, minlength=len(uniq)).astype(np.int64),
           "total": np.bincount(inverse, weights=total, minlength=len(uniq)).astype(np.int64)}
    if extra is not None:
        out["pidx"] = parts[2]
    return pd.DataFrame(out)


def coarsen(cells: pd.DataFrame, factor: int, by_period: bool = False) -> pd.DataFrame:
    """Merge factor x factor blocks of grid cells (same origin) into one cell each."""
    if factor == 1 or cells.empty:
        return cells
    extra = cells["pidx"].to_numpy() if by_period else None
    return group_cells(cells["gy"].to_numpy() // factor, cells["gx"].to_numpy() // factor,
                        cells["n"].to_numpy(), cells["total"].to_numpy(), extra)


def fit_grid(cells: pd.DataFrame, cell: float, max_cells: int, *, by_period: bool = False
             ) -> tuple[pd.DataFrame, float]:
    """Coarsen a fine grid by integer factors until it has at most max_cells cells."""
    factor = 1
    out = cells
    while len(out) > max_cells and factor < 4096:
        factor *= 2
        out = coarsen(cells, factor, by_period)
    return out, cell * factor


def cell_centres(cells: pd.DataFrame, lat0: float, lon0: float, cell: float) -> pd.DataFrame:
    """Return the cells (``gy``, ``gx``) with their centres as ``lat``, ``lon`` (3 decimals)."""
    out = cells.copy()
    out["lat"], out["lon"] = binning.cell_centres(cells["gy"].to_numpy(), cells["gx"].to_numpy(),
                                                  lat0, lon0, cell)
    return out


def bounds_of(lat_min, lat_max, lon_min, lon_max) -> list[list[float]] | None:
    """Return ``[[lat_min, lon_min], [lat_max, lon_max]]`` (4 decimals); None when empty."""
    if lat_min is None or lat_max is None or pd.isna(lat_min):
        return None
    return [[round(float(lat_min), 4), round(float(lon_min), 4)],
            [round(float(lat_max), 4), round(float(lon_max), 4)]]
