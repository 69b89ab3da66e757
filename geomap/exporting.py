"""Exports of a dataset's incidents: CSV (formula-safe), GeoJSON and GeoPackage, in pages.

Used by ``flask export`` and the download endpoints. Never imports Flask.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import jsontext, store
from .csv_output import LINE_END, safe_csv
from .errors import BadRequest

FORMATS = ("csv", "geojson", "gpkg")
COLUMNS = ("source_id", "occurred_at", "precision", "lat", "lon", "type", "count", "direction",
           "description", "admin1", "country", "sector", "border_mile", "border_km",
           "at_border", "location_precision", "place", "attributes")
PAGE = 20_000


def _frames(conn: sa.Connection, dataset_id: int, filters: dict | None, limit: int | None,
            offset: int) -> Iterator[pd.DataFrame]:
    """Yield the selected incidents in pages of `PAGE` rows (oldest first)."""
    done = 0
    while limit is None or done < limit:
        size = PAGE if limit is None else min(PAGE, limit - done)
        frame = store.incident_frame(conn, dataset_id, filters, columns=COLUMNS,
                                     limit=size, offset=offset + done)
        if frame.empty:
            return
        yield frame
        done += len(frame)
        if len(frame) < size:
            return


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Format a page of incidents for output: ISO dates, JSON attributes, rounded measures."""
    out = frame.rename(columns={"id": "id"}).copy()
    out["occurred_at"] = _iso(out["occurred_at"], out["precision"])
    out["attributes"] = out["attributes"].map(
        lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True) if isinstance(v, dict) else "")
    for column in ("border_mile", "border_km"):
        out[column] = pd.to_numeric(out[column], errors="coerce").round(3)
    out["at_border"] = out["at_border"].astype(bool)
    return out


def _iso(when: pd.Series, precision: pd.Series) -> pd.Series:
    """Each date as precisely as it is known: 2025, 2025-Q1, 2025-03, 2025-03-01 or a UTC
    timestamp (forms the import reads back with the same precision)."""
    when = pd.to_datetime(when)
    quarter = when.dt.strftime("%Y-Q") + ((when.dt.month - 1) // 3 + 1).astype(str)
    return pd.Series(np.select(
        [precision == "year", precision == "quarter", precision == "month",
         precision == "day"],
        [when.dt.strftime("%Y"), quarter, when.dt.strftime("%Y-%m"),
         when.dt.strftime("%Y-%m-%d")],
        when.dt.strftime("%Y-%m-%dT%H:%M:%SZ")), index=when.index)


def csv_chunks(frames: Iterator[pd.DataFrame]) -> Iterator[str]:
    """Yield CSV text (header first) with spreadsheet formulas neutralised."""
    header = True
    for frame in frames:
        yield safe_csv(_tidy(frame), header=header)
        header = False
    if header:
        yield ",".join(("id",) + COLUMNS) + LINE_END


def geojson_chunks(frames: Iterator[pd.DataFrame], meta: dict | None = None) -> Iterator[str]:
    """Yield a GeoJSON FeatureCollection, one page of features at a time."""
    head = {"type": "FeatureCollection"}
    if meta:
        head.update(meta)
    text = json.dumps(head, ensure_ascii=False)
    yield text[:-1] + ', "features": ['
    first = True
    for frame in frames:
        tidy = _tidy(frame)
        parts = []
        for rec in tidy.to_dict("records"):
            lon, lat = rec.pop("lon"), rec.pop("lat")
            attrs = rec.pop("attributes")
            rec["attributes"] = json.loads(attrs) if attrs else None
            props = rec
            # Rows known only by sector or state/province have no geometry (RFC 7946 null).
            located = lon is not None and lat is not None and not (pd.isna(lon) or pd.isna(lat))
            geometry = {"type": "Point", "coordinates": [lon, lat]} if located else None
            parts.append(json.dumps({"type": "Feature", "geometry": geometry, "properties":
                jsontext.plain(props)}, ensure_ascii=False))
        if parts:
            yield ("" if first else ",") + ",".join(parts)
            first = False
    yield "]}"


def stream(conn: sa.Connection, slug: str, fmt: str, *, filters: dict | None = None,
           published_only: bool = True, limit: int | None = None,
           offset: int = 0) -> Iterator[str]:
    """Yield a dataset's incidents as CSV or GeoJSON text.

    Raises
    ------
    geomap.errors.NotFound
        No such (published) dataset.
    geomap.errors.BadRequest
        An unsupported format.
    """
    dataset = store.get_dataset(conn, slug, published_only=published_only)
    frames = _frames(conn, dataset["id"], filters, limit, offset)
    if fmt == "csv":
        return csv_chunks(frames)
    if fmt == "geojson":
        meta = {"dataset": slug, "title": dataset["title"], "source": dataset["source"],
                "license": dataset["license"], "version": dataset["version"]}
        return geojson_chunks(frames, meta)
    raise BadRequest(f"format must be csv or geojson for streaming, got {fmt!r}")


def write_file(conn: sa.Connection, slug: str, fmt: str, path: Path) -> int:
    """Write a dataset's incidents (drafts included) to a file; return how many."""
    if fmt in ("csv", "geojson"):
        n = 0
        dataset = store.get_dataset(conn, slug)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            for chunk in stream(conn, slug, fmt, published_only=False):
                handle.write(chunk)
        n = store.count_incidents(conn, dataset["id"])
        return n
    if fmt != "gpkg":
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    import geopandas as gpd

    dataset = store.get_dataset(conn, slug)
    frames = [_tidy(f) for f in _frames(conn, dataset["id"], None, None, 0)]
    frame = pd.concat(frames, ignore_index=True) if frames else _tidy(
        pd.DataFrame(columns=["id", *COLUMNS]))
    lon, lat = frame["lon"].astype(float), frame["lat"].astype(float)
    points = gpd.points_from_xy(lon, lat)
    located = (lon.notna() & lat.notna()).to_numpy()
    geo = gpd.GeoDataFrame(frame.drop(columns=["lat", "lon"]),
                           geometry=gpd.GeoSeries(np.where(located, points, None)),
                           crs="EPSG:4326")
    geo.to_file(path, layer="incidents", driver="GPKG")
    return len(geo)
