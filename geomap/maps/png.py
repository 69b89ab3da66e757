"""Static PNG of a selection (social cards, downloads, no-JS): land and border from the display
layers, the heat drawn smooth (a gaussian-blurred grid) or a choropleth's coloured regions or
segments, state and province names that never overlap or get cut, a legend in the corner
where the data is not, and Alaska as an inset when it holds a real share of the data.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .display import REGIONS_ATTRIBUTION
from .payloads import choropleth_payload
from .placement import Box, place_labels, quietest_corner
from .spec import Aggregates, MapSpec
from ..regions.names import admin1_name
from .style import EMPTY_COLOR, HEAT_GRADIENT, legend, summary_line

LAND, LAND_EDGE, WATER = "#f3efe6", "#b3ab9c", "#d7e6f2"
BORDER, INK, MUTED, LABEL = "#6b5b95", "#1d2430", "#5b6575", "#5d5548"
#: Share of the image's height taken by the title band.
HEADER = 0.14
#: Alaska's frame in the inset, and what counts as "in Alaska" (west of the lower 48).
ALASKA_VIEW = (-170.0, 51.0, -129.0, 72.0)
ALASKA_WEST = -129.5


@dataclass
class Drawn:
    """What `draw_png` placed, in pixels (y up): kept labels, legend, inset and the map."""

    frame: Box
    labels: list[Box] = field(default_factory=list)
    label_texts: list[str] = field(default_factory=list)
    legend: Box | None = None
    legend_corner: str = ""
    inset: Box | None = None


def render_png(agg: Aggregates, spec: MapSpec, layers: Mapping[str, Any] | None = None, *,
               size: tuple[int, int] = (1200, 630), subtitle: str = "") -> bytes:
    """Draw a static PNG of the selection (see `draw_png`) and return its bytes.

    Uses matplotlib's object API (no pyplot state), so it is safe in threaded servers. Cells
    below ``spec.min_public_count`` are already absent from `agg`. Text and lines are sized
    for 1200 x 630 and scale with a smaller (or larger) image.
    """
    fig, _drawn = draw_png(agg, spec, layers, size=size, subtitle=subtitle)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, metadata={"Software": None})
    return buffer.getvalue()


def draw_png(agg: Aggregates, spec: MapSpec, layers: Mapping[str, Any] | None = None, *,
             size: tuple[int, int] = (1200, 630), subtitle: str = ""):
    """Draw the image; return the matplotlib Figure and what was placed where (`Drawn`).

    Parameters
    ----------
    agg : Aggregates
        The reduced selection; ``agg.view`` (the box holding most of the weight) frames the
        map, so a few outliers do not shrink the border.
    spec : MapSpec
        Layer (choropleth, or anything else drawn as heat), title, source, licence.
    layers : mapping, optional
        Display layers: ``admin1`` (land and names), ``border``, and the choropleth's.
    size : (int, int)
        Pixels.
    subtitle : str
        The selection in words, after the summary line.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    import dataclasses

    layers = layers or {}
    spec = dataclasses.replace(spec, theme="light")  # the image is light whatever the page
    dpi = 100
    scale = min(size[0] / 1200, size[1] / 630)
    # A hair over the size: matplotlib truncates figsize * dpi to whole pixels.
    fig = Figure(figsize=((size[0] + 0.01) / dpi, (size[1] + 0.01) / dpi), dpi=dpi)
    FigureCanvasAgg(fig)  # text is measured while placing labels and the legend
    fig.patch.set_facecolor(WATER)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0 - HEADER))
    ax.set_axis_off()
    view = agg.view or agg.bounds or [[41.0, -125.0], [50.0, -66.0]]
    alaska = _alaska_matters(view)
    if alaska:
        view = _lower48(view)
    extent = _fit_extent(view, size[0] / (size[1] * (1 - HEADER)))
    payload = choropleth_payload(agg, spec, layers) if spec.layer == "choropleth" else None
    _draw_map(ax, agg, spec, layers, extent, payload, scale, size[0])
    renderer = fig.canvas.get_renderer()
    frame = _box(ax.get_window_extent(renderer))
    drawn = Drawn(frame=frame)
    obstacles = ([_attribution(fig, spec.words.gettext(REGIONS_ATTRIBUTION), scale, renderer)]
                 if layers else [])
    # The legend's corners sit above the attribution line, never on it.
    legend_frame = (frame[0], obstacles[0][3] if obstacles else frame[1], frame[2], frame[3])
    if alaska:
        inset = _inset(fig, frame, agg, spec, layers, payload, scale, size[0])
        drawn.inset = _box(inset.get_window_extent(renderer))
        obstacles.append(drawn.inset)
    drawn.legend_corner, drawn.legend = _legend(fig, ax, agg, spec, payload, legend_frame,
                                                obstacles[1:], scale, renderer)
    drawn.labels, drawn.label_texts = _labels(ax, layers, extent, frame,
                                              obstacles + [drawn.legend], scale, renderer,
                                              spec.lang)
    _header(fig, agg, spec, subtitle, scale, renderer)
    return fig, drawn


