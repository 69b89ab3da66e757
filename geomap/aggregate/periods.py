"""Periods and grouping by column or period, read from the day rollup when it can answer.

`period_expr` labels a timestamp with its month or week in SQL; `by_column` and `by_period`
count a selection per value or per period, summing the day rollup (`incident_days`) when the
dataset has one and the filters' dates are whole days, else grouping the incidents.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from .. import db, store
from .selection import clauses, result_frame

#: Period -> its label's format (a week is labelled by its Monday).
PERIOD_FORMATS = {"month": "%Y-%m", "week": "%Y-%m-%d"}


def period_expr(conn: sa.Connection, period: str, column=None):
    """Return a SQL expression giving 'YYYY-MM' (month) or the ISO week's Monday 'YYYY-MM-DD'.

    Of `column` (a timestamp or date column; default ``incidents.occurred_at``).
    """
    column = db.incidents.c.occurred_at if column is None else column
    check_period(period)
    if conn.dialect.name == "postgresql":
        if period == "month":
            return sa.func.to_char(column, "YYYY-MM")
        if isinstance(column.type, sa.Date):
            # date_trunc of a date would go through timestamptz (the session's time zone).
            column = sa.cast(column, sa.DateTime)
        return sa.func.to_char(sa.func.date_trunc("week", column), "YYYY-MM-DD")
    if period == "month":
        # SQLite stores DateTime as ISO text ('YYYY-MM-DD HH:MM:SS...'): the prefix is the month
        # and substr is several times faster than strftime over a million rows.
        return sa.func.substr(column, 1, 7)
    # Monday on or before the date: step back six days, then forward to the next Monday.
    return sa.func.date(column, "-6 days", "weekday 1")


def check_period(period: str) -> None:
    """Raise ValueError unless period is one of `PERIOD_FORMATS`."""
    if period not in PERIOD_FORMATS:
        raise ValueError(f"period must be one of {tuple(PERIOD_FORMATS)}, got {period!r}")


def _whole_day(value) -> dt.date | None:
    """Return the day a filter bound starts, or None if it falls inside a day."""
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time(0) and value.tzinfo is None else None
    return value if isinstance(value, dt.date) else None


def _day_rollup_where(conn: sa.Connection, dataset_id: int, filters: dict | None) -> list | None:
    """Return conditions on the day rollup selecting what `filter_clauses` selects.

    None when the rollup cannot answer: the dataset has none (no row in incident_grids, which
    marks both rollups built) or a date bound falls inside a day.
    """
    filters = filters or {}
    d = db.incident_days.c
    where = [d.dataset_id == dataset_id]
    for key, compare in (("from", d.day.__ge__), ("to", d.day.__lt__)):
        if filters.get(key):
            day = _whole_day(filters[key])
            if day is None:
                return None
            where.append(compare(day))
    for key in store.DAY_COLUMNS:
        if filters.get(key):
            where.append(d[key].in_(list(filters[key])))
    return where if store.rollup_cell(conn, dataset_id) is not None else None


def _counted(conn: sa.Connection, dataset_id: int, filters: dict | None, *, rollup: bool = True):
    """Return where to count a selection: (columns, date column, n, total, conditions).

    The day rollup when it can answer (sums of its counts) and `rollup` allows it, else the
    incidents themselves.
    """
    where = _day_rollup_where(conn, dataset_id, filters) if rollup else None
    if where is not None:
        d = db.incident_days.c
        return (d, d.day, sa.cast(sa.func.sum(d.n), sa.BigInteger),
                sa.cast(sa.func.coalesce(sa.func.sum(d.total), 0), sa.BigInteger), where)
    c = db.incidents.c
    return (c, c.occurred_at, sa.func.count(), sa.func.coalesce(sa.func.sum(c["count"]), 0),
            clauses(dataset_id, filters))


def by_column(conn: sa.Connection, dataset_id: int, filters: dict | None, column: str,
              *, period: str | None = None) -> pd.DataFrame:
    """Count incidents per value of column (``admin1``, ``sector``, ``type``...), optionally per period.

    Read from the day rollup for the columns it holds (`store.DAY_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        Columns ``key`` (None for rows without a value), ``period`` when asked for, ``n``, ``total``.
    """
    cols, when, n, total, where = _counted(conn, dataset_id, filters,
                                           rollup=column in store.DAY_COLUMNS)
    keys = [cols[column].label("key")]
    if period:
        keys.append(period_expr(conn, period, when).label("period"))
    query = (sa.select(*keys, n.label("n"), total.label("total"))
             .where(*where).group_by(*keys).order_by(*keys))
    frame = result_frame(conn.execute(query))
    if frame.empty:
        return pd.DataFrame({"key": pd.Series(dtype=object),
                             **({"period": pd.Series(dtype=str)} if period else {}),
                             "n": pd.Series(dtype="int64"), "total": pd.Series(dtype="int64")})
    frame["n"] = frame["n"].astype("int64")
    frame["total"] = frame["total"].astype("int64")
    return frame


def by_period(conn: sa.Connection, dataset_id: int, filters: dict | None,
              period: str = "month") -> pd.DataFrame:
    """Count incidents per month or week: columns ``period``, ``n``, ``total`` (oldest first)."""
    _cols, when, n, total, where = _counted(conn, dataset_id, filters)
    key = period_expr(conn, period, when).label("period")
    query = (sa.select(key, n.label("n"), total.label("total"))
             .where(*where).group_by(key).order_by(key))
    frame = result_frame(conn.execute(query))
    if frame.empty:
        return pd.DataFrame({"period": pd.Series(dtype=str), "n": pd.Series(dtype="int64"),
                             "total": pd.Series(dtype="int64")})
    frame["period"] = frame["period"].astype(str)
    frame["n"] = frame["n"].astype("int64")
    frame["total"] = frame["total"].astype("int64")
    return frame
