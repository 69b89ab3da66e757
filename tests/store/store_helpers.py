"""Incidents the store tests write and read back, and every answer aggregations give of a
dataset (`answers`: from the rollups, the incidents or a columnar copy alike)."""

import datetime as dt

import pandas as pd

from geomap import aggregate, binning, store

D = dt.datetime
#: Filters each rollup grain answers: none, whole months, Monday to Monday, plain days, values.
FILTERS = {
    "none": {},
    "months": {"from": D(2025, 1, 1), "to": D(2025, 3, 1)},
    "weeks": {"from": D(2025, 1, 6), "to": D(2025, 2, 3)},
    "days": {"from": D(2025, 1, 4), "to": D(2025, 2, 11)},
    "type": {"type": ("crossing",)},
    "direction+country": {"direction": ("northbound",), "country": ("US",)},
    "months+type": {"from": D(2024, 12, 1), "to": D(2025, 2, 1), "type": ("sighting",)},
}


def three_incidents(dataset_id, n=3):
    """Return n (at most 3) hashed incidents of the dataset, every column set."""
    frame = pd.DataFrame({
        "dataset_id": dataset_id,
        "source_id": [f"id-{i}" for i in range(n)],
        "occurred_at": pd.to_datetime(["2025-01-05 10:00", "2025-02-01 00:00", "2025-02-03 23:59"][:n]),
        "precision": ["second", "day", "second"][:n],
        "lat": [49.0021, 45.0093, 62.615][:n], "lon": [-122.7566, -73.4525, -141.0013][:n],
        "type": ["apprehension", "sighting", "apprehension"][:n],
        "count": [2, 0, 5][:n], "direction": ["northbound", "southbound", "unknown"][:n],
        "description": ["Line one\nline two", "quote \" and <tag>", "ünïcode"][:n],
        "attributes": [{"Port Code": "0007"}, {}, {"x": 1}][:n],
        "admin1": ["US-WA", "US-NY", "US-AK"][:n], "country": ["US", "US", "US"][:n],
        "sector": ["Blaine", "Swanton", "Blaine"][:n],
        "border_mile": [10.5, 2500.25, 4400.0][:n], "border_km": [-0.02, -0.1, -0.3][:n],
        "at_border": [True, False, False][:n],
    })
    return store.add_row_hashes(frame)


def _frame(frame: pd.DataFrame) -> list:
    frame = frame.astype(object).where(frame.notna(), None)
    return sorted(map(tuple, frame.to_numpy().tolist()), key=repr)


def answers(conn, dataset_id: int) -> dict:
    """Every answer the rollups serve, as plain values."""
    out = {}
    ext = aggregate.extent(conn, dataset_id, None)
    out["extent"] = {k: ext[k] for k in ("n", "total", "lat_min", "lat_max", "lon_min",
                                         "lon_max")}
    for name, filters in FILTERS.items():
        for column in ("admin1", "sector", "type", "direction", "precision",
                       "location_precision", "place"):
            out[name, column] = _frame(aggregate.by_column(conn, dataset_id, filters, column))
        for period in aggregate.PERIODS:
            out[name, period] = _frame(aggregate.by_period(conn, dataset_id, filters, period))
            out[name, "admin1", period] = _frame(
                aggregate.by_column(conn, dataset_id, filters, "admin1", period=period))
        out[name, "span"] = aggregate.span(conn, dataset_id, filters)
        out[name, "extent"] = aggregate.extent(conn, dataset_id, filters)
        out[name, "points"] = _frame(aggregate.points(conn, dataset_id, filters, 1000))
    if ext["n"]:
        cell = 0.2  # a multiple of the time rollup's cell, as for the whole border
        lat0 = binning.grid_origin(ext["lat_min"], cell)
        lon0 = binning.grid_origin(ext["lon_min"], cell)
        for period in aggregate.PERIODS:
            out["grid", period] = _frame(aggregate.grid(
                conn, dataset_id, None, cell=cell, lat0=lat0, lon0=lon0, period=period))
        out["grid", "month", "precision"] = _frame(aggregate.grid(
            conn, dataset_id, None, cell=cell, lat0=lat0, lon0=lon0, period="month",
            precision=True))
    rollup = aggregate.rollup_extent(conn, dataset_id)
    if rollup is not None:
        out["extent"] = {k: rollup[k] for k in out["extent"]}
    return out
