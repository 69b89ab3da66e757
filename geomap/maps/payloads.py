"""What each layer's script is given: compact JSON-ready payloads for heat, time, aggregated
cells, cluster markers and choropleth features.

Payloads only read the `Aggregates` (and, for choropleths, the display layers' shapes); none
changes them.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..language import N_, Words
from ..regions.names import admin1_name
from .display import REGIONS_ATTRIBUTION, display_features
from .spec import POPUP_MIN_CHARS, Aggregates, MapSpec, per_border_mile, popup_share
from .style import REGION_OPACITY, colour_for, heat_weights, no_data_colour


def heat_payload(agg: Aggregates) -> dict:
    cells = agg.cells if agg.cells is not None else pd.DataFrame(columns=["lat", "lon", "total"])
    cells = cells[cells["total"] > 0]  # count 0 records "none recorded": no heat
    weights = heat_weights(cells["total"].to_numpy(dtype=float))
    data = [[float(a), float(b), float(w)] for a, b, w in
            zip(cells["lat"].to_numpy(dtype=float), cells["lon"].to_numpy(dtype=float), weights)]
    return {"cells": data, "cell": agg.cell}


def time_payload(agg: Aggregates, words: Words | None = None) -> dict:
    """The time layer's frames, compactly: each cell's centre once (``points``), and per
    frame a flat list ``[point, weight, point, weight, ...]`` with weights in thousandths
    of the busiest cell (square-root scale, `heat_weights`). About 9 characters per
    cell-frame instead of 25, so long series keep more frames within a page's budget
    (`timeline.COST_PER_POINT`). ``regional``, when some records are known only by
    region: their total count per frame."""
    frames = agg.frames if agg.frames is not None else pd.DataFrame(
        columns=["lat", "lon", "pidx", "total"])
    frames = frames[frames["total"] > 0]
    weights = np.rint(heat_weights(frames["total"].to_numpy(dtype=float)) * 1000)
    keys = pd.MultiIndex.from_arrays([frames["lat"].to_numpy(dtype=float),
                                      frames["lon"].to_numpy(dtype=float)])
    codes, uniques = pd.factorize(keys)
    points = [[float(a), float(b)] for a, b in uniques]
    pidx = frames["pidx"].to_numpy(dtype=np.int64)
    out: list[list[int]] = [[] for _ in agg.periods]
    for p, code, w in zip(pidx, codes, weights):
        out[int(p)].extend((int(code), int(w)))
    totals = [0] * len(agg.periods)
    for p, t in zip(pidx, frames["total"].to_numpy()):
        totals[int(p)] += int(t)
    framing = agg.framing
    w = words or Words.for_()
    payload = {"points": points, "frames": out, "cell": agg.cell, "periods": agg.periods,
               "labels": [w.period(str(p)) for p in agg.periods],
               "totals": totals, "period": framing.period if framing else None,
               "cumulative": bool(framing and framing.cumulative)}
    if framing is not None and any(framing.regional_n):
        # Per frame, the total count known only by sector or state/province (not drawn;
        # null: fewer than minCount records, hidden), for the frame's label.
        payload["regional"] = list(framing.regional_total)
        payload["minCount"] = framing.min_count
    return payload


def cells_payload(agg: Aggregates) -> dict:
    cells = agg.cells if agg.cells is not None else pd.DataFrame(columns=["lat", "lon", "n",
                                                                          "total"])
    data = [[float(a), float(b), int(n), int(t)] for a, b, n, t in
            zip(cells["lat"], cells["lon"], cells["n"], cells["total"])]
    return {"cells": data, "cell": agg.cell}


#: How the side of the border reads in popups and tooltips (country code -> words).
SIDES = {"US": N_("US side"), "CA": N_("Canadian side")}


def _names(layers: Mapping[str, Any] | None, key: str, lang: str = "en") -> dict[str, str]:
    """Region names by code from a display layer; states and provinces in the reader's
    language (`regions.names.admin1_name`: the layer's names are English)."""
    gdf = (layers or {}).get(key)
    if gdf is None or "name" not in gdf:
        return {}
    names = {str(c): str(n) for c, n in zip(gdf["code"], gdf["name"])}
    if key == "admin1" and lang != "en":
        names = {c: admin1_name(c, lang, default=n) for c, n in names.items()}
    return names


def where_text(admin1: Any, country: Any, sector: Any, admin1_names: Mapping[str, str],
               sector_names: Mapping[str, str], words: Words | None = None) -> str:
    """Say where an incident is, in names: "Washington, US side · Blaine sector"."""
    w = words or Words.for_()
    def known(value) -> bool:
        return not (value is None or value == "" or (isinstance(value, float)
                                                     and np.isnan(value)))

    place = admin1_names.get(str(admin1), str(admin1)) if known(admin1) else ""
    side = w.gettext(SIDES[str(country)]) if known(country) and str(country) in SIDES else ""
    head = ", ".join(p for p in (place, side) if p)
    tail = (w.gettext("%(name)s sector", name=sector_names.get(str(sector), str(sector)))
            if known(sector) else "")
    return " · ".join(p for p in (head, tail) if p)


def cluster_payload(points: pd.DataFrame, layers: Mapping[str, Any] | None = None,
                    words: Words | None = None) -> dict:
    """Markers as compact rows: ``[lat, lon, count, type#, date#, direction#, where#, mile
    (, text)]``.

    Types, dates, directions and places (`where_text`: state or province, side of the
    border, Border Patrol sector, by name from the display layers) are indexes into small
    tables; ``mile`` is the whole border mile, or km with ``units=km`` (null when unknown),
    and ``borderPosition`` the words around it ("border mile {n}"). Coordinates have 4
    decimals (about 10 m), and popup descriptions share CLUSTER_TEXT_BUDGET characters (see
    `popup_share`), so 5,000 markers stay well under 200 KB.
    """
    def column(name, default):
        return points[name] if name in points else pd.Series([default] * len(points))

    types = column("type", "").fillna("").astype(str)
    w = words or Words.for_()
    dirs = column("direction", "unknown").fillna("unknown").astype(str).map(
        lambda d: w.gettext(DIRECTIONS.get(d, d)))
    when = pd.to_datetime(column("occurred_at", None))
    precision = column("precision", "day").fillna("day").astype(str)
    dates = [("" if pd.isna(ts) else _date_label(ts, prec, w))
             for ts, prec in zip(when, precision)]
    admin1_names = _names(layers, "admin1", w.lang)
    sector_names = _names(layers, "sector", w.lang)
    places = [where_text(a, c, s, admin1_names, sector_names, w) for a, c, s in
              zip(column("admin1", None), column("country", None), column("sector", None))]
    tables = {name: sorted(set(values)) for name, values in
              (("types", types), ("dates", dates), ("directions", dirs), ("places", places))}
    index = {name: {v: i for i, v in enumerate(table)} for name, table in tables.items()}
    miles = w.length(pd.to_numeric(column("border_mile", None), errors="coerce"))
    desc = column("description", "").fillna("").astype(str)
    share = popup_share(desc)
    include_text = share >= POPUP_MIN_CHARS
    counts = column("count", 1).fillna(1).astype(int)
    rows = []
    for lat, lon, c, t, d, dr, where, mile, text in zip(
            points["lat"], points["lon"], counts, types, dates, dirs, places, miles, desc):
        row = [round(float(lat), 4), round(float(lon), 4), int(c), index["types"][t],
               index["dates"][d], index["directions"][dr], index["places"][where],
               None if pd.isna(mile) else int(mile)]
        if include_text and text:
            row.append(text if len(text) <= share else text[:share - 1] + "…")
        rows.append(row)
    return {**tables, "rows": rows, "textOmitted": not include_text,
            "borderPosition": w.border_position()}


#: Directions as popups say them.
DIRECTIONS = {"northbound": N_("northbound"), "southbound": N_("southbound"),
              "unknown": N_("direction unknown")}


def _date_label(ts: pd.Timestamp, precision: str, words: Words | None = None) -> str:
    """A date as precisely as it is known (a record known by its year is not 1 January),
    as the locale writes it: "Jan 2025", "2025-Q1", "March 3, 2025" / "3 mars 2025"."""
    if precision == "year":
        return f"{ts.year}"
    w = words or Words.for_()
    if precision == "quarter":
        return w.period(f"{ts.year}-Q{(ts.month - 1) // 3 + 1}")
    if precision == "month":
        return w.month(ts.year, ts.month)
    return w.date(ts.date(), "medium")


def choropleth_payload(agg: Aggregates, spec: MapSpec, layers: Mapping[str, Any]) -> dict:
    """Region or border-segment features with their counts and fill colours.

    Reads the classes and breaks the reduce step computed (`reduce.classify`); without them
    (no display layer for ``spec.by`` when the selection was reduced) nothing is drawn.
    """
    lines = spec.by == "border_segment"
    gdf = (layers or {}).get(spec.by)
    classes = agg.classes
    if classes is None or gdf is None or gdf.empty:
        return {"features": {"type": "FeatureCollection", "features": []}, "lines": lines}
    keys = classes["code"].tolist()
    w = spec.words
    geo_source = gdf.assign(name=_segment_names(gdf, classes, w)) if lines else gdf
    per = w.per_length() if lines or per_border_mile(spec) else ""
    props_by_key = {}
    empty, hidden = no_data_colour("empty", spec), no_data_colour("hidden", spec)
    for k, nn, tt, vv, hh in zip(keys, classes["n"], classes["total"], classes["value"],
                                 classes["hidden"]):
        if hh:
            props_by_key[k] = {"n": None, "total": None, "value": None, "fill": hidden,
                               "hidden": True}
        else:
            props_by_key[k] = {"n": int(nn), "total": int(tt), "value": round(float(vv), 3),
                               "fill": colour_for(float(vv), agg.breaks, empty),
                               "hidden": False}
    features = display_features(layers, spec.by, geo_source.assign(code=keys), agg.bounds,
                                lines=lines)
    kinds = _region_kinds(gdf, spec.by, w)
    names = _names(layers, spec.by, w.lang) if not lines else {}
    for feature in features:
        code = str(feature["properties"]["code"])
        feature["properties"].update(props_by_key.get(code, {}))
        if code in names:
            feature["properties"]["name"] = names[code]
        if kinds.get(code):
            feature["properties"]["where"] = kinds[code]
    collection = {"type": "FeatureCollection", "features": features}
    return {"features": collection, "lines": lines, "per": per,
            "minCount": spec.min_public_count, "attribution": w.gettext(REGIONS_ATTRIBUTION),
            "opacity": REGION_OPACITY}


def _segment_names(gdf, classes: pd.DataFrame, words: Words) -> np.ndarray:
    """Border segments' names: the layer's own ("Border miles 100–200") in English miles,
    else said from their ends in the reader's language and units ("Km 161–322 de la
    frontière")."""
    if (words.lang == "en" and not words.km) or not {"mile_from", "mile_to"} <= set(gdf):
        return classes["name"].to_numpy(dtype=object)
    message = N_("Border km %(start)s–%(end)s") if words.km else N_("Border miles %(start)s–%(end)s")
    return np.asarray([words.gettext(message, start=words.number(round(words.length(a))),
                                     end=words.number(round(words.length(b))))
                       for a, b in zip(gdf["mile_from"], gdf["mile_to"])], dtype=object)


def _region_kinds(gdf, by: str, words: Words) -> dict[str, str]:
    """What a region is, for its tooltip: "US side", "Border Patrol sector, US side"."""
    if by == "border_segment" or "country" not in gdf:
        return {}  # a segment's name already says which miles of border it is
    sides = {country: words.gettext(SIDES[country]) for country in SIDES}
    if by == "sector":
        sides = {country: words.gettext("Border Patrol sector, %(side)s", side=side)
                 for country, side in sides.items()}
    return {str(code): sides[str(country)] for code, country in
            zip(gdf["code"], gdf["country"]) if str(country) in SIDES}
