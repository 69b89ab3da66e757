"""Choropleth class breaks people can read: quantiles rounded to one or two significant
figures (Datawrapper-style), and their labels ("8M–14M", "40–100", "0.05–0.1").

Classes are ``(lower, upper]`` with the first one ``(0, upper]``; the last upper bound is the
largest value rounded *up*, so every positive value falls in exactly one class.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..language import Words


def round_sig(value: float, digits: int, how: str = "nearest") -> float:
    """Round a positive value to `digits` significant figures (``how``: nearest or up).

    Parameters
    ----------
    value : float
        Positive; zero and negatives are returned unchanged.
    digits : int
        Significant figures kept (1 or 2 for breaks).
    how : {"nearest", "up"}
        Round to the nearest such number, or to the smallest one not below `value`.

    Returns
    -------
    float
        E.g. ``round_sig(7_897_190, 1) == 8_000_000``, ``round_sig(247, 2) == 250``,
        ``round_sig(2859, 1, "up") == 3000``, ``round_sig(0.0432, 1) == 0.04``.
    """
    if not value or value <= 0 or not math.isfinite(value):
        return value
    step = 10.0 ** (math.floor(math.log10(value)) - digits + 1)
    scaled = value / step
    # The small tolerance keeps 3000.0000001 (floating noise) from rounding up to 4000.
    units = math.ceil(scaled - 1e-9) if how == "up" else math.floor(scaled + 0.5)
    decimals = max(0, -int(math.floor(math.log10(step))))
    return round(units * step, decimals)


#: The smallest ratio of a class's upper to lower bound a two-figure bound may make.
MIN_STEP = 1.2


def nice_breaks(quantiles: Iterable[float], top: float) -> list[float]:
    """Turn ascending quantile bounds into strictly ascending round upper bounds.

    Each inner bound is rounded to one significant figure, or to two when one would not
    keep it above the previous bound (and dropped when neither does, or when two figures
    would make a class narrower than `MIN_STEP` times its lower bound, like "20–21"); the
    last bound is `top` (the largest value) rounded up, to one figure or, when that would
    overshoot it by more than a quarter, two, so it covers every value.

    Parameters
    ----------
    quantiles : iterable of float
        The raw class upper bounds (positive, ascending); the last is replaced by `top`.
    top : float
        The largest value to classify (positive).

    Returns
    -------
    list of float
        At most as many bounds as quantiles; empty when `top` is not positive.
    """
    if not top or top <= 0:
        return []
    inner = [float(q) for q in quantiles][:-1]
    breaks: list[float] = []
    for q in inner:
        if q <= 0:
            continue
        low = breaks[-1] if breaks else 0.0
        for digits in (1, 2):
            candidate = round_sig(q, digits)
            # A class narrower than a fifth of its lower bound ("20–21") reads as a
            # rounding slip, not a class: dropped, its values join the next one.
            if low < candidate < top and (digits == 1 or candidate >= MIN_STEP * low):
                breaks.append(candidate)
                break
    last = round_sig(top, 1, "up")
    if last > 1.25 * top or (breaks and last <= breaks[-1]):
        last = round_sig(top, 2, "up")  # 14.3M -> 15M, not 20M
    while breaks and last <= breaks[-1]:
        breaks.pop()
    breaks.append(last)
    return breaks


def class_breaks(values: Iterable[float], classes: int = 5) -> list[float]:
    """Return ascending, round upper bounds of up to `classes` classes of the positive values.

    The raw bounds are quantiles of the positive values (zero is "none recorded", not a
    class), made round by `nice_breaks`.
    """
    arr = np.asarray([v for v in values if v and v > 0], dtype=float)
    if arr.size == 0:
        return []
    qs = np.quantile(arr, np.linspace(0, 1, classes + 1)[1:])
    return nice_breaks(qs, float(arr.max()))


def short_number(value: float, words: "Words | None" = None) -> str:
    """Format a round class bound for a legend: "8M", "1.5M", "250K", "3,000", "0.04"
    (in French "8 M", "1,5 M", "250 k", "3 000", "0,04")."""
    w = words or Words.for_()
    value = float(value)
    if abs(value) >= 1e4:
        return w.compact(value)
    return w.number(int(value) if value.is_integer() else value)


def class_labels(breaks: list[float], words: "Words | None" = None) -> list[str]:
    """Return one label per class: "up to 40", "40–100", …, "250–3,000"."""
    w = words or Words.for_()
    labels = []
    lower = None
    for upper in breaks:
        labels.append(w.gettext("up to %(n)s", n=short_number(upper, w)) if lower is None
                      else f"{short_number(lower, w)}–{short_number(upper, w)}")
        lower = upper
    return labels
