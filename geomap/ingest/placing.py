"""Rows without coordinates, located by a named place: a port or town, a sector, a state.

A row whose coordinates are missing (or a file without coordinate columns) is located by the
first of its named-location columns that has a value (`columns.NAMED_LOCATION`):

- ``place`` (Port Name, Station, Town...): a gazetteer place (`regions.places`), with the
  row's State column or a ``, ST`` suffix; the row becomes a point at the place
  (``location_precision`` ``place``) and is joined like a point;
- ``sector``: a Border Patrol sector by name or code (`regions.sectors`); the row keeps the
  sector's code and no coordinates (``sector``);
- ``region`` (State, Province): the state or province's code and no coordinates (``admin1``).

Names off this border (a southwest sector, a state or province the border does not touch, a
row whose Border column says Mexico) are rejected as outside the area with the reason; an
unknown name is rejected with the closest known names. Each distinct value is matched once
per block (factorize -> match -> take). `PlaceTally` keeps what the report says per name.
No Flask, no I/O but the gazetteer file (read once per process).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from .. import regions
from ..regions import (ADMIN1_NAMES, BORDER_ADMIN1, DEFAULT_PLACES_PATH, SECTOR_NAMES as
                       KNOWN_NAMES, Miss, find_sector, load_places)
from . import cells
from .columns import NAMED_LOCATION

PRECISIONS = ("point", "place", "sector", "admin1")
#: Values of a Border column that put a row on the other border.
_OTHER_BORDER = ("mexic", "southwest", "south west", "coastal")
#: Names listed per outcome in the report (the rest are counted).
MAX_LISTED = 100


@dataclass
class PlaceTally:
    """What the report says about located rows: rows per precision, per matched place, and
    the names that were not placed, with their reason, suggestions and rows."""

    precision: Counter = field(default_factory=Counter)
    matched: Counter = field(default_factory=Counter)
    unplaced: Counter = field(default_factory=Counter)
    suggestions: dict = field(default_factory=dict)

    def summary(self) -> dict | None:
        """The report's ``places`` entry (None when no row was located by name)."""
        if not (set(self.precision) - {"point"}) and not self.unplaced:
            return None
        matched = [{"precision": p, "place": name, "rows": n}
                   for (p, name), n in self.matched.most_common(MAX_LISTED)]
        unplaced = [{"column": column, "value": value, "outcome": kind, "reason": reason,
                     "suggestions": list(self.suggestions.get((column, value), ())),
                     "rows": n}
                    for (column, value, kind, reason), n in self.unplaced.most_common(MAX_LISTED)]
        return {"precision": dict(sorted(self.precision.items())), "matched": matched,
                "matched_names": len(self.matched), "unplaced": unplaced,
                "unplaced_names": len(self.unplaced)}


@dataclass
class Located:
    """A block's rows located by name: `mask`, their precision and place, the point of
    place-level rows and the region codes of sector- and admin1-level rows."""

    mask: np.ndarray
    precision: np.ndarray
    place: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    codes: dict[str, np.ndarray]


class Named:
    """Which rows of a block have a named location, worked out on first use: a file of
    points never pays for it unless some row lacks coordinates."""

    def __init__(self, frame: pd.DataFrame, fields: dict[str, str]):
        self.frame, self.fields, self._mask = frame, fields, None

    def among(self, rows: np.ndarray) -> np.ndarray:
        """Return `rows` & named (without looking at the cells when `rows` is all False)."""
        rows = np.asarray(rows, dtype=bool)
        if not rows.any():
            return rows
        if self._mask is None:
            self._mask = named_rows(self.frame, self.fields)
        return rows & self._mask


def count_precisions(tally: PlaceTally, located: Located, bad: np.ndarray) -> None:
    """Count the block's accepted rows per location precision into `tally`."""
    if not located.mask.any():
        tally.precision["point"] += int((~bad).sum())
        return
    counts = pd.Series(located.precision[~bad]).value_counts()
    for precision, n in counts.items():
        tally.precision[precision] += int(n)


