"""Static PNG of a selection (social cards, downloads): land and border from the display
layers, and the heat grid or a choropleth's coloured regions or segments with their legend.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from .display import REGIONS_ATTRIBUTION
from .payloads import choropleth_payload
from .spec import Aggregates, MapSpec
from .style import EMPTY_COLOR, HEAT_GRADIENT, heat_weights, legend, summary_line


def _png_choropleth(ax, agg: Aggregates, spec: MapSpec, layers: Mapping[str, Any],
                    scale: float = 1.0) -> None:
    """Draw the choropleth's regions (or border segments) in its colours, and its legend."""
    import geopandas as gpd
    from matplotlib.patches import Patch

    payload = choropleth_payload(agg, spec, layers)
    features = payload["features"]["features"]
    if features:
        shapes = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
        colours = [f["properties"].get("fill") or EMPTY_COLOR for f in features]
        if payload["lines"]:
            shapes.plot(ax=ax, aspect=None, color=colours, linewidth=4 * scale)
        else:
            shapes.plot(ax=ax, aspect=None, color=colours, edgecolor="#8a8272",
                        linewidth=0.6 * scale)
    info = legend(agg, spec)
    handles = [Patch(facecolor=colour, edgecolor="#8a8272", label=label)
               for colour, label in info["items"]]
    ax.legend(handles=handles, loc="upper right", fontsize=9 * scale,
              title_fontsize=10 * scale,
              title=f"{info['heading']} ({info['unit']})", framealpha=0.9)


def render_png(agg: Aggregates, spec: MapSpec, layers: Mapping[str, Any] | None = None, *,
               size: tuple[int, int] = (1200, 630), subtitle: str = "") -> bytes:
    """Draw a static PNG of the selection: land and border from the layers, and the heat grid
    or, for a choropleth spec, its coloured regions or border segments with their legend.

    Uses matplotlib's object API (no pyplot state), so it is safe in threaded servers. Cells
    below ``spec.min_public_count`` are already absent from `agg`. Text and lines are sized
    for 1200 x 630 and scale with a smaller (or larger) image.
    """
    import io

    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    layers = layers or {}
    dpi = 100
    scale = min(size[0] / 1200, size[1] / 630)  # of text and line widths
    # A hair over the size: matplotlib truncates figsize * dpi to whole pixels.
    fig = Figure(figsize=((size[0] + 0.01) / dpi, (size[1] + 0.01) / dpi), dpi=dpi)
    fig.patch.set_facecolor("#ffffff")
    ax = fig.add_axes((0.0, 0.0, 1.0, 0.86))
    ax.set_facecolor("#d7e6f2")
    bounds = agg.bounds or [[41.0, -125.0], [50.0, -66.0]]
    (lat_min, lon_min), (lat_max, lon_max) = bounds
    mid_lat = (lat_min + lat_max) / 2
    aspect = 1 / max(math.cos(math.radians(mid_lat)), 0.2)
    # Fit the padded extent to the image's aspect ratio.
    # At least a few degrees of context: a social card should show where it is.
    width_deg = max((lon_max - lon_min) * 1.1, 6.0)
    height_deg = max((lat_max - lat_min) * 1.1, 2.5)
    frame_ratio = (size[0] / (size[1] * 0.86))
    if width_deg / (height_deg * aspect) < frame_ratio:
        width_deg = height_deg * aspect * frame_ratio
    else:
        height_deg = width_deg / (aspect * frame_ratio)
    cx, cy = (lon_min + lon_max) / 2, mid_lat
    x0, x1 = cx - width_deg / 2, cx + width_deg / 2
    y0, y1 = cy - height_deg / 2, cy + height_deg / 2
    ax.set_axis_off()
    fig.patch.set_facecolor("#d7e6f2")  # water, also around the axes
    tolerance = width_deg / size[0]  # about a pixel

    def draw(key: str, **style) -> None:
        if key in layers:
            part = layers[key].cx[x0:x1, y0:y1]
            if len(part):
                part.set_geometry(part.geometry.simplify(tolerance)).plot(ax=ax, aspect=None,
                                                                         **style)

    draw("admin1", color="#f3efe6", edgecolor="#b3ab9c", linewidth=0.5 * scale)
    if spec.layer == "choropleth":
        _png_choropleth(ax, agg, spec, layers, scale)  # over the land, under the border line
    draw("border", color="#6b5b95", linewidth=1.2 * scale, linestyle="--")
    # Limits after plotting (plotting autoscales); they already have the axes' shape.
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(aspect, adjustable="box")
    if "admin1" in layers and "code" in layers["admin1"]:
        for code, point in zip(layers["admin1"]["code"],
                               layers["admin1"].geometry.representative_point()):
            if x0 < point.x < x1 and y0 < point.y < y1:
                ax.text(point.x, point.y, str(code), fontsize=9 * scale, color="#5d5548", ha="center",
                        va="center", parse_math=False)
    cells = agg.cells
    if cells is not None:
        cells = cells[cells["total"] > 0]
    if cells is not None and len(cells):
        weights = heat_weights(cells["total"].to_numpy(dtype=float))
        cmap = LinearSegmentedColormap.from_list("gm", [HEAT_GRADIENT[k] for k in
                                                        sorted(HEAT_GRADIENT)])
        order = np.argsort(weights)
        marker = max(12.0, min(60.0, ((agg.cell or 0.1) / width_deg * size[0]) ** 2))
        ax.scatter(cells["lon"].to_numpy()[order], cells["lat"].to_numpy()[order], s=marker,
                   c=weights[order], cmap=cmap, vmin=0, vmax=1, marker="s",
                   linewidths=0, alpha=0.85)
    fig.patches.append(Rectangle((0, 0.86), 1, 0.14, transform=fig.transFigure,
                                 facecolor="#ffffff", edgecolor="none"))
    title = spec.title or "Map"
    title = title if len(title) <= 80 else title[:79] + "…"
    fig.text(0.015, 0.955, title, fontsize=20 * scale, weight="bold", va="center",
             color="#1d2430", parse_math=False)
    line = summary_line(agg, spec)
    if subtitle:
        line += f" · {subtitle}"
    if spec.source:
        line += f" · Source: {spec.source}"
    if spec.license:
        line += f" · Licence: {spec.license}"
    line = line if len(line) <= 130 else line[:129] + "…"
    fig.text(0.015, 0.895, line, fontsize=11 * scale, va="center", color="#5b6575",
             parse_math=False)
    if layers:
        fig.text(0.995, 0.01, REGIONS_ATTRIBUTION, fontsize=8 * scale, ha="right", va="bottom",
                 color="#5b6575", parse_math=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
