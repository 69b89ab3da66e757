"""Bounded import memory (issue #20 item 4): the boundaries it adds keep imports exact.

Blocks gathered from several pyarrow reads, bulk writes in slices, and the in-import dedupe
index (`seen.SeenKeys`) moving its oldest runs to temporary files: dedupe within a file,
upserts and rollups must come out as they did with everything in memory, on both backends.
"""

from __future__ import annotations

import numpy as np
import pytest

from geomap import db
from geomap.ingest import reading, seen
from geomap.store import bulk

from ingest_helpers import fake_regions  # noqa: F401  (fixture)
from .test_pipeline import Env, counts


@pytest.fixture
def any_env(any_app, fake_regions):  # noqa: F811
    yield Env(any_app)
    db.dispose_engine(any_app.config["DATABASE_URL"])


@pytest.fixture
def small_bounds(monkeypatch):
    """Blocks of ~4 kB from 1 kB reads, writes in slices of 50 rows, and at most 100 keys
    in memory: a 1,500-row file crosses every boundary many times. Returns the spilled runs
    made (`seen._Spilled`), to check the bound was used."""
    monkeypatch.setattr(reading, "BLOCK_SIZE", 4096)
    monkeypatch.setattr(reading, "READ_SIZE", 1024)
    monkeypatch.setattr(bulk, "WRITE_SLICE_ROWS", 50)
    monkeypatch.setattr(seen, "SEEN_KEYS_IN_MEMORY", 100)
    made = []
    real = seen._Spilled

    class Counted(real):
        def __init__(self, *args):
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr(seen, "_Spilled", Counted)
    return made


def _rows(n: int) -> list[str]:
    """n distinct rows without an id: distinct places, dates and counts."""
    return [f"49.{i:04d},-122.{i % 997:03d},2025-01-{1 + i % 28:02d},{1 + i % 5}"
            for i in range(n)]


def test_unkeyed_duplicates_are_found_in_spilled_runs(any_env, tmp_path, small_bounds):
    rows = _rows(1500)
    # Repeats of early rows (their runs are on disk by then), and one within the tail.
    again = [rows[0], rows[7], rows[700], rows[1499], rows[7]]
    path = tmp_path / "plain.csv"
    path.write_text("lat,lon,date,count\n" + "\n".join(rows + again) + "\n")
    report = any_env.run(path)
    assert small_bounds, "the dedupe index never left memory: the test bounds nothing"
    assert counts(report) == (1505, 1500, 0, 5, 0), report
    # Each repeat names the first row with that content (line = index + 2).
    refs = {w["row"]: w["message"] for w in report["warnings"] if "same content" in w["message"]}
    assert refs == {1502: "same content as row 2; imported once",
                    1503: "same content as row 9; imported once",
                    1504: "same content as row 702; imported once",
                    1505: "same content as row 1501; imported once",
                    1506: "same content as row 9; imported once"}
    assert len(any_env.incidents()) == 1500
    # The same file again is refused by its sha256; the rows again under another name are
    # all known (the dataset's index, across imports).
    renamed = tmp_path / "plain-again.csv"
    renamed.write_text(path.read_text() + "49.9999,-122.5,2025-02-01,1\n")
    report = any_env.run(renamed)
    assert counts(report) == (1506, 1, 0, 1505, 0), report


def test_keyed_rows_upsert_across_spilled_runs(any_env, tmp_path, small_bounds):
    rows = [f"K{i}," + row for i, row in enumerate(_rows(1500))]
    # K3 corrected (count 9), K4 repeated unchanged, both after their runs were spilled.
    later = ["K3,49.0003,-122.003,2025-01-04,9", rows[4]]
    path = tmp_path / "keyed.csv"
    path.write_text("id,lat,lon,date,count\n" + "\n".join(rows + later) + "\n")
    report = any_env.run(path)
    assert small_bounds
    assert counts(report) == (1502, 1500, 1, 1, 0), report
    frame = any_env.incidents().set_index("source_id")
    assert len(frame) == 1500 and frame.loc["K3", "count"] == 9
    assert frame.loc["K4", "count"] == 5


