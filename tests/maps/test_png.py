"""Static PNG: an image, and a choropleth drawn in its colours."""

from __future__ import annotations

import pytest

from geomap import maps
from maps_fixtures import display_layers, map_frame as _frame


def _colours(png: bytes) -> set[str]:
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return {"#%02x%02x%02x" % rgb for _count, rgb in image.getcolors(maxcolors=1 << 20)}


@pytest.mark.parametrize("by", ["admin1", "sector", "border_segment"])
def test_png_draws_a_choropleth_in_its_colours(by):
    frame = _frame()
    layers = display_layers()
    spec = maps.MapSpec(title="Choropleth", layer="choropleth", by=by)
    choropleth = _colours(maps.render_png(maps.aggregate_frame(frame, spec, layers), spec,
                                          layers, size=(600, 315)))
    heat_spec = maps.MapSpec(title="Choropleth")
    heat = _colours(maps.render_png(maps.aggregate_frame(frame, heat_spec, layers), heat_spec,
                                    layers, size=(600, 315)))
    # The darkest class is filled (regions) or stroked (segments) and shown in the legend;
    # the heat image has none of the palette.
    assert maps.PALETTE[-1] in choropleth
    assert not set(maps.PALETTE) & heat


def test_png_is_an_image():
    frame = _frame()
    spec = maps.MapSpec(title="$x^2$ <b>", source="S")
    png = maps.render_png(maps.aggregate_frame(frame, spec), spec, display_layers(),
                          size=(600, 315))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
