"""Vectorised parsers of cell text: numbers, locations (pairs, WKT, DMS) and dates.

Each takes a column of cells (a pandas Series of text) and returns numpy arrays or Series,
with fast Arrow paths for the common shapes and a general path for the rest; per-row rules
(`rows`) decide what a failed parse means. No Flask, no I/O.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import periods

_NUMBER_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")
#: Longest cell (bytes) the Arrow fast path of `to_float` reads: at most 15 digits, which
#: pandas' parser reads exactly (see `_plain_decimals`).
PLAIN_DECIMAL_BYTES = 16
#: Days of the years the Arrow fast path of `parse_dates` reads (1678..2261, the span of
#: nanosecond timestamps, where no unit or bounds question can arise); other years take the
#: general path.
_ISO_DAY_RANGE = (np.datetime64("1678-01-01", "D").astype(np.int64),
                  np.datetime64("2261-12-31", "D").astype(np.int64))


def arrow_text(values: pd.Series) -> pa.Array | None:
    """Return a column of text as one Arrow string array, or None if it is not all text.

    pandas' Arrow-backed ``str`` columns (what `Reader` yields) convert without a copy.
    """
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count or not (pa.types.is_string(array.type)
                                or pa.types.is_large_string(array.type)):
        return None
    return array


def _plain_decimals(values: pd.Series) -> np.ndarray | None:
    """Parse a column whose every cell is a plain decimal with Arrow, else return None.

    The fast path of `to_float`, taken only where its result is provably the general path's:
    cells of at most 15 digits, which pandas' parser accumulates exactly as an integer and
    scales by one exact power of ten (at most 10**22 for values from 1e-7 to 1e7), so the
    result is correctly rounded, as Arrow's is; and no negative zero (pandas reads ``-0`` as
    an integer, 0.0). Anything else (spaces, decimal commas, long digit strings, values
    beyond that range, empty cells, ``nan``/``inf``) sends the whole column down the general
    path, so results never depend on which path ran.
    """
    array = arrow_text(values)
    if array is None or not len(array):
        return None
    lengths = pc.binary_length(array)
    longest = pc.max(lengths).as_py()
    if longest > PLAIN_DECIMAL_BYTES:
        return None
    if longest == PLAIN_DECIMAL_BYTES and not pc.all(pc.or_(
            pc.less(lengths, PLAIN_DECIMAL_BYTES),
            pc.match_substring(array, "."))).as_py():
        return None  # a 16-digit integer: pandas reads it another way
    try:
        out = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None
    size = np.abs(out)
    if not (((size >= 1e-7) & (size < 1e7)) | ((out == 0) & ~np.signbit(out))).all():
        return None  # also NaN and infinities
    return np.array(out, dtype=float)  # writable: callers swap and fill in place


def to_float(values: pd.Series) -> np.ndarray:
    """Parse numbers (decimal point, or a lone decimal comma) to float; NaN where invalid."""
    plain = _plain_decimals(values)
    return plain if plain is not None else _general_float(values)


def _general_float(values: pd.Series) -> np.ndarray:
    """Parse any column of numbers with pandas (`to_float` without its fast path).

    A column with repeated values (counts, and any number column with a blank cell) is
    parsed once per distinct value and taken back to the rows.
    """
    codes, uniques = pd.factorize(values)
    if len(uniques) * 2 <= len(values):
        table = np.append(_parse_floats(pd.Series(uniques)), np.nan)
        return table[codes]  # code -1 (a missing cell) picks the NaN at the end
    return _parse_floats(values)


def _parse_floats(values: pd.Series) -> np.ndarray:
    """Parse every cell of a column of numbers with pandas (see `_general_float`)."""
    numbers = pd.to_numeric(values, errors="coerce")
    out = np.array(numbers.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    failed = np.flatnonzero(np.isnan(out))
    if len(failed):
        # Slow path for what the vectorised parse could not read: spaces, decimal commas.
        text = values.iloc[failed].astype("str").str.strip()
        comma = text.str.match(_NUMBER_COMMA.pattern).to_numpy(dtype=bool)
        text = text.where(~comma, text.str.replace(",", ".", regex=False))
        retry = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        out[failed] = retry
    return out


_NUM = r"[-+]?\d+(?:\.\d+)?"
_WKT = re.compile(rf"^\s*POINT\s*Z?\s*\(\s*({_NUM})\s+({_NUM})(?:\s+{_NUM})?\s*\)\s*$",
                  re.IGNORECASE)
_PAIR = re.compile(rf"^\s*[\(\[]?\s*({_NUM})\s*[,; ]\s*({_NUM})\s*[\)\]]?\s*$")
_DMS_PART = (r"(\d{1,3})\s*(?:°|º|d|\s)\s*(?:(\d{1,2}(?:\.\d+)?)\s*(?:'|′|m|\s)\s*)?"
             r"(?:(\d{1,2}(?:\.\d+)?)\s*(?:\"|″|''|s)?\s*)?([NSEWnsew])")
_DMS = re.compile(rf"^\s*{_DMS_PART}\s*[, ]?\s*{_DMS_PART}\s*$")


def parse_location(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse a location column: WKT ``POINT (lon lat)``, ``"lat, lon"`` or DMS pairs.

    Returns
    -------
    (lon, lat) : tuple of numpy.ndarray
        NaN where the value is none of the accepted forms.
    """
    text = values.astype("str")
    lon = np.full(len(text), np.nan)
    lat = np.full(len(text), np.nan)
    wkt = text.str.extract(_WKT)
    ok = wkt[0].notna().to_numpy()
    lon[ok] = wkt[0][ok].astype(float)
    lat[ok] = wkt[1][ok].astype(float)
    rest = ~ok
    if rest.any():
        pair = text[rest].str.extract(_PAIR)
        hit = pair[0].notna().to_numpy()
        idx = np.flatnonzero(rest)[hit]
        lat[idx] = pair[0][hit].astype(float)
        lon[idx] = pair[1][hit].astype(float)
        rest[idx] = False
    if rest.any():
        dms = text[rest].str.extract(_DMS)
        hit = dms[0].notna().to_numpy()
        if hit.any():
            idx = np.flatnonzero(rest)[hit]
            part = dms[hit]
            a = _dms_value(part[0], part[1], part[2], part[3])
            b = _dms_value(part[4], part[5], part[6], part[7])
            first_is_lat = part[3].str.upper().isin(["N", "S"]).to_numpy()
            lat[idx] = np.where(first_is_lat, a, b)
            lon[idx] = np.where(first_is_lat, b, a)
    return lon, lat