def test_bounded_import_writes_what_an_unbounded_one_does(any_env, tmp_path, monkeypatch):
    rows = _rows(1200) + _rows(40)  # 40 duplicates at the end
    path = tmp_path / "same.csv"
    path.write_text("lat,lon,date,count\n" + "\n".join(rows) + "\n")
    whole = any_env.run(path, dataset="whole")
    monkeypatch.setattr(reading, "BLOCK_SIZE", 4096)
    monkeypatch.setattr(reading, "READ_SIZE", 1024)
    monkeypatch.setattr(bulk, "WRITE_SLICE_ROWS", 50)
    monkeypatch.setattr(seen, "SEEN_KEYS_IN_MEMORY", 100)
    bounded = any_env.run(path, dataset="bounded")
    strip = ("dataset", "import_id", "version")
    assert {k: v for k, v in whole.items() if k not in strip} == \
        {k: v for k, v in bounded.items() if k not in strip}
    columns = ["occurred_at", "lat", "lon", "count", "row_hash", "row_hash2", "admin1"]
    a = any_env.incidents("whole")[columns].reset_index(drop=True)
    b = any_env.incidents("bounded")[columns].reset_index(drop=True)
    assert a.equals(b)


def test_seen_keys_bound_keeps_first_occurrences():
    rng = np.random.default_rng(5)
    bounded, free = seen.SeenKeys(memory_rows=30), seen.SeenKeys()
    line = 0
    for size in [20, 25, 3, 40, 1, 17, 60, 9]:
        keys = rng.integers(0, 50, size).astype(np.int64)
        checks = rng.integers(0, 2, size).astype(np.int64)
        queries = rng.integers(0, 55, 80).astype(np.int64)
        query_checks = rng.integers(0, 2, 80).astype(np.int64)
        assert list(bounded.find(queries, query_checks)) == list(free.find(queries,
                                                                           query_checks))
        lines = np.arange(line, line + size)
        bounded.add(keys, lines, checks)
        free.add(keys, lines, checks)
        line += size
        in_memory = sum(len(k) for k in bounded.keys[len(bounded.spilled):])
        assert in_memory <= 30
    assert bounded.spilled


def test_rejected_rows_file_is_merged_in_file_order_in_chunks(any_env, tmp_path, monkeypatch):
    from geomap import ingest
    from geomap.ingest import report as report_module

    monkeypatch.setattr(reading, "BLOCK_SIZE", 4096)
    monkeypatch.setattr(reading, "READ_SIZE", 1024)
    monkeypatch.setattr(report_module, "_FINISH_CHUNK", 7)
    runs = []

    class Counted(report_module._Runs):
        def _start(self):
            runs.append(1)
            super()._start()

    monkeypatch.setattr(report_module, "_Runs", Counted)
    lines = ["lat,lon,date,description"]
    for i in range(300):
        if i % 25 == 3:
            lines.append(f"49.1,-122.5,not a date {i},x")  # rejected by validation
        elif i % 40 == 11:
            lines.append(f"49.1,-122.5,2025-01-01,a,b,c{i}")  # malformed: too many fields
        elif i % 40 == 12:
            lines.append(f"49.1,-122.5,2025-01-0{1 + i % 9}")  # too few fields: pyarrow's
        elif i % 50 == 20:
            lines.append(f'49.1,-122.5,2025-01-02,"two\nlines {i}"')  # shifts real lines
        else:
            lines.append(f"49.{i:04d},-122.5,2025-01-03,ok {i}")
    path = tmp_path / "rejects.csv"
    path.write_text("\n".join(lines) + "\n")
    report = any_env.run(path)
    rejected = ingest.rejected_path(any_env.settings, report["import_id"])
    import csv

    with open(rejected, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "lat", "lon", "date", "description", "reason"]
    numbers = [int(r[0]) for r in rows[1:]]
    assert numbers == sorted(numbers) and len(numbers) == report["rows_rejected"]
    # Each rejected row's number is its real line: the file's physical line of the record.
    physical, line = {}, 2
    for text in lines[1:]:
        physical[text.split(",")[2]] = line
        line += text.count("\n") + 1
    for row in rows[1:]:
        if row[3].startswith("not a date"):
            assert int(row[0]) == physical[row[3]], row
    assert {r[3] for r in rows[1:] if r[3].startswith("not a date")} == {
        f"not a date {i}" for i in range(300) if i % 25 == 3}
    assert sum("fields" in r[-1] for r in rows[1:]) == sum(
        1 for i in range(300) if i % 40 in (11, 12) and i % 25 != 3)
    assert len(runs) >= 2  # the records pyarrow refused came after the blocks: merged