# --- framing --------------------------------------------------------------------------------

def _alaska_matters(view) -> bool:
    """Alaska is framed with the lower 48 only when the weight box reaches both."""
    (_lat0, lon0), (_lat1, lon1) = view
    return lon0 < ALASKA_WEST and lon1 > -123.0


def _lower48(view) -> list[list[float]]:
    """The part of a view east of Alaska (the main map when Alaska goes in an inset)."""
    (lat0, lon0), (lat1, lon1) = view
    return [[lat0, max(lon0, -126.0)], [min(lat1, 52.0), lon1]]


def _fit_extent(view, frame_ratio: float) -> tuple[float, float, float, float]:
    """Pad the view and fit it to the frame's shape: (lon0, lon1, lat0, lat1)."""
    (lat_min, lon_min), (lat_max, lon_max) = view
    mid_lat = (lat_min + lat_max) / 2
    aspect = 1 / max(math.cos(math.radians(mid_lat)), 0.2)
    # At least a few degrees of context: a social card should show where it is.
    width = max((lon_max - lon_min) * 1.12, 6.0)
    height = max((lat_max - lat_min) * 1.12, 2.5)
    if width / (height * aspect) < frame_ratio:
        width = height * aspect * frame_ratio
    else:
        height = width / (aspect * frame_ratio)
    cx, cy = (lon_min + lon_max) / 2, mid_lat
    return cx - width / 2, cx + width / 2, cy - height / 2, cy + height / 2


def _box(bbox) -> Box:
    return (float(bbox.x0), float(bbox.y0), float(bbox.x1), float(bbox.y1))


# --- the map --------------------------------------------------------------------------------

def _draw_map(ax, agg, spec, layers, extent, payload, scale, width_px) -> None:
    """Land, the choropleth or the heat, and the border line, within extent."""
    x0, x1, y0, y1 = extent
    tolerance = (x1 - x0) / width_px  # about a pixel

    def draw(key: str, **style) -> None:
        if key in layers:
            part = layers[key].cx[x0:x1, y0:y1]
            if len(part):
                part.set_geometry(part.geometry.simplify(tolerance)).plot(ax=ax, aspect=None,
                                                                         **style)

    draw("admin1", color=LAND, edgecolor=LAND_EDGE, linewidth=0.5 * scale)
    if payload is not None:
        _choropleth(ax, payload, scale)
    draw("border", color=BORDER, linewidth=1.2 * scale, linestyle="--")
    if spec.layer != "choropleth":
        _heat(ax, agg, extent)
    # Limits after plotting (plotting autoscales); they already have the axes' shape.
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    mid = (y0 + y1) / 2
    ax.set_aspect(1 / max(math.cos(math.radians(mid)), 0.2), adjustable="box")


def _choropleth(ax, payload, scale) -> None:
    import geopandas as gpd

    features = payload["features"]["features"]
    if not features:
        return
    shapes = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
    colours = [f["properties"].get("fill") or EMPTY_COLOR for f in features]
    if payload["lines"]:
        shapes.plot(ax=ax, aspect=None, color=colours, linewidth=4 * scale)
    else:
        shapes.plot(ax=ax, aspect=None, color=colours, edgecolor="#8a8272",
                    linewidth=0.6 * scale)


