"""Colour scales and the words around a map: choropleth class breaks and colours, heat
weights, the legend (as data and as escaped HTML), the summary line and the credit line.

Everything here reads `Aggregates` and `MapSpec` only: class breaks and hidden counts are
computed when the selection is reduced (`geomap.maps.reduce`), so a legend is the same
whenever it is asked for.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from markupsafe import Markup, escape

from ..disclosure import is_hidden
from .breaks import class_labels
from .spec import POPUP_MIN_CHARS, Aggregates, MapSpec, per_border_mile, popup_share
from . import timeline

#: Sequential palette (light to dark) for choropleths and segments.
PALETTE = ("#fdd49e", "#fdbb84", "#fc8d59", "#e34a33", "#b30000")
#: What regions with nothing to show are drawn in, per theme: "empty" (none recorded),
#: "hidden" (under the small-count threshold) and "empty-line" (a border segment with none
#: recorded). The legend's swatches are these colours (static/map.css .gm-swatch-<kind>,
#: dark ones under .gm-dark), so legend and map agree in both themes.
NO_DATA = {"light": {"empty": "#ffffff", "hidden": "#bdbdbd", "empty-line": "#9e9e9e"},
           "dark": {"empty": "#3b4048", "hidden": "#767d88", "empty-line": "#8b949e"}}
HIDDEN_COLOR = NO_DATA["light"]["hidden"]
EMPTY_COLOR = NO_DATA["light"]["empty"]
#: Opacity of choropleth regions (fill) and border segments (line) on the map; the
#: legend's swatches use the same (static/map.css .gm-swatch).
REGION_OPACITY = 0.8
_SWATCH_KINDS = {colour: kind for colours in NO_DATA.values() for kind, colour in colours.items()}
HEAT_GRADIENT = {0.2: "#2c7bb6", 0.4: "#00a6ca", 0.6: "#90eb9d", 0.8: "#f9d057", 1.0: "#d7191c"}
LAYER_LABELS = {"heat": "Heat map", "cluster": "Incidents", "choropleth": "Regions",
                "time": "Over time"}
BY_LABELS = {"admin1": "state or province", "sector": "Border Patrol sector",
             "border_segment": "stretch of border"}


def no_data_colour(kind: str, spec: MapSpec) -> str:
    """Return the colour of regions with nothing to show (`NO_DATA`) in spec's theme.

    ``kind`` is "empty" or "hidden"; an empty border segment (a line) is "empty-line".
    """
    if kind == "empty" and spec.layer == "choropleth" and spec.by == "border_segment":
        kind = "empty-line"
    return NO_DATA.get(spec.theme, NO_DATA["light"])[kind]


def colour_for(value: float, breaks: list[float], empty: str = EMPTY_COLOR) -> str:
    """Return the palette colour of value's class (`empty` for zero or no breaks)."""
    if not value or not breaks:
        return empty
    offset = len(PALETTE) - len(breaks)
    for i, upper in enumerate(breaks):
        if value <= upper:
            return PALETTE[offset + i]
    return PALETTE[-1]


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
        offset = len(PALETTE) - len(agg.breaks)
        for i, label in enumerate(class_labels(agg.breaks)):
            items.append((PALETTE[offset + i], label))
        items.append((no_data_colour("empty", spec), "none recorded"))
        if spec.min_public_count > 1:
            items.append((no_data_colour("hidden", spec),
                          f"fewer than {spec.min_public_count} incidents (hidden)"))
    if spec.min_public_count > 1 and spec.layer != "choropleth":
        notes.append(f"Areas with fewer than {spec.min_public_count} incidents are not shown.")
    if agg.hidden and spec.layer != "choropleth":
        notes.append(f"{agg.hidden:,} cells hidden.")
    if spec.layer == "choropleth" and spec.by in ("admin1", "sector"):
        notes.extend(_unmapped_note(agg, spec))
    if agg.regional_n and spec.layer != "choropleth":
        notes.append(regional_note(agg) if not is_hidden(agg.regional_n, spec.min_public_count)
                     else f"Fewer than {spec.min_public_count} matching records are known only "
                          "by sector or state/province and are not drawn here.")
        if spec.layer == "time" and agg.framing is not None and any(agg.framing.regional_n):
            notes.append(timeline.regional_note(agg.framing))
    return {"heading": heading, "unit": unit, "items": items, "gradient": gradient,
            "notes": notes, "n": agg.n, "total": agg.total,
            "summary": summary_line(agg, spec)}


def _unmapped_note(agg: Aggregates, spec: MapSpec) -> list[str]:
    """Say how many records a region choropleth cannot colour: those with no value for its
    regions (known only by the other kind of region, or outside every one of them)."""
    if agg.regions is None or not len(agg.regions):
        return []
    none = agg.regions[agg.regions["key"].isna()]
    n, total = int(none["n"].sum()), int(none["total"].sum())
    if not n:
        return []
    label, other = (("state/province", "sector") if spec.by == "admin1"
                    else ("sector", "state/province"))
    if is_hidden(n, spec.min_public_count):
        return [f"Fewer than {spec.min_public_count} matching records have no {label} and are "
                "not on this map."]
    records = "record" if n == 1 else "records"
    return [f"{total:,} counted in {n:,} {records} with no {label} (known only by {other}, "
            f"or outside every {label}) are not on this map."]


def regional_note(agg: Aggregates) -> str:
    """Say how many matching records this point map cannot draw: known only by sector or
    state/province (no coordinates); the choropleths count them."""
    records = "record" if agg.regional_n == 1 else "records"
    return (f"{agg.regional_total:,} counted in {agg.regional_n:,} {records} known only by "
            "sector or state/province are not drawn here: see the choropleth by sector or "
            "by state/province.")


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
            swatch = (PALETTE.index(colour) if colour in PALETTE
                      else _SWATCH_KINDS.get(colour, "empty"))
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
