"""Counts per border segment: the same bins in SQL and numpy, at every kind of boundary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geomap import aggregate, db, store
from maps_fixtures import incident_rows

from .helpers import FILTERS, rows as _rows


@pytest.fixture(scope="module")
def stored():
    """The committed GeoPackage's border_segments and border layers."""
    import geopandas as gpd

    from geomap import regions

    return (gpd.read_file(regions.DEFAULT_PATH, layer="border_segments"),
            gpd.read_file(regions.DEFAULT_PATH, layer="border").set_index("code"))


def _segment(segments, code: str):
    return segments.set_index("code").loc[code]


def _edge_cases(stored) -> list[tuple[float, float, float, str | None]]:
    """(border mile, lon, lat, expected segment code) at every kind of boundary."""
    import shapely

    segments, border = stored
    first_end = _segment(segments, "L48-001")["mile_to"]
    join = border.loc["AK", "mile_from"]          # full precision: 4049.3866...
    line_end = border.loc["AK", "mile_to"]
    stored_end = _segment(segments, "AK-063")["mile_to"]
    atlantic = shapely.get_coordinates(_segment(segments, "L48-162").geometry)[-1]
    dixon = shapely.get_coordinates(_segment(segments, "AK-001").geometry)[0]
    west = (-123.0, 49.0)
    slack = aggregate.SEGMENT_SLACK_MILES
    return [
        (0.0, *west, "L48-001"),                           # mile 0
        (-slack / 2, *west, "L48-001"),                   # before the line, within rounding
        (-2 * slack, *west, None),                         # before the line, beyond it
        (np.nextafter(first_end, -np.inf), *west, "L48-001"),   # just below a boundary
        (first_end, *west, "L48-002"),                     # at it: the next segment
        (np.nextafter(first_end, np.inf), *west, "L48-002"),    # just above it
        (join, *atlantic, "L48-162"),                      # lower 48's end at the Atlantic...
        (join, *dixon, "AK-001"),                          # ...and Alaska's start: same mile
        (_segment(segments, "AK-001")["mile_from"], *dixon, "AK-001"),
        (join - 0.5, *dixon, "L48-162"),                   # far from the join: mile decides
        (join + 0.5, *atlantic, "AK-001"),
        (line_end, -141.0, 69.6, "AK-063"),                # the line's end...
        (stored_end, -141.0, 69.6, "AK-063"),              # ...and the segment's, closed
        (stored_end + slack / 2, -141.0, 69.6, "AK-063"),
        (stored_end + 2 * slack, -141.0, 69.6, None),      # beyond every segment
        (np.nan, *west, None),                             # no border mile
    ]


def _edge_frame(cases, dataset_id: int) -> pd.DataFrame:
    frame = incident_rows(len(cases), dataset_id=dataset_id)
    frame["border_mile"] = [c[0] for c in cases]
    frame["lon"] = [c[1] for c in cases]
    frame["lat"] = [c[2] for c in cases]
    frame["count"] = 2 ** np.arange(len(cases))          # each case shows in the totals
    return frame


def test_segment_rows_at_every_kind_of_boundary(stored):
    cases = _edge_cases(stored)
    steps = aggregate.segment_steps(stored[0])
    rows = aggregate.segment_rows(steps, *np.asarray([c[:3] for c in cases], dtype=float).T)
    codes = [None if r < 0 else steps.table["code"][r] for r in rows]
    assert codes == [c[3] for c in cases]
    assert list(steps.table["code"][:2]) == ["L48-001", "L48-002"]
    assert steps.table["mile_from"].is_monotonic_increasing


def test_by_border_segment_counts_exactly_in_sql(conn, stored):
    cases = _edge_cases(stored)
    ds = store.create_dataset(conn, "edges", "Edges")
    frame = _edge_frame(cases, ds["id"])
    store.insert_incidents(conn, frame)
    got = aggregate.by_border_segment(conn, ds["id"], {}, stored[0])
    expected_total: dict = {}
    for case, count in zip(cases, frame["count"]):
        expected_total[case[3]] = expected_total.get(case[3], 0) + int(count)
    nonzero = got.loc[got["n"] > 0]
    assert dict(zip(nonzero["code"], nonzero["total"])) == expected_total
    assert list(got["code"][:-1]) == sorted(stored[0]["code"], key=lambda c: (
        c.startswith("AK"), c))                            # every segment, in mile order
    assert got["code"].iloc[-1] is None and got["n"].iloc[-1] == 3   # none: shown, not lost
    assert got["n"].sum() == len(cases) and got["total"].sum() == frame["count"].sum()
    pd.testing.assert_frame_equal(got, aggregate.by_border_segment_frame(frame, stored[0]))