def _heat(ax, agg: Aggregates, extent, raster_px: float = 2.0) -> None:
    """The heat as a smooth surface: cell totals summed on a fine raster, blurred with a
    gaussian about a grid cell wide, square-root scaled like the map, faded to transparent."""
    from matplotlib.colors import LinearSegmentedColormap
    from scipy.ndimage import gaussian_filter

    cells = agg.cells
    if cells is None or not len(cells):
        return
    cells = cells[cells["total"] > 0]
    if not len(cells):
        return
    x0, x1, y0, y1 = extent
    bbox = ax.get_window_extent()
    nx = max(int(bbox.width / raster_px), 8)
    ny = max(int(bbox.height / raster_px), 8)
    lon = cells["lon"].to_numpy(dtype=float)
    lat = cells["lat"].to_numpy(dtype=float)
    ix = np.floor((lon - x0) / (x1 - x0) * nx).astype(int)
    iy = np.floor((lat - y0) / (y1 - y0) * ny).astype(int)
    ok = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    grid = np.zeros((ny, nx))
    np.add.at(grid, (iy[ok], ix[ok]), cells["total"].to_numpy(dtype=float)[ok])
    if not grid.any():
        return
    cell_px = (agg.cell or 0.1) / ((x1 - x0) / nx)  # a grid cell, in raster pixels
    # At least a few pixels: a lone cell is a visible spot, as on the interactive map.
    smooth = gaussian_filter(grid, sigma=max(3.0, cell_px * 0.6), mode="constant")
    level = np.sqrt(np.clip(smooth / smooth.max(), 0, 1))
    cmap = LinearSegmentedColormap.from_list("gm", [HEAT_GRADIENT[k]
                                                    for k in sorted(HEAT_GRADIENT)])
    rgba = cmap(level, bytes=True)
    rgba[..., 3] = (np.clip((level - 0.04) * 3.0, 0, 0.9) * 255).astype(np.uint8)
    # A raster pixel is two image pixels: already smooth, so no interpolation is needed.
    ax.imshow(rgba, extent=(x0, x1, y0, y1), origin="lower", interpolation="nearest",
              aspect="auto", zorder=3)


def _inset(fig, frame: Box, agg, spec, layers, payload, scale, width_px):
    """Alaska in the map's lower-left corner (the Pacific), with its own frame."""
    fw, fh = fig.bbox.width, fig.bbox.height
    w = (frame[2] - frame[0]) * 0.24
    lon0, lat0, lon1, lat1 = ALASKA_VIEW
    aspect = 1 / math.cos(math.radians((lat0 + lat1) / 2))
    h = min(w * (lat1 - lat0) * aspect / (lon1 - lon0), (frame[3] - frame[1]) * 0.42)
    pad = 8 * scale
    ax = fig.add_axes(((frame[0] + pad) / fw, (frame[1] + pad) / fh, w / fw, h / fh))
    ax.set_facecolor(WATER)
    for spine in ax.spines.values():
        spine.set_edgecolor(MUTED)
        spine.set_linewidth(0.8 * scale)
    extent = _fit_extent([[lat0, lon0], [lat1, lon1]], w / h)
    _draw_map(ax, agg, spec, layers, extent, payload, scale * 0.7, w)
    ax.xaxis.set_visible(False)  # a frame (the spines), no ticks or tick labels
    ax.yaxis.set_visible(False)
    ax.text(0.04, 0.94, "Alaska", transform=ax.transAxes, fontsize=9 * scale, color=INK,
            va="top", weight="bold", parse_math=False)
    return ax


# --- words ----------------------------------------------------------------------------------

def _legend(fig, ax, agg, spec, payload, frame, obstacles, scale, renderer):
    """The legend, in the corner covering the least data; returns (corner, box)."""
    from matplotlib.patches import Patch
    from matplotlib.transforms import Bbox, IdentityTransform

    info = legend(agg, spec)
    weight_in = _data_weight(ax, agg, payload)
    if payload is None:
        return _heat_legend(fig, frame, obstacles, weight_in, scale, renderer, info)
    handles = [Patch(facecolor=c, edgecolor="#8a8272", label=label)
               for c, label in info["items"]]
    title = info["heading"] + ("" if not payload.get("per") else f"\n({payload['per']})")
    box = ax.legend(handles=handles, loc="upper right", fontsize=9 * scale,
                    title_fontsize=10 * scale, title=title, framealpha=0.92,
                    ncols=1 if len(handles) <= 4 else 2, borderaxespad=0.6)
    size = _box(box.get_window_extent(renderer))
    size = (size[2] - size[0], size[3] - size[1])
    pad = 0.6 * 10 * scale * 0.9
    corner, _box_there = quietest_corner(frame, size, weight_in, obstacles, pad=pad)
    box.set_loc(corner)
    box.set_bbox_to_anchor(Bbox.from_extents(*frame), transform=IdentityTransform())
    return corner, _box(box.get_window_extent(renderer))


