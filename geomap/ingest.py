"""CSV ingest: a file -> validated incidents -> regions -> storage, in one transaction.

One pipeline serves the upload form, ``flask import-csv`` and ``POST /api/.../incidents``:

    receive -> sniff -> resolve columns -> [per block: parse cells -> validate -> assign regions
    -> hash -> dedupe/upsert -> write] -> report -> record the import

Files are streamed in blocks (`geomap.csvfile`), so memory does not grow with the file. The
whole import is one database transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the
dataset row is locked ``FOR UPDATE``), so concurrent imports into one dataset queue, and
readers see all of an import or none of it. This module never imports Flask.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import json
import os
import re
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Iterable, Mapping

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import csvfile, db, storage
from .errors import BadRequest, Conflict, GeomapError, Unprocessable

FIELDS = ("lat", "lon", "location", "occurred_at", "type", "count", "direction",
          "description", "source_id", "region")
ALIASES = {
    "lat": ("lat", "latitude", "y"),
    "lon": ("lon", "lng", "long", "longitude", "x"),
    "location": ("location", "point", "geometry", "wkt", "coordinates"),
    "occurred_at": ("occurred_at", "date", "datetime", "timestamp", "incident_date"),
    "type": ("type", "category", "kind"),
    "count": ("count", "people", "persons", "number", "value"),
    "direction": ("direction", "bound"),
    "description": ("description", "notes", "summary"),
    "source_id": ("source_id", "id", "incident_id"),
    "region": ("region", "state", "province"),
}
DIRECTIONS = {
    "northbound": ("n", "nb", "north", "northbound", "north bound", "north-bound", "to canada",
                   "northward", "nord"),
    "southbound": ("s", "sb", "south", "southbound", "south bound", "south-bound", "to us",
                   "southward", "sud"),
    "unknown": ("", "u", "unk", "unknown", "?", "n/a", "na", "none"),
}
DIRECTION_MAP = {alias: name for name, aliases in DIRECTIONS.items() for alias in aliases}
MODES = ("append", "replace")
MAX_ISSUES = 1000
MAX_VALUE_CHARS = 200
LIMITS = {"type": 100, "source_id": 200}
FUTURE_SLACK = dt.timedelta(days=1)
_LOOKUP_SLICE = 900
SQLITE_CACHE_KB = 256 * 1024
BULK_MIN_ROWS = 50_000


def _key(name: str) -> str:
    """Normalise a header or alias for matching: case-, space-, '_'- and '-'-insensitive."""
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


ALIAS_INDEX = {_key(alias): name for name, aliases in ALIASES.items() for alias in aliases}


# --- options ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Options:
    """What the caller asked for.

    Attributes
    ----------
    mode : {'append', 'replace'}
    strict : bool
        Any rejected row (or a row beyond ``MAX_BORDER_KM``) aborts the whole import.
    crs : str or None
        CRS of the coordinates (EPSG code or PROJ string); None means EPSG:4326.
    header : bool
        False for a file without a header row (map columns by number).
    mapping : dict
        FIELD -> header name or 1-based column number, overriding detection.
    title, source, license, description : str
        Used when the dataset does not exist yet and is created by this import.
    publish : bool
        Publish the dataset in the same transaction.
    filename : str
        The uploaded file's name, recorded for the audit trail only (never used as a path).
    """

    mode: str = "append"
    strict: bool = False
    crs: str | None = None
    header: bool = True
    mapping: Mapping[str, str] = field(default_factory=dict)
    title: str = ""
    source: str = ""
    license: str = ""
    description: str = ""
    publish: bool = False
    filename: str = ""


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """Parse ``FIELD=COLUMN`` strings (CLI ``--map``) into a mapping, validating FIELD."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, column = str(item).partition("=")
        if not sep or not column.strip():
            raise BadRequest(f"column mapping {item!r} is not FIELD=COLUMN",
                             details={"mapping": item})
        out[name.strip().lower()] = column.strip()
    return check_mapping(out)


def check_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    """Return the mapping with empty entries dropped; raise BadRequest for unknown fields."""
    out = {}
    for name, column in mapping.items():
        if column is None or str(column).strip() == "":
            continue
        if name not in FIELDS:
            raise BadRequest(f"unknown field {name!r} in the column mapping; fields are "
                             + ", ".join(FIELDS), details={"field": name})
        out[name] = str(column).strip()
    return out


def options_from(values: Mapping[str, Any]) -> Options:
    """Build Options from strings (query parameters, form fields), validating each one.

    Recognised keys: mode, strict, crs, no_header, title, source, license, description,
    publish, filename, and ``map_<field>`` (or ``map`` as a list of FIELD=COLUMN).
    """
    def flag(name: str) -> bool:
        raw = str(values.get(name, "") or "").strip().lower()
        if raw in ("", "0", "false", "no", "off"):
            return False
        if raw in ("1", "true", "yes", "on"):
            return True
        raise BadRequest(f"{name} must be true or false, got {raw!r}", details={"field": name})

    mapping = {name: values.get(f"map_{name}") for name in FIELDS}
    raw_map = values.get("map")
    if raw_map:
        mapping.update(parse_mapping([raw_map] if isinstance(raw_map, str) else raw_map))
    return check_options(Options(
        mode=str(values.get("mode") or "append").strip().lower(),
        strict=flag("strict"), crs=(str(values.get("crs") or "").strip() or None),
        header=not flag("no_header"), mapping=check_mapping(mapping),
        title=str(values.get("title") or "").strip(), source=str(values.get("source") or "").strip(),
        license=str(values.get("license") or "").strip(),
        description=str(values.get("description") or "").strip(),
        publish=flag("publish"), filename=str(values.get("filename") or "")[:300]))


def check_options(options: Options) -> Options:
    """Validate options; raise BadRequest naming the bad one."""
    if options.mode not in MODES:
        raise BadRequest(f"mode must be append or replace, got {options.mode!r}",
                         details={"field": "mode", "value": options.mode})
    check_mapping(options.mapping)
    if options.crs:
        transformer_for(options.crs)
    for name, limit in (("title", 300), ("source", 500), ("license", 200)):
        if len(getattr(options, name)) > limit:
            raise BadRequest(f"{name} is longer than {limit} characters", details={"field": name})
    return options


