"""Colour scales and the words around a map: choropleth class breaks and colours, heat
weights, the legend (as data and as escaped HTML), the summary line and the credit line.

Everything here reads `Aggregates` and `MapSpec` only: class breaks and hidden counts are
computed when the selection is reduced (`geomap.maps.reduce`), so a legend is the same
whenever it is asked for.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
from markupsafe import Markup, escape

from ..disclosure import is_hidden
from .spec import POPUP_MIN_CHARS, Aggregates, MapSpec, per_border_mile, popup_share
from . import timeline

#: Sequential palette (light to dark) for choropleths and segments.
PALETTE = ("#fdd49e", "#fdbb84", "#fc8d59", "#e34a33", "#b30000")
HIDDEN_COLOR = "#bdbdbd"
EMPTY_COLOR = "#ffffff"
HEAT_GRADIENT = {0.2: "#2c7bb6", 0.4: "#00a6ca", 0.6: "#90eb9d", 0.8: "#f9d057", 1.0: "#d7191c"}
LAYER_LABELS = {"heat": "Heat map", "cluster": "Incidents", "choropleth": "Regions",
                "time": "Over time"}
BY_LABELS = {"admin1": "state or province", "sector": "Border Patrol sector",
             "border_segment": "stretch of border"}


def class_breaks(values: Iterable[float], classes: int = len(PALETTE)) -> list[float]:
    """Return ascending upper bounds of up to `classes` classes (quantiles of positive values)."""
    arr = np.asarray([v for v in values if v and v > 0], dtype=float)
    if arr.size == 0:
        return []
    qs = np.quantile(arr, np.linspace(0, 1, classes + 1)[1:])
    breaks = sorted({_nice(float(q)) for q in qs})
    if breaks[-1] < arr.max():
        breaks[-1] = float(arr.max())
    return breaks


def _nice(value: float) -> float:
    if value >= 10:
        return float(round(value))
    return round(value, 2)


def colour_for(value: float, breaks: list[float]) -> str:
    """Return the palette colour of value's class (EMPTY_COLOR for zero or no breaks)."""
    if not value or not breaks:
        return EMPTY_COLOR
    offset = len(PALETTE) - len(breaks)
    for i, upper in enumerate(breaks):
        if value <= upper:
            return PALETTE[offset + i]
    return PALETTE[-1]


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _cell_label(cell: float | None) -> str:
    if not cell:
        return "grid cell"
    km = cell * 111.0
    size = f"{km:,.0f} km" if km >= 10 else f"{km:.1f} km"
    return f"{cell:g}° grid cell (about {size} north–south)"


def heat_weights(values: np.ndarray) -> np.ndarray:
    """Heat weights: square root of each cell's share of the busiest cell, 3 decimals.

    The square root keeps quiet cells visible next to one very busy crossing; the legend
    says so.
    """
    if values.size == 0:
        return values.astype(float)
    top = float(values.max()) or 1.0
    return np.maximum(np.round(np.sqrt(values / top), 3), 0.001)


