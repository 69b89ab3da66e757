"""Counts per stored border segment, binned exactly by border mile in SQL and in numpy.

Border segments are the stored ``border_segments`` layer, turned by `segment_steps` into a
step function of border mile (`SegmentSteps`); `segment_rows` bins incidents by it in numpy
and `by_border_segment` in SQL (a CASE binary search), with the same bins, and
`by_border_segment_frame` counts an incident DataFrame as `by_border_segment` counts the
stored ones. The SQL works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .. import db
from .selection import clauses, result_frame


#: Segment ends are stored to 0.001 mile, so the line's own ends (where `regions.border_position`
#: puts points beyond them) can measure up to half that outside their segment's stored end.
SEGMENT_SLACK_MILES = 0.001


@dataclass(frozen=True)
class _Join:
    """Two parts of the border meeting at one mile: the nearer end point picks the segment."""

    first: int              # ends at the join; taken when a * lon + b * lat < c
    second: int             # starts at the join; taken otherwise
    a: float
    b: float
    c: float


@dataclass(frozen=True, eq=False)
class SegmentSteps:
    """Stored border segments as a step function of border mile (see `segment_steps`)."""

    table: pd.DataFrame     # code, name, mile_from, mile_to; one row per segment, mile order
    cuts: np.ndarray        # ascending border miles
    labels: tuple           # per [cuts[j], cuts[j + 1]): a row of table, None or a _Join


def _part(code: str) -> str:
    return code.rsplit("-", 1)[0] if "-" in code else ""


def _ends(segments, first: int, second: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the end point of segment first and the start point of second, if both have one."""
    import shapely

    if "geometry" not in segments:
        return None
    geoms = segments["geometry"].to_numpy()
    a, b = geoms[first], geoms[second]
    if a is None or b is None or a.is_empty or b.is_empty:
        return None
    return shapely.get_coordinates(a)[-1], shapely.get_coordinates(b)[0]


def segment_steps(segments: pd.DataFrame) -> SegmentSteps:
    """Turn the ``border_segments`` layer into the step function every count bins by.

    Parameters
    ----------
    segments : pandas.DataFrame or geopandas.GeoDataFrame
        Columns ``code`` (``L48-001``: the part before the last ``-`` names the part of the
        border), ``mile_from``, ``mile_to``, optionally ``name`` and ``geometry``.

    Returns
    -------
    SegmentSteps
        A mile belongs to the segment with ``mile_from <= mile < mile_to``. A mile within
        `SEGMENT_SLACK_MILES` before the first or after the last segment of a run (a part's
        ends, or either side of a gap) belongs to that end segment. Where two parts meet at
        one mile (the lower 48's Atlantic end and Alaska's start at Dixon Entrance have the
        same mile), a mile within the slack of the join goes to whichever of the two
        segments' end points is nearer (in degrees) to the incident. Any other mile, and no
        mile, belongs to no segment.

    Raises
    ------
    ValueError
        When there are no segments, a column is missing, or segments are empty or overlap.
    """
    missing = {"code", "mile_from", "mile_to"} - set(segments.columns)
    if missing or not len(segments):
        raise ValueError("the border segments layer is empty or lacks columns "
                         + ", ".join(sorted(missing)))
    order = np.argsort(segments["mile_from"].to_numpy(dtype=float), kind="stable")
    segments = segments.iloc[order].reset_index(drop=True)
    lo = segments["mile_from"].to_numpy(dtype=float)
    hi = segments["mile_to"].to_numpy(dtype=float)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (lo < hi).all()):
        raise ValueError("border segments need finite miles with mile_from < mile_to")
    if (lo[1:] < hi[:-1]).any():
        raise ValueError("border segments overlap")
    codes = [str(code) for code in segments["code"]]
    names = (list(segments["name"]) if "name" in segments else
             [f"Border miles {a:,.0f}–{b:,.0f}" for a, b in zip(lo, hi)])
    table = pd.DataFrame({"code": pd.Series(codes, dtype=object),
                          "name": pd.Series(names, dtype=object),
                          "mile_from": lo, "mile_to": hi})
    slack = SEGMENT_SLACK_MILES
    # Zones that extend or override the segments' own [mile_from, mile_to).
    joins: list[tuple[float, float, _Join]] = []
    edges: list[tuple[float, float, int]] = [(lo[0] - slack, lo[0], 0),
                                             (hi[-1], hi[-1] + slack, len(lo) - 1)]
    for i in range(len(lo) - 1):
        if hi[i] == lo[i + 1]:
            ends = _ends(segments, i, i + 1) if _part(codes[i]) != _part(codes[i + 1]) else None
            if ends is not None:
                p, q = ends
                # Nearer to p than to q: |x - p|^2 < |x - q|^2, a half-plane in lon/lat.
                joins.append((hi[i] - slack, hi[i] + slack,
                              _Join(i, i + 1, *map(float, 2 * (q - p)), float(q @ q - p @ p))))
            continue
        middle = (hi[i] + lo[i + 1]) / 2
        edges.append((hi[i], min(hi[i] + slack, middle), i))
        edges.append((max(lo[i + 1] - slack, middle), lo[i + 1], i + 1))
    points = np.unique(np.concatenate([lo, hi, [z for zone in joins + edges
                                                 for z in zone[:2]]]))
    labels: list = []
    for x in (points[:-1] + points[1:]) / 2:
        label = next((j for a, b, j in joins if a <= x < b), None)
        if label is None:
            k = int(np.searchsorted(lo, x, side="right")) - 1
            label = k if k >= 0 and x < hi[k] else None
        if label is None:
            label = next((k for a, b, k in edges if a <= x < b), None)
        labels.append(label)
    keep = [0] + [j for j in range(1, len(labels)) if labels[j] != labels[j - 1]]
    cuts = np.append(points[keep], points[-1])
    return SegmentSteps(table, cuts, tuple(labels[j] for j in keep))


