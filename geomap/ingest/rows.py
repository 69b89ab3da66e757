"""CSV cells -> incident rows: per-row rules, the CRS check, the region join (no Flask, no I/O).

`validate` turns one block of string cells into accepted incident rows plus row-level errors
and warnings; `pipeline` runs it block by block inside the import's transaction. Cells are
parsed by `cells`; which column feeds which field was decided by `columns`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from . import cells, placing, wide
from .columns import Columns
from .crs import check_crs, transformer_for  # noqa: F401  (re-exported: ingest.transformer_for)
from .dates import read_dates
from .settings import Settings
from .. import regions

DIRECTIONS = {
    "northbound": ("n", "nb", "north", "northbound", "north bound", "north-bound", "to canada",
                   "northward", "nord"),
    "southbound": ("s", "sb", "south", "southbound", "south bound", "south-bound", "to us",
                   "southward", "sud"),
    "unknown": ("", "u", "unk", "unknown", "?", "n/a", "na", "none"),
}
DIRECTION_MAP = {alias: name for name, aliases in DIRECTIONS.items() for alias in aliases}
MAX_VALUE_CHARS = 200
LIMITS = {"type": 100, "source_id": 200}


# --- regions (the interface of geomap.regions ingest joins with) -----------------------------
# Imported at the top: the lazy imports dated from when geomap.regions did not exist yet and
# hid this module's dependency on it (regions imports nothing of ingest, so no cycle).

def load_regions(path: str):
    """Load the region layers (cached per process by geomap.regions)."""
    return regions.load(path)


class RegionJoin:
    """The join ingest uses, over loaded layers (`regions.load`; None: the default file).

    Anything with the same two methods may be passed as `regions=` instead (`region_join`):
    that is how tests join with a fake.
    """

    def __init__(self, layers):
        self.layers = layers

    def assign(self, lon: np.ndarray, lat: np.ndarray, *, at_border_m: float,
               max_border_km: float, aoi_km: float) -> pd.DataFrame:
        """Join points to admin1/country/sector and measure them along the border.

        ``reason`` is None inside the area of interest (within `aoi_km` of the border).
        """
        return regions.assign(lon, lat, self.layers, at_border_m=at_border_m,
                              max_border_km=max_border_km, aoi_km=aoi_km)

    def normalise_region(self, text: str) -> str | None:
        """Turn a declared state/province ('Washington', 'WA', 'US-WA') into a code, or None."""
        return regions.normalise_region(text)


def region_join(regions_obj):
    """Return the join for `regions=`: itself when it has assign and normalise_region (a
    RegionJoin or a stand-in), else a RegionJoin over it (loaded layers, or None)."""
    if hasattr(regions_obj, "assign") and hasattr(regions_obj, "normalise_region"):
        return regions_obj
    return RegionJoin(regions_obj)


# --- per-block validation ---------------------------------------------------------------------

class Issues:
    """Row-level errors or warnings of one block, as (record, column, value, message)."""

    def __init__(self):
        self.parts: list[pd.DataFrame] = []
        #: Records these errors reject when that is not one per line (a wide table's cells).
        self.rejected_records: int | None = None

    def add(self, mask, column: str | None, values, message, reason=None) -> None:
        """Add an issue per row of `mask`. `message` is one text or one per row (a Series);
        `reason` what the report counts them by (`report.IssueLog`), when the message names
        the row's value: one text or one per row; None: the message is the reason."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        index = np.flatnonzero(mask)
        value = (pd.Series(values).iloc[index].astype("str").str.slice(0, MAX_VALUE_CHARS)
                 .to_numpy(dtype=object) if values is not None else None)
        msg = message.iloc[index].to_numpy(dtype=object) if isinstance(message, pd.Series) \
            else message
        if isinstance(reason, (pd.Series, np.ndarray)):
            reason = np.asarray(reason, dtype=object)[index]
        self.parts.append(pd.DataFrame({"record": index, "column": column, "value": value,
                                        "message": msg, "reason": reason}))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=["record", "column", "value", "message", "reason"])
        return pd.concat(self.parts, ignore_index=True).sort_values("record", kind="stable")


@dataclass
class Context:
    """What every block needs: settings, regions, columns, and per-file decisions."""

    columns: Columns
    options: Any  # options.Options
    settings: Settings
    regions: Any
    transformer: Any
    now: dt.datetime
    date_order: str | None = None
    file_notes: list[dict] = field(default_factory=list)
    swapped: int = 0
    places: placing.PlaceTally = field(default_factory=placing.PlaceTally)
    #: What date parsing keeps across blocks (`dates`: the fiscal-year note and its count).
    periods: dict = field(default_factory=dict)