@functools.lru_cache(maxsize=16)
def transformer_for(crs: str):
    """Return a cached pyproj Transformer from `crs` to EPSG:4326 (x=lon, y=lat), or None."""
    import pyproj

    try:
        source = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise BadRequest(f"CRS {crs!r} is not a known EPSG code or PROJ string",
                         details={"field": "crs", "value": crs}) from None
    if source.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True):
        return None
    return pyproj.Transformer.from_crs(source, "EPSG:4326", always_xy=True)


# --- regions (the interface of geomap.regions; indirected so tests can swap it) --------------

def load_regions(path: str):
    """Load the region layers (cached per process by geomap.regions)."""
    from . import regions

    return regions.load(path)


def assign_regions(lon: np.ndarray, lat: np.ndarray, regions_obj, *, at_border_m: float,
                   max_border_km: float, aoi_km: float) -> pd.DataFrame:
    """Join points to admin1/country/sector and measure them along the border.

    ``reason`` is None inside the area of interest (within `aoi_km` of the border).
    """
    from . import regions

    return regions.assign(lon, lat, regions_obj, at_border_m=at_border_m,
                          max_border_km=max_border_km, aoi_km=aoi_km)


def normalise_region(text: str) -> str | None:
    """Turn a declared state/province ('Washington', 'WA', 'US-WA') into a code, or None."""
    from . import regions

    return regions.normalise_region(text)


# --- columns ----------------------------------------------------------------------------------

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
        if column.isdigit():
            number = int(column)
            if not 1 <= number <= len(names):
                raise BadRequest(f"column number {number} for {target} is out of range: the "
                                 f"file has {len(names)} columns", details={"field": target})
            found[target] = names[number - 1]
        elif _key(column) in by_key:
            found[target] = by_key[_key(column)]
        else:
            raise BadRequest(f"column {column!r} mapped to {target} is not in the file; its "
                             f"columns are: {', '.join(names)}", details={"field": target})
    notes = []
    if "location" in found and "lat" in found and "lon" in found:
        notes.append(_note(f"both lat/lon columns and a location column ({found['location']}) "
                           "exist: lat/lon are used", found["location"]))
        del found["location"]
    has_xy = "lat" in found and "lon" in found
    if not has_xy and "location" not in found:
        shown = ", ".join(names[:20]) if header else f"{len(names)} unnamed columns"
        hint = ("map them with --map lat=N --map lon=N --map occurred_at=N"
                if not header else "name them lat/lon (or location) or map them explicitly")
        raise Unprocessable(f"no usable columns: no latitude/longitude or location column "
                            f"found among {shown}; {hint}", details={"columns": names})
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


def _note(message: str, column: str | None = None) -> dict:
    return {"row": None, "column": column, "value": None, "message": message}


# --- per-block validation ---------------------------------------------------------------------

class Issues:
    """Row-level errors or warnings of one block, as (record, column, value, message)."""

    def __init__(self):
        self.parts: list[pd.DataFrame] = []

    def add(self, mask, column: str | None, values, message) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        index = np.flatnonzero(mask)
        value = (pd.Series(values).iloc[index].astype("str").str.slice(0, MAX_VALUE_CHARS)
                 .to_numpy(dtype=object) if values is not None else None)
        msg = message.iloc[index].to_numpy(dtype=object) if isinstance(message, pd.Series) \
            else message
        self.parts.append(pd.DataFrame({"record": index, "column": column, "value": value,
                                        "message": msg}))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=["record", "column", "value", "message"])
        return pd.concat(self.parts, ignore_index=True).sort_values("record", kind="stable")


@dataclass
class Context:
    """What every block needs: settings, regions, columns, and per-file decisions."""

    columns: Columns
    options: Options
    settings: Mapping[str, Any]
    regions: Any
    transformer: Any
    now: dt.datetime
    date_order: str | None = None
    file_notes: list[dict] = field(default_factory=list)
    swapped: int = 0


def validate(frame: pd.DataFrame, ctx: Context) -> tuple[pd.DataFrame, Issues, Issues]:
    """Turn a block of string cells into incident rows, with the block's errors and warnings.

    Returns
    -------
    (rows, errors, warnings)
        `rows` holds the accepted rows (incident columns plus ``record``, the position in the
        block); `errors` explain the rejected ones.
    """
    errors, warnings = Issues(), Issues()
    cols = ctx.columns.fields
    n = len(frame)
    lon, lat = _coordinates(frame, ctx, errors)
    when, precision = _dates(frame, ctx, errors)
    count = _counts(frame, cols.get("count"), errors)
    direction = _directions(frame, cols.get("direction"), warnings)
    text = {name: (_text(frame[cols[name]]) if name in cols else pd.Series("", index=frame.index))
            for name in ("type", "description", "source_id")}
    for name, limit in LIMITS.items():
        if name in cols:
            errors.add(text[name].str.len() > limit, cols[name], frame[cols[name]],
                       f"{name} is longer than {limit} characters")
    bad = _rejected(errors, n)
    joined, far = _join(lon, lat, bad, frame, ctx, errors, warnings)
    bad = _rejected(errors, n)
    rows = pd.DataFrame({
        "record": np.arange(n), "source_id": text["source_id"].replace("", None),
        "occurred_at": when, "precision": precision, "lat": lat, "lon": lon,
        "type": text["type"], "count": count, "direction": direction,
        "description": text["description"], "attributes": _attributes(frame, ctx.columns.extra),
    })
    rows = pd.concat([rows, joined], axis=1)
    if "region" in cols:
        _declared_region(rows, frame[cols["region"]], cols["region"], bad, warnings)
    rows = rows[~bad].reset_index(drop=True)
    rows["count"] = rows["count"].astype(np.int64)
    del far
    return rows, errors, warnings


def _rejected(errors: Issues, n: int) -> np.ndarray:
    bad = np.zeros(n, dtype=bool)
    for part in errors.parts:
        bad[part["record"].to_numpy()] = True
    return bad


def _text(values: pd.Series) -> pd.Series:
    return values.astype("str").str.strip()