def _dms_value(deg, minutes, seconds, hemi) -> np.ndarray:
    value = (deg.astype(float) + minutes.fillna("0").astype(float) / 60
             + seconds.fillna("0").astype(float) / 3600).to_numpy()
    sign = np.where(hemi.str.upper().isin(["S", "W"]).to_numpy(), -1.0, 1.0)
    return value * sign


# Dates ----------------------------------------------------------------------------------------

_SLASH = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})"
                    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])\.?[Mm]\.?)?)?\s*$")
_YEAR_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
_ISO = re.compile(r"^\s*\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                  r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?)?\s*$")
_ISO_TIME = re.compile(r"\d{2}:\d{2}")
_SERIAL = re.compile(r"^\s*\d{4,5}(?:\.\d+)?\s*$")


def date_order(values: pd.Series) -> str | None:
    """Decide the day/month order of a column's slash dates: 'mdy', 'dmy' or None if none.

    A first field above 12 proves day-first; a second field above 12 proves month-first;
    when nothing decides, month-first (the US convention) is used.
    """
    # Each distinct value once (a column holds few): the regular expression ran on every
    # row, block after block while nothing decided (months as names: 2 s of a 305k import).
    distinct = pd.Series(pd.unique(values.to_numpy(dtype=object)), dtype=object)
    parts = distinct.astype("str").str.extract(_SLASH)
    parts = parts[parts[0].notna()]
    if parts.empty:
        return None
    first = parts[0].astype(int)
    second = parts[1].astype(int)
    if (first > 12).any() and not (second > 12).any():
        return "dmy"
    return "mdy"


def parse_iso_days(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series] | None:
    """Parse a column whose every cell is a valid ``YYYY-MM-DD`` date with Arrow, else None.

    The common case of `parse_dates`, with the same result: day precision, no problems.
    Arrow's date parser accepts exactly ten characters, digits and dashes in place, and a
    real calendar day; anything else (times, zones, spaces, slashes, impossible days, years
    outside 1678..2261) returns None and takes the general path.
    """
    array = arrow_text(values)
    if array is None or not len(array):
        return None
    lengths = pc.min_max(pc.binary_length(array))
    if lengths["min"].as_py() != 10 or lengths["max"].as_py() != 10:
        return None
    try:
        days = pc.cast(array, pa.date32())
    except pa.ArrowInvalid:
        return None
    bounds = pc.min_max(days.cast(pa.int32()))
    low, high = _ISO_DAY_RANGE
    if bounds["min"].as_py() < low or bounds["max"].as_py() > high:
        return None
    index = values.index
    when = pd.Series(days.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False),
                     index=index, dtype="datetime64[us]")
    precision = pd.Series(np.full(len(index), "day", dtype=object), index=index, dtype=object)
    problem = pd.Series(None, index=index, dtype=object)
    return when, precision, problem