def validate(frame: pd.DataFrame, ctx: Context) -> tuple[pd.DataFrame, Issues, Issues]:
    """Turn a block of string cells into incident rows, with the block's errors and warnings.

    Returns
    -------
    (rows, errors, warnings)
        `rows` holds the accepted rows (incident columns plus ``record``, the position in the
        block); `errors` explain the rejected ones. A wide table's block is unpivoted first
        (`wide.unpivot`): each of its records keeps its source row's position, and problems
        name the period column the cell came from.
    """
    if ctx.columns.wide:
        long, source, header = wide.unpivot(frame, list(ctx.columns.wide))
        rows, errors, warnings = _validate(long, ctx)
        # The report counts records: a wide table's rejected ones are cells, not lines.
        errors.rejected_records = int(_rejected(errors, len(long)).sum())
        rows["record"] = source[rows["record"].to_numpy()]
        for issues in (errors, warnings):
            for part in issues.parts:
                positions = part["record"].to_numpy()
                if part["column"].isin((wide.PERIOD_COLUMN, wide.VALUE_COLUMN)).any():
                    part["column"] = header[positions]
                part["record"] = source[positions]
        return rows, errors, warnings
    return _validate(frame, ctx)


def _validate(frame: pd.DataFrame, ctx: Context) -> tuple[pd.DataFrame, Issues, Issues]:
    errors, warnings = Issues(), Issues()
    cols = ctx.columns.fields
    n = len(frame)
    named = placing.Named(frame, cols)  # worked out only if some row lacks coordinates
    lon, lat = _coordinates(frame, ctx, errors, named)
    when, precision = read_dates(frame, ctx, errors)
    count = _counts(frame, cols.get("count"), errors)
    direction = _directions(frame, cols.get("direction"), warnings)
    text = {name: (_text(frame[cols[name]]) if name in cols else pd.Series("", index=frame.index))
            for name in ("type", "description", "source_id")}
    for name, limit in LIMITS.items():
        if name in cols:
            errors.add(_longer(text[name], limit), cols[name], frame[cols[name]],
                       f"{name} is longer than {limit} characters")
    bad = _rejected(errors, n)
    located = placing.locate_block(frame, ctx, named.among(~bad & ~(np.isfinite(lon) &
                                                                       np.isfinite(lat))),
                                   errors, region_join(ctx.regions).normalise_region)
    joined = _join(lon, lat, bad | located.mask, frame, ctx, errors, warnings)
    by_place = located.precision == "place"
    if by_place.any():
        lon, lat = np.where(by_place, located.lon, lon), np.where(by_place, located.lat, lat)
        placing.merge(joined, by_place, _join(lon, lat, ~by_place, frame, ctx, errors, warnings,
                                       column=cols["place"]))
    regional = located.mask & ~by_place
    if regional.any():
        placing.merge(joined, regional, located.codes)
    bad = _rejected(errors, n)
    placing.count_precisions(ctx.places, located, bad)
    rows = pd.DataFrame({
        "record": np.arange(n), "source_id": _blank_to_none(text["source_id"]),
        "occurred_at": when, "precision": precision, "lat": lat, "lon": lon,
        "type": text["type"], "count": count, "direction": direction,
        "description": text["description"], "attributes": _attributes(frame, ctx.columns.extra),
        **joined, "location_precision": located.precision, "place": located.place,
    })
    if "region" in cols:
        _declared_region(rows, frame[cols["region"]], cols["region"], bad | regional, warnings,
                         region_join(ctx.regions).normalise_region)
    if bad.any():
        rows = rows[~bad].reset_index(drop=True)
    rows["count"] = rows["count"].astype(np.int64)
    return rows, errors, warnings


def _rejected(errors: Issues, n: int) -> np.ndarray:
    bad = np.zeros(n, dtype=bool)
    for part in errors.parts:
        bad[part["record"].to_numpy()] = True
    return bad


def _text(values: pd.Series) -> pd.Series:
    return values.astype("str").str.strip()


def _longer(values: pd.Series, limit: int) -> np.ndarray | pd.Series:
    """Return which cells of a text column have more than `limit` characters."""
    array = cells.arrow_text(values)
    if array is None:
        return values.str.len() > limit
    lengths = pc.utf8_length(array)
    if not len(array) or pc.max(lengths).as_py() <= limit:
        return np.zeros(len(values), dtype=bool)  # the usual case: skip the comparison
    return lengths.to_numpy(zero_copy_only=False) > limit


def _blank_to_none(values: pd.Series) -> pd.Series:
    """Return a text column with empty cells as missing values."""
    array = cells.arrow_text(values)
    if array is not None and (not len(array) or pc.min(pc.binary_length(array)).as_py() > 0):
        return values  # no empty cell (the usual case): nothing to replace
    return values.replace("", None)