def _coordinates(frame: pd.DataFrame, ctx: Context, errors: Issues):
    cols = ctx.columns.fields
    if "lat" in cols:
        lat = csvfile.to_float(frame[cols["lat"]])
        lon = csvfile.to_float(frame[cols["lon"]])
        for name, values in (("lat", lat), ("lon", lon)):
            raw = frame[cols[name]]
            empty = _text(raw) == ""
            label = "latitude" if name == "lat" else "longitude"
            errors.add(empty, cols[name], raw, f"{label} is missing")
            errors.add(~empty & ~np.isfinite(values), cols[name], raw, f"{label} is not a number")
    else:
        raw = frame[cols["location"]]
        lon, lat = csvfile.parse_location(raw)
        empty = _text(raw) == ""
        errors.add(empty, cols["location"], raw, "location is missing")
        errors.add(~empty & ~np.isfinite(lat), cols["location"], raw,
                   'location is not WKT POINT (lon lat), "lat, lon" or degrees-minutes-seconds')
    if ctx.transformer is not None:
        ok = np.isfinite(lon) & np.isfinite(lat)
        x, y = ctx.transformer.transform(lon[ok], lat[ok])
        lon, lat = lon.copy(), lat.copy()
        lon[ok], lat[ok] = x, y
        failed = ok & ~(np.isfinite(lon) & np.isfinite(lat))
        column = cols.get("lon", cols.get("location"))
        errors.add(failed, column, frame[column],
                   f"coordinates cannot be transformed from {ctx.options.crs}")
    return lon, lat


def _join(lon, lat, bad, frame, ctx: Context, errors: Issues, warnings: Issues):
    """Assign regions; detect swapped lat/lon; reject rows outside the area; warn far ones."""
    n = len(lon)
    out = pd.DataFrame({"admin1": None, "country": None, "sector": None,
                        "border_mile": np.nan, "border_km": np.nan, "at_border": False},
                       index=range(n))
    column = ctx.columns.fields.get("lat", ctx.columns.fields.get("location"))
    raw = frame[column]
    finite = ~bad & np.isfinite(lon) & np.isfinite(lat)
    in_range = finite & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    reason = np.full(n, None, dtype=object)
    if in_range.any():
        joined = _assign(lon[in_range], lat[in_range], ctx)
        _put(out, in_range, joined)
        reason[in_range] = joined["reason"].to_numpy(dtype=object)
    # Rows that are out of range or outside the area, but would be inside it swapped.
    candidates = finite & (~in_range | pd.notna(reason))
    if ctx.transformer is None and candidates.any():
        s_lon, s_lat = lat[candidates], lon[candidates]
        swappable = (np.abs(s_lat) <= 90) & (np.abs(s_lon) <= 180)
        idx = np.flatnonzero(candidates)[swappable]
        if len(idx):
            joined = _assign(s_lon[swappable], s_lat[swappable], ctx)
            good = joined["reason"].isna().to_numpy()
            fixed = idx[good]
            if len(fixed):
                mask = np.zeros(n, dtype=bool)
                mask[fixed] = True
                message = ("latitude and longitude look swapped (the values only make sense "
                           "the other way round, near the border)")
                if ctx.options.strict:
                    errors.add(mask, column, raw, message)
                else:
                    lon[fixed], lat[fixed] = lat[fixed].copy(), lon[fixed].copy()
                    _put(out, mask, joined[good])
                    reason[fixed] = None
                    in_range[fixed] = True
                    warnings.add(mask, column, raw, message + "; used them swapped")
                    ctx.swapped += len(fixed)
    errors.add(finite & ~in_range & pd.isna(reason), column, raw,
               "coordinates out of range (latitude -90..90, longitude -180..180)")
    outside = in_range & pd.notna(reason)
    if outside.any():
        messages = np.full(n, None, dtype=object)
        messages[outside] = [f"outside the area of interest: {r}" for r in reason[outside]]
        errors.add(outside, column, raw, pd.Series(messages))
    limit = float(ctx.settings.get("MAX_BORDER_KM", 100.0))
    distance = np.abs(out["border_km"].to_numpy(dtype=float))
    far = in_range & ~outside & (distance > limit)
    if far.any():
        messages = np.full(n, None, dtype=object)
        messages[far] = [f"{d:.0f} km from the border, farther than {limit:g} km"
                         for d in distance[far]]
        (errors if ctx.options.strict else warnings).add(far, column, raw, pd.Series(messages))
    return out, far


def _assign(lon, lat, ctx: Context) -> pd.DataFrame:
    joined = assign_regions(np.ascontiguousarray(lon, dtype=float),
                            np.ascontiguousarray(lat, dtype=float), ctx.regions,
                            at_border_m=float(ctx.settings.get("AT_BORDER_M", 100.0)),
                            max_border_km=float(ctx.settings.get("MAX_BORDER_KM", 100.0)),
                            aoi_km=float(ctx.settings.get("AREA_KM", 500.0)))
    return joined.reset_index(drop=True)


def _put(out: pd.DataFrame, mask: np.ndarray, joined: pd.DataFrame) -> None:
    idx = np.flatnonzero(mask)
    for name in ("admin1", "country", "sector", "border_mile", "border_km", "at_border"):
        out.loc[idx, name] = joined[name].to_numpy()


def _dates(frame: pd.DataFrame, ctx: Context, errors: Issues):
    column = ctx.columns.fields["occurred_at"]
    raw = frame[column]
    if ctx.date_order is None:
        maybe_slash = raw[raw.str.slice(4, 5) != "-"]
        order = csvfile.date_order(maybe_slash) if len(maybe_slash) else None
        if order is not None:
            ctx.date_order = order
            ctx.file_notes.append(_note(_order_note(raw, order), column))
    when, precision, problem = csvfile.parse_dates(raw, ctx.date_order or "mdy")
    errors.add(problem.notna(), column, raw, problem)
    month_start = when.dt.to_period("M").dt.start_time if (precision == "month").any() else when
    future = np.where(precision == "month", month_start > ctx.now, when > ctx.now + FUTURE_SLACK)
    errors.add(future & when.notna().to_numpy(), column, raw, "date is in the future")
    return when, precision


def _order_note(raw: pd.Series, order: str) -> str:
    if order == "dmy":
        return ("dates with slashes are read as day/month/year for the whole file (some have "
                "a first number above 12)")
    parts = raw.astype("str").str.extract(csvfile._SLASH)
    decided = (parts[1].dropna().astype(int) > 12).any()
    if decided:
        return ("dates with slashes are read as month/day/year for the whole file (some have "
                "a second number above 12)")
    return ("dates with slashes are ambiguous (no day above 12): read as month/day/year "
            "(US order) for the whole file")


