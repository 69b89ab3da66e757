"""Periods as published: month names (English and French), quarters, years, fiscal years.

Each parser reads one *distinct* value (a column has a few hundred distinct periods however
many rows it has), and `per_distinct` applies it to a whole column: factorize, parse each
distinct value once, take. A parsed period is ``(year, month, precision)``: the first month
of the period and how much of it is known (``month``, ``quarter`` or ``year``). No Flask, no
I/O, nothing of geomap.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

import numpy as np
import pandas as pd

#: Month names and abbreviations, English and French (accents and a final dot dropped before
#: lookup): what publishers write (``janv.``, ``févr.``, ``août``, ``Sept``, ``January``).
MONTH_NAMES = {
    **{name: i for i, names in enumerate((
        ("jan", "january", "janv", "janvier"),
        ("feb", "february", "fev", "fevr", "fevrier"),
        ("mar", "march", "mars"),
        ("apr", "april", "avr", "avril"),
        ("may", "mai"),
        ("jun", "june", "juin"),
        ("jul", "july", "juil", "juillet"),
        ("aug", "august", "aou", "aout"),
        ("sep", "sept", "september", "septembre"),
        ("oct", "october", "octobre"),
        ("nov", "november", "novembre"),
        ("dec", "december", "decembre"),
    ), 1) for name in names},
}
#: The US federal fiscal year starts in October: FY2025 runs from October 2024 to
#: September 2025, so its October, November and December are in the calendar year before.
FISCAL_FIRST_MONTH = 10
#: Precisions of a period, finest first (``second`` and ``day`` come from full dates).
PRECISIONS = ("second", "day", "month", "quarter", "year")
_QUARTER_MONTH = {1: 1, 2: 4, 3: 7, 4: 10}

_WORD = r"([^\W\d_]{3,10})\.?"
_YEAR = r"(\d{4})"
_MONTH_YEAR = re.compile(rf"^{_WORD}[\s\-/,]*{_YEAR}$")
_YEAR_MONTH = re.compile(rf"^{_YEAR}[\s\-/,]*{_WORD}$")
_MONTH_ONLY = re.compile(r"^(?:(\d{1,2})[\s.\-]+)?" + _WORD + "$")
_NUMBER_YEAR = re.compile(r"^(\d{1,2})\s*/\s*(\d{4})$")
#: ``2025 Q1``, ``Q1 2025``, ``2025-Q1``, ``Q1-2025``; ``T1 2025`` (French trimestre).
_QUARTER = re.compile(r"^(?:(\d{4})[\s\-/]*[QqTt]([1-4])|[QqTt]([1-4])[\s\-/]*(\d{4}))$")
_YEAR_ONLY = re.compile(r"^(\d{4})$")
#: ``FY2025``, ``FY 2025``, ``FY-2025``, ``FY25``; a bare ``2025`` in a fiscal-year column.
_FISCAL_YEAR = re.compile(r"^(?:FY|AF|EF)?[\s\-]*(\d{4}|\d{2})$", re.IGNORECASE)
_FISCAL_PREFIX = re.compile(r"^(?:FY|AF|EF)", re.IGNORECASE)

Period = tuple  # (year, month, precision)


def fold(text: str) -> str:
    """Lower-case `text` without accents or surrounding spaces ('Févr.' -> 'févr.' -> 'fevr.')."""
    decomposed = unicodedata.normalize("NFKD", str(text).strip().lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def month_number(text) -> int | None:
    """Return the calendar month a cell names, or None.

    Accepts a name or abbreviation in English or French (``November``, ``nov.``, ``févr``),
    optionally after a number (USBP's ``02 November``: the number is the month's place in
    the fiscal year, the name decides), or a plain number 1..12.
    """
    folded = fold(text)
    if folded.isdigit():
        value = int(folded)
        return value if 1 <= value <= 12 else None
    found = _MONTH_ONLY.match(folded)
    if not found:
        return None
    return MONTH_NAMES.get(found.group(2))


_QUARTER_ONLY = re.compile(r"^(?:[qt]|quarter\s*|trimestre\s*)([1-4])$")


def quarter_number(text) -> int | None:
    """Return the quarter a cell names on its own (``Q1``, ``T2``, ``Quarter 3``), or None."""
    found = _QUARTER_ONLY.match(fold(text))
    return int(found.group(1)) if found else None


def quarter_start(year: int, quarter: int, fiscal: bool) -> tuple[int, int]:
    """Return the calendar (year, month) a quarter of `year` starts in. A US federal fiscal
    year's quarters are calendar quarters shifted by one: FY2025 Q1 is October-December
    2024."""
    if fiscal:
        return (year - 1, 10) if quarter == 1 else (year, (quarter - 2) * 3 + 1)
    return year, _QUARTER_MONTH[quarter]


def parse_period(text) -> Period | None:
    """Parse one cell naming a period (not a full date); None when it names none.

    ``janv. 2025``, ``janvier 2025``, ``Jan 2024``, ``January-2024``, ``2024 janvier``,
    ``03/2025`` -> month; ``2025 Q1``, ``Q1 2025``, ``T1 2025`` -> quarter (calendar);
    ``2025`` -> year.
    """
    folded = fold(text)
    found = _MONTH_YEAR.match(folded)
    if found and found.group(1) in MONTH_NAMES:
        return int(found.group(2)), MONTH_NAMES[found.group(1)], "month"
    found = _YEAR_MONTH.match(folded)
    if found and found.group(2) in MONTH_NAMES:
        return int(found.group(1)), MONTH_NAMES[found.group(2)], "month"
    found = _NUMBER_YEAR.match(folded)
    if found and 1 <= int(found.group(1)) <= 12:
        return int(found.group(2)), int(found.group(1)), "month"
    found = _QUARTER.match(folded)
    if found:
        year = int(found.group(1) or found.group(4))
        return year, _QUARTER_MONTH[int(found.group(2) or found.group(3))], "quarter"
    found = _YEAR_ONLY.match(folded)
    if found:
        return int(found.group(1)), 1, "year"
    return None


def fiscal_year(text) -> int | None:
    """Return the fiscal year a cell names (``FY2025``, ``FY 2025``, ``FY25``, ``2025``)."""
    found = _FISCAL_YEAR.match(str(text).strip())
    if not found:
        return None
    digits = found.group(1)
    return 2000 + int(digits) if len(digits) == 2 else int(digits)


def says_fiscal(text) -> bool:
    """Say whether a year cell is marked fiscal itself (``FY2025``)."""
    return bool(_FISCAL_PREFIX.match(str(text).strip()))


def calendar_month(year: int, month: int, fiscal: bool) -> tuple[int, int]:
    """Return the calendar (year, month) of a month of `year` (a fiscal year when `fiscal`)."""
    if fiscal and month >= FISCAL_FIRST_MONTH:
        return year - 1, month
    return year, month


def per_distinct(values: pd.Series, parse: Callable) -> np.ndarray:
    """Return ``parse(value)`` for every cell (object array), parsing each distinct value once.

    Factorize (a hash of the column), parse the uniques, take: a 305k-row column of a few
    hundred months costs a few hundred parses instead of 305k regular-expression matches.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=object)
    table[:-1] = [parse(value) for value in uniques]
    table[-1] = None  # code -1: a missing cell
    return table[codes]


def starts(parsed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the first day of each parsed period (datetime64[us], NaT where None) and its
    precision (object array, None where None)."""
    n = len(parsed)
    ok = np.fromiter((p is not None for p in parsed), dtype=bool, count=n)
    when = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    precision = np.full(n, None, dtype=object)
    if ok.any():
        years = np.fromiter((p[0] for p in parsed[ok]), dtype=np.int64)
        months = np.fromiter((p[1] for p in parsed[ok]), dtype=np.int64)
        valid = (years >= 1678) & (years <= 2261)
        month_index = (years - 1970) * 12 + (months - 1)
        days = np.where(valid, month_index, 0).astype("datetime64[M]").astype("datetime64[us]")
        idx = np.flatnonzero(ok)
        when[idx[valid]] = days[valid]
        precision[idx[valid]] = [p[2] for p in parsed[ok][valid]]
    return when, precision