def parse_dates(values: pd.Series, order: str = "mdy") -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse a column of dates as UTC.

    Parameters
    ----------
    values : pandas.Series of str
    order : {'mdy', 'dmy'}
        How to read ambiguous slash dates (decided once per file with `date_order`).

    Returns
    -------
    (when, precision, problem) : tuple of pandas.Series
        `when` naive UTC timestamps (NaT where unparsed), `precision` 'second', 'day' or
        'month', and `problem` a message where the value could not be read (else None).

    Notes
    -----
    A column of plain ``YYYY-MM-DD`` dates (the common case) is read by Arrow
    (`parse_iso_days`); any other column by the general path, with the same results.
    """
    days = parse_iso_days(values)
    return days if days is not None else parse_general_dates(values, order)


def parse_general_dates(values: pd.Series,
                        order: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse any column of dates (`parse_dates` without its fast path).

    For callers that tried `parse_iso_days` themselves: `parse_dates` would try it again.
    A column with fewer distinct values than half its cells (months, quarters, days of a
    long series) is parsed once per distinct value and taken back to its rows.
    """
    # A missing cell is a value of its own (no -1 code, which would take the last value).
    codes, uniques = pd.factorize(values.astype("str"), use_na_sentinel=False)
    if len(uniques) * 2 <= len(values):
        parts = _parse_general(pd.Series(uniques, dtype=values.astype("str").dtype), order)
        index = values.index
        return tuple(pd.Series(part.to_numpy()[codes], index=index, dtype=part.dtype)
                     for part in parts)
    return _parse_general(values, order)


def _parse_general(values: pd.Series, order: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """`parse_general_dates` of every cell (no distinct-value step)."""
    text = values.astype("str").str.strip()
    when = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    precision = pd.Series("day", index=text.index, dtype=object)
    problem = pd.Series(None, index=text.index, dtype=object)

    # ISO 8601 first, vectorised over the whole column (the common case); the regular
    # expressions below only see what it could not read.
    iso = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    iso_ok = (iso.notna() & (text.str.slice(4, 5) == "-")).to_numpy()
    if iso_ok.any():
        when[iso_ok] = iso[iso_ok].dt.tz_convert(None).astype("datetime64[us]")
        length = text[iso_ok].str.len()
        precision[iso_ok] = np.where(length <= 7, "month", np.where(length <= 10, "day",
                                                                     "second"))
    rest_index = text.index[~iso_ok]
    if not len(rest_index):
        return when, precision, problem
    text = text[rest_index]
    slash = text.str.extract(_SLASH)
    slash = slash[slash[0].notna()]
    if len(slash):
        idx = slash.index
        a, b = slash[0].astype(int), slash[1].astype(int)
        month, day = (a, b) if order == "mdy" else (b, a)
        year = slash[2].astype(int)
        year = year.where(slash[2].str.len() == 4, np.where(year < 69, 2000 + year, 1900 + year))
        hour = slash[3].fillna("0").astype(int)
        ampm = slash[6].fillna("").str.upper()
        bad_hour = (ampm != "") & ((hour < 1) | (hour > 12))
        hour = hour.where(~((ampm == "P") & (hour < 12)), hour + 12)
        hour = hour.where(~((ampm == "A") & (hour == 12)), 0)
        parts = pd.DataFrame({"year": year, "month": month, "day": day, "hour": hour,
                              "minute": slash[4].fillna("0").astype(int),
                              "second": slash[5].fillna("0").astype(int)})
        parsed = pd.to_datetime(parts, errors="coerce").astype("datetime64[us]")
        parsed[bad_hour] = pd.NaT
        when[idx] = parsed
        precision[idx] = np.where(slash[3].notna(), "second", "day")
        order_name = "month/day/year" if order == "mdy" else "day/month/year"
        problem[parsed[parsed.isna()].index] = f"not a valid date when read as {order_name}"
    ym = text.str.extract(_YEAR_MONTH)
    ym = ym[ym[0].notna()]
    if len(ym):
        parts = pd.DataFrame({"year": ym[0].astype(int), "month": ym[1].astype(int), "day": 1})
        when[ym.index] = pd.to_datetime(parts, errors="coerce").astype("datetime64[us]")
        precision[ym.index] = "month"
    # Periods as published (month names in English or French, quarters, years): each
    # distinct value parsed once (`periods.per_distinct`), not a regular expression per row.
    named = (when[rest_index].isna() & problem[rest_index].isna())
    named = named[named].index
    if len(named):
        start, prec = periods.starts(periods.per_distinct(text[named], periods.parse_period))
        found = ~np.isnat(start)
        when[named[found]] = start[found]
        precision[named[found]] = prec[found]
    missing = (when[rest_index].isna() & problem[rest_index].isna())
    missing = missing[missing].index
    if len(missing):
        sub = text[missing]
        serial = sub[sub.str.match(_SERIAL.pattern)].index
        empty = sub[sub == ""].index
        other = sub.index.difference(serial).difference(empty)
        problem[serial] = ("looks like an Excel date serial number; format the column as a "
                           "date (YYYY-MM-DD) before saving as CSV")
        problem[empty] = "date is missing"
        problem[other] = ("not a recognised date (use YYYY-MM-DD, MM/DD/YYYY [hh:mm[:ss] AM], "
                          "M/D/YY H:MM, a month (Jan 2025, janv. 2025), a quarter (2025 Q1) "
                          "or a year)")
    return when, precision, problem