def _counts(frame: pd.DataFrame, column: str | None, errors: Issues) -> np.ndarray:
    if column is None:
        return np.ones(len(frame), dtype=np.int64)
    raw = frame[column]
    empty = (_text(raw) == "").to_numpy()
    value = csvfile.to_float(raw)
    value[empty] = 1
    nan = ~np.isfinite(value)
    errors.add(nan, column, raw, "count is not a number")
    fractional = ~nan & (np.floor(np.where(nan, 0, value)) != np.where(nan, 0, value))
    errors.add(fractional, column, raw, "count must be a whole number")
    errors.add(~nan & (value < 0), column, raw, "count must be 0 or more")
    errors.add(~nan & (value > 2**31 - 1), column, raw, "count is too large")
    clean = np.where(nan | fractional | (value < 0) | (value > 2**31 - 1), 0, value)
    return clean.astype(np.int64)


def _directions(frame: pd.DataFrame, column: str | None, warnings: Issues) -> pd.Series:
    if column is None:
        return pd.Series("unknown", index=frame.index, dtype=object)
    raw = frame[column]
    # Few distinct values: normalise each once, then map the column.
    table = {value: DIRECTION_MAP.get(re.sub(r"\s+", " ", str(value).strip().lower()))
             for value in raw.unique()}
    mapped = raw.map(table)
    unknown = mapped.isna()
    warnings.add(unknown, column, raw,
                 "direction not recognised (use northbound/southbound, N/S, NB/SB); stored as "
                 "unknown")
    return mapped.fillna("unknown").astype(object)


def _attributes(frame: pd.DataFrame, extra: list[str]) -> pd.Series:
    """Return the other columns of each row as a dict of non-empty strings (None if none)."""
    if not extra:
        return pd.Series(None, index=frame.index, dtype=object)
    sub = frame[extra].astype("str")
    records = sub.to_dict("records")
    out = [{k: v for k, v in rec.items() if v != ""} or None for rec in records]
    return pd.Series(out, index=frame.index, dtype=object)


def _declared_region(rows: pd.DataFrame, raw: pd.Series, column: str, bad: np.ndarray,
                     warnings: Issues) -> None:
    """Check a declared state/province against the computed one (SPEC §5)."""
    text = _text(raw)
    uniques = {v: normalise_region(v) for v in text.unique() if v}
    declared = text.map(lambda v: uniques.get(v) if v else None)
    considered = ~bad & (text != "").to_numpy()
    unknown = considered & declared.isna().to_numpy()
    warnings.add(unknown, column, raw, "declared region not recognised; the computed one is used")
    differs = considered & ~unknown & (declared.to_numpy(dtype=object) != rows["admin1"].to_numpy(
        dtype=object))
    at_border = rows["at_border"].fillna(False).to_numpy(dtype=bool)
    keep = differs & at_border
    if keep.any():
        rows.loc[keep, "admin1"] = declared[keep].to_numpy()
        rows.loc[keep, "country"] = declared[keep].str.slice(0, 2).to_numpy()
    conflict = differs & ~at_border
    if conflict.any():
        message = pd.Series([
            f"declared region {d} disagrees with the location, which is in {c or 'no region'}"
            for d, c in zip(declared.to_numpy(dtype=object), rows["admin1"].to_numpy(dtype=object))])
        warnings.add(conflict, column, raw, message)


# --- storage: dedupe, upsert, write -----------------------------------------------------------

@dataclass
class Totals:
    """Running counts and memory of what this import has already written."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    regions: dict = field(default_factory=dict)
    empty: bool = False
    seen_hashes: "SeenKeys" = field(default_factory=lambda: SeenKeys())
    seen_sources: "SeenKeys" = field(default_factory=lambda: SeenKeys())


class SeenKeys:
    """What this import has already written: 64-bit key hashes and the line of each.

    Kept as one sorted numpy array per block (16 bytes a row), so a multi-million-row file
    costs tens of MB here, not a Python set of strings. A hit is only a candidate (64-bit
    hashes may collide); callers confirm against the database where it matters.
    """

    def __init__(self):
        self.keys: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Return the line of each key's first occurrence, or -1 if not seen."""
        out = np.full(len(keys), -1, dtype=np.int64)
        for seen, lines in zip(self.keys, self.lines):
            pos = np.minimum(np.searchsorted(seen, keys), len(seen) - 1)
            hit = (seen[pos] == keys) & (out < 0)
            out[hit] = lines[pos[hit]]
        return out

    def add(self, keys: np.ndarray, lines: np.ndarray) -> None:
        if len(keys):
            order = np.argsort(keys, kind="stable")
            self.keys.append(keys[order])
            self.lines.append(np.asarray(lines, dtype=np.int64)[order])


def _key64(values: pd.Series) -> np.ndarray:
    """Hash strings to uint64 (vectorised)."""
    return pd.util.hash_pandas_object(values.astype(str), index=False).to_numpy()


def store(conn: sa.Connection, dataset_id: int, import_id: int, rows: pd.DataFrame,
          lines: np.ndarray, totals: Totals, warnings: list[pd.DataFrame], write: bool) -> None:
    """Dedupe a block of accepted rows and write it: insert new rows, update changed ones."""
    if rows.empty:
        return
    rows["row_hash"] = storage.row_hashes(rows).to_numpy()
    rows["dataset_id"] = dataset_id
    rows["import_id"] = import_id
    rows["line"] = lines[rows["record"].to_numpy()]
    counts = rows["admin1"].fillna("none").value_counts()
    for code, k in counts.items():
        totals.regions[code] = totals.regions.get(code, 0) + int(k)
    keyed = rows["source_id"].notna().to_numpy()
    _store_keyed(conn, dataset_id, rows[keyed], totals, warnings, write)
    _store_unkeyed(conn, dataset_id, rows[~keyed], totals, warnings, write)


