"""Colour scales and legends: heat weights, and legends that only read the aggregates."""

from __future__ import annotations

import numpy as np
import pytest

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


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("by", ["admin1", "border_segment"])
def test_no_data_colours_are_the_same_in_legend_and_map_in_both_themes(theme, by):
    from geomap.maps.style import NO_DATA
    frame = _frame(40).assign(lon=np.linspace(-124, -118, 40), border_mile=10.0)
    html = _html(frame, layer="choropleth", by=by, theme=theme)
    props = [f["properties"] for f in _payload(html, "regions")["features"]["features"]]
    kind = "empty-line" if by == "border_segment" else "empty"
    none = [p["fill"] for p in props if not p["n"]]
    assert none and set(none) == {NO_DATA[theme][kind]}
    spec = maps.MapSpec(layer="choropleth", by=by, theme=theme)
    agg = maps.aggregate_frame(frame, spec, display_layers())
    assert (NO_DATA[theme][kind], "none recorded") in maps.legend(agg, spec)["items"]
    assert f'gm-swatch gm-swatch-{kind}"' in str(maps.legend_html(maps.legend(agg, spec)))
