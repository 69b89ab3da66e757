"""Coordinate systems, the WGS84 ellipsoid and geodesic lengths the region join measures with."""

from __future__ import annotations

import numpy as np
from pyproj import Geod

CRS = "EPSG:4326"
#: Conformal projection covering the whole border (NAD83 / Canada Atlas Lambert); used
#: only to find the nearest border segment, the distance itself is geodesic.
SEARCH_CRS = "EPSG:3978"
METRES_PER_MILE = 1609.344
GEOD = Geod(ellps="WGS84")
_A, _F = 6378137.0, 1 / 298.257223563  # WGS84
_E2 = _F * (2 - _F)


def geodesic_miles(lonlat) -> np.ndarray:
    """Cumulative geodesic (WGS84) length in miles at each vertex of a lon/lat line (n, 2)."""
    c = np.asarray(lonlat)
    _, _, d = GEOD.inv(c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1])
    return np.concatenate([[0.0], np.cumsum(d)]) / METRES_PER_MILE


def _local_distance(lon0, lat0, lon1, lat1) -> np.ndarray:
    """Ellipsoidal distance (m) by the meridian and prime-vertical radii at the mid-latitude.

    Accurate to 0.1 m up to 20 km and 40 m at 150 km between 40 and 72 degrees north
    (checked against ``Geod.inv``); used only below `geomap.regions.border.APPROX_MAX_M`,
    where the simplified search levels' own error is larger.
    """
    mid = np.radians((lat0 + lat1) * 0.5)
    sin = np.sin(mid)
    w = 1.0 - _E2 * sin * sin
    north = _A * (1.0 - _E2) / (w * np.sqrt(w)) * np.radians(lat1 - lat0)
    east = _A / np.sqrt(w) * np.cos(mid) * np.radians(lon1 - lon0)
    return np.hypot(north, east)
