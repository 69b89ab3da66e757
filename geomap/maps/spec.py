"""What a map is asked for and what it is made of: `MapSpec` (layer, options, chrome, payload
limits), `Aggregates` (the reduced selection every later step reads) and `MapHtml` (rendered
parts); the CSP hash every rendered piece uses (its script-safe JSON is `geomap.jsontext`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd
from markupsafe import Markup

from ..language import LANGUAGES, Words, default_units

#: Characters a cluster popup keeps at most.
POPUP_CHARS = 280
#: Characters of popup text shared by all cluster markers (keeps 5,000 markers under 200 KB).
CLUSTER_TEXT_BUDGET = 40_000
#: Below this many characters per popup, cluster descriptions are left out altogether.
POPUP_MIN_CHARS = 40


@dataclass
class MapSpec:
    """How to draw a map: layer and options, dataset chrome and payload limits."""

    layer: str = "heat"
    by: str = "admin1"
    period: str = "auto"                    # time layer: auto, week, month, quarter, year
    cumulative: bool = False                # time layer: frames add up to their period
    theme: str = "light"
    tiles: str = "openstreetmap"
    title: str = ""
    source: str = ""
    license: str = ""
    updated: dt.datetime | None = None
    per: str = "count"                      # choropleth: raw counts or per border mile
    border_miles: Mapping[str, float] | None = None   # code -> miles (regions.border_miles)
    embed: bool = False
    static_url: str = "/static"
    # The small-count threshold the view chose (`disclosure.rendered_threshold`).
    min_public_count: int = 1
    heat_max_cells: int = 6000
    cluster_limit: int = 5000
    # Time layer: at most this many frames picked from the span, and this many (cell,
    # frame) pairs drawn (each cell's centre counting two more: `timeline.COST_PER_POINT`);
    # beyond that frames are coarser or fewer, never the cells. ~9 characters each in the
    # payload: with the heat grid's 6,000 cells, a time map stays under 200 KB.
    time_max_frames: int = 120
    time_max_rows: int = 16_000
    lang: str = "en"                        # the reader's language (geomap.language)
    units: str = "mi"                       # border lengths in miles or km

    @property
    def words(self) -> Words:
        """What this map says, in its language and units."""
        return Words.for_(self.lang, self.units)

    @classmethod
    def from_filters(cls, filters: Mapping[str, Any], **kwargs: Any) -> "MapSpec":
        """Take layer, by, period, cumulative and theme from normalised filters; kwargs set
        the rest."""
        picked = {k: filters[k] for k in ("layer", "by", "period", "theme", "per")
                  if k in filters}
        if "cumulative" in filters:
            picked["cumulative"] = str(filters["cumulative"]) == "1"
        picked["lang"] = filters.get("lang") or LANGUAGES[0]
        picked["units"] = filters.get("units") or default_units(picked["lang"])
        return cls(**picked, **kwargs)


@dataclass
class Aggregates:
    """What the selected incidents reduce to for one layer (all small)."""

    n: int = 0
    total: int = 0
    bounds: list[list[float]] | None = None
    # The first view: the smallest box holding most of the weight (`framing.weight_box`).
    view: list[list[float]] | None = None
    cell: float | None = None
    cells: pd.DataFrame | None = None        # lat, lon, n, total (heat, cluster fallback)
    points: pd.DataFrame | None = None       # cluster markers
    regions: pd.DataFrame | None = None      # key, n, total (choropleth by admin1/sector)
    segments: pd.DataFrame | None = None     # aggregate.by_border_segment (choropleth)
    frames: pd.DataFrame | None = None       # lat, lon, period, n, total (time)
    periods: list[str] = field(default_factory=list)
    # Time layer: how it was framed (`timeline.Framing`: the period, records left out of the
    # frames because known only at a coarser period, frames dropped to bound the payload).
    framing: Any = None
    hidden: int = 0                          # cells/regions hidden by min_public_count
    aggregated: bool = False                 # cluster fell back to aggregated cells
    # Of n/total: records known only by sector or state/province (no coordinates): counted
    # by choropleths, not drawn by heat, cluster and time (told in the legend).
    regional_n: int = 0
    regional_total: int = 0
    breaks: list[float] = field(default_factory=list)  # choropleth class upper bounds
    # Choropleth: one row per drawn region or segment (code, name, n, total, value, hidden),
    # in the display layer's order; set with breaks and hidden by the reduce step.
    classes: pd.DataFrame | None = None


@dataclass
class MapHtml:
    """Rendered map parts: tags for <head>, the map <div>, one inline script, its CSP hash."""

    head: Markup
    body: Markup
    script: str
    script_hash: str
    payload_bytes: int

    @property
    def script_tag(self) -> Markup:
        return Markup("<script>") + Markup(self.script) + Markup("</script>")



def per_border_mile(spec: MapSpec) -> bool:
    """Say whether a region choropleth divides each count by the region's border miles."""
    return (spec.layer == "choropleth" and spec.by in ("admin1", "sector")
            and spec.per == "border_mile" and bool(spec.border_miles))


def popup_share(descriptions: pd.Series) -> int:
    """Characters each cluster popup may keep: CLUSTER_TEXT_BUDGET shared among the markers
    with a description, at most POPUP_CHARS (under POPUP_MIN_CHARS all text is left out)."""
    with_text = int((descriptions.str.len() > 0).sum())
    return min(POPUP_CHARS, CLUSTER_TEXT_BUDGET // with_text) if with_text else POPUP_CHARS


def csp_hash(script: str) -> str:
    """Return the CSP source expression ('sha256-…') for an inline script's exact text."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
