"""Colour scales and legends: heat weights, and legends that only read the aggregates."""

from __future__ import annotations

import numpy as np

from geomap import maps
from maps_fixtures import (display_layers, map_frame as _frame, map_html as _html,
                           map_payload as _payload)


def test_heat_weights_are_counts():
    frame = _frame(2).assign(lat=[49.0, 45.0], lon=[-122.0, -110.0], count=[10, 1])
    cells = _payload(_html(frame, layer="heat"), "heat")["cells"]
    weights = sorted(c[2] for c in cells)
    assert weights == [0.316, 1.0]  # square root of the share of the busiest cell


def test_legend_is_the_same_before_and_after_build_map():
    # The reduce step computes the class breaks and hidden count; legend and payload only
    # read them (once build_map wrote them, so a legend asked for first had no classes).
    frame = _frame(40).assign(admin1=["US-WA"] * 30 + ["CA-BC"] * 8 + ["US-MT"] * 2,
                              count=1, lon=np.linspace(-124, -105, 40))
    layers = display_layers()
    spec = maps.MapSpec(layer="choropleth", by="admin1", min_public_count=5)
    agg = maps.aggregate_frame(frame, spec, layers)
    first = maps.legend(agg, spec)
    maps.build_map(agg, spec, layers)
    assert maps.legend(agg, spec) == first
    assert len(first["items"]) > 2  # colour classes, not only "none recorded" and "hidden"
    assert agg.hidden == 1 and agg.breaks
