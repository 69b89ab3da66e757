"""The vectorised join of points to admin1, side of the border, sector and border position."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .border import border_position
from .index import _lookup
from .layers import Regions, load

#: Default area of interest: points within this geodesic distance of the border.
DEFAULT_AOI_KM = 500.0


def assign(lon, lat, regions: Regions | None = None, *, at_border_m: float = 100.0,
           max_border_km: float = 100.0, aoi_km: float = DEFAULT_AOI_KM) -> pd.DataFrame:
    """Join points to admin1, side of the border, sector and border position.

    Parameters
    ----------
    lon, lat : array_like of float
        WGS84 longitude and latitude in degrees (EPSG:4326).
    regions : Regions, optional
        Loaded layers; defaults to :func:`load` of the project's GeoPackage.
    at_border_m : float
        Points within this geodesic distance of the border get ``at_border``.
    max_border_km : float
        Canadian-side points within this distance get the sector of the nearest
        stretch of border.
    aoi_km : float
        Points farther than this from the border are outside the area of interest.

    Returns
    -------
    pandas.DataFrame
        One row per point: ``admin1``, ``country``, ``sector``, ``border_mile``,
        ``border_km`` (negative on the US side, positive on the Canadian side),
        ``at_border`` and ``reason`` (None inside the area of interest).
    """
    regions = regions or load()
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    n = len(lon)
    valid = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    vi = np.flatnonzero(valid)
    x, y = lon[vi], lat[vi]

    a_idx = _lookup(regions._admin1_index, regions._admin1_grid, x, y)
    codes = regions.admin1["code"].to_numpy(dtype=object)
    countries = regions.admin1["country"].to_numpy(dtype=object)
    admin1 = np.full(n, None, dtype=object)
    country = np.full(n, None, dtype=object)
    hit = a_idx >= 0
    admin1[vi[hit]] = codes[a_idx[hit]]
    country[vi[hit]] = countries[a_idx[hit]]

    pos = border_position(x, y, regions, exact_near=(
        at_border_m, max_border_km * 1000.0, aoi_km * 1000.0))
    dist = pos["distance_m"]
    # Country per point from its admin1 row (64 string comparisons, not one per point).
    row = np.where(hit, a_idx, 0)
    is_us = hit & (countries == "US")[row]
    is_ca = hit & (countries == "CA")[row]
    # Outside both countries (open sea) the side comes from the border's orientation.
    us_side = np.where(is_us, True, np.where(is_ca, False, pos["us_side_by_line"]))
    border_km = np.full(n, np.nan)
    border_km[vi] = np.where(us_side, -dist, dist) / 1000.0
    border_mile = np.full(n, np.nan)
    border_mile[vi] = pos["mile"]

    sector = np.full(n, None, dtype=object)
    s_codes = regions.sectors["code"].to_numpy(dtype=object)
    us_i = np.flatnonzero(is_us)
    if len(us_i):
        s_idx = _lookup(regions._sector_index, regions._sector_grid, x[us_i], y[us_i])
        ok = s_idx >= 0
        sector[vi[us_i[ok]]] = s_codes[s_idx[ok]]
    near_ca = is_ca & (dist <= max_border_km * 1000.0)
    sector[vi[near_ca]] = pos["sector"][near_ca]

    at_border = np.zeros(n, dtype=bool)
    at_border[vi] = dist <= at_border_m

    reason = np.full(n, None, dtype=object)
    reason[~valid] = "invalid coordinates (longitude must be -180..180, latitude -90..90)"
    far = np.flatnonzero(dist > aoi_km * 1000.0)
    if len(far):
        # ",.0f" rounds half to even like np.rint, so each distinct whole number of
        # kilometres is formatted once (a quarter of a million far points is common).
        km, inverse = np.unique(np.rint(dist[far] / 1000.0), return_inverse=True)
        text = np.array([f"outside the US–Canada border area ({k:,.0f} km from the border)"
                         for k in km], dtype=object)
        reason[vi[far]] = text[inverse]

    # Explicit object dtype keeps None (pandas 3 would infer a string dtype with NaN).
    return pd.DataFrame({
        "admin1": pd.Series(admin1, dtype=object),
        "country": pd.Series(country, dtype=object),
        "sector": pd.Series(sector, dtype=object),
        "border_mile": border_mile, "border_km": border_km,
        "at_border": at_border,
        "reason": pd.Series(reason, dtype=object),
    })