def _store_keyed(conn, dataset_id, rows, totals: Totals, warnings, write: bool) -> None:
    if rows.empty:
        return
    later = rows.duplicated("source_id", keep="last").to_numpy()
    if later.any():
        dropped = rows[later]
        kept_hash = rows[~later].set_index("source_id")["row_hash"]
        same = (dropped["row_hash"].to_numpy() == kept_hash.loc[dropped["source_id"]].to_numpy())
        totals.unchanged += int(same.sum())
        totals.updated += int((~same).sum())
        warnings.append(pd.DataFrame({
            "record": dropped["record"].to_numpy(), "column": None,
            "value": dropped["source_id"].to_numpy(),
            "message": "the same source_id appears again on a later row of the file; the "
                       "later row is kept"}))
        rows = rows[~later]
    ids = rows["source_id"]
    keys = _key64(ids)
    if totals.empty:  # only rows this import already wrote can exist
        need = ids[totals.seen_sources.find(keys) >= 0].tolist()
    else:
        need = ids.tolist()
    existing = _lookup(conn, dataset_id, db.incidents.c.source_id, need) if need else {}
    totals.seen_sources.add(keys, rows["line"].to_numpy())
    old_id = rows["source_id"].map({k: v[0] for k, v in existing.items()})
    old_hash = rows["source_id"].map({k: v[1] for k, v in existing.items()})
    new = old_id.isna().to_numpy()
    changed = ~new & (old_hash.to_numpy() != rows["row_hash"].to_numpy())
    totals.imported += int(new.sum())
    totals.updated += int(changed.sum())
    totals.unchanged += int((~new & ~changed).sum())
    if write:
        insert_rows(conn, rows[new])
        if changed.any():
            _update(conn, rows[changed], old_id[changed].astype(int).to_numpy())


def _store_unkeyed(conn, dataset_id, rows, totals: Totals, warnings, write: bool) -> None:
    if rows.empty:
        return
    hashes = rows["row_hash"]
    dup = hashes.duplicated(keep="first").to_numpy()
    keys = _key64(hashes)
    earlier_line = totals.seen_hashes.find(keys)
    within = dup | (earlier_line >= 0)
    if within.any():
        firsts = rows[~dup].set_index("row_hash")["line"]
        refs = np.where(earlier_line[within] >= 0, earlier_line[within],
                        firsts.reindex(hashes[within]).to_numpy(dtype=float))
        warnings.append(pd.DataFrame({
            "record": rows["record"].to_numpy()[within], "column": None, "value": None,
            "message": "same content as row {ref}; imported once", "ref": refs}))
    fresh = rows[~within]
    totals.seen_hashes.add(keys[~within], fresh["line"].to_numpy())
    existing = {} if totals.empty else _lookup(conn, dataset_id, db.incidents.c.row_hash,
                                               fresh["row_hash"].tolist())
    present = fresh["row_hash"].isin(list(existing)).to_numpy()
    totals.unchanged += int(within.sum()) + int(present.sum())
    totals.imported += int((~present).sum())
    if write:
        insert_rows(conn, fresh[~present])


def _lookup(conn, dataset_id: int, column, values: list) -> dict:
    """Return {value: (id, row_hash)} for the dataset's incidents whose `column` is in values."""
    out: dict = {}
    c = db.incidents.c
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), _LOOKUP_SLICE):
        part = unique[start:start + _LOOKUP_SLICE]
        result = conn.execute(sa.select(column, c.id, c.row_hash)
                              .where(c.dataset_id == dataset_id, column.in_(part)))
        for key, ident, row_hash in result:
            out.setdefault(key, (ident, row_hash))
    return out


def _column_values(rows: pd.DataFrame, dialect: str) -> dict[str, list]:
    """Return each incident column of `rows` as a list of plain Python values (None for NULL).

    Built column by column with numpy/pandas (no per-row dict), in the form the backend's
    bulk path takes: timestamps as text in SQLAlchemy's SQLite format, attributes as JSON.
    """
    n = len(rows)

    def text(name: str, default: str | None) -> list:
        values = rows[name].astype(object) if name in rows else pd.Series([default] * n)
        return values.where(values.notna(), default).tolist()

    def number(name: str) -> list:
        values = rows[name].to_numpy(dtype=float)
        return np.where(np.isfinite(values), values, None).tolist()

    when = pd.to_datetime(rows["occurred_at"])
    when = (when.dt.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite"
            else pd.Series(when.dt.to_pydatetime(), dtype=object))
    attributes = rows["attributes"].map(
        lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True) if isinstance(v, dict)
        else None, na_action="ignore") if rows["attributes"].notna().any() else None
    at_border = rows["at_border"].fillna(False).astype(bool).to_numpy()
    return {
        "dataset_id": rows["dataset_id"].astype(int).tolist(),
        "import_id": rows["import_id"].astype(int).tolist(),
        "source_id": text("source_id", None), "occurred_at": when.tolist(),
        "precision": text("precision", "day"), "lat": number("lat"), "lon": number("lon"),
        "type": text("type", ""), "count": rows["count"].astype(np.int64).tolist(),
        "direction": text("direction", "unknown"), "description": text("description", ""),
        "attributes": [None] * n if attributes is None else attributes.astype(object).where(
            attributes.notna(), None).tolist(),
        "admin1": text("admin1", None), "country": text("country", None),
        "sector": text("sector", None), "border_mile": number("border_mile"),
        "border_km": number("border_km"),
        "at_border": (at_border.astype(int) if dialect == "sqlite" else at_border).tolist(),
        "row_hash": rows["row_hash"].tolist(),
    }


def insert_rows(conn: sa.Connection, rows: pd.DataFrame) -> int:
    """Bulk-insert validated rows: sqlite3 ``executemany`` or PostgreSQL ``COPY``.

    The same columns and encodings as `storage.insert_incidents`, built column-wise so a
    million rows take seconds rather than minutes.
    """
    if rows.empty:
        return 0
    dialect = conn.dialect.name
    values = _column_values(rows, dialect)
    names = list(storage.INCIDENT_COLUMNS)
    tuples = list(zip(*(values[c] for c in names)))
    raw = conn.connection.driver_connection
    quoted = ", ".join(f'"{c}"' for c in names)
    if dialect == "postgresql":
        # Binary COPY: ~40 % faster than text COPY, no quoting or NULL-marker rules.
        with raw.cursor() as cur, \
                cur.copy(f"COPY incidents ({quoted}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([PG_TYPES[c] for c in names])
            for row in tuples:
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in names)
        cursor = raw.cursor()
        try:
            cursor.executemany(f"INSERT INTO incidents ({quoted}) VALUES ({marks})", tuples)
        finally:
            cursor.close()
    return len(tuples)


