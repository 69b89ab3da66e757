"""Cell parsing: the Arrow fast paths read exactly what the general (pandas) paths read."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings, strategies as st

from geomap.ingest import cells, reading, receiving
from geomap.ingest import rows as ingest_rows

from .test_pipeline import Env, counts
from ingest_helpers import fake_normalise, fake_regions  # noqa: F401  (fixture)

SETTINGS = settings(max_examples=200, deadline=None)


def text(values) -> pd.Series:
    """A column as the Reader yields it (pandas' Arrow-backed str)."""
    return pd.Series(values, dtype="str")


def same_floats(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equality (sign of zero included), NaN equal to NaN."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both_nan = np.isnan(a) & np.isnan(b)
    return bool(np.all(both_nan | (a.view(np.int64) == b.view(np.int64))))


# --- numbers ----------------------------------------------------------------------------------

def _decimal(sign, digits, point):
    return sign + (digits[:point] + "." + digits[point:] if point is not None else digits)


PLAIN = st.one_of(
    st.builds(_decimal, st.sampled_from(["", "-", "+"]),
              st.text("0123456789", min_size=1, max_size=8), st.one_of(st.none(),
                                                                     st.integers(0, 8))),
    # 14 to 19 digits: around the 15 digits up to which pandas reads exactly
    st.builds(_decimal, st.sampled_from(["", "-"]),
              st.text("0123456789", min_size=14, max_size=19), st.one_of(st.none(),
                                                                       st.integers(1, 6))))
EXPONENTS = st.builds(lambda mantissa, exponent: f"{mantissa}e{exponent}", PLAIN,
                      st.integers(-330, 330))
AWKWARD_NUMBERS = st.sampled_from([
    "", " ", " 49.1", "49.1 ", "49,1", "-0", "-0.0", "0", "+0", "1e5", "1E-3", "nan", "inf",
    "-inf", "NaN", "0x10", "1_000", "1234567890123456", "12345678901234567", "-", ".", "5.",
    ".5", "４９", "abc", "49°N", "99999999999999999999"])


@SETTINGS
@given(st.lists(st.one_of(PLAIN, PLAIN, EXPONENTS, AWKWARD_NUMBERS), min_size=1, max_size=40))
def test_fast_numbers_equal_the_general_path(values):
    series = text(values)
    assert same_floats(cells.to_float(series), cells._general_float(series))


@SETTINGS
@given(st.lists(st.one_of(PLAIN, EXPONENTS), min_size=1, max_size=40))
def test_plain_decimal_columns_equal_the_general_path(values):
    series = text(values)
    assert same_floats(cells.to_float(series), cells._general_float(series))


@SETTINGS
@given(st.lists(st.one_of(PLAIN, EXPONENTS, AWKWARD_NUMBERS), min_size=1, max_size=12),
       st.lists(st.integers(0, 11), min_size=1, max_size=60))
def test_numbers_parsed_once_per_distinct_value_equal_every_row_parsed(values, picks):
    # Repeated cells (counts, blanks) take the distinct-value path of _general_float.
    series = text([values[i % len(values)] for i in picks])
    assert same_floats(cells._general_float(series), cells._parse_floats(series))


def test_the_fast_number_path_takes_only_plain_columns():
    assert cells._plain_decimals(text(["49.00021", "-122.75", "+3", "007", "0", "4.9e1"])) \
        is not None
    for awkward in ("1e300", "1e-8", "12345678", "-0", " 49.1", "49,1", "", "nan", "inf",
                    "1234567890123456", "-122.12345678901234"):
        assert cells._plain_decimals(text(["49.1", awkward])) is None, awkward
    assert cells._plain_decimals(text(["-122.12345678901"])) is not None  # 14 digits
    # Object columns (not what the Reader yields) still parse, by either path.
    assert same_floats(cells.to_float(pd.Series(["49.5", None], dtype=object)),
                       [49.5, np.nan])


def test_fast_numbers_are_writable():
    values = cells.to_float(text(["49.1", "-122.5"]))
    values[0] = 1.0  # the swap and empty-count rules write into the parsed column


# --- dates ------------------------------------------------------------------------------------

ISO_DAYS = st.dates(min_value=dt.date(1500, 1, 1), max_value=dt.date(2700, 12, 31)).map(
    lambda d: d.isoformat())
IMPOSSIBLE_DAYS = st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.integers(1600, 2300),
                            st.integers(0, 13), st.integers(0, 32))
AWKWARD_DATES = st.sampled_from([
    "", " ", "2025-01-03 ", " 2025-01-03", "2025-01-03T10:30:00", "2025-01-03T10:30:00Z",
    "2025-01-03 10:30+02:00", "2025-1-3", "2025/01/03", "01/02/2025", "13/02/2025", "1/2/24 3:04",
    "Jan 2025", "2025-01", "45000", "20250103", "garbage", "1677-12-31", "2262-01-01"])


@SETTINGS
@given(st.lists(st.one_of(ISO_DAYS, ISO_DAYS, IMPOSSIBLE_DAYS, AWKWARD_DATES), min_size=1,
                max_size=30), st.sampled_from(["mdy", "dmy"]))
def test_fast_dates_equal_the_general_path(values, order):
    series = text(values)
    fast = cells.parse_dates(series, order)
    general = cells.parse_general_dates(series, order)
    for got, want in zip(fast, general):
        pd.testing.assert_series_equal(got, want)


def test_the_fast_date_path_takes_only_plain_days():
    assert cells.parse_iso_days(text(["2025-01-03", "2024-02-29"])) is not None
    for awkward in ("2025-02-29", "2025-01-03 ", "2025-01-03T10:00", "01/02/2025", "Jan 2025",
                    "1600-01-01", ""):
        assert cells.parse_iso_days(text(["2025-01-03", awkward])) is None, awkward


# --- directions -------------------------------------------------------------------------------

def _both_paths(run):
    """Return run() through Arrow's dictionary codes, and with the per-value fallback."""
    fast = run()
    original = cells.arrow_text
    cells.arrow_text = lambda values: None  # as for a column with missing cells
    try:
        return fast, run()
    finally:
        cells.arrow_text = original


@settings(deadline=None)  # no timing: a loaded machine took 296 ms (the default deadline: 200)
@given(st.lists(st.sampled_from(["N", "nb", "North Bound", " S ", "southbound", "sud", "", "?",
                                 "sideways", "NORTH"]), min_size=1, max_size=30))
def test_directions_are_the_same_by_codes_and_by_value(values):
    def run():
        warnings = ingest_rows.Issues()
        mapped = ingest_rows._directions(pd.DataFrame({"d": text(values)}), "d", warnings)
        return mapped, warnings.frame().reset_index(drop=True)

    (a, wa), (b, wb) = _both_paths(run)
    pd.testing.assert_series_equal(a, b)
    assert a.dtype == object
    pd.testing.assert_frame_equal(wa, wb)


def test_attributes_keep_non_empty_cells_in_column_order():
    frame = pd.DataFrame({"b": text(["007", "", "x"]), "a": text(["", "", "y"])})
    got = ingest_rows._attributes(frame, ["b", "a"])
    assert got.dtype == object
    assert got.tolist() == [{"b": "007"}, None, {"b": "x", "a": "y"}]
    assert list(got[2]) == ["b", "a"]


@settings(deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["WA", " wa ", "Washington", "BC", "zz", "", "US-MT"]),
                          st.sampled_from(["US-WA", "CA-BC", None]), st.booleans()),
                min_size=1, max_size=30))