def _heat_legend(fig, frame, obstacles, weight_in, scale, renderer, info):
    """The heat's legend: a title over the colour ramp (square-root scale), "fewer" and
    "more" under its ends, on a white card in the quietest corner; returns (corner, box)."""
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.patches import FancyBboxPatch
    from matplotlib.transforms import IdentityTransform

    title = info["heading"]
    font = 10 * scale * fig.dpi / 72  # points to pixels
    w_title, h_title, _ = renderer.get_text_width_height_descent(
        title, _font(10 * scale, "bold"), ismath=False)
    inner = 8 * scale
    bar_h, words_h = 10 * scale, font
    width = max(w_title, 150 * scale) + 2 * inner
    height = inner + h_title + inner * 0.6 + bar_h + inner * 0.4 + words_h + inner * 0.6
    corner, (x0, y0, x1, y1) = quietest_corner(frame, (width, height), weight_in, obstacles,
                                               pad=8 * scale)
    pixels = IdentityTransform()
    fig.patches.append(FancyBboxPatch((x0, y0), width, height, transform=pixels,
                                      boxstyle=f"round,pad=0,rounding_size={3 * scale}",
                                      facecolor="#ffffff", alpha=0.92, edgecolor="#cccccc",
                                      linewidth=0.8 * scale, zorder=4))
    fig.text(x0 + inner, y1 - inner, title, transform=pixels, fontproperties=_font(
        10 * scale, "bold"), color=INK, va="top", parse_math=False, zorder=5)
    bar_top = y1 - inner - h_title - inner * 0.6
    fw, fh = fig.bbox.width, fig.bbox.height
    bar = fig.add_axes(((x0 + inner) / fw, (bar_top - bar_h) / fh, (width - 2 * inner) / fw,
                        bar_h / fh), zorder=6)
    cmap = LinearSegmentedColormap.from_list("gm", [HEAT_GRADIENT[k]
                                                    for k in sorted(HEAT_GRADIENT)])
    bar.imshow(np.linspace(0, 1, 256)[None, :], cmap=cmap, aspect="auto",
               extent=(0, 1, 0, 1))
    bar.set_axis_off()
    words_top = bar_top - bar_h - inner * 0.4
    for x, text, ha in ((x0 + inner, info["labels"]["fewer"], "left"),
                        (x1 - inner, info["labels"]["more"], "right")):
        fig.text(x, words_top, text, transform=pixels, fontsize=9 * scale, color=MUTED,
                 ha=ha, va="top", parse_math=False, zorder=5)
    return corner, (x0, y0, x1, y1)


def _font(size: float, weight: str = "normal"):
    from matplotlib.font_manager import FontProperties

    return FontProperties(size=size, weight=weight)


def _data_weight(ax, agg, payload):
    """A function giving how much data a pixel box covers (heat totals, or coloured regions
    and segments weighted by their class)."""
    import shapely

    to_data = ax.transData.inverted()

    def data_box(box: Box):
        (a, b), (c, d) = to_data.transform([(box[0], box[1]), (box[2], box[3])])
        return min(a, c), min(b, d), max(a, c), max(b, d)

    if payload is None:
        cells = agg.cells
        if cells is None or not len(cells):
            return lambda box: 0.0
        lon = cells["lon"].to_numpy(dtype=float)
        lat = cells["lat"].to_numpy(dtype=float)
        total = cells["total"].to_numpy(dtype=float)

        def heat_weight(box: Box) -> float:
            x0, y0, x1, y1 = data_box(box)
            return float(total[(lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)].sum())
        return heat_weight

    shapes = [(shapely.geometry.shape(f["geometry"]), f["properties"])
              for f in payload["features"]["features"] if f["properties"].get("n")]

    def region_weight(box: Box) -> float:
        area = shapely.box(*data_box(box))
        # Length for border segments, area for regions: either way, what the box hides.
        return sum((geom.intersection(area).length if payload["lines"]
                    else geom.intersection(area).area) * (1 + (props.get("value") or 0) ** 0.5)
                   for geom, props in shapes if geom.intersects(area))
    return region_weight


