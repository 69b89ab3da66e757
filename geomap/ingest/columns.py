"""Columns of a file -> incident fields: the fields, their header aliases and the mapping.

`resolve_columns` matches a file's header names to `FIELDS` (by `ALIASES`, insensitive to
case, spaces, '_' and '-'), then applies the caller's explicit mapping, which wins; the rest
of the columns are kept as attributes. No Flask, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from ..errors import BadRequest, Unprocessable

FIELDS = ("lat", "lon", "location", "occurred_at", "type", "count", "direction",
          "description", "source_id", "region", "place", "sector", "border")
#: Fields that locate a row without coordinates (`placing`): a port or town, a Border Patrol
#: sector, a state or province.
NAMED_LOCATION = ("place", "sector", "region")
ALIASES = {
    "lat": ("lat", "latitude", "y"),
    "lon": ("lon", "lng", "long", "longitude", "x"),
    "location": ("location", "point", "geometry", "wkt", "coordinates"),
    "occurred_at": ("occurred_at", "date", "datetime", "timestamp", "incident_date"),
    "type": ("type", "category", "kind", "measure"),
    "count": ("count", "people", "persons", "number", "value", "quantity", "encounter count"),
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


def resolve_columns(names: list[str], mapping: Mapping[str, str], *, header: bool) -> Columns:
    """Match header names to fields (aliases, then the explicit mapping, which wins).

    Raises
    ------
    Unprocessable
        When no coordinate or date column can be found, naming the columns that were seen.
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
        hint = ("map them with --map lat=N --map lon=N --map occurred_at=N"
                if not header else "name them lat/lon (or location) or map them explicitly")
        raise Unprocessable(f"no usable columns: no latitude/longitude or location column, "
                            f"and no place, sector or state/province column, found among "
                            f"{shown}; {hint}", details={"columns": names})
    if "occurred_at" not in found:
        raise Unprocessable("no date column found (occurred_at, date, datetime, timestamp, "
                            f"incident_date) among {', '.join(names[:20])}",
                            details={"columns": names})
    if not has_xy:
        found.pop("lat", None)
        found.pop("lon", None)
    used = set(found.values())
    extra = [n for n in names if n not in used]
    return Columns(found, extra, notes)


def note(message: str, column: str | None = None) -> dict:
    return {"row": None, "column": column, "value": None, "message": message}
