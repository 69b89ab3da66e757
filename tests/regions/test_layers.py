"""The stored layers and their loading (geomap.regions.layers)."""

from __future__ import annotations

import numpy as np
import shapely

from geomap import regions as rg


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


def test_region_names(R):
    names = rg.region_names(R)
    assert names["US-WA"] == "Washington" and names["CA-BC"] == "British Columbia"
    assert names["BLW"] == "Blaine"


def test_load_is_cached():
    assert rg.load() is rg.load(rg.DEFAULT_PATH)