def _coordinates(frame: pd.DataFrame, ctx: Context, errors: Issues, named: placing.Named):
    """Parse the coordinates; an empty one is an error only on rows no name locates."""
    cols = ctx.columns.fields
    if "lat" not in cols and "location" not in cols:  # located by name only
        column = next(cols[f] for f in placing.NAMED_LOCATION if f in cols)
        errors.add(~named.among(np.ones(len(frame), dtype=bool)), column, frame[column],
                   "no place, sector or state/province to locate the row (and no coordinates)")
        return np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    if "lat" in cols:
        lat = cells.to_float(frame[cols["lat"]])
        lon = cells.to_float(frame[cols["lon"]])
        for name, values in (("lat", lat), ("lon", lon)):
            if np.isfinite(values).all():
                continue  # an empty cell would be NaN: nothing to report for this column
            raw = frame[cols[name]]
            empty = _text(raw) == ""
            label = "latitude" if name == "lat" else "longitude"
            errors.add(empty & ~named.among(empty), cols[name], raw, f"{label} is missing")
            # A number of hundreds of digits (or "inf") parses as infinity: its own reason.
            infinite = np.isinf(values)
            errors.add(~empty & np.isnan(values), cols[name], raw, f"{label} is not a number")
            errors.add(infinite, cols[name], raw, f"{label} is not a finite number")
    else:
        raw = frame[cols["location"]]
        lon, lat = cells.parse_location(raw)
        empty = _text(raw) == ""
        errors.add(empty & ~named.among(empty), cols["location"], raw, "location is missing")
        # Either number may be NaN (not a location) or infinite (hundreds of digits).
        unread = np.isnan(lat) | np.isnan(lon)
        errors.add(~empty & unread, cols["location"], raw,
                   'location is not WKT POINT (lon lat), "lat, lon" or degrees-minutes-seconds')
        errors.add(~unread & ~(np.isfinite(lat) & np.isfinite(lon)), cols["location"], raw,
                   "location has a number too large to be a coordinate")
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


def _join(lon, lat, bad, frame, ctx: Context, errors: Issues, warnings: Issues, *,
          column: str | None = None):
    """Assign regions; detect swapped lat/lon; reject rows outside the area; warn far ones.

    Returns the joined columns (admin1, country, sector, border_mile, border_km, at_border)
    as arrays, one value per row of the block. Issues name `column` (default: the latitude
    or location column; the place column for rows placed at a named place).
    """
    n = len(lon)
    # Column arrays filled in place (a DataFrame's .loc per column costs more than the rest).
    out = {"admin1": np.full(n, None, dtype=object), "country": np.full(n, None, dtype=object),
           "sector": np.full(n, None, dtype=object), "border_mile": np.full(n, np.nan),
           "border_km": np.full(n, np.nan), "at_border": np.zeros(n, dtype=bool)}
    column = column or ctx.columns.fields.get("lat", ctx.columns.fields.get("location"))
    raw = frame[column] if column else pd.Series("", index=frame.index)
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
        messages[outside] = _per_distinct(pd.Series(reason[outside], dtype=object),
                                          lambda r: f"outside the area of interest: {r}")
        # Object dtype: pandas would otherwise convert every row to its Arrow strings.
        # Counted by the join's reason without its distance ("... (1,234 km from the border)").
        errors.add(outside, column, raw, pd.Series(messages, dtype=object),
                   reason=np.where(outside, _without_detail(reason), None))
    limit = ctx.settings.max_border_km
    distance = np.abs(out["border_km"])
    far = in_range & ~outside & (distance > limit)
    if far.any():
        messages = np.full(n, None, dtype=object)
        messages[far] = [f"{d:.0f} km from the border, farther than {limit:g} km"
                         for d in distance[far]]
        (errors if ctx.options.strict else warnings).add(
            far, column, raw, pd.Series(messages, dtype=object),
            reason=f"farther than {limit:g} km from the border")
    # Text columns stay object-typed (a bare array of strings would become pandas' str).
    return {name: pd.Series(values, index=frame.index, dtype=object) if values.dtype == object
            else values for name, values in out.items()}


def _without_detail(reasons: np.ndarray) -> np.ndarray:
    """The join's reasons without their parenthesised detail, per distinct reason."""
    codes, uniques = pd.factorize(reasons)
    table = np.array([str(u).split(" (")[0] for u in uniques] + [None], dtype=object)
    return table[codes]


def _assign(lon, lat, ctx: Context) -> pd.DataFrame:
    joined = region_join(ctx.regions).assign(np.ascontiguousarray(lon, dtype=float),
                                             np.ascontiguousarray(lat, dtype=float),
                                             at_border_m=ctx.settings.at_border_m,
                                             max_border_km=ctx.settings.max_border_km,
                                             aoi_km=ctx.settings.area_km)
    return joined.reset_index(drop=True)


