"""Small fixtures for map tests: region layers in memory, a seeded dataset, and rendering a
frame to a map document and reading a layer's payload back from it."""

from __future__ import annotations

import datetime as dt
import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, box

from geomap import db, maps, store


def display_layers() -> maps.DisplayLayers:
    """Two boxes either side of a straight 'border' at 49N, with two sectors and segments."""
    admin1 = gpd.GeoDataFrame(
        {"code": ["US-WA", "CA-BC", "US-MT"], "name": ["Washington", "British Columbia",
                                                      "Montana"],
         "country": ["US", "CA", "US"]},
        geometry=[box(-125, 45.5, -117, 49), box(-125, 49, -114, 53), box(-117, 45, -104, 49)],
        crs="EPSG:4326")
    sectors = gpd.GeoDataFrame(
        {"code": ["BLW", "SPW"], "name": ["Blaine", "Spokane"], "country": ["US", "US"]},
        geometry=[box(-125, 45.5, -120, 49), box(-120, 45.5, -114, 49)], crs="EPSG:4326")
    border = gpd.GeoDataFrame({"name": ["border"]}, geometry=[LineString([(-125, 49),
                                                                          (-104, 49)])],
                              crs="EPSG:4326")
    edges = np.linspace(-125, -104, 8)
    segments = gpd.GeoDataFrame(
        {"code": [f"L48-{k:03d}" for k in range(1, 8)],
         "name": [f"Border miles {k * 100}–{k * 100 + 100}" for k in range(7)],
         "mile_from": np.arange(7) * 100.0, "mile_to": np.arange(1, 8) * 100.0},
        geometry=[LineString([(a, 49), (b, 49)]) for a, b in zip(edges[:-1], edges[1:])],
        crs="EPSG:4326")
    return maps.DisplayLayers(admin1=admin1, sector=sectors, border=border,
                              border_segment=segments)


def incident_rows(n: int = 60, seed: int = 7, dataset_id: int = 1, **overrides) -> pd.DataFrame:
    """n incidents near Blaine and Sumas over three months of 2025."""
    rng = np.random.default_rng(seed)
    lat = 48.9 + rng.uniform(-0.05, 0.2, n)
    lon = -122.7 + rng.uniform(-0.3, 0.5, n)
    frame = pd.DataFrame({
        "dataset_id": dataset_id,
        "occurred_at": [dt.datetime(2025, 1 + int(i % 3), 1 + int(i % 27)) for i in range(n)],
        "lat": lat, "lon": lon,
        "type": np.where(np.arange(n) % 2 == 0, "crossing", "apprehension"),
        "count": rng.integers(1, 5, n),
        "direction": np.where(np.arange(n) % 3 == 0, "southbound", "northbound"),
        "description": "seen near the line",
        "admin1": np.where(lat >= 49, "CA-BC", "US-WA"),
        "country": np.where(lat >= 49, "CA", "US"),
        "sector": "BLW",
        "border_mile": rng.uniform(0, 150, n),
        "border_km": (lat - 49) * 111,
        "row_hash": np.arange(n) + seed * 10**6, "row_hash2": seed,
    })
    for key, value in overrides.items():
        frame[key] = value
    return frame


def mixed_precision_rows() -> pd.DataFrame:
    """Points in January and March 2024; records known only by sector or state in January,
    February (a month with no point) and March, and one known only by its year."""
    return pd.DataFrame({
        "occurred_at": pd.to_datetime(["2024-01-03", "2024-01-20", "2024-03-05", "2024-01-01",
                                       "2024-02-01", "2024-03-01", "2024-01-01"]),
        "precision": ["day", "day", "day", "month", "month", "month", "year"],
        "lat": [48.95, 49.05, 48.97, np.nan, np.nan, np.nan, np.nan],
        "lon": [-122.7, -122.6, -122.65, np.nan, np.nan, np.nan, np.nan],
        "count": [5, 7, 3, 100, 200, 40, 1000],
        "location_precision": ["point"] * 3 + ["sector", "sector", "admin1", "sector"],
        "sector": ["BLW", "BLW", "BLW", "BLW", "SWB", None, "BLW"],
        "admin1": ["US-WA", "CA-BC", "US-WA", None, None, "US-MT", None],
        "country": ["US", "CA", "US", "US", "US", "US", "US"],
        "type": "crossing", "direction": "northbound", "description": "",
        "border_mile": [10.0, 11.0, 12.0, np.nan, np.nan, np.nan, np.nan],
        "border_km": [0.1, 0.2, 0.3, np.nan, np.nan, np.nan, np.nan]})


def seed_dataset(app, slug: str = "wa-bc", *, published: bool = True, n: int = 60,
                 frame: pd.DataFrame | None = None, **fields) -> dict:
    """Create a dataset with incidents; return the dataset row."""
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        row = store.create_dataset(conn, slug, fields.pop("title", "WA–BC crossings"),
                                   published=published, **fields)
        rows = frame if frame is not None else incident_rows(n, dataset_id=row["id"])
        rows = rows.assign(dataset_id=row["id"])
        store.insert_incidents(conn, rows)
    return row


def add_incidents(app, dataset: dict, frame: pd.DataFrame) -> None:
    """Append incidents and bump the dataset version (as an import does)."""
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        store.insert_incidents(conn, frame.assign(dataset_id=dataset["id"]))
        store.bump_version(conn, dataset["id"])


EVIL = "</script><script>alert('x')</script><img src=x onerror=alert(1)>`${alert(2)}`\u2028"


def map_payload(html: str, fn: str) -> dict:
    """Return the JSON a map document passes to ``GeomapLayers.<fn>``."""
    match = re.search(r"GeomapLayers\." + fn + r"\(map_\w+, (.*)\);\n", html)
    assert match, f"no {fn} call in the map script"
    return json.loads(match.group(1))


def map_frame(n=200, **overrides):
    """n incidents (`incident_rows`), 200 by default."""
    return incident_rows(n, **overrides)


def map_html(frame, layers=None, **spec):
    """Render frame as a standalone map document (`maps.render_map`) over `display_layers`."""
    return maps.render_map(frame, maps.MapSpec(**spec), layers or display_layers())