def segment_rows(steps: SegmentSteps, mile, lon, lat) -> np.ndarray:
    """Return each incident's row of ``steps.table`` (-1: no segment); numpy twin of the SQL.

    Parameters
    ----------
    steps : SegmentSteps
    mile, lon, lat : array_like
        Border miles (NaN for none) and coordinates of the incidents.

    Returns
    -------
    numpy.ndarray of int64
    """
    mile = np.asarray(mile, dtype=float)
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    step = np.searchsorted(steps.cuts, mile, side="right") - 1
    inside = (step >= 0) & (step < len(steps.labels)) & ~np.isnan(mile)
    plain = np.asarray([label if isinstance(label, int) else -1 for label in steps.labels]
                       + [-1], dtype=np.int64)
    rows = np.where(inside, plain[np.where(inside, step, -1)], -1)
    for j, label in enumerate(steps.labels):
        if isinstance(label, _Join):
            here = inside & (step == j)
            first = label.a * lon[here] + label.b * lat[here] < label.c
            rows[here] = np.where(first, label.first, label.second)
    return rows


def _segment_sql(steps: SegmentSteps, mile, lon, lat):
    """Return a SQL expression giving what `segment_rows` gives: a binary search in CASEs."""
    def value(x: float):
        return sa.literal(float(x), sa.Float)

    def row(label):
        if isinstance(label, _Join):
            return sa.case((value(label.a) * lon + value(label.b) * lat < value(label.c),
                            sa.literal_column(str(label.first))),
                           else_=sa.literal_column(str(label.second)))
        return sa.literal_column(str(-1 if label is None else int(label)))

    def search(low: int, high: int):
        # cuts[low] <= mile < cuts[high]: about log2(segments) comparisons per incident.
        if high - low == 1:
            return row(steps.labels[low])
        middle = (low + high) // 2
        return sa.case((mile < value(steps.cuts[middle]), search(low, middle)),
                       else_=search(middle, high))

    cuts = steps.cuts
    return sa.case((sa.and_(mile >= value(cuts[0]), mile < value(cuts[-1])),
                    search(0, len(cuts) - 1)), else_=sa.literal_column("-1"))