def _put(out: dict[str, np.ndarray], mask: np.ndarray, joined: pd.DataFrame) -> None:
    idx = np.flatnonzero(mask)
    for name, values in out.items():
        values[idx] = joined[name].to_numpy()


def _counts(frame: pd.DataFrame, column: str | None, errors: Issues) -> np.ndarray:
    if column is None:
        return np.ones(len(frame), dtype=np.int64)
    raw = frame[column]
    value = cells.to_float(raw)
    if not np.isfinite(value).all():  # only then can a cell be empty (empty reads as NaN)
        value[(_text(raw) == "").to_numpy()] = 1
    nan = np.isnan(value)  # infinity (hundreds of digits, "inf") is "too large" below
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
    mapped = _per_distinct(raw, _direction)
    unknown = pd.isna(mapped)
    mapped[unknown] = "unknown"
    warnings.add(unknown, column, raw,
                 "direction not recognised (use northbound/southbound, N/S, NB/SB); stored as "
                 "unknown")
    return pd.Series(mapped, index=frame.index, dtype=object)


def _per_distinct(values: pd.Series, function) -> np.ndarray:
    """Return `function` of each cell (object array), calling it once per distinct value.

    Columns have few distinct values: through Arrow's dictionary codes when the column is
    all text, else through a dict of the column's unique values.
    """
    array = cells.arrow_text(values)
    if array is not None:
        encoded = array.dictionary_encode()
        table = np.array([function(v) for v in encoded.dictionary.to_pylist()], dtype=object)
        return table[encoded.indices.to_numpy(zero_copy_only=False)]
    return np.array(values.map({v: function(v) for v in values.unique()}), dtype=object)


def _direction(value) -> str | None:
    """Return the direction a cell names, or None if it names none."""
    return DIRECTION_MAP.get(re.sub(r"\s+", " ", str(value).strip().lower()))


def _attributes(frame: pd.DataFrame, extra: list[str]) -> pd.Series:
    """Return the other columns of each row as a dict of non-empty strings (None if none)."""
    if not extra:
        return pd.Series(None, index=frame.index, dtype=object)
    # Plain lists zipped row by row: ~5x faster than DataFrame.to_dict("records").
    cells = [frame[name].astype("str").tolist() for name in extra]
    out = [{k: v for k, v in zip(extra, row) if v != ""} or None for row in zip(*cells)]
    return pd.Series(out, index=frame.index, dtype=object)


def _declared_region(rows: pd.DataFrame, raw: pd.Series, column: str, bad: np.ndarray,
                     warnings: Issues, normalise=regions.normalise_region) -> None:
    """Check a declared state/province against the computed one (SPEC §5); `normalise` turns
    the declared text into a code (the join's normalise_region)."""
    text = _text(raw)
    codes = _per_distinct(text, lambda v: normalise(v) if v else None)
    declared = pd.Series(codes, index=text.index, dtype=object)
    considered = ~bad & (text != "").to_numpy()
    unknown = considered & pd.isna(codes)
    warnings.add(unknown, column, raw, "declared region not recognised; the computed one is used")
    differs = considered & ~unknown & (codes != rows["admin1"].to_numpy(dtype=object))
    at_border = rows["at_border"].fillna(False).to_numpy(dtype=bool)
    keep = differs & at_border
    if keep.any():
        rows.loc[keep, "admin1"] = declared[keep].to_numpy()
        rows.loc[keep, "country"] = declared[keep].str.slice(0, 2).to_numpy()
    conflict = differs & ~at_border
    if conflict.any():
        # Messages for the conflicting rows only, one per distinct (declared, computed)
        # pair taken back to the rows (a file that declares another state on every row
        # formatted 130k messages a block).
        message = np.full(len(codes), None, dtype=object)
        computed = rows["admin1"].to_numpy(dtype=object)[conflict]
        d_codes, d_values = pd.factorize(codes[conflict])
        c_codes, c_values = pd.factorize(np.where(pd.isna(computed), "", computed))
        # One integer per pair (a MultiIndex of the pairs cost more than the formatting).
        which, pairs = pd.factorize(d_codes * len(c_values) + c_codes)
        texts = np.array([f"declared region {d_values[p // len(c_values)]} disagrees with the "
                          f"location, which is in {c_values[p % len(c_values)] or 'no region'}"
                          for p in pairs.tolist()], dtype=object)
        message[conflict] = texts[which]
        warnings.add(conflict, column, raw, pd.Series(message, dtype=object),
                     reason="declared region disagrees with the location's")
