"""The time layer's frames: which period, how many frames, and the cells of each.

The payload is bounded by limiting *frames*, never by coarsening cells past the heat map's
grid: the period is picked from the span (``auto``: the finest of week, month, quarter, year
giving at most ``spec.time_max_frames`` frames, and holding most records at their
precision), the cells are the heat grid of the whole selection (`grid.fit_grid` at
``spec.heat_max_cells``), and when the (cell, frame) pairs (plus the cells' centres, sent
once) still exceed ``spec.time_max_rows`` the frames step up to a coarser period, then, at years, the earliest
years are left out. Records known only at a coarser period than the frames' are counted
and said, not drawn at their period's first day. With ``cumulative`` each frame holds
everything up to its period. Records known only by sector or state/province (no
coordinates) are counted per frame (``regional``) and said with each frame, never drawn; a
period holding only such records is a frame too.

`frame` reads incidents through a ``fetch(period)`` function, so the numpy path
(`reduce.aggregate_frame`) and the SQL path (`reduce.aggregate_db`) frame alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .. import aggregate
from ..language import N_, Words
from .grid import coarsen, fit_grid, group_cells

#: What `frame` needs of a period: fine cells (``gy``, ``gx``, ``pidx``, ``n``, ``total``)
#: on the base grid and the sorted period labels ``pidx`` indexes.
Fetch = Callable[[str], tuple[pd.DataFrame, list[str]]]
#: What `frame` needs of a period for records known only by region: ``period``, ``n``,
#: ``total`` (`aggregate.regional`).
Regional = Callable[[str], pd.DataFrame]
#: The legend's words for periods, said in the reader's language with gettext.
PERIOD_NAMES = {"week": N_("week"), "month": N_("month"), "quarter": N_("quarter"),
                "year": N_("year")}
PERIOD_PLURALS = {"week": N_("weeks"), "month": N_("months"), "quarter": N_("quarters"),
                  "year": N_("years")}
PERIOD_FRAMES = {"week": N_("weekly frames"), "month": N_("monthly frames"),
                 "quarter": N_("quarterly frames"), "year": N_("yearly frames")}
#: How precisely a record is known, as the legend says it.
PRECISION_NAMES = {"week": N_("week"), "month": N_("month"), "quarter": N_("quarter"),
                   "year": N_("year"), "day": N_("day")}
#: What a drawn cell costs against the budget of cell-frames besides its frames: its centre
#: is sent once (`payloads.time_payload`: ~18 characters, twice a cell-frame's ~9).
COST_PER_POINT = 2


@dataclass
class Framing:
    """How a time layer was framed; the legend says it."""

    period: str
    asked: str = "auto"
    cumulative: bool = False
    #: Records (and their total count) known only at a coarser period than the frames'.
    coarser_n: int = 0
    coarser_total: int = 0
    coarser_precisions: list[str] = field(default_factory=list)
    #: The period asked for (or picked) whose frames would not fit, when they stepped up.
    stepped_from: str | None = None
    #: Earliest frames left out to bound the payload, and how many frames there were.
    omitted: int = 0
    frames: int = 0
    #: Per frame: records (and their total count) known only by sector or state/province;
    #: a total is None when the small-count rule hides it (fewer than `min_count` records).
    regional_n: list[int] = field(default_factory=list)
    regional_total: list[int | None] = field(default_factory=list)
    min_count: int = 1


def frame_count(first: dt.date, last: dt.date, period: str) -> int:
    """Return how many periods from the one holding `first` to the one holding `last`."""
    if period == "week":
        monday = lambda d: d - dt.timedelta(days=d.weekday())  # noqa: E731
        return (monday(last) - monday(first)).days // 7 + 1
    months = (last.year - first.year) * 12 + last.month - first.month
    if period == "month":
        return months + 1
    if period == "quarter":
        return (last.year * 4 + (last.month - 1) // 3) - (first.year * 4 + (first.month - 1) // 3) + 1
    return last.year - first.year + 1


def pick_period(asked: str, first: dt.date | None, last: dt.date | None,
                precisions: dict[str, tuple[int, int]], max_frames: int) -> str:
    """Return the frames' period: `asked`, or for ``auto`` the finest period with at most
    `max_frames` frames over the span that holds at least half the records (a series of
    monthly figures is not animated by week, where all would fall on the 1st)."""
    if asked != "auto":
        return asked
    if first is None:
        return "month"
    n = sum(v[0] for v in precisions.values())
    for period in aggregate.PERIODS:
        admitted = sum(precisions.get(p, (0, 0))[0] for p in aggregate.ADMITTED[period])
        if frame_count(first, last, period) <= max_frames and admitted * 2 >= n:
            return period
    return "year"


def cumulate(cells: pd.DataFrame, frames: int) -> pd.DataFrame:
    """Running totals per cell: a row for each frame from the cell's first one on.

    Sparse (sorted keys and a binary search), so it costs the rows it makes, not cells x
    frames.
    """
    if cells.empty:
        return cells
    keys = pd.MultiIndex.from_arrays([cells["gy"].to_numpy(), cells["gx"].to_numpy()])
    cell_id, uniques = pd.factorize(keys)
    pidx = cells["pidx"].to_numpy(dtype=np.int64)
    order = np.lexsort((pidx, cell_id))
    cid, pid = cell_id[order], pidx[order]
    n_sum = np.cumsum(cells["n"].to_numpy(dtype=np.int64)[order])
    t_sum = np.cumsum(cells["total"].to_numpy(dtype=np.int64)[order])
    starts = np.flatnonzero(np.r_[True, cid[1:] != cid[:-1]])
    base_n = np.r_[0, n_sum][starts]      # the running sums where each cell starts
    base_t = np.r_[0, t_sum][starts]
    first = pid[starts]
    lengths = frames - first
    row_cell = np.repeat(np.arange(len(starts)), lengths)
    offsets = np.repeat(np.cumsum(np.r_[0, lengths[:-1]]), lengths)
    row_pidx = np.arange(int(lengths.sum())) - offsets + np.repeat(first, lengths)
    entry_keys = cid.astype(np.int64) * frames + pid
    row_keys = row_cell.astype(np.int64) * frames + row_pidx
    at = np.searchsorted(entry_keys, row_keys, side="right") - 1
    cell_of_row = cid[starts][row_cell]
    return pd.DataFrame({
        "gy": np.asarray(uniques.get_level_values(0))[cell_of_row].astype(np.int64),
        "gx": np.asarray(uniques.get_level_values(1))[cell_of_row].astype(np.int64),
        "n": n_sum[at] - base_n[row_cell], "total": t_sum[at] - base_t[row_cell],
        "pidx": row_pidx.astype(np.int64)})


def _points(cells: pd.DataFrame) -> int:
    """Distinct cells drawn in any frame."""
    return len(cells[["gy", "gx"]].drop_duplicates()) if len(cells) else 0


def _cost(cells: pd.DataFrame, frames: int, cumulative: bool) -> int:
    """The payload's cost in cell-frames (each drawn cell's centre counts `COST_PER_POINT`),
    without building cumulative rows."""
    if cells.empty:
        return 0
    points = _points(cells)
    if not cumulative:
        return len(cells) + COST_PER_POINT * points
    first = cells.groupby(["gy", "gx"])["pidx"].min().to_numpy()
    return int((frames - first).sum()) + COST_PER_POINT * points


def frame(fetch: Fetch, *, asked: str, first: dt.date | None, last: dt.date | None,
          precisions: dict[str, tuple[int, int]], cell: float, max_cells: int,
          max_frames: int, max_rows: int, cumulative: bool = False,
          regional: Regional | None = None) -> tuple[pd.DataFrame, list[str], float, Framing]:
    """Frame a selection for the time layer.

    Parameters
    ----------
    fetch : callable
        ``fetch(period)`` -> (fine cells on the base grid with ``pidx``, period labels).
    asked : str
        ``auto`` or a period (`aggregate.PERIODS`).
    first, last : datetime.date or None
        The selection's span (`aggregate.span`).
    precisions : dict
        Records (n, total) per date precision (`aggregate.by_precision`).
    cell : float
        The base grid's cell (`binning.fit_cell` of the selection's bounds).
    max_cells, max_frames, max_rows : int
        The heat grid's cap (cells are never coarser than it makes them), frames picked
        from the span, and (cell, frame) pairs drawn.
    regional : callable, optional
        ``regional(period)`` -> records known only by region per period (`Regional`):
        counted per frame in ``framing.regional_n`` / ``regional_total``.

    Returns
    -------
    (cells, periods, size, framing)
        Cells ``gy``, ``gx``, ``pidx``, ``n``, ``total`` on a grid of `size` degrees, the
        labels `pidx` indexes, and how it was framed.
    """
    period = pick_period(asked, first, last, precisions, max_frames)
    framing = Framing(period=period, asked=asked, cumulative=cumulative)
    while True:
        fine, labels = fetch(period)
        counts = regional(period) if regional is not None else None
        if counts is not None and len(counts):
            fine, labels = _with_periods(fine, labels, counts["period"])
        whole = group_cells(fine["gy"].to_numpy(), fine["gx"].to_numpy(), fine["n"].to_numpy(),
                            fine["total"].to_numpy())
        _cells, size = fit_grid(whole, cell, max_cells)
        cells = coarsen(fine, int(round(size / cell)), by_period=True)
        if _cost(cells, len(labels), cumulative) <= max_rows or period == "year":
            break
        framing.stepped_from = framing.stepped_from or period
        period = aggregate.PERIODS[aggregate.PERIODS.index(period) + 1]
    framing.period = period
    if cumulative:
        cells = cumulate(cells, len(labels))
    budget = max_rows - COST_PER_POINT * _points(cells)
    if len(cells) > budget:
        # Even yearly frames are too many: keep the latest that fit (at least one).
        per_frame = np.bincount(cells["pidx"].to_numpy(), minlength=len(labels))
        kept = np.cumsum(per_frame[::-1]) <= budget
        keep = max(int(kept.sum()), 1)
        cut = len(labels) - keep
        cells = cells[cells["pidx"].to_numpy() >= cut].copy()
        cells["pidx"] -= cut
        labels = labels[cut:]
        framing.omitted = cut
    framing.frames = len(labels)
    framing.regional_n, framing.regional_total = _per_frame(counts, labels, cumulative)
    n, total, names = aggregate.coarser(precisions, period)
    framing.coarser_n, framing.coarser_total, framing.coarser_precisions = n, total, names
    return cells.reset_index(drop=True), list(labels), size, framing


def _with_periods(fine: pd.DataFrame, labels: list[str], more: pd.Series
                  ) -> tuple[pd.DataFrame, list[str]]:
    """Add the periods in `more` to the sorted `labels`, renumbering ``fine["pidx"]``."""
    union = np.union1d(np.asarray(labels, dtype=str), more.to_numpy(dtype=str))
    moved = np.searchsorted(union, np.asarray(labels, dtype=str))
    fine = fine.assign(pidx=moved[fine["pidx"].to_numpy(dtype=np.int64)].astype(np.int64))
    return fine, [str(p) for p in union]


def _per_frame(counts: pd.DataFrame | None, labels: list[str], cumulative: bool
               ) -> tuple[list[int], list[int]]:
    """Records known only by region (n, total) per frame label, running when cumulative."""
    if counts is None:
        return [0] * len(labels), [0] * len(labels)
    by = counts.groupby("period")[["n", "total"]].sum()
    if cumulative:  # frames up to each period, counting the earlier ones left out too
        by = by.sort_index().cumsum()
        at = np.searchsorted(by.index.to_numpy(dtype=str), np.asarray(labels, dtype=str),
                             side="right") - 1
        n, total = by["n"].to_numpy(), by["total"].to_numpy()
        return ([int(n[i]) if i >= 0 else 0 for i in at],
                [int(total[i]) if i >= 0 else 0 for i in at])
    by = by.reindex(labels, fill_value=0)
    return [int(v) for v in by["n"]], [int(v) for v in by["total"]]


def notes(framing: Framing | None, words: Words | None = None) -> list[str]:
    """What the legend says of the frames (plain text, in the words' language)."""
    if framing is None:
        return []
    w = words or Words.for_()
    _ = w.gettext
    out = []
    head = _("Animated by %(period)s, %(n)s frames", period=_(PERIOD_NAMES[framing.period]),
             n=w.number(framing.frames))
    if framing.stepped_from:
        head += _(": %(frames)s would draw more cells than a map carries (narrow the dates "
                  "to see them)", frames=_(PERIOD_FRAMES[framing.stepped_from]))
    elif framing.asked == "auto":
        head += _(" (picked from the span)")
    else:
        head += _(" (as asked)")
    out.append(head + (_(". Each frame adds up everything before it") if framing.cumulative
                       else "") + _("; colours are scaled to the busiest cell across all "
                                    "frames."))
    if framing.omitted:
        out.append(_("The earliest %(n)s %(periods)s are left out to keep the map light: "
                     "narrow the dates (from/to) to see them.", n=w.number(framing.omitted),
                     periods=_(PERIOD_PLURALS[framing.period])))
    if framing.coarser_n:
        known = _(" or ").join(_(PRECISION_NAMES.get(p, p)) for p in
                               framing.coarser_precisions)
        out.append(_("%(n)s records (total count %(total)s) are known only by %(known)s: they "
                     "are not in these %(frames)s (animate by year to include them).",
                     n=w.number(framing.coarser_n), total=w.number(framing.coarser_total),
                     known=known, frames=_(PERIOD_FRAMES[framing.period])))
    return out


def regional_note(framing: Framing, words: Words | None = None) -> str:
    """Say that each frame's label counts the records of its period known only by region."""
    w = words or Words.for_()
    return (w.gettext("Each frame's label says how many of them fall in its %(period)s or "
                      "before.", period=w.gettext(PERIOD_NAMES[framing.period]))
            if framing.cumulative else
            w.gettext("Each frame's label says how many of them fall in its %(period)s.",
                      period=w.gettext(PERIOD_NAMES[framing.period])))
