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


# --- the redrawn card: names, no overlapping or cut labels, legend off the data, Alaska --

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from geomap.maps.placement import inside, overlaps, place_labels, quietest_corner  # noqa: E402


@pytest.mark.parametrize("seed", range(20))
def test_place_labels_keeps_no_overlapping_or_cut_boxes(seed):
    rng = np.random.default_rng(seed)
    frame = (0.0, 0.0, 600.0, 300.0)
    x, y = rng.uniform(-50, 650, 80), rng.uniform(-30, 330, 80)
    w, h = rng.uniform(20, 120, 80), rng.uniform(8, 20, 80)
    boxes = [(a - b / 2, c - d / 2, a + b / 2, c + d / 2) for a, b, c, d in zip(x, w, y, h)]
    legend = (450.0, 200.0, 600.0, 300.0)
    kept = place_labels(boxes, frame, [legend], gap=2, margin=2)
    assert kept == sorted(kept) and kept  # priority order, and something fits
    for i in kept:
        assert inside(boxes[i], frame, 2) and not overlaps(boxes[i], legend, 2)
        for j in kept:
            assert i == j or not overlaps(boxes[i], boxes[j], 2)
    # Every dropped label collides with a kept one, the legend, or the edge (greedy).
    for i in set(range(len(boxes))) - set(kept):
        assert (not inside(boxes[i], frame, 2) or overlaps(boxes[i], legend, 2)
                or any(overlaps(boxes[i], boxes[j], 2) for j in kept if j < i))


def test_quietest_corner_avoids_the_data_and_obstacles():
    frame = (0.0, 0.0, 400.0, 200.0)
    data = lambda box: 10.0 if box[0] > 200 else 0.0  # noqa: E731 - data on the right
    assert quietest_corner(frame, (100, 50), data)[0] == "upper left"
    assert quietest_corner(frame, (100, 50), data, obstacles=[(0, 100, 200, 200)])[0] \
        == "lower left"


def _alaska_frame(alaska: int) -> pd.DataFrame:
    frame = _frame(300).assign(lon=np.linspace(-124, -105, 300), count=1)
    rng = np.random.default_rng(4)
    frame.loc[:alaska - 1, "lat"] = rng.uniform(60, 64, alaska)
    frame.loc[:alaska - 1, "lon"] = rng.uniform(-150, -142, alaska)
    return frame


def _alaska_layers():
    import geopandas as gpd
    from shapely.geometry import box

    layers = display_layers()
    alaska = gpd.GeoDataFrame({"code": ["US-AK"], "name": ["Alaska"], "country": ["US"]},
                              geometry=[box(-168, 55, -141, 71)], crs="EPSG:4326")
    layers["admin1"] = pd.concat([layers["admin1"], alaska], ignore_index=True)
    return layers


@pytest.mark.parametrize("layer", ["heat", "choropleth"])
@pytest.mark.parametrize("size", [(1200, 630), (600, 315), (300, 158)])
def test_card_labels_are_names_and_never_overlap_the_legend_or_each_other(layer, size):
    layers = _alaska_layers()
    spec = maps.MapSpec(title="A title " * 20, layer=layer, source="Source " * 30)
    agg = maps.aggregate_frame(_alaska_frame(60), spec, layers)
    fig, drawn = maps.draw_png(agg, spec, layers, size=size)
    assert drawn.inset is not None  # 20% of the weight in Alaska: an inset
    codes = set(layers["admin1"]["code"])
    assert drawn.label_texts and not codes & set(drawn.label_texts)
    assert set(drawn.label_texts) <= set(layers["admin1"]["name"])
    for i, a in enumerate(drawn.labels):
        assert inside(a, drawn.frame)
        assert not overlaps(a, drawn.legend) and not overlaps(a, drawn.inset)
        assert all(not overlaps(a, b) for b in drawn.labels[i + 1:])
    assert not overlaps(drawn.legend, drawn.inset)
    assert inside(drawn.legend, drawn.frame)
    # Title and summary line are shortened to fit, never cut by the image's edge.
    renderer = fig.canvas.get_renderer()
    for text in fig.texts:
        extent = text.get_window_extent(renderer)
        assert 0 <= extent.x0 and extent.x1 <= size[0] + 0.5, text.get_text()


def test_no_inset_when_alaska_is_an_outlier():
    layers = _alaska_layers()
    spec = maps.MapSpec(title="t")
    agg = maps.aggregate_frame(_alaska_frame(2), spec, layers)
    _fig, drawn = maps.draw_png(agg, spec, layers, size=(600, 315))
    assert drawn.inset is None


def test_heat_is_drawn_smooth_not_as_squares():
    from PIL import Image
    import io

    frame = _frame(50).assign(lat=49.2, lon=-120.0, count=3)  # one grid cell
    spec = maps.MapSpec(title="t")
    png = maps.render_png(maps.aggregate_frame(frame, spec), spec, {}, size=(600, 315))
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    # The view is centred on the one cell: the map's middle row, 60 px either side.
    y = 315 - int(315 * 0.86 / 2)
    row = image[y, 240:361]
    # A blurred spot fades through many colours from its edge to its centre; a square
    # marker would be one or two.
    assert len({tuple(p) for p in row}) >= 10
    assert np.abs(row[60] - row[0]).sum() > 100  # the centre is coloured, the edge is not


@pytest.mark.parametrize("layer", ["heat", "choropleth"])
@pytest.mark.parametrize("size", [(1200, 630), (300, 158)])
def test_card_labels_never_overlap_on_the_real_regions(layer, size):
    """The same promise on the served regions file (64 states and provinces, most of them
    small near the border), with incidents along the whole border as the sample has them."""
    from pathlib import Path

    import numpy as np

    from geomap.maps.placement import inside, overlaps

    path = Path(__file__).resolve().parents[2] / "shapefiles" / "regions.gpkg"
    layers = maps.display_layers(path)
    if "admin1" not in layers:
        pytest.skip("no regions file in this checkout")
    lon = np.linspace(-123.0, -67.5, 60)
    frame = _frame(60).assign(lon=lon, lat=np.where(lon < -95, 49.0, 45.0) - 0.05)
    spec = maps.MapSpec(title="Northern border", layer=layer)
    _fig, drawn = maps.draw_png(maps.aggregate_frame(frame, spec, layers), spec, layers,
                                size=size)
    assert drawn.label_texts or size[0] < 600
    assert not set(drawn.label_texts) & set(layers["admin1"]["code"])  # names, not codes
    for i, a in enumerate(drawn.labels):
        assert inside(a, drawn.frame) and not overlaps(a, drawn.legend)
        assert drawn.inset is None or not overlaps(a, drawn.inset)
        assert all(not overlaps(a, b) for b in drawn.labels[i + 1:]), drawn.label_texts
