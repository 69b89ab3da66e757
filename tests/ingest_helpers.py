"""Helpers for the ingest tests: a stand-in for geomap.regions until tests use the real one.

`fake_assign` mimics `regions.assign` on a crude border (49°N west of 95°W, 45°N east of it) so
the pipeline's own rules can be tested quickly and exactly; `FakeRegions` joins with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

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


_KILL_SCRIPT = textwrap.dedent("""
    import sys, time, pathlib
    sys.path[:0] = [{tests!r}, {root!r}]
    import ingest_helpers
    from geomap import db, ingest
    from geomap.ingest import reading, storing
    reading.BLOCK_SIZE = 4096
    marker = pathlib.Path({marker!r})
    real_insert = storing.insert_rows

    def insert_then_stall(*args):
        n = real_insert(*args)
        marker.write_text("written")
        time.sleep(60)
        return n

    storing.insert_rows = insert_then_stall
    settings = ingest.Settings.from_config({{"UPLOAD_FOLDER": {uploads!r}, "AT_BORDER_M": 100.0,
                                            "MAX_BORDER_KM": 100.0}})
    ingest.import_file(db.engine_for({url!r}), {path!r}, dataset={dataset!r},
                       options=ingest.Options(mode={mode!r}), settings=settings,
                       regions=ingest_helpers.FAKE_REGIONS)
""")


def kill_import_after_first_write(url: str, path, dataset: str, mode: str, tmp_path) -> None:
    """Import `path` into `dataset` in another process (small blocks, the fake regions) and
    SIGKILL it as soon as its first block of rows is written, inside its transaction."""
    tests = Path(__file__).resolve().parent
    marker = tmp_path / "killed-import-marker"
    script = _KILL_SCRIPT.format(tests=str(tests), root=str(tests.parent), marker=str(marker),
                                 uploads=str(tmp_path / "uploads"), url=url, path=str(path),
                                 dataset=dataset, mode=mode)
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, "the import ended before writing"
            assert time.monotonic() < deadline, "the import never wrote"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
