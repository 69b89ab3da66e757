"""Columns of a file -> incident fields: the fields, their header aliases and the mapping.

`resolve_columns` matches a file's header names to `FIELDS` (by `ALIASES`, insensitive to
case, spaces, '_' and '-'), then applies the caller's explicit mapping, which wins; the rest
of the columns are kept as attributes. No Flask, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from . import doors, wide as wide_tables
from ..errors import BadRequest, Unprocessable

FIELDS = ("lat", "lon", "location", "occurred_at", "type", "count", "direction",
          "description", "source_id", "region", "place", "sector", "border", "year",
          "fiscal_year", "month")
#: Fields that locate a row without coordinates (`placing`): a port or town, a Border Patrol
#: sector, a state or province.
NAMED_LOCATION = ("place", "sector", "region")
#: Fields that date a record without a date column: a year (calendar or US federal fiscal)
#: and optionally a month (`dates.from_year_month`).
PERIOD_FIELDS = ("year", "fiscal_year", "month")
ALIASES = {
    "lat": ("lat", "latitude", "y"),
    "lon": ("lon", "lng", "long", "longitude", "x"),
    "location": ("location", "point", "geometry", "wkt", "coordinates"),
    "occurred_at": ("occurred_at", "date", "datetime", "timestamp", "incident_date", "period",
                    "période", "periode"),
    "type": ("type", "category", "kind", "measure"),
    "count": ("count", "people", "persons", "number", "value", "quantity", "qty",
              "encounters", "apprehensions", "interceptions", "nombre", "encounter count"),
    "direction": ("direction", "bound"),
    "description": ("description", "notes", "summary"),
    "source_id": ("source_id", "id", "incident_id"),
    "region": ("region", "state", "province", "state/province", "province/state",
               "province/territory", "state or province", "province or territory",
               "province/territoire", "province ou territoire", "prov", "st"),
    "place": ("place", "port", "port name", "port of entry", "station", "town", "city",
              "crossing", "place name", "lieu", "point d'entree", "point d'entrée"),
    "sector": ("sector", "usbp sector", "border patrol sector", "sector name", "secteur"),
    "border": ("border", "land border region", "border region"),
    "year": ("year", "yr", "calendar year", "année", "annee"),
    "fiscal_year": ("fiscal year", "fiscal yr", "fy", "federal fiscal year",
                    "année financière", "annee financiere", "exercice", "exercice financier"),
    "month": ("month", "mois", "month name", "quarter", "trimestre", "qtr"),
}


def _key(name: str) -> str:
    """Normalise a header or alias for matching: case-, space-, '_'- and '-'-insensitive."""
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


ALIAS_INDEX = {_key(alias): name for name, aliases in ALIASES.items() for alias in aliases}


@dataclass
class Columns:
    """Which file column feeds which field, and the columns kept as attributes."""

    fields: dict[str, str]
    extra: list[str]
    notes: list[dict]
    #: A wide table's period columns (header -> 'period' or 'month', `wide.month_columns`).
    wide: dict[str, str] | None = None


def resolve_columns(names: list[str], mapping: Mapping[str, str], *, header: bool,
                    wide: bool = False, door: str = doors.CLI) -> Columns:
    """Match header names to fields (aliases, then the explicit mapping, which wins).

    A record is dated by a date column (``occurred_at``), or by a year column (calendar or
    fiscal) with an optional month column; with `wide`, by the headers of its period columns
    (`wide.month_columns`), whose cells are the counts.

    Raises
    ------
    Unprocessable
        When no coordinate or date column can be found, naming the columns that were seen
        and how to map them through `door` (`doors`).
    """
    found: dict[str, str] = {}
    if header:
        for name in names:
            target = ALIAS_INDEX.get(_key(name))
            if target and target not in found:
                found[target] = name
    by_key = {_key(n): n for n in names}
    for target, column in mapping.items():
        # ASCII digits only: str.isdigit also takes '²' (int() then fails) and thousands of
        # digits (int() refuses past 4,300), both a 500 before.
        if column.isascii() and column.isdigit():
            if len(column) > 12 or not 1 <= int(column) <= len(names):
                raise BadRequest(f"column number {column[:12]} for {target} is out of range: "
                                 f"the file has {len(names)} columns", details={"field": target})
            found[target] = names[int(column) - 1]
        elif _key(column) in by_key:
            found[target] = by_key[_key(column)]
        else:
            raise BadRequest(f"column {column!r} mapped to {target} is not in the file; its "
                             f"columns are: {', '.join(names)}", details={"field": target})
    notes = []
    if "location" in found and "lat" in found and "lon" in found:
        notes.append(note(f"both lat/lon columns and a location column ({found['location']}) "
                           "exist: lat/lon are used", found["location"]))
        del found["location"]
    has_xy = "lat" in found and "lon" in found
    named = [f for f in NAMED_LOCATION if f in found]
    if not has_xy and "location" not in found and not named:
        shown = ", ".join(names[:20]) if header else f"{len(names)} unnamed columns"
        data = header and header_looks_like_data(names)
        hint = doors.map_columns(door, ("lat", "lon", "occurred_at"),
                                 header=header and not data)
        if data:  # a header-less file read with a header: say so first
            hint = (f"the first row looks like data, not column names: {doors.no_header(door)}"
                    f" and {hint}")
        elif header:
            hint = f"name them lat/lon (or location), or {hint}"
        raise Unprocessable(f"no usable columns: no latitude/longitude or location column, "
                            f"and no place, sector or state/province column, found among "
                            f"{shown}; {hint}", details={"columns": names})
    columns_wide = _wide_columns(names, found, header) if wide else None
    if columns_wide is not None:
        notes.append(note(_wide_note(columns_wide), None))
    elif "occurred_at" in found:
        dropped = [found.pop(name) for name in PERIOD_FIELDS if name in found]
        if dropped and any(name in mapping for name in PERIOD_FIELDS):
            notes.append(note(f"records are dated by {found['occurred_at']}; "
                              f"{', '.join(dropped)} kept as attributes", found["occurred_at"]))
    elif "year" in found or "fiscal_year" in found:
        if "year" in found and "fiscal_year" in found:
            notes.append(note(f"both a year ({found['year']}) and a fiscal year column "
                              f"({found['fiscal_year']}) exist: the fiscal year is used",
                              found["fiscal_year"]))
            del found["year"]
    elif "month" in found:
        # A month column alone holds whole periods ('January 2024', 'janv. 2024').
        found["occurred_at"] = found.pop("month")
    else:
        shown = ", ".join(names[:20]) if header else f"{len(names)} unnamed columns"
        raise Unprocessable("no date column found (occurred_at, date, datetime, timestamp, "
                            "incident_date; or a year or fiscal year column with a month "
                            f"column) among {shown}; "
                            f"{doors.map_columns(door, ('occurred_at',), header=header)}",
                            details={"columns": names})
    if not has_xy:
        found.pop("lat", None)
        found.pop("lon", None)
    # A place or sector column stays among the attributes too: rows with coordinates do not
    # use it, and the publisher's text is worth keeping (a declared state/province is
    # checked against the join, as before).
    used = ({column for field, column in found.items() if field not in ("place", "sector")}
            | set(columns_wide or ()))
    extra = [n for n in names if n not in used
             and not (columns_wide is not None and wide_tables.is_total(n))]
    return Columns(found, extra, notes, columns_wide)


_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
_COORDINATE = re.compile(r"^[+-]?\d{1,3}[.,]\d{2,}$")
_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T].*)?$|^\d{1,2}/\d{1,2}/\d{2,4}( .*)?$")
_POINT = re.compile(r"^\s*point\s*\(", re.IGNORECASE)


def header_looks_like_data(names: list[str]) -> bool:
    """Whether a file's first row looks like a record rather than a header: none of its
    cells names a field (`ALIASES`), and one looks like a coordinate (a number with decimals,
    a WKT point) or a date, or most of them are numbers. Years alone ('2024' over a wide
    table's columns) do not make a row of data."""
    cells = [str(n).strip() for n in names if str(n).strip()]
    if not cells or any(_key(c) in ALIAS_INDEX for c in cells):
        return False
    if any(_COORDINATE.match(c) or _DATE.match(c) or _POINT.match(c) for c in cells):
        return True
    numbers = [c for c in cells if _NUMBER.match(c)]
    years = [c for c in numbers if c.isdigit() and len(c) == 4]
    return len(numbers) > len(cells) / 2 and len(years) < len(numbers)


def shown_fields(columns: Columns) -> dict[str, str]:
    """FIELD -> column as a person reads it (a wide table's made-up columns described)."""
    names = {wide_tables.PERIOD_COLUMN: "(the period columns' headers)",
             wide_tables.VALUE_COLUMN: "(the period columns' cells)"}
    return {field: names.get(column, column) for field, column in columns.fields.items()}


def _wide_columns(names: list[str], found: dict[str, str], header: bool) -> dict[str, str]:
    """Find a wide table's period columns and point the date and count fields at the
    columns `wide.unpivot` makes; raise Unprocessable when no header names a period."""
    if not header:
        raise BadRequest("a wide table needs its header row: the period columns are found "
                         "by their names")
    by_year = "year" in found or "fiscal_year" in found
    columns = wide_tables.month_columns(
        [n for n in names if n not in found.values()], by_year_column=by_year)
    if not columns:
        raise Unprocessable("the table was said to be wide, but no column header names a "
                            "month, quarter or year (such as 'Jan 2024', 'janv. 2024', "
                            f"'2024-01', '2024 Q1'; or 'Jan' beside a year column) among "
                            f"{', '.join(names[:20])}", details={"columns": names})
    for name in ("occurred_at", "count"):
        found.pop(name, None)
    if by_year:
        found["month"] = wide_tables.PERIOD_COLUMN
    else:
        found.pop("month", None)
        found["occurred_at"] = wide_tables.PERIOD_COLUMN
    found["count"] = wide_tables.VALUE_COLUMN
    return columns


def _wide_note(columns: dict[str, str]) -> str:
    names = list(columns)
    shown = ", ".join(names[:3]) + (f", … {names[-1]}" if len(names) > 3 else "")
    return (f"wide table: {len(names)} period columns ({shown}) unpivoted, one record per "
            "cell with a count; empty cells and '..'/'x'/'-' are not records")


def note(message: str, column: str | None = None) -> dict:
    return {"row": None, "column": column, "value": None, "message": message}
