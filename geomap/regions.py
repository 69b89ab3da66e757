"""Fast, vectorised join of points to states/provinces, Border Patrol sectors and the border.

The layers live in ``shapefiles/regions.gpkg`` (built by :mod:`geomap.regions_build`, see
``shapefiles/README.md``).  All coordinates are WGS84 longitude/latitude (EPSG:4326);
distances are geodesic on the WGS84 ellipsoid.  This module does not import Flask.

Border miles: 0 at the Pacific end of the lower-48 boundary (Strait of Juan de Fuca),
increasing eastward to the Atlantic (Grand Manan Channel); the Alaska–Canada boundary
continues the count from the lower-48 total, starting at Dixon Entrance (Pacific) and
ending in the Beaufort Sea.
"""

from __future__ import annotations

import functools
import pathlib
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod, Transformer

CRS = "EPSG:4326"
#: Conformal projection covering the whole border (NAD83 / Canada Atlas Lambert); used
#: only to find the nearest border segment, the distance itself is geodesic.
SEARCH_CRS = "EPSG:3978"
DEFAULT_PATH = pathlib.Path(__file__).resolve().parent.parent / "shapefiles" / "regions.gpkg"
#: Default area of interest: points within this geodesic distance of the border.
DEFAULT_AOI_KM = 500.0
METRES_PER_MILE = 1609.344
GEOD = Geod(ellps="WGS84")

#: ISO 3166-2 style codes and English names of the 64 admin1 units.
ADMIN1_NAMES = {
    "US-AL": "Alabama", "US-AK": "Alaska", "US-AZ": "Arizona", "US-AR": "Arkansas",
    "US-CA": "California", "US-CO": "Colorado", "US-CT": "Connecticut", "US-DE": "Delaware",
    "US-DC": "District of Columbia", "US-FL": "Florida", "US-GA": "Georgia", "US-HI": "Hawaii",
    "US-ID": "Idaho", "US-IL": "Illinois", "US-IN": "Indiana", "US-IA": "Iowa",
    "US-KS": "Kansas", "US-KY": "Kentucky", "US-LA": "Louisiana", "US-ME": "Maine",
    "US-MD": "Maryland", "US-MA": "Massachusetts", "US-MI": "Michigan", "US-MN": "Minnesota",
    "US-MS": "Mississippi", "US-MO": "Missouri", "US-MT": "Montana", "US-NE": "Nebraska",
    "US-NV": "Nevada", "US-NH": "New Hampshire", "US-NJ": "New Jersey", "US-NM": "New Mexico",
    "US-NY": "New York", "US-NC": "North Carolina", "US-ND": "North Dakota", "US-OH": "Ohio",
    "US-OK": "Oklahoma", "US-OR": "Oregon", "US-PA": "Pennsylvania", "US-RI": "Rhode Island",
    "US-SC": "South Carolina", "US-SD": "South Dakota", "US-TN": "Tennessee", "US-TX": "Texas",
    "US-UT": "Utah", "US-VT": "Vermont", "US-VA": "Virginia", "US-WA": "Washington",
    "US-WV": "West Virginia", "US-WI": "Wisconsin", "US-WY": "Wyoming",
    "CA-AB": "Alberta", "CA-BC": "British Columbia", "CA-MB": "Manitoba",
    "CA-NB": "New Brunswick", "CA-NL": "Newfoundland and Labrador", "CA-NS": "Nova Scotia",
    "CA-NT": "Northwest Territories", "CA-NU": "Nunavut", "CA-ON": "Ontario",
    "CA-PE": "Prince Edward Island", "CA-QC": "Quebec", "CA-SK": "Saskatchewan",
    "CA-YT": "Yukon",
}
#: Other spellings people put in a State/Province column (keys are normalised).
_ALIASES = {
    "quebec": "CA-QC", "province de quebec": "CA-QC", "pq": "CA-QC", "que": "CA-QC",
    "newfoundland": "CA-NL", "labrador": "CA-NL", "nf": "CA-NL", "nfld": "CA-NL",
    "yukon territory": "CA-YT", "yk": "CA-YT", "colombie britannique": "CA-BC",
    "nouveau brunswick": "CA-NB", "nouvelle ecosse": "CA-NS", "nwt": "CA-NT",
    "ile du prince edouard": "CA-PE", "pei": "CA-PE", "terre neuve et labrador": "CA-NL",
    "territoires du nord ouest": "CA-NT", "washington state": "US-WA", "d c": "US-DC",
    "dc": "US-DC", "washington d c": "US-DC", "washington dc": "US-DC",
}