def legend(agg: Aggregates, spec: MapSpec) -> dict[str, Any]:
    """Describe the legend: heading, unit, colour items and notes (plain text, not HTML)."""
    notes = []
    items: list[tuple[str, str]] = []
    gradient = False
    if spec.layer in ("heat", "time"):
        heading = "Incidents, weighted by count"
        unit = (f"sum of count (people or events) per {_cell_label(agg.cell)}; "
                "square-root colour scale")
        gradient = True
        if spec.layer == "time":
            notes.extend(timeline.notes(agg.framing))
    elif spec.layer == "cluster" and agg.points is not None:
        heading = "Individual incidents"
        unit = "numbers on clusters are incidents; marker size is the count"
        if "description" in agg.points and popup_share(
                agg.points["description"].fillna("").astype(str)) < POPUP_MIN_CHARS:
            notes.append("Descriptions are left out of the map at this many incidents; "
                         "they are in the CSV and GeoJSON downloads.")
    elif spec.layer == "cluster":
        heading = "Incidents, aggregated"
        unit = f"circle area is the sum of count per {_cell_label(agg.cell)}"
        if agg.n > spec.cluster_limit:
            notes.append(f"{agg.n:,} incidents match: more than the {spec.cluster_limit:,} that "
                         "are shown individually, so they are grouped into grid cells.")
        else:
            notes.append("Individual incidents are not shown in public views of this dataset; "
                         "they are grouped into grid cells.")
    else:
        per = " per border mile" if spec.by == "border_segment" or per_border_mile(spec) else ""
        heading = f"Count by {BY_LABELS.get(spec.by, spec.by)}"
        unit = f"sum of count (people or events){per}"
        breaks = agg.breaks
        lower = 0.0
        offset = len(PALETTE) - len(breaks)
        for i, upper in enumerate(breaks):
            items.append((PALETTE[offset + i], f"{_fmt(lower) if i else 'up to'}"
                          f"{'–' if i else ' '}{_fmt(upper)}"))
            lower = upper
        items.append((EMPTY_COLOR, "none recorded"))
        if spec.min_public_count > 1:
            items.append((HIDDEN_COLOR, f"fewer than {spec.min_public_count} incidents (hidden)"))
    if spec.min_public_count > 1 and spec.layer != "choropleth":
        notes.append(f"Areas with fewer than {spec.min_public_count} incidents are not shown.")
    if agg.hidden and spec.layer != "choropleth":
        notes.append(f"{agg.hidden:,} cells hidden.")
    return {"heading": heading, "unit": unit, "items": items, "gradient": gradient,
            "notes": notes, "n": agg.n, "total": agg.total,
            "summary": summary_line(agg, spec)}


def summary_line(agg: Aggregates, spec: MapSpec) -> str:
    """Return 'N incidents, total count T', or a suppressed form under the public threshold."""
    if is_hidden(agg.n, spec.min_public_count):
        return f"Fewer than {spec.min_public_count} incidents match (figures not shown)."
    return f"{agg.n:,} incidents, total count {agg.total:,}"


def legend_html(info: Mapping[str, Any]) -> Markup:
    """Render a legend description as escaped HTML (no inline styles: classes only)."""
    parts = [Markup('<div class="gm-legend" role="group" aria-label="Legend">'),
             Markup('<p class="gm-legend-heading">') + escape(info["heading"]) + Markup("</p>"),
             Markup('<p class="gm-legend-unit">') + escape(info["unit"]) + Markup("</p>")]
    if info.get("gradient"):
        parts.append(Markup('<div class="gm-gradient" aria-hidden="true"></div>'
                            '<p class="gm-gradient-labels"><span>fewer</span>'
                            '<span>more</span></p>'))
    if info.get("items"):
        parts.append(Markup('<ul class="gm-legend-items">'))
        for colour, label in info["items"]:
            swatch = PALETTE.index(colour) if colour in PALETTE else (
                "hidden" if colour == HIDDEN_COLOR else "empty")
            parts.append(Markup('<li><span class="gm-swatch gm-swatch-') + escape(str(swatch))
                         + Markup('" aria-hidden="true"></span>') + escape(label)
                         + Markup("</li>"))
        parts.append(Markup("</ul>"))
    parts.append(Markup('<p class="gm-legend-total">') + escape(info["summary"]) + Markup("</p>"))
    for note in info.get("notes", ()):
        parts.append(Markup('<p class="gm-legend-note">') + escape(note) + Markup("</p>"))
    parts.append(Markup("</div>"))
    return Markup("").join(parts)


def credit_html(spec: MapSpec) -> Markup:
    """Return the escaped source / licence / updated line."""
    bits = []
    if spec.source:
        bits.append(Markup("Source: ") + escape(spec.source))
    if spec.license:
        bits.append(Markup("Licence: ") + escape(spec.license))
    if spec.updated:
        bits.append(Markup("Updated ") + escape(spec.updated.strftime("%-d %B %Y")))
    return Markup('<p class="gm-credit">') + Markup(" · ").join(bits) + Markup("</p>")