def test_declared_regions_are_the_same_by_codes_and_by_value(cases):
    def run():
        raw = text([c[0] for c in cases])
        rows = pd.DataFrame({"admin1": pd.Series([c[1] for c in cases], dtype=object),
                             "country": pd.Series([c[1] and c[1][:2] for c in cases],
                                                  dtype=object),
                             "at_border": [c[2] for c in cases]})
        warnings = ingest_rows.Issues()
        ingest_rows._declared_region(rows, raw, "state", np.zeros(len(cases), dtype=bool),
                                     warnings, fake_normalise)
        return rows, warnings.frame().reset_index(drop=True)

    (rows_a, warn_a), (rows_b, warn_b) = _both_paths(run)
    pd.testing.assert_frame_equal(rows_a, rows_b)
    pd.testing.assert_frame_equal(warn_a, warn_b)


# --- whole imports: blocks that take different paths -----------------------------------------

def _mixed_file(path, rows=600):
    """Clean rows (fast paths), then rows whose cells only the general paths read."""
    lines = ["id,lat,lon,date,count,direction"]
    lines += [f"C{i},49.{i:04d},-122.5{i % 10},2025-01-{1 + i % 28:02d},{i % 4},N"
              for i in range(rows)]
    lines += ["A1, 49.0005 ,-122.5,2025-01-05T10:30:00Z,2,S",
              "A2,49.0006,\"-122,5\",01/02/2025,,north",
              "A3,4.90007e1,-122.5,Jan 2025,1,?",
              "A4,-0,-122.5,2025-01-06,1,N",  # rejected: latitude 0 is far from the border
              "A5,,-122.5,2025-02-30,x,N"]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def env(app, fake_regions):  # noqa: F811
    return Env(app)