def _labels(ax, layers, extent, frame, obstacles, scale, renderer, lang="en"):
    """State and province names (never codes, in the image's language): biggest visible
    regions first; a name that would overlap another, the legend or the inset, or be cut by
    the edge, is dropped."""
    import shapely
    from matplotlib.patheffects import withStroke

    gdf = layers.get("admin1")
    if gdf is None or "name" not in gdf or not len(gdf):
        return [], []
    x0, x1, y0, y1 = extent
    view = shapely.box(x0, y0, x1, y1)
    visible = shapely.intersection(gdf.geometry.to_numpy(), view)
    order = np.argsort(-shapely.area(visible), kind="stable")  # degrees², for the order only
    # Measure names without making Text objects (most are dropped): the font's extent of
    # the string, centred on the region's representative point, plus the halo.
    from matplotlib.font_manager import FontProperties

    font = FontProperties(size=9 * scale)
    halo = 1.25 * scale
    to_px = ax.transData
    names, points, boxes = [], [], []
    for i in order:
        geom = visible[i]
        if geom is None or geom.is_empty or shapely.area(geom) <= 0:
            continue
        point = geom.representative_point()
        name = admin1_name(str(gdf["code"].iloc[i]), lang, default=str(gdf["name"].iloc[i]))
        w, h, _descent = renderer.get_text_width_height_descent(name, font, ismath=False)
        cx, cy = to_px.transform((point.x, point.y))
        names.append(name)
        points.append((point.x, point.y))
        boxes.append((cx - w / 2 - halo, cy - h / 2 - halo, cx + w / 2 + halo,
                      cy + h / 2 + halo))
    keep = place_labels(boxes, frame, obstacles, gap=3 * scale, margin=2 * scale)
    stroke = [withStroke(linewidth=2 * halo, foreground="#ffffff", alpha=0.85)]
    for i in keep:
        ax.text(points[i][0], points[i][1], names[i], fontproperties=font, color=LABEL,
                ha="center", va="center_baseline", parse_math=False, zorder=5,
                path_effects=stroke)
    return [boxes[i] for i in keep], [names[i] for i in keep]


def _attribution(fig, credit: str, scale, renderer) -> Box:
    text = fig.text(0.995, 0.01, credit, fontsize=8 * scale, ha="right",
                    va="bottom", color=MUTED, parse_math=False,
                    bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1})
    return _box(text.get_window_extent(renderer))


def _header(fig, agg, spec, subtitle, scale, renderer) -> None:
    """Title and summary line in the band above the map, shortened to fit the width."""
    from matplotlib.patches import Rectangle

    fig.patches.append(Rectangle((0, 1 - HEADER), 1, HEADER, transform=fig.transFigure,
                                 facecolor="#ffffff", edgecolor="none"))
    line = summary_line(agg, spec)
    w = spec.words
    for part in (subtitle, spec.source and w.gettext("Source: %(source)s", source=spec.source),
                 spec.license and w.gettext("Licence: %(license)s", license=spec.license)):
        if part:
            line += f" · {part}"
    width = fig.bbox.width * 0.97
    title = fig.text(0.015, 1 - HEADER * 0.32, spec.title or w.gettext("Map"), fontsize=20 * scale,
                     weight="bold", va="center", color=INK, parse_math=False)
    _fit(title, width, renderer)
    summary = fig.text(0.015, 1 - HEADER * 0.76, line, fontsize=11 * scale, va="center",
                       color=MUTED, parse_math=False)
    _fit(summary, width, renderer)


def _fit(text, width: float, renderer) -> None:
    """Shorten a text with an ellipsis until it is at most `width` pixels wide."""
    full = text.get_text()
    if text.get_window_extent(renderer).width <= width:
        return
    low, high = 0, len(full)
    while low < high:  # the longest prefix that fits, by bisection
        mid = (low + high + 1) // 2
        text.set_text(full[:mid].rstrip() + "…")
        if text.get_window_extent(renderer).width <= width:
            low = mid
        else:
            high = mid - 1
    text.set_text(full[:low].rstrip() + "…")
