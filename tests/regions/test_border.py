"""Border position, border miles and the border line's length (geomap.regions.border)."""

from __future__ import annotations

import numpy as np
import pytest

from geomap import regions as rg

MI = 1609.344


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
