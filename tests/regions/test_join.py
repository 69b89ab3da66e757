"""Known-answer tests for the region layers and :func:`geomap.regions.join.assign`.

Coordinates of ports of entry are taken from the Wikipedia articles on each border
crossing (the coordinate in the infobox, which sits on the line) and then moved a few
hundred metres to one side, so each test point lies clearly in one country.  Station
coordinates are the town centres (Wikipedia) where the USBP station is located.
"""

from __future__ import annotations

import numpy as np
import pytest

from geomap import regions as rg


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


def test_missing_values_are_none(R):
    # Open Pacific beyond the territorial sea, and a point in Washington.
    df = rg.assign(np.array([-127.5, -122.3]), np.array([47.0, 47.6]), R)
    assert df.admin1.iloc[0] is None and df.country.iloc[0] is None
    assert df.sector.iloc[0] is None and df.reason.iloc[0] is None
    assert df.admin1.iloc[1] == "US-WA" and df.sector.iloc[1] == "BLW"
    # Side from the line's orientation: off Washington is the US side.
    assert df.border_km.iloc[0] < 0