def _norm(text: str) -> str:
    """Lower-case, strip accents and punctuation so 'Québec.' matches 'quebec'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = "".join(ch if ch.isalnum() else " " for ch in text)
    return " ".join(text.split())


def _build_lookup() -> dict[str, str]:
    table = {}
    for code, name in ADMIN1_NAMES.items():
        table[_norm(name)] = code
        table[_norm(code)] = code  # "us wa"
        table[_norm(code[3:])] = code  # postal code "wa"
        table[_norm(code.replace("-", ""))] = code  # "uswa"
    table.update(_ALIASES)
    return table


_LOOKUP = _build_lookup()


def normalise_region(text) -> str | None:
    """Return the admin1 code (``US-WA``) for a declared state/province, or None.

    Accepts full names ('Washington', 'British Columbia', 'Québec'), postal codes
    ('WA', 'BC') and ``US-WA``-style codes, case- and accent-insensitively.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    key = _norm(str(text))
    return _LOOKUP.get(key) if key else None


@dataclass(frozen=True)
class _PolygonIndex:
    """Prepared polygon parts with bounding boxes, for bbox-mask + ``contains_xy``."""

    labels: np.ndarray  # label index per group
    geoms: np.ndarray  # prepared (multi)polygons, one per group
    bounds: np.ndarray  # (n, 4) xmin, ymin, xmax, ymax

    @classmethod
    def from_geometries(cls, geoms) -> _PolygonIndex:
        """Group each geometry's parts by hemisphere so bboxes stay tight.

        Alaska's Aleutians cross the antimeridian; without the split its bbox would
        span the globe and every point would be tested against it.
        """
        labels, parts = [], []
        for i, geom in enumerate(geoms):
            pieces = shapely.get_parts(geom)
            cx = shapely.get_x(shapely.centroid(pieces))
            for sel in (cx < 0, cx >= 0):
                if sel.any():
                    labels.append(i)
                    parts.append(shapely.multipolygons(pieces[sel]))
        parts = np.array(parts, dtype=object)
        shapely.prepare(parts)
        return cls(np.array(labels), parts, shapely.bounds(parts))

    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the index of the containing geometry per point (-1 where none).

        Polygons of one layer do not overlap, so the first hit is the only one.
        """
        out = np.full(len(x), -1, dtype=np.int64)
        for label, geom, (x0, y0, x1, y1) in zip(self.labels, self.geoms, self.bounds):
            cand = np.flatnonzero((out < 0) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
            if len(cand):
                hit = shapely.contains_xy(geom, x[cand], y[cand])
                out[cand[hit]] = label
        return out


@dataclass(frozen=True)
class Regions:
    """Loaded region layers with the indexes :func:`assign` needs.

    Attributes
    ----------
    admin1, sectors, border, segments : geopandas.GeoDataFrame
        The layers as stored (EPSG:4326).
    """

    path: pathlib.Path
    admin1: object
    sectors: object
    border: object
    segments: object
    _admin1_index: _PolygonIndex
    _sector_index: _PolygonIndex
    _seg_tree: shapely.STRtree
    _seg_lonlat: np.ndarray  # (n, 4) lon0, lat0, lon1, lat1
    _seg_xy: np.ndarray  # (n, 4) in SEARCH_CRS metres
    _seg_mile0: np.ndarray  # border mile at the start of each segment
    _seg_miles: np.ndarray  # geodesic length of each segment in miles
    _seg_us_left: np.ndarray  # True where the US lies left of the segment's direction
    _seg_sector: np.ndarray  # sector code of the US side of each segment
    _to_search: Transformer


def _border_segments(border, sectors, sector_index, to_search):
    """Split the border lines into 2-point segments with miles and sides."""
    lonlat, mile0, miles, us_left = [], [], [], []
    offset = 0.0
    for code in ("L48", "AK"):
        line = border.loc[border["code"] == code].geometry.iloc[0]
        c = np.vstack([np.asarray(g.coords) for g in shapely.get_parts(line)])
        _, _, d = GEOD.inv(c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1])
        d = d / METRES_PER_MILE
        lonlat.append(np.column_stack([c[:-1], c[1:]]))
        mile0.append(offset + np.concatenate([[0.0], np.cumsum(d)[:-1]]))
        miles.append(d)
        offset += d.sum()
        # The lower-48 line runs west->east with the US to its right (south); the
        # Alaska line runs south->north from Dixon Entrance with the US on its left.
        us_left.append(np.full(len(d), code == "AK"))
    lonlat = np.vstack(lonlat)
    keep = np.concatenate(miles) > 0
    lonlat = lonlat[keep]
    x0, y0 = to_search.transform(lonlat[:, 0], lonlat[:, 1])
    x1, y1 = to_search.transform(lonlat[:, 2], lonlat[:, 3])
    xy = np.column_stack([x0, y0, x1, y1])
    us_left = np.concatenate(us_left)[keep]
    # The sector of a stretch of border is the sector polygon just on its US side: step
    # 30 m from each segment's midpoint towards the US and look the point up.
    dx, dy = x1 - x0, y1 - y0
    norm = np.hypot(dx, dy)
    side = np.where(us_left, 1.0, -1.0) * 30.0 / norm
    mx, my = (x0 + x1) / 2 - dy * side, (y0 + y1) / 2 + dx * side
    mlon, mlat = to_search.transform(mx, my, direction="INVERSE")
    codes = sectors["code"].to_numpy(dtype=object)
    hit = sector_index.lookup(mlon, mlat)
    miss = np.flatnonzero(hit < 0)
    if len(miss):
        # Disputed-water medians and very short segments: nearest sector polygon.
        tree = shapely.STRtree(sectors.geometry.values)
        _, near = tree.query_nearest(shapely.points(mlon[miss], mlat[miss]), all_matches=False)
        hit[miss] = near
    return (lonlat, xy, np.concatenate(mile0)[keep], np.concatenate(miles)[keep],
            us_left, codes[hit])


@functools.cache
def _load(path: str) -> Regions:
    import geopandas as gpd

    layers = {name: gpd.read_file(path, layer=name, engine="pyogrio")
              for name in ("admin1", "usbp_sectors", "border", "border_segments")}
    for name, gdf in layers.items():
        if gdf.crs is None or gdf.crs.to_epsg() != 4326:
            raise ValueError(f"{path}: layer {name} is not EPSG:4326")
    to_search = Transformer.from_crs(CRS, SEARCH_CRS, always_xy=True)
    sector_index = _PolygonIndex.from_geometries(layers["usbp_sectors"].geometry.values)
    lonlat, xy, mile0, miles, us_left, seg_sector = _border_segments(
        layers["border"], layers["usbp_sectors"], sector_index, to_search)
    tree = shapely.STRtree(shapely.linestrings(xy.reshape(-1, 2, 2)))
    return Regions(
        path=pathlib.Path(path),
        admin1=layers["admin1"],
        sectors=layers["usbp_sectors"],
        border=layers["border"],
        segments=layers["border_segments"],
        _admin1_index=_PolygonIndex.from_geometries(layers["admin1"].geometry.values),
        _sector_index=sector_index,
        _seg_tree=tree,
        _seg_lonlat=lonlat,
        _seg_xy=xy,
        _seg_mile0=mile0,
        _seg_miles=miles,
        _seg_us_left=us_left,
        _seg_sector=seg_sector,
        _to_search=to_search,
    )


def load(path=None) -> Regions:
    """Load the region layers once per process (cached per resolved path).

    Parameters
    ----------
    path : str or pathlib.Path, optional
        GeoPackage to read; defaults to ``shapefiles/regions.gpkg`` in the project.
    """
    return _load(str(pathlib.Path(path or DEFAULT_PATH).resolve()))


def region_names(regions: Regions | None = None) -> dict[str, str]:
    """Map every admin1 and sector code to its display name."""
    regions = regions or load()
    names = dict(zip(regions.admin1["code"], regions.admin1["name"]))
    names.update(zip(regions.sectors["code"], regions.sectors["name"]))
    return names


def default_area_of_interest() -> dict:
    """Describe the project's default area of interest (for settings and help text)."""
    return {
        "kind": "border_distance",
        "max_km": DEFAULT_AOI_KM,
        "description": f"within {DEFAULT_AOI_KM:,.0f} km of the US–Canada border "
                       "(lower 48 and Alaska)",
    }


