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
from ..language import N_, Words
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
#: Layer and region-kind names, in English; said in the reader's language with gettext.
LAYER_LABELS = {"heat": N_("Heat map"), "cluster": N_("Incidents"), "choropleth": N_("Regions"),
                "time": N_("Over time")}
BY_LABELS = {"admin1": N_("state or province"), "sector": N_("Border Patrol sector"),
             "border_segment": N_("stretch of border")}
#: A choropleth legend's heading per kind of region.
BY_HEADINGS = {"admin1": N_("Count by state or province"),
               "sector": N_("Count by Border Patrol sector"),
               "border_segment": N_("Count by stretch of border")}


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


def _cell_label(cell: float | None, words: Words) -> str:
    if not cell:
        return words.gettext("grid cell")
    km = cell * 111.0
    length = km if words.km else km / 1.609344
    size = words.decimal(length, 0 if length >= 10 else 1)
    return (words.gettext("%(deg)s° grid cell (about %(size)s km north–south)", deg=
                          words.number(cell), size=size) if words.km else
            words.gettext("%(deg)s° grid cell (about %(size)s miles north–south)",
                          deg=words.number(cell), size=size))


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
    """Describe the legend: heading, unit, colour items and notes (plain text, not HTML),
    in the map's language (``labels``: the legend's own words)."""
    w = spec.words
    _ = w.gettext
    notes = []
    items: list[tuple[str, str]] = []
    gradient = False
    if spec.layer in ("heat", "time"):
        heading = _("Incidents, weighted by count")
        unit = _("sum of count (people or events) per %(cell)s; square-root colour scale",
                 cell=_cell_label(agg.cell, w))
        gradient = True
        if spec.layer == "time":
            notes.extend(timeline.notes(agg.framing, w))
    elif spec.layer == "cluster" and agg.points is not None:
        heading = _("Individual incidents")
        unit = _("numbers on clusters are incidents; marker size is the count")
        if "description" in agg.points and popup_share(
                agg.points["description"].fillna("").astype(str)) < POPUP_MIN_CHARS:
            notes.append(_("Descriptions are left out of the map at this many incidents; "
                           "they are in the CSV and GeoJSON downloads."))
    elif spec.layer == "cluster":
        heading = _("Incidents, aggregated")
        unit = _("circle area is the sum of count per %(cell)s", cell=_cell_label(agg.cell, w))
        if agg.n > spec.cluster_limit:
            notes.append(_("%(n)s incidents match: more than the %(limit)s that are shown "
                           "individually, so they are grouped into grid cells.",
                           n=w.number(agg.n), limit=w.number(spec.cluster_limit)))
        else:
            notes.append(_("Individual incidents are not shown in public views of this "
                           "dataset; they are grouped into grid cells."))
    else:
        heading = _(BY_HEADINGS.get(spec.by, BY_HEADINGS["admin1"]))
        unit = (_("sum of count (people or events) %(per)s", per=w.per_length())
                if spec.by == "border_segment" or per_border_mile(spec)
                else _("sum of count (people or events)"))
        offset = len(PALETTE) - len(agg.breaks)
        for i, label in enumerate(class_labels(agg.breaks, w)):
            items.append((PALETTE[offset + i], label))
        items.append((no_data_colour("empty", spec), _("none recorded")))
        if spec.min_public_count > 1:
            items.append((no_data_colour("hidden", spec),
                          _("fewer than %(n)s incidents (hidden)",
                            n=w.number(spec.min_public_count))))
    if spec.min_public_count > 1 and spec.layer != "choropleth":
        notes.append(_("Areas with fewer than %(n)s incidents are not shown.",
                       n=w.number(spec.min_public_count)))
    if agg.hidden and spec.layer != "choropleth":
        notes.append(_("%(n)s cells hidden.", n=w.number(agg.hidden)))
    if spec.layer == "choropleth" and spec.by in ("admin1", "sector"):
        notes.extend(_unmapped_note(agg, spec))
    if agg.regional_n and spec.layer != "choropleth":
        notes.append(regional_note(agg, w) if not is_hidden(agg.regional_n,
                                                            spec.min_public_count)
                     else _("Fewer than %(n)s matching records are known only by sector or "
                            "state/province and are not drawn here.",
                            n=w.number(spec.min_public_count)))
        if spec.layer == "time" and agg.framing is not None and any(agg.framing.regional_n):
            notes.append(timeline.regional_note(agg.framing, w))
    return {"heading": heading, "unit": unit, "items": items, "gradient": gradient,
            "notes": notes, "n": agg.n, "total": agg.total,
            "summary": summary_line(agg, spec),
            "labels": {"legend": _("Legend"), "fewer": _("fewer"), "more": _("more")}}