PG_TYPES = {"dataset_id": "int4", "import_id": "int4", "source_id": "text",
            "occurred_at": "timestamp", "precision": "text", "lat": "float8", "lon": "float8",
            "type": "text", "count": "int4", "direction": "text", "description": "text",
            "attributes": "json", "admin1": "text", "country": "text", "sector": "text",
            "border_mile": "float8", "border_km": "float8", "at_border": "bool",
            "row_hash": "text"}
UPDATED_COLUMNS = tuple(c for c in storage.INCIDENT_COLUMNS if c not in ("dataset_id",))


def _update(conn, rows: pd.DataFrame, ids: np.ndarray) -> None:
    """Rewrite changed incidents (same id) with their new content."""
    values = _column_values(rows, "generic")
    values["at_border"] = [bool(v) for v in values["at_border"]]
    values["occurred_at"] = pd.to_datetime(rows["occurred_at"]).dt.to_pydatetime().tolist()
    values["attributes"] = rows["attributes"].where(rows["attributes"].notna(), None).tolist()
    params = [{**{f"v_{k}": values[k][i] for k in UPDATED_COLUMNS}, "b_id": int(ident)}
              for i, ident in enumerate(ids)]
    c = db.incidents.c
    statement = (sa.update(db.incidents).where(c.id == sa.bindparam("b_id"))
                 .values({k: sa.bindparam(f"v_{k}") for k in UPDATED_COLUMNS}))
    conn.execute(statement, params)


# --- the pipeline -----------------------------------------------------------------------------

def import_file(engine: sa.Engine, source: str | os.PathLike | IO[bytes], *, dataset: str,
                options: Options, settings: Mapping[str, Any], regions: Any,
                user_name: str | None = None) -> dict:
    """Import a CSV file of incidents into a dataset, in one transaction.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    source : path or binary stream
        The CSV file. It is copied into ``settings['UPLOAD_FOLDER']`` under its sha256 and
        kept there for audit and replay.
    dataset : str
        Slug of the dataset; created (from the options' title, source, licence) if missing.
    options : Options
    settings : mapping
        ``UPLOAD_FOLDER``, ``AT_BORDER_M``, ``MAX_BORDER_KM``.
    regions : object
        The loaded region layers (`load_regions`).
    user_name : str, optional
        Recorded on the import.

    Returns
    -------
    dict
        The report of SPEC §4 (plus ``import_id``).

    Raises
    ------
    geomap.errors.Unprocessable
        A file that cannot be imported at all (one-line reason), or a strict import with
        rejected rows (the report is in ``details``). Nothing is written in either case.
    geomap.errors.BadRequest
        Invalid options or slug.
    """
    options = check_options(options)
    storage.check_slug(dataset)
    received = csvfile.receive(source, settings["UPLOAD_FOLDER"])
    try:
        layout = _layout(received, options)
        columns = resolve_columns(layout.columns, options.mapping, header=options.header)
        ctx = Context(columns=columns, options=options, settings=settings, regions=regions,
                      transformer=transformer_for(options.crs) if options.crs else None,
                      now=storage.utcnow(), file_notes=list(columns.notes))
        try:
            report = _run(engine, received, layout, ctx, dataset, user_name)
        except sa.exc.OperationalError as exc:
            if "locked" not in str(exc).lower():
                raise
            raise Conflict("another import is writing to the database; try again when it "
                           "has finished", details={"dataset": dataset}) from None
    except BaseException:
        csvfile.discard(received)
        raise
    return report


def _layout(received: csvfile.Received, options: Options) -> csvfile.Layout:
    csvfile.refuse_binary(received.head, received.size)
    encoding = csvfile.detect_encoding(received.head, received.utf8)
    return csvfile.sniff(received.head, encoding, header=options.header)


def preview(source: str | os.PathLike | IO[bytes], options: Options,
            settings: Mapping[str, Any], rows: int = 10) -> dict:
    """Describe how a file would be read, without importing it.

    The file is kept in the upload folder under its sha256, which the caller passes back to
    import it (`stored_upload`).

    Returns
    -------
    dict
        ``sha256``, ``encoding``, ``delimiter``, ``columns`` (names), ``fields`` (FIELD ->
        column), ``notes`` and ``rows`` (the first records as lists of strings).
    """
    options = check_options(options)
    received = csvfile.receive(source, settings["UPLOAD_FOLDER"])
    try:
        layout = _layout(received, options)
        columns = resolve_columns(layout.columns, options.mapping, header=options.header)
    except GeomapError as error:
        csvfile.discard(received)
        error.details = {**(error.details or {}), "columns": _safe_columns(received, options)}
        raise
    csvfile.keep(received)
    return {"sha256": received.sha256, "size": received.size, "encoding": layout.encoding,
            "delimiter": csvfile.DELIMITER_NAMES.get(layout.delimiter, layout.delimiter),
            "columns": layout.columns, "fields": columns.fields,
            "notes": [n["message"] for n in columns.notes],
            "rows": [r[:len(layout.columns)] for r in layout.sample[:rows]]}


def _safe_columns(received, options) -> list[str]:
    try:
        return _layout(received, options).columns
    except GeomapError:
        return []


_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def stored_upload(settings: Mapping[str, Any], sha256: str) -> Path:
    """Return the path of a file kept by `preview`, given its sha256 (validated, never a path)."""
    if not isinstance(sha256, str) or not _SHA_RE.match(sha256):
        raise BadRequest("the uploaded file reference is not valid; upload the file again")
    path = Path(settings["UPLOAD_FOLDER"]) / f"{sha256}.csv"
    if not path.is_file():
        raise BadRequest("the uploaded file is no longer available; upload it again")
    return path


