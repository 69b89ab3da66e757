"""The table and chart under a map: counts by region and month with the public threshold
applied, the geometry of an SVG bar chart of totals per month (no script, no inline style),
and the values offered in the filter form. Plain data from `geomap.aggregate`; no Flask.
"""

from __future__ import annotations

from typing import Any

from .. import aggregate, filters
from ..disclosure import is_hidden
from ..language import N_, Words

#: How precisely records are known, as the coarser note says it.
#: Import modes, as the data history says them.
MODES = (N_("append"), N_("replace"))
PRECISIONS = {"quarter": N_("quarter"), "year": N_("year"), "month": N_("month"),
              "week": N_("week"), "day": N_("day")}


def table(conn, dataset: dict, params: dict, min_count: int, names: dict[str, str],
          words: Words | None = None) -> dict:
    """Counts by region and month (total count; cells under min_count hidden).

    min_count is the map's (`disclosure.rendered_threshold`): the table is cached with it,
    and with the language of `words` (numbers and notes are written as it writes them).
    """
    w = words or Words.for_()
    selection = filters.selection(params)
    frame = aggregate.by_column(conn, dataset["id"], selection, "admin1", period="month")
    months = sorted({str(p) for p in frame["period"]}) if len(frame) else []
    rows: dict[str, dict[str, Any]] = {}
    for key, period, n, total in zip(frame["key"], frame["period"], frame["n"], frame["total"]):
        label = key if isinstance(key, str) and key else w.gettext("outside any region")
        row = rows.setdefault(label, {"cells": {}, "n": 0, "total": 0})
        row["cells"][str(period)] = _shown(int(n), int(total), min_count, w)
        row["n"] += int(n)
        row["total"] += int(total)
    body = []
    for label in sorted(rows):
        row = rows[label]
        body.append({"label": label, "name": names.get(label),
                     "cells": [row["cells"].get(m, "0") for m in months],
                     "total": _shown(row["n"], row["total"], min_count, w)})
    per_month = aggregate.by_period(conn, dataset["id"], selection, "month")
    chart = [{"period": str(p), "total": int(t), "hidden": is_hidden(int(n), min_count)}
             for p, n, t in zip(per_month["period"], per_month["n"], per_month["total"])]
    return {"months": months, "month_labels": [w.period(m) for m in months], "rows": body,
            "chart": _chart(chart, min_count, w),
            "coarser": coarser_note(conn, dataset["id"], selection, min_count, w)}


def coarser_note(conn, dataset_id: int, selection: dict, min_count: int,
                 words: Words | None = None) -> str:
    """Say how many records the monthly chart and table leave out because they are known
    only by quarter or year ('' when none, or fewer than the public threshold)."""
    n, total, names = aggregate.coarser(aggregate.by_precision(conn, dataset_id, selection),
                                        "month")
    if not n or is_hidden(n, min_count):
        return ""
    w = words or Words.for_()
    known = w.gettext(" or ").join(w.gettext(PRECISIONS.get(p, p)) for p in names)
    return w.gettext("%(n)s records (total count %(total)s) are known only by %(known)s: they "
                     "are not in the monthly chart and table.", n=w.number(n),
                     total=w.number(total), known=known)


def _shown(n: int, total: int, min_count: int, words: Words) -> str:
    if is_hidden(n, min_count):
        return f"<{min_count}"
    return words.number(total)


def _chart(points: list[dict], min_count: int, words: Words | None = None) -> dict:
    """Geometry of an SVG bar chart of total count per month (no script, no inline style)."""
    width, height, pad = 640, 180, 28
    if not points:
        return {"bars": [], "width": width, "height": height, "max": 0, "max_text": "0"}
    w = words or Words.for_()
    visible = [p["total"] for p in points if not p["hidden"]]
    top = max(visible) if visible else 1
    top = top or 1
    slot = (width - pad * 2) / len(points)
    bars = []
    for i, p in enumerate(points):
        value = 0 if p["hidden"] else p["total"]
        h = (height - pad * 2) * value / top
        bars.append({"x": round(pad + i * slot + slot * 0.1, 1), "w": round(max(slot * 0.8, 1), 1),
                     "y": round(height - pad - h, 1), "h": round(h, 1), "period": p["period"],
                     "label": (w.gettext("%(period)s: fewer than %(n)s incidents (hidden)",
                                         period=w.period(p["period"]), n=w.number(min_count))
                               if p["hidden"]
                               else w.gettext("%(period)s: %(total)s",
                                              period=w.period(p["period"]),
                                              total=w.number(p["total"]))),
                     "tick": i == 0 or i == len(points) - 1 or p["period"].endswith("-01"),
                     "tick_label": w.period(p["period"])})
    return {"bars": bars, "width": width, "height": height, "max": top, "pad": pad,
            "max_text": w.number(top)}


def options(conn, dataset_id: int) -> dict:
    """Values offered in the filter form (types, regions and sectors present in the data)."""
    out = {}
    for column in ("type", "admin1", "sector"):
        frame = aggregate.by_column(conn, dataset_id, None, column)
        out[column] = sorted(str(k) for k in frame["key"] if isinstance(k, str) and k)
    return out


def embed_rows(table, names: dict[str, str], number) -> dict:
    """The embed's table (`geomap.maps.DataTable`) as text: names, formatted figures, and
    "<N" for a hidden count (the page table's mark, explained in the caption)."""
    def shown(cell) -> str:
        return f"<{number(table.threshold)}" if cell.hidden else number(cell.total)

    rows = [{"key": row.key, "label": names.get(row.key, row.key) if row.key else None,
             "cells": [shown(c) for c in row.cells],
             "earlier": shown(row.earlier) if row.earlier is not None else None,
             "total": shown(row.total)} for row in table.rows]
    return {"by": table.by, "years": table.years, "earlier": table.earlier, "rows": rows,
            "regions": table.regions, "hidden_regions": table.hidden_regions,
            "more": table.regions - table.hidden_regions - len(rows),
            "threshold": table.threshold}