def named_rows(frame: pd.DataFrame, fields: dict[str, str]) -> np.ndarray:
    """Return which rows have a value in a named-location column (place, sector, state)."""
    out = np.zeros(len(frame), dtype=bool)
    for name in NAMED_LOCATION:
        if name in fields:
            out |= _coded(frame[fields[name]]).nonempty()
    return out


def gazetteer(regions_path: str | None):
    """Return the gazetteer beside the region layers (``places.csv`` next to
    ``regions.gpkg``), or the default one."""
    if regions_path:
        beside = Path(regions_path).with_name("places.csv")
        if beside.exists():
            return load_places(str(beside))
    if not DEFAULT_PLACES_PATH.exists():
        return None  # rows naming a place are rejected, saying why (`_one`)
    return load_places()


def locate_block(frame: pd.DataFrame, ctx, rows: np.ndarray, errors, normalise) -> Located:
    """`locate` for a block of an import: its fields, gazetteer (beside the region layers)
    and tally come from the import's context (`rows.Context`)."""
    places = gazetteer(ctx.settings.regions_path) if rows.any() else None
    return locate(frame, ctx.columns.fields, rows, errors, places=places, tally=ctx.places,
                  normalise=normalise)


def merge(joined: dict, mask: np.ndarray, values: dict) -> None:
    """Put `values` (joined columns, arrays or Series) into `joined` for the rows of `mask`."""
    for name, column in values.items():
        if name not in joined:
            continue
        mine = column.to_numpy() if isinstance(column, pd.Series) else column
        current = joined[name]
        if isinstance(current, pd.Series):
            joined[name] = pd.Series(np.where(mask, mine, current.to_numpy(dtype=object)),
                                     index=current.index, dtype=object)
        else:
            joined[name] = np.where(mask, mine, current)


def locate(frame: pd.DataFrame, fields: dict[str, str], rows: np.ndarray, errors, *,
           places, tally: PlaceTally, normalise=regions.normalise_region) -> Located:
    """Locate `rows` (a mask of rows without coordinates) by their named-location columns.

    Parameters
    ----------
    frame : DataFrame
        The block's string cells.
    fields : dict
        FIELD -> column (`columns.Columns.fields`).
    rows : ndarray of bool
        The rows to locate.
    errors : rows.Issues
        Where rejections go (column, value, reason).
    places : regions.Gazetteer or None (no gazetteer file: place rows are rejected)
    tally : PlaceTally
        Updated with the block's outcomes.
    normalise : callable
        Declared state/province text -> admin1 code (the join's ``normalise_region``).

    Returns
    -------
    Located
        ``mask`` is the rows located (a subset of `rows`); rejected rows are in `errors`.
    """
    n = len(frame)
    out = Located(np.zeros(n, dtype=bool), np.full(n, "point", dtype=object),
                  np.full(n, None, dtype=object), np.full(n, np.nan), np.full(n, np.nan),
                  {"admin1": np.full(n, None, dtype=object),
                   "country": np.full(n, None, dtype=object),
                   "sector": np.full(n, None, dtype=object)})
    if not rows.any():
        return out
    text = {name: _coded(frame[fields[name]]) for name in (*NAMED_LOCATION, "border")
            if name in fields}
    declared = (_admin1_codes(text["region"], normalise) if "region" in text
                else _Coded(np.full(n, -1, dtype=np.int64), np.array([], dtype=object)))
    todo = rows.copy()
    if "border" in text:
        other = todo & text["border"].map(_other_border, bool)
        if other.any():
            # Reported under the row's name (Nogales), the Border column saying why.
            named = [f for f in NAMED_LOCATION if f in text]
            borders = text["border"].values()
            shown = text[named[0]].values() if named else borders
            border = pd.Series(borders[other]).mode().iloc[0]
            _reject(errors, tally, other, fields[named[0]] if named else fields["border"],
                    np.where(shown == "", borders, shown), "outside",
                    lambda v: f"outside the US–Canada border area: {v} is on the {border} "
                              f"(column {fields['border']})")
        todo &= ~other
    for name in NAMED_LOCATION:
        if name not in text:
            continue
        mine = todo & text[name].nonempty()
        if mine.any():
            _match(name, mine, text[name], declared, fields[name], frame[fields[name]], out,
                   errors, tally, places)
        todo &= ~mine
    return out


