"""When each record happened, and how precisely: a date column, or a year and a month.

`read_dates` dates one block: from the date column (`cells.parse_dates`: full dates, month
names in English and French, quarters, years), or from a year column (calendar, or US federal
fiscal: a ``Fiscal Year``/``FY`` header or ``FY2025`` cells) with an optional month column
(`from_year_month`). Each record gets the first instant of its period and the period's
precision (``second``, ``day``, ``month``, ``quarter``, ``year``), which the time layer and
charts respect. No Flask, no I/O.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from . import cells, periods
from .columns import note

#: A full date may be this far in the future (time zones); a period may not start later
#: than now.
FUTURE_SLACK = dt.timedelta(days=1)


def read_dates(frame: pd.DataFrame, ctx, errors) -> tuple[pd.Series, pd.Series]:
    """Date a block: (when, precision), with the problems added to `errors` (rows.Issues).

    `ctx` is the import's `rows.Context` (columns, the file's slash-date order, notes).
    """
    fields = ctx.columns.fields
    if "occurred_at" in fields:
        column = fields["occurred_at"]
        raw = frame[column]
        when, precision = _date_column(raw, column, ctx, errors)
    else:
        column = fields.get("fiscal_year", fields.get("year"))
        raw = frame[column]
        when, precision = from_year_month(frame, ctx, errors)
    coarse = ~precision.isin(("second", "day")).to_numpy()
    future = np.where(coarse, when > ctx.now, when > ctx.now + FUTURE_SLACK)
    errors.add(future & when.notna().to_numpy(), column, raw, "date is in the future")
    return when, precision


def _date_column(raw: pd.Series, column: str, ctx, errors):
    # The common case first: every cell a YYYY-MM-DD date (no slash dates to order).
    parsed = cells.parse_iso_days(raw)
    if parsed is None:
        if ctx.date_order is None:
            maybe_slash = raw[raw.str.slice(4, 5) != "-"]
            order = cells.date_order(maybe_slash) if len(maybe_slash) else None
            if order is not None:
                ctx.date_order = order
                ctx.file_notes.append(note(_order_note(raw, order), column))
        parsed = cells.parse_general_dates(raw, ctx.date_order or "mdy")
    when, precision, problem = parsed
    errors.add(problem.notna(), column, raw, problem)
    return when, precision


def _order_note(raw: pd.Series, order: str) -> str:
    if order == "dmy":
        return ("dates with slashes are read as day/month/year for the whole file (some have "
                "a first number above 12)")
    parts = raw.astype("str").str.extract(cells._SLASH)
    decided = (parts[1].dropna().astype(int) > 12).any()
    if decided:
        return ("dates with slashes are read as month/day/year for the whole file (some have "
                "a second number above 12)")
    return ("dates with slashes are ambiguous (no day above 12): read as month/day/year "
            "(US order) for the whole file")


def from_year_month(frame: pd.DataFrame, ctx, errors) -> tuple[pd.Series, pd.Series]:
    """Date a block by its year column and optional month (or quarter) column.

    A fiscal year (header ``Fiscal Year``/``FY``, or cells like ``FY2025``) is the US federal
    one, starting in October: ``FY2025`` + ``November`` (or USBP's ``02 November``) is
    November 2024; its quarters are calendar quarters shifted by one (``FY2025`` + ``Q1`` is
    October-December 2024). The first such record adds a note to the report, kept up to date with the
    number of records converted. Without a month column a record is known by its year
    (precision ``year``); a fiscal year alone spans two calendar years and is refused.
    Each distinct (year, month) pair is parsed once.
    """
    fields = ctx.columns.fields
    fiscal_header = "fiscal_year" in fields
    year_column = fields["fiscal_year"] if fiscal_header else fields["year"]
    month_column = fields.get("month")
    # Not stripped here: the parsers strip each distinct value (`fiscal_year`, `month_number`).
    years = frame[year_column].astype("str")
    months = (frame[month_column].astype("str") if month_column
              else pd.Series("", index=frame.index, dtype=object))

    def parse(year_text: str, month_text: str):
        year = periods.fiscal_year(year_text)
        if year is None or not 1678 <= year <= 2261:
            return None, "year", "year is not a year (2025, FY2025)", False
        fiscal = fiscal_header or periods.says_fiscal(year_text)
        if month_column is None:
            if fiscal:
                return None, "year", ("a fiscal year alone spans two calendar years; give the "
                                      "month in a month column"), False
            return (year, 1, "year"), None, None, False
        month = periods.month_number(month_text)
        if month is None:
            quarter = periods.quarter_number(month_text)
            if quarter is not None:
                qyear, qmonth = periods.quarter_start(year, quarter, fiscal)
                return (qyear, qmonth, "quarter"), None, None, fiscal
            return None, "month", ("month is not a month name (English or French), a number "
                                   "1 to 12 or a quarter (Q1 to Q4)"), False
        cyear, cmonth = periods.calendar_month(year, month, fiscal)
        return (cyear, cmonth, "month"), None, None, fiscal

    # Distinct (year, month) pairs: each column factorized, the pairs of codes factorized,
    # each pair parsed once, everything taken back to the rows by its code.
    # Missing cells are values of their own (a -1 code would mix up the pairs).
    year_codes, year_values = pd.factorize(years, use_na_sentinel=False)
    month_codes, month_values = pd.factorize(months, use_na_sentinel=False)
    radix = len(month_values) + 1
    codes, pairs = pd.factorize(year_codes.astype(np.int64) * radix + month_codes)
    parsed = [parse(year_values[p // radix], month_values[p % radix]) for p in pairs]
    period = np.empty(len(parsed), dtype=object)
    period[:] = [p[0] for p in parsed]
    bad = np.array([p[1] for p in parsed], dtype=object)[codes]
    message = np.array([p[2] for p in parsed], dtype=object)[codes]
    fiscal = np.array([p[3] for p in parsed], dtype=bool)[codes]
    for name, column in (("year", year_column), ("month", month_column)):
        mask = bad == name
        if mask.any():
            errors.add(mask, column, frame[column],
                       pd.Series(np.where(mask, message, None), dtype=object))
    start, precision = periods.starts(period)
    if fiscal.any():
        _count_fiscal(ctx, year_column, int(fiscal.sum()))
    index = frame.index
    precision = precision[codes]
    return (pd.Series(start[codes], index=index, dtype="datetime64[us]"),
            pd.Series(np.where(pd.isna(precision), "month", precision), index=index,
                      dtype=object))


def _count_fiscal(ctx, column: str, converted: int) -> None:
    """Add (or update) the report's note on fiscal years converted to calendar months."""
    state = ctx.periods.setdefault("fiscal", {"rows": 0, "note": None})
    state["rows"] += converted
    message = (f"{state['rows']:,} records dated by US federal fiscal year and month: converted "
               "to calendar months (the fiscal year starts in October, so FY2025 November is "
               "November 2024)")
    if state["note"] is None:
        state["note"] = note(message, column)
        ctx.file_notes.append(state["note"])
    else:
        state["note"]["message"] = message