def test_by_border_segment_turns_jit_off_for_its_transaction_only(pg_url):
    """PostgreSQL's JIT spent longer compiling the segment CASE than running it (benchmarks)."""
    db.migrate(pg_url)
    engine = db.engine_for(pg_url)
    with engine.connect() as conn:
        default = conn.exec_driver_sql("SHOW jit").scalar()
        conn.rollback()
        with conn.begin():
            ds = store.create_dataset(conn, "jit", "JIT")
            aggregate.by_border_segment(conn, ds["id"], {}, _segments_every_100_miles())
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
        # The pooled connection's next transaction has the server's setting again.
        assert conn.exec_driver_sql("SHOW jit").scalar() == default


def _segments_every_100_miles():
    return pd.DataFrame({"code": [f"L48-{k:03d}" for k in range(1, 8)],
                         "mile_from": np.arange(7) * 100.0,
                         "mile_to": np.arange(1, 8) * 100.0})


@pytest.mark.parametrize("filters", FILTERS)
def test_by_border_segment_applies_filters(conn, filters):
    ds = store.create_dataset(conn, "segs", "Segments")
    frame = _rows(ds["id"])
    frame["border_mile"] = np.linspace(-5, 760, len(frame))
    frame.loc[frame.index % 17 == 0, "border_mile"] = np.nan
    store.insert_incidents(conn, frame)
    got = aggregate.by_border_segment(conn, ds["id"], filters, _segments_every_100_miles())
    # The same selection in pandas, binned by hand.
    chosen = store.incident_frame(conn, ds["id"], filters,
                                  columns=("border_mile", "count"))
    mile = chosen["border_mile"].to_numpy(dtype=float)
    keys = np.where((mile >= 0) & (mile < 700), np.floor(mile / 100), -1)
    expected = chosen.assign(key=keys).groupby("key")["count"].agg(["size", "sum"])
    by_code = {(-1 if code is None else int(code[-3:]) - 1): (n, total)
               for code, n, total in zip(got["code"], got["n"], got["total"]) if n}
    assert by_code == {int(k): (int(r["size"]), int(r["sum"])) for k, r in expected.iterrows()}
    assert got["n"].sum() == aggregate.extent(conn, ds["id"], filters)["n"]


def test_segment_steps_between_parts_and_bad_layers():
    gap = pd.DataFrame({"code": ["A-001", "A-002", "B-001"], "mile_from": [0.0, 10.0, 20.0],
                        "mile_to": [10.0, 15.0, 30.0]})
    steps = aggregate.segment_steps(gap)
    miles = [9.9999, 10.0, 15.0, 15.0009, 15.01, 17.5, 19.99, 19.9995, 30.0, 30.002]
    rows = aggregate.segment_rows(steps, miles, np.zeros(len(miles)), np.zeros(len(miles)))
    assert [None if r < 0 else steps.table["code"][r] for r in rows] == [
        "A-001", "A-002", "A-002", "A-002", None, None, None, "B-001", "B-001", None]
    assert steps.table["name"][0] == "Border miles 0–10"
    # Parts meeting without geometry: the plain rule, mile_from <= mile < mile_to.
    joined = gap.assign(mile_from=[0.0, 10.0, 15.0], mile_to=[10.0, 15.0, 30.0])
    rows = aggregate.segment_rows(aggregate.segment_steps(joined), [14.9999, 15.0], [0, 0],
                                  [0, 0])
    assert list(rows) == [1, 2]
    for bad in (gap.iloc[:0], gap.drop(columns="code"),
                gap.assign(mile_to=[10.0, 25.0, 30.0]), gap.assign(mile_to=[0.0, 15.0, 30.0])):
        with pytest.raises(ValueError):
            aggregate.segment_steps(bad)
