"""The selection every aggregation counts: a dataset's incidents matching normalised filters."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from .. import db
from ..store import filter_clauses


def clauses(dataset_id: int, filters: dict | None) -> list:
    """Return the WHERE conditions selecting a dataset's incidents that match filters."""
    return [db.incidents.c.dataset_id == dataset_id, *filter_clauses(filters or {})]


def unfiltered(filters: dict | None) -> bool:
    """Say whether filters select every incident of the dataset."""
    return not filter_clauses(filters or {})


def result_frame(result: sa.CursorResult, *, raw: bool = False) -> pd.DataFrame:
    """Return a query's rows as a DataFrame with its column names.

    Column by column from plain tuples: handing pandas the Row objects made it probe each
    row's attributes (a second for 32k grid cells, most of a long series' time layer).
    ``raw``: the driver's own tuples, without SQLAlchemy's Row objects and result processing,
    for queries of plain numbers and text only (a time layer's cells per week: 300k rows
    cost 2.7 s as Rows). A columnar copy's (DuckDB) result is always read as columns.
    """
    names = list(result.keys())
    if result.dialect.name == "duckdb":
        # A columnar copy hands its result over as columns (`fetch_df`): no Python tuple
        # per row (most of a time layer's cost over a small region's fine cells).
        frame = result.cursor.fetch_df()
        result.close()
        frame.columns = names
        return frame
    if raw:
        rows = result.cursor.fetchall()
        result.close()
    else:
        rows = result.fetchall()
    if not rows:
        return pd.DataFrame(columns=names)
    return pd.DataFrame(dict(zip(names, map(list, zip(*rows)))), columns=names)