def _unmapped_note(agg: Aggregates, spec: MapSpec) -> list[str]:
    """Say how many records a region choropleth cannot colour: those with no value for its
    regions (known only by the other kind of region, or outside every one of them)."""
    if agg.regions is None or not len(agg.regions):
        return []
    none = agg.regions[agg.regions["key"].isna()]
    n, total = int(none["n"].sum()), int(none["total"].sum())
    if not n:
        return []
    w = spec.words
    if is_hidden(n, spec.min_public_count):
        message = (N_("Fewer than %(n)s matching records have no state/province and are not "
                      "on this map.") if spec.by == "admin1" else
                   N_("Fewer than %(n)s matching records have no sector and are not on this "
                      "map."))
        return [w.gettext(message, n=w.number(spec.min_public_count))]
    if spec.by == "admin1":
        return [w.ngettext("%(total)s counted in %(num)s record with no state/province (known "
                           "only by sector, or outside every state/province) are not on this "
                           "map.",
                           "%(total)s counted in %(num)s records with no state/province (known "
                           "only by sector, or outside every state/province) are not on this "
                           "map.", n, total=w.number(total))]
    return [w.ngettext("%(total)s counted in %(num)s record with no sector (known only by "
                       "state/province, or outside every sector) are not on this map.",
                       "%(total)s counted in %(num)s records with no sector (known only by "
                       "state/province, or outside every sector) are not on this map.",
                       n, total=w.number(total))]


def regional_note(agg: Aggregates, words: Words | None = None) -> str:
    """Say how many matching records this point map cannot draw: known only by sector or
    state/province (no coordinates); the choropleths count them."""
    w = words or Words.for_()
    return w.ngettext("%(total)s counted in %(num)s record known only by sector or "
                      "state/province are not drawn here: see the choropleth by sector or by "
                      "state/province.",
                      "%(total)s counted in %(num)s records known only by sector or "
                      "state/province are not drawn here: see the choropleth by sector or by "
                      "state/province.", agg.regional_n, total=w.number(agg.regional_total))


def summary_line(agg: Aggregates, spec: MapSpec) -> str:
    """Return 'N incidents, total count T', or a suppressed form under the public threshold."""
    w = spec.words
    if is_hidden(agg.n, spec.min_public_count):
        return w.gettext("Fewer than %(n)s incidents match (figures not shown).",
                         n=w.number(spec.min_public_count))
    return w.gettext("%(n)s incidents, total count %(total)s", n=w.number(agg.n),
                     total=w.number(agg.total))


def legend_html(info: Mapping[str, Any]) -> Markup:
    """Render a legend description as escaped HTML (no inline styles: classes only)."""
    labels = {"legend": "Legend", "fewer": "fewer", "more": "more", **info.get("labels", {})}
    parts = [Markup('<div class="gm-legend" role="group" aria-label="')
             + escape(labels["legend"]) + Markup('">'),
             Markup('<p class="gm-legend-heading">') + escape(info["heading"]) + Markup("</p>"),
             Markup('<p class="gm-legend-unit">') + escape(info["unit"]) + Markup("</p>")]
    if info.get("gradient"):
        parts.append(Markup('<div class="gm-gradient" aria-hidden="true"></div>'
                            '<p class="gm-gradient-labels"><span>') + escape(labels["fewer"])
                     + Markup("</span><span>") + escape(labels["more"])
                     + Markup("</span></p>"))
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
    """Return the escaped source / licence / updated line, in the map's language."""
    w = spec.words
    bits = []
    if spec.source:
        bits.append(escape(w.gettext("Source: %(source)s", source=spec.source)))
    if spec.license:
        bits.append(escape(w.gettext("Licence: %(license)s", license=spec.license)))
    if spec.updated:
        bits.append(escape(w.gettext("Updated %(date)s", date=w.date(spec.updated))))
    return Markup('<p class="gm-credit">') + Markup(" · ").join(bits) + Markup("</p>")
