"""Points measured against the border (distance, mile, side, sector); border miles per unit."""

from __future__ import annotations

import functools

import numpy as np

from .geodesy import GEOD, _local_distance
from .layers import Regions, _load, load
from .line_index import K_VERTICES, LEVELS

#: Points measured on the middle levels (~2-165 km from the border) whose distance is below
#: this get the local ellipsoidal approximation instead of the geodesic inverse: error
#: <= 0.1 m within 20 km and <= 40 m at 150 km, far inside those levels' own bounds.
APPROX_MAX_M = 150_000.0
#: Around each threshold passed as ``exact_near`` the distance is always geodesic.
EXACT_MARGIN_M = 1_000.0


def border_position(lon, lat, regions: Regions | None = None, *,
                    exact_near: tuple = ()) -> dict:
    """Measure points against the border: geodesic distance, border mile, side, sector.

    Points within ~2 km of the border are measured on the full-resolution line;
    farther points on simplified copies (see ``LEVELS``): the error stays below 25 m
    within 20 km, 500 m within 150 km and 5 km beyond. The distance to the nearest point
    is geodesic (``Geod.inv``) within ~2 km, beyond `APPROX_MAX_M` and within
    `EXACT_MARGIN_M` of every distance in `exact_near` (metres: the thresholds the caller
    compares with); elsewhere a local ellipsoidal formula within 0.1 m (20 km) to 40 m
    (150 km) of it.

    Parameters
    ----------
    lon, lat : array_like
        WGS84 coordinates (degrees, EPSG:4326); must be finite and in range.
    exact_near : tuple of float
        Distances (m) around which the geodesic inverse is always used.

    Returns
    -------
    dict of numpy arrays
        ``distance_m`` (unsigned, geodesic), ``mile``, ``us_side_by_line`` (True where
        the point lies on the US side of the directed line) and ``sector`` (of the
        nearest stretch of border).
    """
    regions = regions or load()
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    px, py = regions._to_search.transform(lon, lat)
    n = len(px)
    level = np.zeros(n, dtype=np.int64)
    seg = np.zeros(n, dtype=np.int64)
    tt = np.zeros(n)
    # Each point starts on the first level the grid cannot rule out; on the levels it
    # skips it would have continued anyway, so the answer is the same.
    first = (regions._border_grid.codes(px, py) if regions._border_grid is not None
             else np.zeros(n, dtype=np.int8))
    todo = np.empty(0, dtype=np.int64)
    for k, (index, (tol, spacing, refine_below)) in enumerate(zip(regions._levels, LEVELS)):
        todo = np.concatenate([todo, np.flatnonzero(first == k)])
        if not len(todo):
            continue
        # Two vertices suffice on the simplified levels, whose vertices are sparse
        # relative to the distances searched; the full line uses K_VERTICES.
        d_v, vi = index.tree.query(np.column_stack([px[todo], py[todo]]),
                                   k=K_VERTICES if refine_below is None else 2, workers=-1)
        if refine_below is None:
            stop = np.ones(len(todo), dtype=bool)
        else:
            # The nearest vertex is at most half a spacing farther than the line, and
            # the next line is within `tol` of this one: this margin cannot miss.
            stop = d_v[:, 0] > refine_below + tol + spacing / 2
        here = todo[stop]
        if len(here):
            s_k, t_k, _ = index.evaluate(px[here], py[here], vi[stop])
            level[here], seg[here], tt[here] = k, s_k, t_k
        todo = todo[~stop]

    # One gather per attribute from the levels' segments stacked end to end.
    row = regions._seg_offset[level] + seg
    table = regions._segments
    lonlat, xy = table["seg_lonlat"][row], table["seg_xy"][row]
    # The border is a straight line in lon/lat between vertices (as are the polygon
    # edges the join uses), so the nearest point is placed on that line.
    qlon = lonlat[:, 0] + tt * (lonlat[:, 2] - lonlat[:, 0])
    qlat = lonlat[:, 1] + tt * (lonlat[:, 3] - lonlat[:, 1])
    # Geodesic inverse where it decides something or the search is exact; the local
    # formula on the middle levels (a third of the time of the whole measure otherwise).
    dist = np.empty(n)
    mid = np.flatnonzero((level != 0) & (level != len(LEVELS) - 1))
    d_mid = _local_distance(lon[mid], lat[mid], qlon[mid], qlat[mid])
    exact = d_mid >= APPROX_MAX_M
    for threshold in exact_near:
        exact |= np.abs(d_mid - threshold) < EXACT_MARGIN_M
    dist[mid] = d_mid
    geodesic = np.ones(n, dtype=bool)
    geodesic[mid[~exact]] = False
    sel = np.flatnonzero(geodesic)
    if len(sel):
        _, _, dist[sel] = GEOD.inv(lon[sel], lat[sel], qlon[sel], qlat[sel])
    dx, dy = xy[:, 2] - xy[:, 0], xy[:, 3] - xy[:, 1]
    cross = dx * (py - xy[:, 1]) - dy * (px - xy[:, 0])
    return {
        "distance_m": dist,
        "mile": table["seg_mile0"][row] + tt * table["seg_miles"][row],
        "us_side_by_line": (cross > 0) == table["seg_us_left"][row],
        "sector": regions.sectors["code"].to_numpy(dtype=object)[table["seg_sector"][row]],
    }


@functools.cache
def _border_miles(path: str) -> dict[str, float]:
    regions = _load(path)
    level = regions._levels[-1]
    lon0, lat0, lon1, lat1 = level.seg_lonlat.T
    mid_lon, mid_lat = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    # Unit normal of each segment in a local equirectangular frame, 200 m long.
    coslat = np.cos(np.radians(mid_lat))
    dx, dy = (lon1 - lon0) * coslat, lat1 - lat0
    norm = np.hypot(dx, dy)
    norm[norm == 0] = 1.0
    step = 200.0 / 111_320.0
    nx, ny = -dy / norm * step, dx / norm * step
    miles: dict[str, float] = {}
    codes = regions.admin1["code"].to_numpy(dtype=object)
    s_codes = regions.sectors["code"].to_numpy(dtype=object)
    found = []
    for sign in (1.0, -1.0):
        px, py = mid_lon + sign * nx / coslat, mid_lat + sign * ny
        found.append(regions._admin1_index.lookup(px, py))
    # Each segment counts once for every distinct unit on either side of it.
    for a, b, length in zip(found[0], found[1], level.seg_miles):
        for idx in {a, b} - {-1}:
            miles[codes[idx]] = miles.get(codes[idx], 0.0) + float(length)
    sector_rows = level.seg_sector
    for row, length in zip(sector_rows, level.seg_miles):
        if row >= 0:
            miles[s_codes[row]] = miles.get(s_codes[row], 0.0) + float(length)
    return miles


def border_miles(regions: Regions | None = None) -> dict[str, float]:
    """Return the miles of international border each state, province and sector touches.

    Each full-resolution border segment counts for the admin1 units found 200 m to either
    side of its midpoint and for the sector of its US side. Used to show counts per border
    mile.

    Parameters
    ----------
    regions : Regions, optional
        Loaded layers; defaults to :func:`load` of the project's GeoPackage.

    Returns
    -------
    dict of str to float
        Code (``US-WA``, ``CA-BC``, ``BLW`` …) to geodesic miles.
    """
    regions = regions or load()
    return dict(_border_miles(str(regions.path.resolve())))
