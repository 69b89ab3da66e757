"""Periods and grouping by column or period, read from the day rollup when it can answer.

`period_expr` labels a timestamp with its week, month, quarter or year in SQL (`period_labels`
the same in pandas); `by_column` and `by_period` count a selection per value or per period,
summing the day rollup (`incident_days`) when the dataset has one and the filters' dates are
whole days, else grouping the incidents. Per period, only records known at least that
precisely are counted (`ADMITTED`: a record known by its year is not in January's count);
`by_precision` says how many records each precision holds, `span` when a selection starts
and ends; `regional` counts per period the records known only by sector or state/province
(no coordinates), which the time layer's grid leaves out.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from .. import db, store
from .selection import clauses, result_frame

#: Period -> its label's format (a week is labelled by its Monday; a quarter 'YYYY-Qn').
PERIOD_FORMATS = {"month": "%Y-%m", "week": "%Y-%m-%d", "quarter": "%Y-Q", "year": "%Y"}
#: Periods from the finest; each counts the records whose date is known at least as
#: precisely (`incidents.precision`): a month's count has no record known only by quarter.
PERIODS = ("week", "month", "quarter", "year")
ADMITTED = {"week": ("second", "day"), "month": ("second", "day", "month"),
            "quarter": ("second", "day", "month", "quarter"),
            "year": ("second", "day", "month", "quarter", "year")}


def period_labels(when: pd.Series, period: str) -> pd.Series:
    """Label timestamps with their period as `period_expr` does in SQL (pandas)."""
    check_period(period)
    when = pd.to_datetime(when)
    if period == "quarter":
        return when.dt.strftime("%Y-Q") + ((when.dt.month - 1) // 3 + 1).astype(str)
    if period == "week":
        when = when - pd.to_timedelta(when.dt.day_of_week, unit="D")
    return when.dt.strftime(PERIOD_FORMATS[period])


def period_expr(conn: sa.Connection, period: str, column=None):
    """Return a SQL expression giving 'YYYY-MM' (month) or the ISO week's Monday 'YYYY-MM-DD'.

    Of `column` (a timestamp or date column; default ``incidents.occurred_at``).
    """
    column = db.incidents.c.occurred_at if column is None else column
    check_period(period)
    if conn.dialect.name == "duckdb":  # a dataset's columnar copy (`store.columnar`)
        if period == "quarter":
            return sa.func.strftime(column, "%Y-Q").concat(
                sa.cast(sa.func.quarter(column), sa.String))
        if period == "week":
            column = sa.func.date_trunc("week", column)
        return sa.func.strftime(column, PERIOD_FORMATS[period])
    if conn.dialect.name == "postgresql":
        if period in ("month", "year"):
            return sa.func.to_char(column, "YYYY-MM" if period == "month" else "YYYY")
        if period == "quarter":
            return sa.func.to_char(column, 'YYYY-"Q"Q')
        if isinstance(column.type, sa.Date):
            # date_trunc of a date would go through timestamptz (the session's time zone).
            column = sa.cast(column, sa.DateTime)
        return sa.func.to_char(sa.func.date_trunc("week", column), "YYYY-MM-DD")
    if period in ("month", "year"):
        # SQLite stores DateTime as ISO text ('YYYY-MM-DD HH:MM:SS...'): the prefix is the month
        # and substr is several times faster than strftime over a million rows.
        return sa.func.substr(column, 1, 7 if period == "month" else 4)
    if period == "quarter":
        month = sa.cast(sa.func.substr(column, 6, 2), sa.Integer)
        year = sa.type_coerce(sa.func.substr(column, 1, 4), sa.String)
        return year.concat("-Q").concat(sa.cast((month + 2) // 3, sa.String))
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


def _grain(filters: dict, period: str | None, days_only: bool) -> str | None:
    """Return the coarsest rollup grain that answers: ``m`` (months), ``w`` (weeks) or ``d``
    (days); None when a date bound falls inside a day.

    A grain answers when every date bound starts one of its periods and the grouping does not
    split them: months for no period or month, quarter and year; weeks for none or week.
    """
    bounds = [_whole_day(filters[key]) for key in ("from", "to") if filters.get(key)]
    if any(day is None for day in bounds):
        return None
    if days_only:
        return "d"
    if period in (None, "month", "quarter", "year") and all(day.day == 1 for day in bounds):
        return "m"
    if period in (None, "week") and all(day.weekday() == 0 for day in bounds):
        return "w"
    return "d"


def _rollup_where(conn: sa.Connection, dataset_id: int, filters: dict | None,
                  period: str | None = None, days_only: bool = False):
    """Return (table columns, date column, conditions) on the rollup that selects what
    `filter_clauses` selects, at the coarsest grain that answers (`_grain`): the period
    rollup (`incident_periods`) or the day rollup.

    None when no rollup can answer: the dataset has none (no row in incident_grids, which
    marks every rollup built) or a date bound falls inside a day.
    """
    filters = filters or {}
    grain = _grain(filters, period, days_only)
    if grain is None:
        return None
    if grain == "d":
        cols = db.incident_days.c
        when = cols.day
        where = [cols.dataset_id == dataset_id]
    else:
        cols = db.incident_periods.c
        when = cols.start
        where = [cols.dataset_id == dataset_id, cols.grain == grain]
    for key, compare in (("from", when.__ge__), ("to", when.__lt__)):
        if filters.get(key):
            where.append(compare(_whole_day(filters[key])))
    for key in store.DAY_COLUMNS:
        if filters.get(key):
            where.append(cols[key].in_(list(filters[key])))
    if store.rollup_cell(conn, dataset_id) is None:
        return None
    return cols, when, where


def _counted(conn: sa.Connection, dataset_id: int, filters: dict | None, *, rollup: bool = True,
             period: str | None = None, days_only: bool = False):
    """Return where to count a selection: (columns, date column, n, total, conditions).

    A rollup when one can answer (sums of its counts; `_rollup_where`) and `rollup` allows
    it, else the incidents themselves. Per `period`, only the records it admits
    (`ADMITTED`). ``days_only``: dates must be exact days (the selection's first and last).
    """
    found = (_rollup_where(conn, dataset_id, filters, period, days_only) if rollup
             else None)
    if found is not None:
        d, when, where = found
        out = (d, when, sa.cast(sa.func.sum(d.n), sa.BigInteger),
               sa.cast(sa.func.coalesce(sa.func.sum(d.total), 0), sa.BigInteger), where)
    else:
        c = db.incidents.c
        out = (c, c.occurred_at, sa.func.count(), sa.func.coalesce(sa.func.sum(c["count"]), 0),
               clauses(dataset_id, filters))
    if period and period != "year":
        out[4].append(out[0].precision.in_(ADMITTED[period]))
    return out


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
                                           rollup=column in store.DAY_COLUMNS, period=period)
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
    """Count incidents per week, month, quarter or year: columns ``period``, ``n``, ``total``
    (oldest first), of the records known at least that precisely (`ADMITTED`; `coarser`
    counts the others)."""
    _cols, when, n, total, where = _counted(conn, dataset_id, filters, period=period)
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


def by_precision(conn: sa.Connection, dataset_id: int, filters: dict | None) -> dict[str, tuple]:
    """Return how many records (n, total) of a selection each date precision holds."""
    frame = by_column(conn, dataset_id, filters, "precision")
    return {str(k): (int(n), int(t)) for k, n, t in zip(frame["key"], frame["n"], frame["total"])}


def coarser(precisions: dict[str, tuple], period: str) -> tuple[int, int, list[str]]:
    """Return the records (n, total) known only at a coarser period than `period`, and
    those precisions (finest first), from `by_precision`'s answer."""
    check_period(period)
    names = [p for p in ("month", "quarter", "year") if p not in ADMITTED[period]
             and precisions.get(p, (0, 0))[0]]
    return (sum(precisions[p][0] for p in names), sum(precisions[p][1] for p in names), names)


def regional(conn: sa.Connection, dataset_id: int, filters: dict | None, period: str = "month",
             *, precision: bool = False) -> pd.DataFrame:
    """Count per period a selection's records known only by sector or state/province.

    The rows `grid.grid` leaves out (``lat`` NULL), with the same filters and the same
    precision rule (`ADMITTED`), so the time layer can say how many of each frame's records
    it does not draw.

    Parameters
    ----------
    period : {"week", "month", "quarter", "year"}
    precision : bool
        Also group by the date's precision and count every record (monthly counts that
        `grid.relabel` turns into quarters and years without another query).

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, ``precision`` when asked for, ``n``, ``total``.
    """
    c = db.incidents.c
    keys = [period_expr(conn, period).label("period")]
    where = clauses(dataset_id, filters)
    if precision:
        keys.append(c.precision.label("precision"))
    elif period != "year":
        where.append(c.precision.in_(ADMITTED[period]))
    query = (sa.select(*keys, sa.func.count().label("n"),
                       sa.func.coalesce(sa.func.sum(c["count"]), 0).label("total"))
             .where(*where, c.lat.is_(None)).group_by(*keys))
    frame = result_frame(conn.execute(query))
    columns = ["period"] + (["precision"] if precision else [])
    if frame.empty:
        return pd.DataFrame({**{k: pd.Series(dtype=str) for k in columns},
                             "n": pd.Series(dtype="int64"), "total": pd.Series(dtype="int64")})
    for col in columns:
        frame[col] = frame[col].astype(str)
    frame["n"] = frame["n"].astype("int64")
    frame["total"] = frame["total"].astype("int64")
    return frame[columns + ["n", "total"]]


def span(conn: sa.Connection, dataset_id: int, filters: dict | None
         ) -> tuple[dt.date | None, dt.date | None]:
    """Return the first and last day of a selection (None, None when it is empty)."""
    _cols, when, _n, _total, where = _counted(conn, dataset_id, filters, days_only=True)
    row = conn.execute(sa.select(sa.func.min(when), sa.func.max(when)).where(*where)).one()
    first, last = (pd.Timestamp(v).date() if v is not None else None for v in row)
    return first, last