def _segment_counts(steps: SegmentSteps, rows, n, total) -> pd.DataFrame:
    """Put counts per row of steps.table (row -1: no segment) into the result frame."""
    rows = np.asarray(rows, dtype=np.int64)
    n, total = np.asarray(n, dtype=float), np.asarray(total, dtype=float)
    size = len(steps.table) + 1
    out = steps.table.assign(
        n=np.bincount(rows + 1, weights=n, minlength=size)[1:].astype(np.int64),
        total=np.bincount(rows + 1, weights=total, minlength=size)[1:].astype(np.int64))
    outside = rows == -1
    if outside.any():
        rest = pd.DataFrame({"code": [None], "name": [None], "mile_from": [np.nan],
                             "mile_to": [np.nan], "n": [int(np.sum(n[outside]))],
                             "total": [int(np.sum(total[outside]))]})
        out = pd.concat([out, rest.astype(out.dtypes.to_dict())], ignore_index=True)
    return out


def by_border_segment(conn: sa.Connection, dataset_id: int, filters: dict | None,
                      segments: pd.DataFrame | SegmentSteps) -> pd.DataFrame:
    """Count matching incidents per stored border segment, exactly by each one's border mile.

    Binned in SQL (a CASE binary search over the segments' stored ends), so any number of
    incidents returns at most one row per segment.

    Parameters
    ----------
    segments : pandas.DataFrame or SegmentSteps
        The ``border_segments`` layer; see `segment_steps` for which mile goes where.

    Returns
    -------
    pandas.DataFrame
        Columns ``code``, ``name``, ``mile_from``, ``mile_to``, ``n``, ``total``: every segment
        in mile order (zeros included), then, when any match, one row with ``code`` None for
        incidents in no segment (no border mile, or beyond the segments) so totals add up.
    """
    steps = segments if isinstance(segments, SegmentSteps) else segment_steps(segments)
    c = db.incidents.c
    if conn.dialect.name == "postgresql":
        # PostgreSQL's JIT compiles the CASE (hundreds of branches) for a large table, which
        # took longer than running it: 2.8 s of a 3.2 s query at 5M incidents. For the rest
        # of this transaction only.
        conn.exec_driver_sql("SET LOCAL jit = off")
    # Grouped by an outer query: PostgreSQL would not match a GROUP BY that repeats the CASE
    # (its bound parameters get new placeholders) with the select's.
    inner = (sa.select(_segment_sql(steps, c.border_mile, c.lon, c.lat).label("row"),
                       c["count"].label("weight"))
             .where(*clauses(dataset_id, filters)).subquery())
    query = (sa.select(inner.c.row, sa.func.count().label("n"),
                       sa.func.coalesce(sa.func.sum(inner.c.weight), 0).label("total"))
             .group_by(inner.c.row))
    frame = result_frame(conn.execute(query))
    return _segment_counts(steps, frame["row"], frame["n"].to_numpy(dtype=float),
                           frame["total"].to_numpy(dtype=float))


def by_border_segment_frame(frame: pd.DataFrame,
                            segments: pd.DataFrame | SegmentSteps) -> pd.DataFrame:
    """Count the incidents of a DataFrame per border segment, as `by_border_segment` does.

    Parameters
    ----------
    frame : pandas.DataFrame
        Needs ``border_mile``, ``lon``, ``lat``; uses ``count`` (default 1).
    segments : pandas.DataFrame or SegmentSteps

    Returns
    -------
    pandas.DataFrame
        As `by_border_segment`.
    """
    steps = segments if isinstance(segments, SegmentSteps) else segment_steps(segments)
    mile = pd.to_numeric(frame["border_mile"], errors="coerce").to_numpy(dtype=float)
    rows = segment_rows(steps, mile, frame["lon"], frame["lat"])
    counts = (frame["count"].to_numpy(dtype=float) if "count" in frame
              else np.ones(len(frame)))
    return _segment_counts(steps, rows, np.ones(len(frame)), counts)