def _run(engine, received, layout, ctx: Context, slug: str, user_name) -> dict:
    options = ctx.options
    reader = csvfile.Reader(received, layout)
    totals = Totals()
    rejected = _RejectedWriter(Path(ctx.settings["UPLOAD_FOLDER"]), layout.columns)
    error_parts = IssueLog()
    warning_parts = IssueLog()
    try:
        with db.write_connection(engine) as conn, _big_cache(conn), conn.begin():
            dataset, created = _lock_dataset(conn, slug, options)
            removed = 0
            if options.mode == "replace":
                removed = storage.delete_incidents(conn, dataset["id"])
                totals.empty = True
            else:
                totals.empty = storage.count_incidents(conn, dataset["id"]) == 0
            import_id = storage.record_import(
                conn, dataset["id"], user_name=user_name, filename=options.filename[:300],
                sha256=received.sha256, size_bytes=received.size, mode=options.mode)
            bulk = _bulk_indexes(conn, received.newlines, totals.empty)
            for batch in reader:
                rows, errors, warnings = validate(batch.frame, ctx)
                errs = _lines(errors.frame(), batch)
                if len(errs):
                    totals.rejected += int(errs["line"].nunique())
                    rejected.add(batch, errs)
                error_parts.append(errs)
                warning_parts.append(_lines(warnings.frame(), batch))
                block_warnings: list[pd.DataFrame] = []
                write = not (options.strict and totals.rejected)
                store(conn, dataset["id"], import_id, rows, batch.lines, totals,
                      block_warnings, write)
                warning_parts.extend(_lines(w, batch) for w in block_warnings)
            bulk.restore()
            _malformed(reader, layout, error_parts, rejected, totals)
            real = _line_mapper(reader, layout)
            report = _report(slug, totals, error_parts, warning_parts, ctx, real)
            if options.strict and totals.rejected:
                raise Unprocessable(
                    f"strict mode: {totals.rejected} row(s) rejected, nothing was imported",
                    details=report_json(report))
            changed = totals.imported + totals.updated + removed > 0
            if options.publish and not dataset["published"]:
                conn.execute(sa.update(db.datasets).where(db.datasets.c.id == dataset["id"])
                             .values(published=True))
                changed = True
            version = (storage.bump_version(conn, dataset["id"])
                       if changed and not created else dataset["version"])
            report["version"] = version
            report["import_id"] = import_id
            if report["rows_total"] == 0:
                report["warnings"].append(_note("the file has no data rows"))
            report = report_json(report)
            rejected.finish(import_id, real)
            csvfile.keep(received)
            conn.execute(sa.update(db.imports).where(db.imports.c.id == import_id).values(
                stored_path=received.path.name, rows_total=report["rows_total"],
                rows_imported=totals.imported, rows_updated=totals.updated,
                rows_unchanged=totals.unchanged, rows_rejected=totals.rejected,
                report=report))
    finally:
        reader.close()
        rejected.discard()
    return report


class _bulk_indexes:
    """SQLite bulk load: drop the incidents indexes for a big import, rebuild them after.

    Rebuilding an index by sorting is several times faster than a million scattered B-tree
    inserts. It runs inside the import's transaction (SQLite DDL is transactional), so readers
    keep seeing the old table with its indexes until the commit, and a failure or kill rolls
    the drop back. Only used when the dataset starts empty (no dedupe lookups need the
    indexes) and the file is at least as big as the whole table; PostgreSQL never (DROP INDEX
    would lock out readers).
    """

    def __init__(self, conn: sa.Connection, expected_rows: int, empty: bool):
        self.conn = conn
        self.statements: list[str] = []
        if conn.dialect.name != "sqlite" or not empty or expected_rows < BULK_MIN_ROWS:
            return
        total = conn.execute(sa.select(sa.func.count()).select_from(db.incidents)).scalar()
        if total > expected_rows:
            return
        found = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'incidents' AND sql IS NOT NULL").fetchall()
        for name, sql in found:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
            self.statements.append(sql)

    def restore(self) -> None:
        for sql in self.statements:
            self.conn.exec_driver_sql(sql)
        self.statements = []


@contextlib.contextmanager
def _big_cache(conn: sa.Connection):
    """Give SQLite a page cache big enough for index inserts in bulk, for this import only.

    With the default 2 MB cache, inserting a million rows into the incidents indexes thrashes
    (random row_hash keys); 256 MB keeps the index pages resident. PostgreSQL: no-op.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection  # pragmas outside SQLAlchemy's transaction
    previous = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size={int(previous)}")


class IssueLog(list):
    """Issue frames of an import, keeping only the first rows the report can show.

    ``total`` counts every issue; the frames stop growing after `MAX_ISSUES` + 1 rows so a
    file with millions of warnings does not hold them all in memory.
    """

    def __init__(self):
        super().__init__()
        self.total = 0
        self.kept = 0

    def append(self, frame: pd.DataFrame) -> None:
        n = len(frame)
        self.total += n
        room = MAX_ISSUES + 1 - self.kept
        if n and room > 0:
            part = frame.iloc[:room]
            self.kept += len(part)
            super().append(part)

    def extend(self, frames) -> None:
        for frame in frames:
            self.append(frame)


def _lines(frame: pd.DataFrame, batch: csvfile.Batch) -> pd.DataFrame:
    """Replace block positions (``record``) by provisional line numbers (``line``)."""
    if frame.empty:
        return pd.DataFrame(columns=["line", "real", "column", "value", "message"])
    out = frame.drop(columns=["record"])
    out.insert(0, "line", batch.lines[frame["record"].to_numpy(dtype=np.int64)])
    out.insert(1, "real", False)
    return out


def _line_mapper(reader: csvfile.Reader, layout: csvfile.Layout):
    """Return a function from provisional line numbers to real ones.

    Provisional numbers assume one line per record; when the file breaks that (quoted
    newlines, blank lines, malformed records) the csv module finds the real lines.
    """
    if reader.exact:
        return lambda values: np.asarray(values, dtype=np.int64)
    lines, _bad = reader.remap()
    header = 1 if layout.header else 0

    def real(values):
        index = np.asarray(values, dtype=np.int64) - header - 1
        if not len(lines):
            return np.asarray(values, dtype=np.int64)
        return lines[np.clip(index, 0, len(lines) - 1)]

    return real


def _lock_dataset(conn, slug: str, options: Options) -> tuple[dict, bool]:
    """Return the dataset row locked for this transaction, creating it if missing.

    PostgreSQL: a transaction-scoped advisory lock on the slug first, so two imports that
    both create a new dataset queue instead of one failing on the unique slug; then the row
    lock (``FOR UPDATE``). SQLite: ``BEGIN IMMEDIATE`` already serialises writers.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                     {"key": f"geomap-import:{slug}"})
    query = sa.select(db.datasets).where(db.datasets.c.slug == slug).with_for_update()
    row = conn.execute(query).mappings().first()
    if row is not None:
        return dict(row), False
    storage.create_dataset(conn, slug, options.title or slug, source=options.source,
                           license=options.license, description=options.description)
    return dict(conn.execute(query).mappings().one()), True


