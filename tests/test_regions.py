"""Known-answer tests for the region layers and :func:`geomap.regions.assign`.

Coordinates of ports of entry are taken from the Wikipedia articles on each border
crossing (the coordinate in the infobox, which sits on the line) and then moved a few
hundred metres to one side, so each test point lies clearly in one country.  Station
coordinates are the town centres (Wikipedia) where the USBP station is located.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import shapely

from geomap import regions as rg
from geomap.regions import index, line_index

MI = 1609.344


@pytest.fixture(scope="module")
def R():
    return rg.load()


def one(R, lon, lat, **kw):
    return rg.assign(np.array([lon]), np.array([lat]), R, **kw).iloc[0]


# (name, lon, lat, admin1) — each pair straddles one port of entry.
PORTS = [
    # Peace Arch crossing, infobox 49°00′08″N 122°45′24″W (Wikipedia "Peace Arch Border Crossing")
    ("Blaine WA", -122.7566, 48.9985, "US-WA"),
    ("Surrey BC (Douglas)", -122.7566, 49.0060, "CA-BC"),
    # Champlain–St-Bernard-de-Lacolle, I-87/A-15, 45.0108 N 73.4529 W (Wikipedia)
    ("Champlain NY", -73.4529, 45.0040, "US-NY"),
    ("Lacolle QC", -73.4529, 45.0180, "CA-QC"),
    # Pembina–Emerson, 49.000477 N 97.237634 W (Wikipedia "Pembina–Emerson Border Crossing")
    ("Pembina ND", -97.2376, 48.9975, "US-ND"),
    ("Emerson MB", -97.2376, 49.0035, "CA-MB"),
    # Detroit–Windsor: Renaissance Center (Detroit) and Caesars Windsor, on either bank
    # of the Detroit River (Wikipedia articles of both buildings).
    ("Detroit MI", -83.0398, 42.3293, "US-MI"),
    ("Windsor ON", -83.0330, 42.3185, "CA-ON"),
    # Sault Ste. Marie: city centres either side of the St. Marys River (Wikipedia).
    ("Sault Ste. Marie MI", -84.3453, 46.4953, "US-MI"),
    ("Sault Ste. Marie ON", -84.3340, 46.5107, "CA-ON"),
    # Houlton–Woodstock (I-95 / NB-95), 46°08′25″N 67°46′53″W (Wikipedia)
    ("Houlton ME", -67.7950, 46.1403, "US-ME"),
    ("Woodstock NB", -67.7680, 46.1403, "CA-NB"),
    # Alcan–Beaver Creek, 62.615310 N 141.001443 W (Wikipedia); the line is the 141st meridian
    ("Alcan AK", -141.0200, 62.6153, "US-AK"),
    ("Beaver Creek YT", -140.9800, 62.6153, "CA-YT"),
]

WATER = [
    # Lake Erie: off Geneva-on-the-Lake, Ohio, and off Port Stanley, Ontario.
    ("Lake Erie US", -81.0, 41.95, "US-OH"),
    ("Lake Erie CA", -81.0, 42.55, "CA-ON"),
    # Eastern Lake Erie: state lines in the lake are the OH–PA and PA–NY meridians.
    ("Lake Erie off Erie PA", -80.10, 42.25, "US-PA"),
    ("Lake Erie off Dunkirk NY", -79.40, 42.55, "US-NY"),
    ("Niagara River at the Peace Bridge, US half", -78.9032, 42.9070, "US-NY"),
    # St. Lawrence near Cornwall: Lake St. Lawrence off Massena NY (US) and the north
    # channel between Cornwall ON and Cornwall Island (Canada).
    ("St. Lawrence US", -74.90, 44.975, "US-NY"),
    ("St. Lawrence CA", -74.7300, 45.0120, "CA-ON"),
    # Lake Champlain: Missisquoi Bay either side of the 45th-parallel line.
    ("Missisquoi Bay US", -73.13, 44.99, "US-VT"),
    ("Missisquoi Bay CA", -73.12, 45.04, "CA-QC"),
]

SPECIAL = [
    ("Point Roberts WA", -123.0600, 48.9850, "US-WA"),  # exclave south of Tsawwassen
    ("Northwest Angle MN (Angle Inlet)", -95.0600, 49.3450, "US-MN"),
    ("Campobello Island NB (Welshpool)", -66.9500, 44.8800, "CA-NB"),
]


@pytest.mark.parametrize("name,lon,lat,code", PORTS + WATER + SPECIAL)
def test_known_admin1_and_side(R, name, lon, lat, code):
    row = one(R, lon, lat)
    assert row.admin1 == code, name
    assert row.country == code[:2], name
    # Signed distance: negative in the US, positive in Canada.
    assert (row.border_km < 0) == (code[:2] == "US"), name
    assert row.reason is None, name
    assert abs(row.border_km) < 60, name


def test_far_point_has_reason(R):
    row = one(R, -104.9903, 39.7392)  # Denver, CO
    assert row.admin1 == "US-CO"
    assert row.country == "US"
    assert row.border_km < -900
    assert row.reason.startswith("outside the US–Canada border area (")
    assert "km from the border" in row.reason


def test_invalid_coordinates():
    df = rg.assign(np.array([np.nan, 200.0]), np.array([45.0, 45.0]))
    assert df.admin1.isna().all()
    assert df.reason.str.startswith("invalid coordinates").all()


def test_border_length(R):
    total = R.border["mile_to"].max()
    assert abs(total - 5525) / 5525 < 0.02
    l48 = R.border.set_index("code").loc["L48", "mile_to"]
    assert abs(l48 - 3987) / 3987 < 0.03
    # Recompute geodesically from the geometry itself.
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    miles = sum(geod.geometry_length(g) for g in R.border.geometry) / MI
    assert miles == pytest.approx(total, rel=1e-6)


# West-to-east crossings on the line (Wikipedia infobox coordinates where available, else
# rounded map positions good to a few hundred metres), then Alaska.
MILE_ORDER = [
    ("Peace Arch", -122.7566, 49.0022),
    ("Sumas", -122.2646, 49.0022),
    ("Oroville", -119.4620, 49.0000),
    ("Sweetgrass", -111.9590, 49.0000),
    ("Portal", -102.5500, 49.0000),
    ("Pembina", -97.2376, 49.0005),
    ("International Falls", -93.4010, 48.6080),
    ("Sault Ste. Marie", -84.3600, 46.5040),
    ("Detroit (Ambassador Bridge)", -83.0750, 42.3100),
    ("Buffalo (Peace Bridge)", -78.9050, 42.9070),
    ("Thousand Islands Bridge", -75.9800, 44.3470),
    ("Champlain", -73.4529, 45.0108),
    ("Derby Line", -72.0990, 45.0055),
    ("Houlton", -67.7814, 46.1403),
    ("Calais", -67.2760, 45.1890),
    ("Alcan", -141.0014, 62.6153),
]


def test_border_mile_order(R):
    lon = np.array([p[1] for p in MILE_ORDER])
    lat = np.array([p[2] for p in MILE_ORDER])
    df = rg.assign(lon, lat, R)
    miles = df.border_mile.to_numpy()
    assert np.all(np.diff(miles) > 0), list(zip([p[0] for p in MILE_ORDER], miles))
    assert miles[0] < 200  # Peace Arch is near the Pacific end
    assert miles[-2] > 3800  # Calais near the Atlantic end of the lower 48
    l48 = R.border.set_index("code").loc["L48", "mile_to"]
    assert miles[-1] > l48  # Alaska continues the count
    assert (df.border_km.abs() < 3).all()


STATIONS = [
    ("Blaine WA", -122.7470, 48.9940, "BLW"),
    ("Port Angeles WA", -123.4300, 48.1180, "BLW"),
    ("Ketchikan AK", -131.6460, 55.3420, "BLW"),
    ("Oroville WA", -119.4350, 48.9390, "SPW"),
    ("Metaline Falls WA", -117.3620, 48.8630, "SPW"),
    ("Bonners Ferry ID", -116.3160, 48.6910, "SPW"),
    ("Eureka MT", -115.0530, 48.8800, "SPW"),
    ("Whitefish MT", -114.3370, 48.4110, "SPW"),
    ("Sweetgrass MT", -111.9600, 48.9970, "HVM"),
    ("Havre MT", -109.6840, 48.5500, "HVM"),
    ("Plentywood MT", -104.5630, 48.7750, "HVM"),
    ("Portal ND", -102.5500, 48.9950, "GFN"),
    ("Warroad MN", -95.3140, 48.9050, "GFN"),
    ("International Falls MN", -93.4100, 48.6010, "GFN"),
    ("Sault Ste. Marie MI", -84.3450, 46.4950, "DTM"),
    ("Detroit MI", -83.0458, 42.3314, "DTM"),
    ("Buffalo NY", -78.8784, 42.8864, "BUN"),
    ("Erie PA", -80.0851, 42.1292, "BUN"),
    ("Alexandria Bay NY", -75.9180, 44.3350, "BUN"),
    ("Massena NY", -74.8910, 44.9280, "SWB"),
    ("Ogdensburg NY", -75.4860, 44.6940, "SWB"),
    ("Swanton VT", -73.1240, 44.9180, "SWB"),
    ("Beecher Falls VT", -71.5050, 45.0110, "SWB"),
    ("Houlton ME", -67.8400, 46.1260, "HTM"),
    ("Calais ME", -67.2780, 45.1840, "HTM"),
]


@pytest.mark.parametrize("name,lon,lat,code", STATIONS)
def test_station_sector(R, name, lon, lat, code):
    assert one(R, lon, lat).sector == code, name


def test_canadian_side_gets_nearest_sector(R):
    # A crossing into BC near Blaine counts for Blaine; into Manitoba near Emerson for Grand Forks.
    assert one(R, -122.7566, 49.0060).sector == "BLW"
    assert one(R, -97.2376, 49.0035).sector == "GFN"
    assert one(R, -78.9300, 42.9000).sector == "BUN"  # Fort Erie ON, across from Buffalo
    # Far inside Canada: no sector.
    assert one(R, -123.1207, 50.5, max_border_km=100).sector is None


def test_signed_distance_and_at_border(R):
    us = one(R, -97.2376, 48.9990)  # ~165 m south of the 49th-parallel line
    ca = one(R, -97.2376, 49.0010)
    assert -0.3 < us.border_km < -0.05 and 0.05 < ca.border_km < 0.3
    assert not us.at_border
    assert one(R, -97.2376, 48.9990, at_border_m=300).at_border
    on = one(R, -97.2376, 49.00002)
    assert on.at_border


def test_vectorised_matches_scalar(R):
    lon = np.array([p[1] for p in PORTS])
    lat = np.array([p[2] for p in PORTS])
    df = rg.assign(lon, lat, R)
    assert list(df.admin1) == [p[3] for p in PORTS]
    assert len(df) == len(PORTS)
    assert list(df.columns) == [
        "admin1", "country", "sector", "border_mile", "border_km", "at_border", "reason"]


def test_layers_counts_and_fields(R):
    a = R.admin1
    assert (a.country == "US").sum() == 51
    assert (a.country == "CA").sum() == 13
    assert set(a.code) == set(rg.ADMIN1_NAMES)
    for layer in (a, R.sectors, R.border, R.segments):
        assert {"code", "name", "country"} <= set(layer.columns)
        assert layer.crs.to_epsg() == 4326
    assert set(R.sectors.name) == {
        "Blaine", "Spokane", "Havre", "Grand Forks", "Detroit", "Buffalo", "Swanton", "Houlton"}
    seg = R.segments.sort_values("mile_from")
    assert {"mile_from", "mile_to"} <= set(seg.columns)
    lengths = seg.mile_to - seg.mile_from
    assert lengths.between(20, 30).all()
    assert seg.mile_from.iloc[0] == 0
    assert np.allclose(seg.mile_from.to_numpy()[1:], seg.mile_to.to_numpy()[:-1], atol=1e-3)


def test_no_overlap_across_border(R):
    a = R.admin1
    us = a.loc[a.country == "US"].geometry.values
    ca = a.loc[a.country == "CA"].geometry.values
    i, j = shapely.STRtree(ca).query(us, predicate="intersects")
    assert len(i) >= 15  # the neighbouring pairs along the border
    overlap = shapely.area(shapely.intersection(us[i], ca[j])).sum()
    assert overlap < 1e-7  # degrees², i.e. < ~1,000 m² in total


def test_display_layers_exist():
    import pyogrio

    names = {row[0] for row in pyogrio.list_layers(rg.DEFAULT_PATH)}
    assert {"admin1_display", "usbp_sectors_display"} <= names


@pytest.mark.parametrize("text,code", [
    ("Washington", "US-WA"), ("WA", "US-WA"), ("us-wa", "US-WA"), ("British Columbia", "CA-BC"),
    ("BC", "CA-BC"), ("Québec", "CA-QC"), ("QC", "CA-QC"), ("CA-ON", "CA-ON"),
    ("new york", "US-NY"), ("District of Columbia", "US-DC"), ("Yukon", "CA-YT"),
])
def test_normalise_region(text, code):
    assert rg.normalise_region(text) == code


@pytest.mark.parametrize("text", ["", None, "Narnia", "XX", "US-XX"])
def test_normalise_region_unknown(text):
    assert rg.normalise_region(text) is None


def test_region_names(R):
    names = rg.region_names(R)
    assert names["US-WA"] == "Washington" and names["CA-BC"] == "British Columbia"
    assert names["BLW"] == "Blaine"


def test_load_is_cached():
    assert rg.load() is rg.load(rg.DEFAULT_PATH)


def test_missing_values_are_none(R):
    # Open Pacific beyond the territorial sea, and a point in Washington.
    df = rg.assign(np.array([-127.5, -122.3]), np.array([47.0, 47.6]), R)
    assert df.admin1.iloc[0] is None and df.country.iloc[0] is None
    assert df.sector.iloc[0] is None and df.reason.iloc[0] is None
    assert df.admin1.iloc[1] == "US-WA" and df.sector.iloc[1] == "BLW"
    # Side from the line's orientation: off Washington is the US side.
    assert df.border_km.iloc[0] < 0


def test_border_miles_per_unit_match_published_sector_lengths():
    # CBP: Spokane 308 miles of border, Havre 452-456, Grand Forks 861 (research note).
    miles = rg.border_miles()
    assert miles["SPW"] == pytest.approx(308, rel=0.03)
    assert miles["HVM"] == pytest.approx(454, rel=0.03)
    assert miles["GFN"] == pytest.approx(861, rel=0.03)
    # Each side adds up to the whole line; only border states and provinces appear.
    us = sum(v for k, v in miles.items() if k.startswith("US-"))
    ca = sum(v for k, v in miles.items() if k.startswith("CA-"))
    assert us == pytest.approx(ca, rel=0.01) and us == pytest.approx(5525, rel=0.03)
    assert "US-TX" not in miles and "CA-NU" not in miles
    assert miles["US-AK"] > miles["US-WA"] > miles["US-ID"] > 0


def _exact(R):
    """The same layers without lookup grids: every point takes the exact path."""
    return dataclasses.replace(R, _admin1_grid=None, _sector_grid=None, _border_grid=None)


def _edge_points(geoms, rng, n_vertices=3_000):
    """Polygon vertices, edge midpoints and points a hair to either side of them."""
    xy, ring = shapely.get_coordinates(
        shapely.get_rings(shapely.get_parts(geoms)), return_index=True)
    same = np.flatnonzero(ring[1:] == ring[:-1])
    pick = rng.choice(same, size=min(n_vertices, len(same)), replace=False)
    a, b = xy[pick], xy[pick + 1]
    mid = (a + b) / 2
    points = [a, mid]
    for offset in (1e-12, 1e-9, 1e-7, 1e-5):
        for sign in (1.0, -1.0):
            points.append(mid + sign * offset)
            points.append(a + sign * np.array([offset, -offset]))
    return np.vstack(points)


def _border_points(R, rng, n=20_000):
    """Points at chosen distances across the full-resolution border line."""
    seg = R._seg_lonlat
    i = rng.integers(0, len(seg), n)
    t = rng.random(n)
    t[: n // 10] = 0.0  # on vertices
    lon = seg[i, 0] + t * (seg[i, 2] - seg[i, 0])
    lat = seg[i, 1] + t * (seg[i, 3] - seg[i, 1])
    x, y = R._to_search.transform(lon, lat)
    sx0, sy0 = R._to_search.transform(seg[i, 0], seg[i, 1])
    sx1, sy1 = R._to_search.transform(seg[i, 2], seg[i, 3])
    norm = np.hypot(sx1 - sx0, sy1 - sy0)
    nx, ny = -(sy1 - sy0) / norm, (sx1 - sx0) / norm
    # On the line, around the at-border flag, the search levels' thresholds, the
    # far-border and area-of-interest distances, to either side.
    thresholds = [0.0, 1.0, 99.0, 100.0, 101.0, *line_index._thresholds(), 100_000.0, 500_000.0]
    d = np.array(thresholds)[rng.integers(0, len(thresholds), n)]
    d = (d + rng.normal(0, 3.0, n) * (d > 0)) * rng.choice([-1.0, 1.0], n)
    return R._to_search.transform(x + d * nx, y + d * ny, direction="INVERSE")


def _grid_corner_points(grid, rng, n=20_000, projected=None):
    """Points on and a hair off the fine-cell boundaries of a lookup grid."""
    ny, nx = grid.coarse.shape
    i = rng.integers(0, nx * grid.ratio, n)
    j = rng.integers(0, ny * grid.ratio, n)
    eps = grid.fine * rng.choice([0.0, 1e-12, -1e-12, 1e-6, -1e-6], (2, n))
    x, y = grid.x0 + i * grid.fine + eps[0], grid.y0 + j * grid.fine + eps[1]
    return projected.transform(x, y, direction="INVERSE") if projected else (x, y)


def test_grids_give_the_exact_answers(R):
    # The lookup grids only skip work: every column must be identical to the exact path
    # (polygon tests for every point, every search level from the coarsest) on random
    # points, points on and next to polygon edges, near the border line and its
    # thresholds, and on grid cell boundaries.
    rng = np.random.default_rng(7)
    parts = [
        np.column_stack([rng.uniform(-170, -50, 60_000), rng.uniform(30, 80, 60_000)]),
        _edge_points(R.admin1.geometry.values, rng),
        _edge_points(R.sectors.geometry.values, rng),
        np.column_stack(_border_points(R, rng)),
        np.column_stack(_grid_corner_points(R._admin1_grid, rng)),
        np.column_stack(_grid_corner_points(R._border_grid, rng, projected=R._to_search)),
        np.array([[np.nan, 45.0], [-100.0, np.inf], [200.0, 45.0], [-180.0, 90.0]]),
    ]
    lon, lat = np.vstack(parts).T
    fast = rg.assign(lon, lat, R)
    exact = rg.assign(lon, lat, _exact(R))
    pd.testing.assert_frame_equal(fast, exact, check_exact=True)
    # The sample reaches every kind of cell.
    assert fast.admin1.notna().sum() > 50_000 and fast.sector.notna().sum() > 10_000
    assert fast.at_border.sum() > 1_000 and fast.reason.notna().sum() > 10_000
    for kw in ({"at_border_m": 300.0}, {"max_border_km": 20.0, "aoi_km": 50.0}):
        pd.testing.assert_frame_equal(rg.assign(lon, lat, R, **kw),
                                      rg.assign(lon, lat, _exact(R), **kw), check_exact=True)


def test_admin1_matches_geopandas_sjoin(R):
    import geopandas as gpd

    rng = np.random.default_rng(11)
    lon, lat = np.vstack([
        np.column_stack([rng.uniform(-141, -60, 30_000), rng.uniform(40, 62, 30_000)]),
        _edge_points(R.admin1.geometry.values, rng, n_vertices=1_000),
    ]).T
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=rg.CRS)
    polygons = gpd.GeoDataFrame(R.admin1[["code"]], geometry=R.admin1.geometry.values,
                                crs=rg.CRS)
    joined = gpd.sjoin(points, polygons, predicate="within", how="left")
    joined = joined[~joined.index.duplicated(keep="first")]
    expected = [c if isinstance(c, str) else None for c in joined["code"]]
    assert list(rg.assign(lon, lat, R).admin1) == expected


def test_grid_codes_off_the_grid(R):
    grid = R._admin1_grid
    codes = grid.codes(np.array([np.nan, -179.99, 0.0, -100.0]),
                       np.array([45.0, 20.0, 45.0, np.nan]))
    assert (codes == index._EXACT).all()
    assert rg.assign(np.array([-100.0]), np.array([np.nan]), R).reason.iloc[0].startswith(
        "invalid coordinates")


def test_grids_decide_most_points(R):
    # Not a timing test: the grids must actually spare most points the exact work
    # (a grid coding every cell "exact" would pass the identity test and be slow).
    rng = np.random.default_rng(5)
    lon, lat = np.column_stack(_border_points(R, rng, n=5_000)).T
    lon = np.concatenate([lon, rng.uniform(-141, -60, 5_000)])
    lat = np.concatenate([lat, rng.uniform(40, 62, 5_000)])
    assert np.mean(R._admin1_grid.codes(lon, lat) == index._EXACT) < 0.5
    px, py = R._to_search.transform(lon, lat)
    first = R._border_grid.codes(px, py)
    near = slice(0, 5_000)  # within ~500 km of the line: most start past the coarsest level
    assert np.mean(first[near] > 0) > 0.5
    assert set(np.unique(first)) == {0, 1, 2, 3}
