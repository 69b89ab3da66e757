"""Incident columns as the store keeps them: names, text defaults, counts, UTC times.

Shared by the bulk writers (`bulk`) and the rollups (`rollups`), which must store and count
a row alike; imports nothing else of the package.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


INCIDENT_COLUMNS = (
    "dataset_id", "import_id", "source_id", "occurred_at", "precision", "lat", "lon", "type",
    "count", "direction", "description", "attributes", "admin1", "country", "sector",
    "border_mile", "border_km", "at_border", "row_hash", "row_hash2", "location_precision",
    "place",
)
#: How precisely a row is located (migration 0009): at its coordinates, at a named place
#: (a gazetteer point), or only by Border Patrol sector or state/province (no coordinates).
LOCATION_PRECISIONS = ("point", "place", "sector", "admin1")


def utcnow() -> dt.datetime:
    """Return the current UTC time as a naive datetime (the database stores UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


#: What a text column stores when a row has no value (None: NULL).
TEXT_DEFAULTS = {"source_id": None, "precision": "day", "type": "", "direction": "unknown",
                 "description": "", "admin1": None, "country": None, "sector": None,
                 "location_precision": "point", "place": None}


def stored_text(rows: pd.DataFrame, name: str) -> np.ndarray:
    """Return a text column as stored: objects, a missing value as the column's default."""
    default = TEXT_DEFAULTS[name]
    if name not in rows:
        return np.full(len(rows), default, dtype=object)
    values = rows[name].to_numpy(dtype=object)
    # The Series knows its missing values without a pass over the objects (Arrow strings).
    missing = rows[name].isna().to_numpy()
    return np.where(missing, default, values) if missing.any() else values


def stored_counts(rows: pd.DataFrame) -> np.ndarray:
    """Return the ``count`` column as stored (int64; a missing count is 1)."""
    if "count" not in rows:
        return np.ones(len(rows), dtype=np.int64)
    values = rows["count"]
    if values.notna().all():
        return values.to_numpy().astype(np.int64)
    return np.array([1 if pd.isna(v) else int(v) for v in values.tolist()], dtype=np.int64)