def _malformed(reader, layout, error_parts, rejected, totals) -> None:
    """Report records with the wrong number of fields (pyarrow skipped them)."""
    if not reader.bad_texts:
        return
    _lines_map, bad = reader.remap()
    width = len(layout.columns)
    for record in bad:
        totals.rejected += 1
        message = f"has {record.fields} fields; the header has {width}"
        error_parts.append(pd.DataFrame({"line": [record.line], "real": [True], "column": [None],
                                         "value": [record.text[:MAX_VALUE_CHARS]],
                                         "message": [message]}))
        rejected.add_raw(record.line, record.text, message, layout.delimiter)


def _report(slug, totals: Totals, error_parts, warning_parts, ctx: Context, real) -> dict:
    errors = _issue_list(error_parts, real, "errors")
    warnings = ctx.file_notes + _issue_list(warning_parts, real, "warnings")
    if ctx.swapped:
        warnings.insert(0, _note(f"{ctx.swapped} row(s) had latitude and longitude swapped; "
                                 "they were imported swapped back (see the row warnings)"))
    total = totals.imported + totals.updated + totals.unchanged + totals.rejected
    return {"dataset": slug, "version": None, "rows_total": total,
            "rows_imported": totals.imported, "rows_updated": totals.updated,
            "rows_unchanged": totals.unchanged, "rows_rejected": totals.rejected,
            "errors": errors, "warnings": warnings,
            "regions": dict(sorted((k, v) for k, v in totals.regions.items() if k != "none"))}


def _issue_list(parts: "IssueLog", real, kind: str) -> list[dict]:
    """Merge issue frames into the report list: real line numbers, sorted, capped."""
    grand_total = parts.total
    parts = [p for p in parts if len(p)]
    if not parts:
        return []
    frame = pd.concat(parts, ignore_index=True)
    line = frame["line"].to_numpy(dtype=object)
    provisional = ~frame["real"].to_numpy(dtype=bool) & pd.notna(line)
    if provisional.any():
        line[provisional] = real(line[provisional].astype(np.int64))
    frame["row"] = line
    if "ref" in frame:
        has_ref = frame["ref"].notna().to_numpy()
        if has_ref.any():
            refs = real(frame.loc[has_ref, "ref"].astype(np.int64).to_numpy())
            frame.loc[has_ref, "message"] = [m.format(ref=r) for m, r in zip(
                frame.loc[has_ref, "message"], refs)]
    frame = frame.sort_values("row", kind="stable",
                              key=lambda s: pd.to_numeric(s, errors="coerce").fillna(0))
    total = grand_total
    items = [{"row": None if pd.isna(r) else int(r), "column": c, "value": v, "message": m}
             for r, c, v, m in frame[["row", "column", "value", "message"]]
             .head(MAX_ISSUES).itertuples(index=False, name=None)]
    if total > MAX_ISSUES:
        items.append(_note(f"... and {total - MAX_ISSUES} more {kind} (the rejected-rows CSV "
                           "lists every rejected row)"))
    return items


class _RejectedWriter:
    """Collect rejected rows (original cells + reason) in a CSV next to the uploads."""

    def __init__(self, folder: Path, columns: list[str]):
        self.folder = folder / "rejected"
        self.columns = columns
        self.tmp: Path | None = None

    def _open(self):
        if self.tmp is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.tmp = self.folder / f"tmp-{uuid.uuid4().hex}.csv"
            with open(self.tmp, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow(["row", "_real", *self.columns, "reason"])
        return open(self.tmp, "a", newline="", encoding="utf-8")

    def add(self, batch: csvfile.Batch, errs: pd.DataFrame) -> None:
        reasons = errs.groupby("line", sort=True)["message"].agg("; ".join)
        first = int(batch.lines[0])
        sub = batch.frame.iloc[reasons.index.to_numpy(dtype=np.int64) - first].copy()
        sub.insert(0, "row", reasons.index.to_numpy(dtype=np.int64))
        sub.insert(1, "_real", 0)
        sub["reason"] = reasons.to_numpy()
        with self._open() as handle:
            sub.to_csv(handle, header=False, index=False)

    def add_raw(self, line, text: str, message: str, delimiter: str) -> None:
        fields = next(csv.reader([text], delimiter=delimiter), [])
        fields = (fields + [""] * len(self.columns))[:len(self.columns)]
        with self._open() as handle:
            csv.writer(handle).writerow(["" if line is None else line, 1, *fields, message])

    def finish(self, import_id: int, real) -> None:
        """Move the file to rejected/<import_id>.csv, with real line numbers, in file order."""
        target = self.folder / f"{int(import_id)}.csv"
        target.unlink(missing_ok=True)
        if self.tmp is None:
            return
        frame = pd.read_csv(self.tmp, dtype=str, keep_default_na=False)
        prov = (frame["_real"] == "0").to_numpy()
        if prov.any():
            frame.loc[prov, "row"] = real(frame.loc[prov, "row"].astype(np.int64)).astype(str)
        frame = frame.drop(columns=["_real"]).sort_values(
            "row", kind="stable", key=lambda s: pd.to_numeric(s, errors="coerce"))
        frame.to_csv(self.tmp, index=False)
        os.replace(self.tmp, target)
        self.tmp = None

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None


def rejected_path(settings: Mapping[str, Any], import_id: int) -> Path | None:
    """Return the rejected-rows CSV of an import, or None if it had no rejected rows."""
    path = Path(settings["UPLOAD_FOLDER"]) / "rejected" / f"{int(import_id)}.csv"
    return path if path.is_file() else None


def report_json(report: dict) -> dict:
    """Return the report with every value JSON-serialisable."""
    return storage.as_json_safe(replace_none(report))


def replace_none(value):
    """Convert NaN/NA values inside a report to None."""
    if isinstance(value, dict):
        return {k: replace_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_none(v) for v in value]
    if value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


__all__ = ["ALIASES", "FIELDS", "Options", "check_options", "import_file", "load_regions",
           "options_from", "parse_mapping", "preview", "rejected_path", "stored_upload",
           "transformer_for", "replace"]
