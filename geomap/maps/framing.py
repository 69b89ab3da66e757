"""The first view of a map: the smallest box holding most of the data's weight, so a few
outliers (an incident in Alaska, a stray point at sea) do not shrink the border to a sliver.

`weight_box` works on any weighted points; the reduce step gives it the grid cells (or
points) it has already computed, so framing costs no extra pass over the incidents.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

#: Share of the weight the first view holds (the rest may fall outside it).
VIEW_SHARE = 0.98
#: Points beyond this many are pre-binned (0.05° cells) before the search.
MAX_POINTS = 5000


def weight_box(lat, lon, weight, share: float = VIEW_SHARE, pad: float = 0.0,
               steps: int = 8) -> list[list[float]] | None:
    """Return the smallest lat/lon box holding at least `share` of the weight.

    Parameters
    ----------
    lat, lon : array_like of float
        Point (or cell centre) coordinates in degrees.
    weight : array_like of float
        Weight of each point (the sum of count); points without weight are ignored.
    share : float
        Least share of the total weight inside the box.
    pad : float
        Degrees added on each side (half a grid cell, so cells' edges are inside).
    steps : int
        Each side's trim is searched in steps of ``(1 - share) * 2 / steps`` of the weight.

    Returns
    -------
    list or None
        ``[[lat_min, lon_min], [lat_max, lon_max]]`` (4 decimals, rounded outwards), or
        None without weight.

    Notes
    -----
    The candidates trim a share of the weight off each of the four sides (by the weighted
    quantiles of latitude and of longitude), up to twice the allowance in all: trims that
    remove the same points (Alaska is both the western and the northern tail) cost it only
    once, which the exact count of the weight inside each candidate checks. The smallest
    candidate by area (degrees of longitude scaled by the cosine of the latitude) wins, so
    Alaska and the lower 48 are framed together only when both hold a real share.
    """
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    weight = np.asarray(weight, dtype=float)
    keep = (weight > 0) & np.isfinite(lat) & np.isfinite(lon)
    lat, lon, weight = lat[keep], lon[keep], weight[keep]
    if lat.size == 0:
        return None
    if lat.size > MAX_POINTS:
        lat, lon, weight = _binned(lat, lon, weight, 0.05)
        pad += 0.025  # the cells' edges, not only their centres
    total = float(weight.sum())
    allowance = (1.0 - share) * total
    fractions = np.linspace(0.0, 2 * (1.0 - share), steps + 1) * total
    lat_lo, lat_hi = _cuts(lat, weight, fractions)
    lon_lo, lon_hi = _cuts(lon, weight, fractions)
    best = None
    for a, b, c, d in itertools.product(range(steps + 1), repeat=4):
        if a + b + c + d > steps:
            continue
        box = (lat_lo[a], lat_hi[b], lon_lo[c], lon_hi[d])
        if box[0] > box[1] or box[2] > box[3]:
            continue
        if (fractions[a] + fractions[b] + fractions[c] + fractions[d]) > allowance + 1e-9:
            inside = ((lat >= box[0]) & (lat <= box[1]) & (lon >= box[2]) & (lon <= box[3]))
            if float(weight[inside].sum()) < share * total - 1e-9:
                continue
        mid = math.radians((box[0] + box[1]) / 2)
        area = (box[1] - box[0] + 1e-6) * (box[3] - box[2] + 1e-6) * max(math.cos(mid), 0.1)
        if best is None or area < best[0] - 1e-12:
            best = (area, box)
    lat_min, lat_max, lon_min, lon_max = (float(v) for v in best[1])
    # Rounded outwards (4 decimals), so the points on the edges stay inside.
    down = lambda v: math.floor(round(v * 1e4, 6)) / 1e4  # noqa: E731
    up = lambda v: math.ceil(round(v * 1e4, 6)) / 1e4  # noqa: E731
    return [[down(lat_min - pad), down(lon_min - pad)], [up(lat_max + pad), up(lon_max + pad)]]


def _cuts(values: np.ndarray, weight: np.ndarray, fractions: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest values kept when each fraction of the weight is cut off a side."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weight[order]
    below = np.cumsum(w)
    above = np.cumsum(w[::-1])
    # Cutting f off the low side keeps values from the first one whose cumulative weight
    # (itself included) passes f, so at most f is cut; likewise from the high side.
    lo = v[np.minimum(np.searchsorted(below, fractions + 1e-9, side="left"), v.size - 1)]
    hi = v[::-1][np.minimum(np.searchsorted(above, fractions + 1e-9, side="left"), v.size - 1)]
    return lo, hi


def _binned(lat: np.ndarray, lon: np.ndarray, weight: np.ndarray, cell: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum weights per `cell`-degree square (centres returned): fewer points, same shape."""
    gy = np.floor(lat / cell).astype(np.int64)
    gx = np.floor(lon / cell).astype(np.int64)
    keys, inverse = np.unique(np.stack([gy, gx], axis=1), axis=0, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=weight)
    return (keys[:, 0] + 0.5) * cell, (keys[:, 1] + 0.5) * cell, sums