@dataclass
class _Coded:
    """A text column as integer codes into its distinct (stripped) values: what lets each
    distinct value be matched once (-1: no value)."""

    codes: np.ndarray
    uniques: np.ndarray

    def map(self, function, dtype=object) -> np.ndarray:
        """Return `function` of each row's value, called once per distinct value."""
        table = np.array([function(u) for u in self.uniques] + [None], dtype=object)
        return table[self.codes].astype(dtype)

    def nonempty(self) -> np.ndarray:
        return np.append(self.uniques != "", False).astype(bool)[self.codes]

    def values(self) -> np.ndarray:
        """The rows' values as an object array (only for the few uses that need them)."""
        return np.append(self.uniques, "").astype(object)[self.codes]


def _coded(values: pd.Series) -> _Coded:
    """Code a text column: Arrow's dictionary encoding for text columns (no Python string per
    row), pandas' factorize otherwise."""
    array = cells.arrow_text(values)
    if array is not None:
        encoded = pc.utf8_trim_whitespace(array).dictionary_encode()
        return _Coded(encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64),
                      np.array(encoded.dictionary.to_pylist() + [None], dtype=object)[:-1])
    codes, uniques = pd.factorize(values.astype("str").str.strip().to_numpy(dtype=object))
    return _Coded(codes.astype(np.int64), np.asarray(uniques, dtype=object))


def _admin1_codes(region: _Coded, normalise) -> _Coded:
    """The declared state/province of each row as codes into admin1 codes (-1: none)."""
    table = np.array([normalise(u) if u else None for u in region.uniques] + [None],
                     dtype=object)[:-1]
    t_codes, t_uniques = pd.factorize(table)  # None -> -1
    t_codes = np.append(t_codes, -1).astype(np.int64)
    return _Coded(t_codes[region.codes], np.asarray(t_uniques, dtype=object))


def _other_border(value: str) -> bool:
    lowered = value.lower()
    return any(word in lowered for word in _OTHER_BORDER)


def _match(kind, mask, coded: _Coded, declared: _Coded, column, raw, out: Located, errors,
           tally, places):
    """Match one named-location column for the rows of `mask`: factorize the (value,
    declared state) pairs, match each distinct pair once, take the results per row."""
    idx = np.flatnonzero(mask)
    codes, pairs = _pairs(coded, declared, idx)
    results = [_one(kind, value, state, places) for value, state in pairs]
    counts = np.bincount(codes, minlength=len(pairs))
    hit = np.array([not isinstance(r, Miss) for r in results], dtype=bool)
    row_hit = hit[codes]
    where, taken = idx[row_hit], codes[row_hit]
    if len(where):
        def table(pick, fill=None, dtype=object):
            return np.array([pick(r) if h else fill for r, h in zip(results, hit)], dtype=dtype)

        def put(target: np.ndarray, values: np.ndarray) -> np.ndarray:
            if len(where) == len(target):  # every row of the block: no scatter
                return values
            target[where] = values
            return target

        out.mask[where] = True
        out.precision = put(out.precision, table(lambda r: r[0])[taken])
        out.place = put(out.place, table(lambda r: r[1])[taken])
        out.lon = put(out.lon, table(lambda r: r[2][0] if r[2] else np.nan, np.nan, float)[taken])
        out.lat = put(out.lat, table(lambda r: r[2][1] if r[2] else np.nan, np.nan, float)[taken])
        for name in out.codes:
            out.codes[name] = put(out.codes[name], table(lambda r: r[3].get(name))[taken])
    messages = np.array([None if h else _message(r) for r, h in zip(results, hit)] + [None],
                        dtype=object)
    for result, h, (value, _state), rows_n in zip(results, hit, pairs, counts):
        if h:
            tally.matched[(result[0], result[1])] += int(rows_n)
        else:
            tally.unplaced[(column, value, result.kind, _message(result))] += int(rows_n)
            if result.suggestions:
                tally.suggestions[(column, value)] = tuple(result.suggestions)
    if not hit.all():
        row_messages = np.full(len(mask), None, dtype=object)
        row_messages[idx] = messages[codes]
        reasons = np.array([None if h else _reason(kind, r) for r, h in zip(results, hit)]
                           + [None], dtype=object)
        row_reasons = np.full(len(mask), None, dtype=object)
        row_reasons[idx] = reasons[codes]
        errors.add(pd.notna(row_messages), column, raw, pd.Series(row_messages),
                   reason=row_reasons)


