"""Incidents for cluster markers: the columns a marker popup shows."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from ..store import incident_frame


def points(conn: sa.Connection, dataset_id: int, filters: dict | None,
           limit: int) -> pd.DataFrame:
    """Return up to limit matching incidents with the columns a marker popup shows."""
    return incident_frame(conn, dataset_id, filters,
                          columns=("occurred_at", "precision", "lat", "lon", "type", "count",
                                   "direction", "description", "admin1", "country", "sector",
                                   "border_mile"),
                          limit=limit)