def border_position(lon, lat, regions: Regions | None = None):
    """Return nearest-border geodesic distance (m, unsigned), border mile and segment index.

    Parameters
    ----------
    lon, lat : array_like
        WGS84 coordinates (degrees); must be finite.
    """
    regions = regions or load()
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    px, py = regions._to_search.transform(lon, lat)
    _, seg = regions._seg_tree.query_nearest(shapely.points(px, py), all_matches=False)
    ax, ay, bx, by = regions._seg_xy[seg].T
    dx, dy = bx - ax, by - ay
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    # The border is a straight line in lon/lat between vertices (as are the polygon
    # edges the join uses), so the nearest point is placed on that line.
    l0, a0, l1, a1 = regions._seg_lonlat[seg].T
    qlon = l0 + t * (l1 - l0)
    qlat = a0 + t * (a1 - a0)
    _, _, dist = GEOD.inv(lon, lat, qlon, qlat)
    mile = regions._seg_mile0[seg] + t * regions._seg_miles[seg]
    cross = dx * (py - ay) - dy * (px - ax)
    return dist, mile, seg, cross


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

    a_idx = regions._admin1_index.lookup(x, y)
    codes = regions.admin1["code"].to_numpy(dtype=object)
    countries = regions.admin1["country"].to_numpy(dtype=object)
    admin1 = np.full(n, None, dtype=object)
    country = np.full(n, None, dtype=object)
    hit = a_idx >= 0
    admin1[vi[hit]] = codes[a_idx[hit]]
    country[vi[hit]] = countries[a_idx[hit]]

    dist, mile, seg, cross = border_position(x, y, regions)
    is_us = country[vi] == "US"
    is_ca = country[vi] == "CA"
    # Outside both countries (open sea) the side comes from the border's orientation.
    left = cross > 0
    us_side = np.where(is_us, True, np.where(is_ca, False, left == regions._seg_us_left[seg]))
    border_km = np.full(n, np.nan)
    border_km[vi] = np.where(us_side, -dist, dist) / 1000.0
    border_mile = np.full(n, np.nan)
    border_mile[vi] = mile

    sector = np.full(n, None, dtype=object)
    s_codes = regions.sectors["code"].to_numpy(dtype=object)
    us_i = np.flatnonzero(is_us)
    if len(us_i):
        s_idx = regions._sector_index.lookup(x[us_i], y[us_i])
        ok = s_idx >= 0
        sector[vi[us_i[ok]]] = s_codes[s_idx[ok]]
    near_ca = is_ca & (dist <= max_border_km * 1000.0)
    sector[vi[near_ca]] = regions._seg_sector[seg[near_ca]]

    at_border = np.zeros(n, dtype=bool)
    at_border[vi] = dist <= at_border_m

    reason = np.full(n, None, dtype=object)
    reason[~valid] = "invalid coordinates (longitude must be -180..180, latitude -90..90)"
    far = np.flatnonzero(dist > aoi_km * 1000.0)
    for i, d in zip(vi[far], dist[far]):
        reason[i] = f"outside the US–Canada border area ({d / 1000.0:,.0f} km from the border)"

    return pd.DataFrame({
        "admin1": admin1, "country": country, "sector": sector,
        "border_mile": border_mile, "border_km": border_km,
        "at_border": at_border, "reason": reason,
    })