def _pairs(coded: _Coded, declared: _Coded, idx: np.ndarray) -> tuple[np.ndarray, list]:
    """Factorize the (value, state) pairs of rows `idx` through their integer codes (no
    tuple or string per row): each row's pair code and the distinct pairs."""
    width = len(declared.uniques) + 1
    combined = coded.codes[idx] * width + (declared.codes[idx] + 1)
    codes, uniques = pd.factorize(combined)
    pairs = [(coded.uniques[u // width], declared.uniques[u % width - 1] if u % width else None)
             for u in uniques]
    return codes, pairs


def _one(kind, value, state, places):
    """Match one distinct value: (precision, place label, (lon, lat) or None, region codes)
    or a Miss."""
    if kind == "place":
        if places is None:
            return Miss("unknown", "no gazetteer of places on this server (shapefiles/places.csv:"
                                   " flask --app geomap build-places)")
        found = places.find(value, state)
        if isinstance(found, Miss):
            return found
        return "place", found.label, (found.lon, found.lat), {}
    if kind == "sector":
        sector = find_sector(value)
        if sector is None:
            return Miss("unknown", f"{value} is not a Border Patrol sector",
                        tuple(_close(value, KNOWN_NAMES)))
        if not sector.northern:
            return Miss("outside", f"{sector.label} of the Border Patrol is not on the "
                                   "US–Canada border")
        return "sector", f"{sector.name} Sector", None, {
            "sector": sector.code, "country": "US",
            "admin1": state if state and state.startswith("US-") else None}
    if state is None:
        return Miss("unknown", f"{value} is not a known state or province",
                    tuple(_close(value, ADMIN1_NAMES.values())))
    if state not in BORDER_ADMIN1:
        return Miss("outside", f"{ADMIN1_NAMES.get(state, state)} is not on the US–Canada "
                               "border")
    return "admin1", ADMIN1_NAMES.get(state, state), None, {
        "admin1": state, "country": state[:2]}


def _close(value: str, names) -> list[str]:
    import difflib

    names = list(names)
    by_lower = {n.lower(): n for n in names}
    return [by_lower[m] for m in difflib.get_close_matches(str(value).lower(), list(by_lower),
                                                           n=3, cutoff=0.6)]


#: What a miss is counted as in the report (`_reason`), by the field that missed.
UNKNOWN_REASONS = {"place": "not a known port or town near the US–Canada border",
                   "sector": "not a Border Patrol sector",
                   "region": "not a known state or province"}
OUTSIDE_REASON = "outside the US–Canada border area"


def _reason(kind: str, miss: Miss) -> str:
    """The reason a miss is counted under (its message names the value)."""
    if miss.kind == "outside":
        return OUTSIDE_REASON
    if miss.kind == "ambiguous":
        return "names places in several states/provinces"
    return UNKNOWN_REASONS.get(kind, miss.reason)


def _message(miss: Miss) -> str:
    if miss.kind == "outside":
        return f"outside the US–Canada border area: {miss.reason}"
    if miss.suggestions:
        return f"{miss.reason}; closest known: {', '.join(miss.suggestions)}"
    return miss.reason


def _reject(errors, tally: PlaceTally, mask, column, values, kind, message):
    """Add an error per row of `mask` (`message` of its value, made once per distinct
    value) and count the rows per distinct value."""
    if not mask.any():
        return
    idx = np.flatnonzero(mask)
    codes, uniques = pd.factorize(values[idx])
    texts = np.array([message(str(v)) for v in uniques], dtype=object)
    for value, text, rows_n in zip(uniques, texts, np.bincount(codes, minlength=len(uniques))):
        tally.unplaced[(column, str(value), kind, text)] += int(rows_n)
    messages = np.full(len(mask), None, dtype=object)
    messages[idx] = texts[codes]
    errors.add(mask, column, values, pd.Series(messages),
               reason=OUTSIDE_REASON if kind == "outside" else None)
