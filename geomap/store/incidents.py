"""Incident queries: a dataset's incidents as a frame, filters as SQL, count, delete."""

from __future__ import annotations

from typing import Iterable

import pandas as pd
import sqlalchemy as sa

from .. import db
from .columns import INCIDENT_COLUMNS


def incident_frame(conn: sa.Connection, dataset_id: int,
                   filters: dict | None = None, columns: Iterable[str] | None = None,
                   limit: int | None = None, offset: int = 0) -> pd.DataFrame:
    """Return the dataset's incidents matching filters as a DataFrame (oldest first)."""
    cols = [db.incidents.c[name] for name in (columns or INCIDENT_COLUMNS[2:])]
    query = (sa.select(db.incidents.c.id, *cols)
             .where(db.incidents.c.dataset_id == dataset_id,
                    *filter_clauses(filters or {}))
             .order_by(db.incidents.c.occurred_at, db.incidents.c.id))
    if limit is not None:
        query = query.limit(limit).offset(offset)
    result = conn.execute(query)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    if "occurred_at" in frame:
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"])
    return frame


def filter_clauses(filters: dict) -> list:
    """Translate normalised filters (see maps/web) into SQL conditions."""
    c = db.incidents.c
    clauses = []
    if filters.get("from"):
        clauses.append(c.occurred_at >= filters["from"])
    if filters.get("to"):
        clauses.append(c.occurred_at < filters["to"])
    for key, column in (("type", c.type), ("direction", c.direction), ("country", c.country),
                        ("admin1", c.admin1), ("sector", c.sector)):
        values = filters.get(key)
        if values:
            clauses.append(column.in_(list(values)))
    if filters.get("located"):  # set by callers that draw points, never from a query
        clauses.append(c.lat.isnot(None))
    return clauses


def count_incidents(conn: sa.Connection, dataset_id: int, filters: dict | None = None) -> int:
    """Return the number of incidents matching filters."""
    return conn.execute(sa.select(sa.func.count()).select_from(db.incidents).where(
        db.incidents.c.dataset_id == dataset_id, *filter_clauses(filters or {}))).scalar_one()


def delete_incidents(conn: sa.Connection, dataset_id: int) -> int:
    """Delete all of a dataset's incidents; return how many there were."""
    return conn.execute(sa.delete(db.incidents)
                        .where(db.incidents.c.dataset_id == dataset_id)).rowcount
