"""The first view frames the data's weight, not every outlier."""

from __future__ import annotations

import numpy as np
import pytest

from geomap import maps
from geomap.maps.framing import weight_box
from maps_fixtures import display_layers, map_html, map_payload


def _border(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(42, 49, n), rng.uniform(-123, -68, n)


def _inside(box, lat, lon):
    (lat0, lon0), (lat1, lon1) = box
    return (lat >= lat0) & (lat <= lat1) & (lon >= lon0) & (lon <= lon1)


@pytest.mark.parametrize("alaska, framed", [(10, False), (150, True)])
def test_alaska_is_framed_only_when_it_holds_a_real_share(alaska, framed):
    rng = np.random.default_rng(3)
    lat, lon = _border(1000, rng)
    lat = np.r_[lat, rng.uniform(60, 64, alaska)]
    lon = np.r_[lon, rng.uniform(-150, -140, alaska)]
    box = weight_box(lat, lon, np.ones(lat.size))
    assert (box[0][1] < -140) is framed, box
    assert _inside(box, lat, lon).mean() >= 0.98


@pytest.mark.parametrize("seed", range(10))
def test_box_holds_the_share_and_is_no_bigger_than_the_extent(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 8000))  # over MAX_POINTS the points are binned first
    lat, lon = _border(n, rng)
    weight = rng.integers(0, 20, n).astype(float)
    box = weight_box(lat, lon, weight)
    if not weight.any():
        assert box is None
        return
    assert weight[_inside(box, lat, lon)].sum() >= 0.98 * weight.sum() - 1e-6
    assert box[0][0] >= lat.min() - 0.1 and box[1][1] <= lon.max() + 0.1


def test_a_few_heavy_points_outweigh_many_light_ones():
    lat = np.array([49.0] * 5 + [30.0])
    lon = np.array([-122.0] * 5 + [-100.0])
    assert weight_box(lat, lon, [100] * 5 + [1]) == [[49.0, -122.0], [49.0, -122.0]]
    box = weight_box(lat, lon, [1] * 5 + [100])
    assert box[0] == [30.0, -122.0]


def test_map_starts_on_the_view_and_keeps_the_extent():
    rng = np.random.default_rng(5)
    lat, lon = _border(500, rng)
    from maps_fixtures import map_frame

    frame = map_frame(501).assign(lat=np.r_[lat, 64.8], lon=np.r_[lon, -147.7], count=1)
    for layer in ("heat", "cluster", "choropleth", "time"):
        agg = maps.aggregate_frame(frame, maps.MapSpec(layer=layer), display_layers())
        assert agg.view[0][1] > -124 and agg.bounds[0][1] == -147.7, layer
        setup = map_payload(map_html(frame, layer=layer), "setup")
        assert setup["bounds"] == agg.view and setup["extent"] == agg.bounds