def test_small_and_large_blocks_import_the_same(env, tmp_path, monkeypatch):
    path = tmp_path / "mixed.csv"
    _mixed_file(path)
    whole = env.run(path, dataset="whole")
    monkeypatch.setattr(reading, "BLOCK_SIZE", 4096)  # clean blocks first, awkward last
    blocks = env.run(path, dataset="blocks")
    for report in (whole, blocks):
        assert counts(report) == (605, 603, 0, 0, 2), report
    strip = ("dataset", "import_id")
    assert {k: v for k, v in whole.items() if k not in strip} == \
        {k: v for k, v in blocks.items() if k not in strip}
    assert [(e["row"], e["column"], e["message"]) for e in whole["errors"]] == [
        (605, "lat", "outside the area of interest: more than 500 km from the US-Canada border"),
        (606, "lat", "latitude is missing"),
        (606, "date", "not a recognised date (use YYYY-MM-DD, MM/DD/YYYY [hh:mm[:ss] AM], "
                      "M/D/YY H:MM, a month (Jan 2025, janv. 2025), a quarter (2025 Q1) "
                      "or a year)"),
        (606, "count", "count is not a number")]
    assert [w["message"] for w in whole["warnings"]] == [
        "dates with slashes are ambiguous (no day above 12): read as month/day/year (US order) "
        "for the whole file"]
    columns = ["source_id", "occurred_at", "precision", "lat", "lon", "count", "direction"]
    a = env.incidents("whole")[columns].sort_values("source_id", ignore_index=True)
    b = env.incidents("blocks")[columns].sort_values("source_id", ignore_index=True)
    pd.testing.assert_frame_equal(a, b)
    a = a.set_index("source_id")
    assert a.loc["A1", ["lat", "precision", "count"]].tolist() == [49.0005, "second", 2]
    assert a.loc["A1", "occurred_at"] == pd.Timestamp("2025-01-05 10:30")
    assert a.loc["A2", ["lon", "precision", "count", "direction"]].tolist() == [
        -122.5, "day", 1, "northbound"]
    assert a.loc["A2", "occurred_at"] == pd.Timestamp("2025-01-02")
    assert a.loc["A3", ["lat", "precision", "direction"]].tolist() == [49.0007, "month",
                                                                       "unknown"]
    assert a.loc["C7", ["lat", "lon", "count"]].tolist() == [49.0007, -122.57, 3]


# --- receiving --------------------------------------------------------------------------------

PIECES = st.sampled_from([b"a", b"bc\n", "é".encode(), "€".encode(), "😀".encode(), b"\xff",
                          b"\xc3", b"\x80", b"\xe2\x82", b"\xed\xa0\x80"])


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=16), st.integers(1, 8))
@example(pieces=[b"\xc3", b"a", b"\x80"], chunk=1)  # an ASCII chunk inside a broken character
def test_receive_checks_utf8_across_chunk_boundaries(tmp_path_factory, pieces, chunk):
    data = b"".join(pieces)
    try:
        data.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    original = receiving.COPY_CHUNK
    receiving.COPY_CHUNK = chunk  # multibyte characters split between chunks
    try:
        received = receiving.receive(io.BytesIO(data), tmp_path_factory.mktemp("up"))
    finally:
        receiving.COPY_CHUNK = original
    receiving.discard(received)
    assert received.utf8 == valid
    assert received.newlines == data.count(b"\n") and received.size == len(data)
