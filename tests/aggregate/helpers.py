"""Selections and incidents the aggregate tests share."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from maps_fixtures import incident_rows

FILTERS = [
    {},
    {"from": dt.datetime(2025, 2, 1)},
    {"from": dt.datetime(2025, 1, 10), "to": dt.datetime(2025, 3, 2)},
    {"admin1": ("US-WA",)},
    {"sector": ("BLW", "SWB"), "type": ("crossing",)},
    {"direction": ("southbound", "unknown"), "country": ("CA",)},
    {"to": dt.datetime(2025, 2, 15), "admin1": ("CA-BC", "US-WA"), "sector": ("BLW",)},
    {"admin1": ("US-NY",)},  # selects nothing
]


def rows(dataset_id: int) -> pd.DataFrame:
    """Incidents at all hours, some without a region, type or direction."""
    frame = incident_rows(400, seed=5, dataset_id=dataset_id)
    rng = np.random.default_rng(11)
    frame["occurred_at"] = frame["occurred_at"] + pd.to_timedelta(
        rng.integers(0, 24 * 3600, len(frame)), unit="s")
    frame.loc[frame.index % 7 == 0, ["admin1", "country", "sector"]] = None
    frame.loc[frame.index % 11 == 0, "type"] = None
    frame.loc[frame.index % 13 == 0, "direction"] = None
    frame.loc[frame.index % 5 == 0, "sector"] = "SWB"
    return frame
