"""Helpers for the ingest tests: a stand-in for geomap.regions until tests use the real one.

`fake_assign` mimics `regions.assign` on a crude border (49°N west of 95°W, 45°N east of it) so
the pipeline's own rules can be tested quickly and exactly; `FakeRegions` joins with it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


STATES = {"washington": "US-WA", "wa": "US-WA", "us-wa": "US-WA", "montana": "US-MT",
          "mt": "US-MT", "us-mt": "US-MT", "idaho": "US-ID", "id": "US-ID", "us-id": "US-ID",
          "british columbia": "CA-BC", "bc": "CA-BC", "ca-bc": "CA-BC", "new york": "US-NY",
          "ny": "US-NY", "us-ny": "US-NY", "quebec": "CA-QC", "qc": "CA-QC", "ca-qc": "CA-QC",
          "alberta": "CA-AB", "ab": "CA-AB", "ca-ab": "CA-AB"}


def fake_assign(lon, lat, regions_obj=None, *, at_border_m=100.0, max_border_km=100.0,
                aoi_km=500.0):
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    line = np.where(lon < -95, 49.0, 45.0)
    km = (lat - line) * 111.2
    us = km < 0
    west = lon < -117
    mid = (lon >= -117) & (lon < -104)
    admin1 = np.where(us, np.where(west, "US-WA", np.where(mid, "US-MT", "US-NY")),
                      np.where(west, "CA-BC", np.where(mid, "CA-AB", "CA-QC")))
    inside = (lon >= -141) & (lon <= -52) & (np.abs(km) <= aoi_km)
    reason = np.where(inside, None, "more than 500 km from the US-Canada border")
    return pd.DataFrame({
        "admin1": np.where(inside, admin1, None), "country": np.where(inside, np.where(
            us, "US", "CA"), None),
        "sector": np.where(inside, np.where(west, "Blaine", "Spokane"), None),
        "border_mile": np.where(inside, (lon + 123) * 45, np.nan),
        "border_km": np.where(inside, km, np.nan),
        "at_border": inside & (np.abs(km) * 1000 <= at_border_m),
        "reason": pd.Series(reason, dtype=object)})


def fake_normalise(text):
    return STATES.get(str(text).strip().lower())


class FakeRegions:
    """A stand-in for the region join (ingest.rows.RegionJoin): pass it as `regions=`, or ask
    for the fake_regions fixture and the app gets it as its REGIONS (conftest.INJECTED)."""

    @staticmethod
    def assign(lon, lat, *, at_border_m=100.0, max_border_km=100.0, aoi_km=500.0):
        return fake_assign(lon, lat, at_border_m=at_border_m, max_border_km=max_border_km,
                           aoi_km=aoi_km)

    @staticmethod
    def normalise_region(text):
        return fake_normalise(text)

    @staticmethod
    def border_miles():
        """Miles of border per region, for per-border-mile choropleths (web.layers)."""
        return {"US-WA": 100.0}


#: The fake join, for direct ingest.import_file calls (`regions=FAKE_REGIONS`).
FAKE_REGIONS = FakeRegions()


@pytest.fixture
def fake_regions():
    """The fake join above, given to the app as REGIONS (the doors pass it to ingest)."""
    return FAKE_REGIONS
