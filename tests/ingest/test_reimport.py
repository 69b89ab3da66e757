"""Re-imports: a file imported before is refused unless confirmed, content dedupe across
imports, natural keys (composite, remembered, changed only by replace)."""

from __future__ import annotations

import io

import pytest

from geomap import db, ingest, store
from geomap.errors import BadRequest, Conflict

from ingest_helpers import FAKE_REGIONS, fake_regions  # noqa: F401  (fixture)

BTS_HEADER = "Port Code,Port Name,Date,Measure,Value,Latitude,Longitude\n"


def bts(rows: list[tuple]) -> bytes:
    """A BTS-like border crossing file: one row per (port, month, measure) with a value."""
    lines = [BTS_HEADER] + [f"{p},{name},{d},{m},{v},{lat},{lon}\n"
                            for p, name, d, m, v, lat, lon in rows]
    return "".join(lines).encode("utf-8")


BLAINE = ("3004", "Blaine", "Jan 2025")
ROWS = [
    (*BLAINE, "Trucks", 120, 49.002, -122.757),
    (*BLAINE, "Buses", 7, 49.002, -122.757),
    ("3004", "Blaine", "Feb 2025", "Trucks", 110, 49.002, -122.757),
    ("0712", "Champlain", "Jan 2025", "Trucks", 300, 45.01, -73.45),
]


class Env:
    def __init__(self, app):
        self.settings = ingest.Settings.from_config(app.config)
        self.engine = db.engine_for(app.config["DATABASE_URL"])

    def run(self, data: bytes, dataset="bts", **options):
        options.setdefault("filename", "crossings.csv")
        return ingest.import_file(self.engine, io.BytesIO(data), dataset=dataset,
                                  options=ingest.Options(**options), settings=self.settings,
                                  regions=FAKE_REGIONS, user_name="tester")

    def frame(self, dataset="bts"):
        with self.engine.connect() as conn:
            return store.incident_frame(conn, store.get_dataset(conn, dataset)["id"])

    def imports(self, dataset="bts"):
        with self.engine.connect() as conn:
            return store.list_imports(conn, store.get_dataset(conn, dataset)["id"])


@pytest.fixture
def env(any_app, fake_regions):  # noqa: F811
    yield Env(any_app)
    db.dispose_engine(any_app.config["DATABASE_URL"])


def counts(report):
    return (report["rows_imported"], report["rows_updated"], report["rows_unchanged"],
            report["rows_rejected"])


# --- the same file again ---------------------------------------------------------------------

def test_the_same_file_again_is_refused_saying_when_and_as_which_import(env):
    first = env.run(bts(ROWS))
    with pytest.raises(ingest.AlreadyImported) as refused:
        # Read differently (the measure as type): without the check this doubled the rows.
        env.run(bts(ROWS), mapping={"type": "Measure", "count": "Value"})
    error = refused.value
    assert error.status == 409 and error.code == "already_imported"
    assert f"as import {first['import_id']} (crossings.csv)" in error.message
    assert "already imported into dataset 'bts' on 20" in error.message
    assert error.details["import_id"] == first["import_id"]
    assert len(env.frame()) == 4 and len(env.imports()) == 1  # nothing written or recorded


def test_confirmed_or_replace_imports_it_again(env):
    env.run(bts(ROWS))
    again = env.run(bts(ROWS), again=True)
    assert counts(again) == (0, 0, 4, 0)  # same content: deduplicated, not doubled
    replaced = env.run(bts(ROWS), mode="replace")  # replace cannot double: not refused
    assert counts(replaced) == (4, 0, 0, 0) and len(env.frame()) == 4


def test_rows_without_an_id_are_deduplicated_across_imports(env):
    env.run(bts(ROWS[:3]))
    second = env.run(bts(ROWS[1:]))  # another file: two rows already in the dataset
    assert counts(second) == (1, 0, 2, 0)
    assert sorted(env.frame()["lat"].round(3).tolist()) == [45.01] + [49.002] * 3


# --- natural keys ----------------------------------------------------------------------------

KEY = "Port Code,Date,Measure"


def test_a_composite_key_upserts_exactly_the_changed_incident(env):
    first = env.run(bts(ROWS), key=ingest.parse_key(KEY),
                    mapping={"count": "Value", "type": "Measure"})
    assert counts(first) == (4, 0, 0, 0)
    before = env.frame().set_index("source_id")
    assert sorted(before.index) == ["0712|Jan 2025|Trucks", "3004|Feb 2025|Trucks",
                                    "3004|Jan 2025|Buses", "3004|Jan 2025|Trucks"]
    changed = [(*BLAINE, "Buses", 9, 49.002, -122.757), *ROWS[2:]]
    # No key given: the dataset's remembered key is used.
    second = env.run(bts(changed), mapping={"count": "Value", "type": "Measure"})
    assert counts(second) == (0, 1, 2, 0)
    after = env.frame().set_index("source_id")
    assert after.loc["3004|Jan 2025|Buses", "count"] == 9
    assert after["id"].to_dict() == before["id"].to_dict()  # same incidents, none added
    unchanged = after.drop("3004|Jan 2025|Buses")
    assert unchanged["count"].to_dict() == before.drop("3004|Jan 2025|Buses")["count"].to_dict()
    with env.engine.connect() as conn:
        assert store.get_dataset(conn, "bts")["natural_key"] == ["Port Code", "Date", "Measure"]
    assert [i["natural_key"] for i in env.imports()] == [["Port Code", "Date", "Measure"]] * 2


def test_key_columns_match_case_insensitively_and_cells_are_escaped(env):
    rows = [("30|04", "x", "Jan 2025", "A\\", 1, 49.002, -122.757),
            ("30", "x", "Jan 2025", "04|A\\", 2, 49.002, -122.757)]
    env.run(bts(rows), key=("port code", "MEASURE"))
    assert sorted(env.frame()["source_id"]) == ["30\\|04|A\\\\", "30|04\\|A\\\\"]


def test_a_row_with_an_empty_key_cell_is_rejected_with_its_row(env):
    rows = [ROWS[0], ("3004", "Blaine", "Jan 2025", " ", 5, 49.002, -122.757)]
    report = env.run(bts(rows), key=ingest.parse_key(KEY))
    assert counts(report) == (1, 0, 0, 1)
    [error] = report["errors"]
    assert error["row"] == 3 and error["column"] == "Measure"
    assert "key column is empty" in error["message"] and "Port Code, Date, Measure" in \
        error["message"]


def test_a_key_column_missing_from_the_file_is_a_bad_request(env):
    with pytest.raises(BadRequest, match="key column 'Crossing' is not in the file; its "
                                         "columns are: Port Code, Port Name"):
        env.run(bts(ROWS), key=("Port Code", "Crossing"))


def test_changing_the_key_needs_replace_mode(env):
    env.run(bts(ROWS), key=ingest.parse_key(KEY))
    with pytest.raises(Conflict, match="is keyed by Port Code, Date, Measure; key Port Code, "
                                       "Date would match none"):
        env.run(bts(ROWS[:1]), key=("Port Code", "Date"))
    assert len(env.frame()) == 4
    report = env.run(bts(ROWS[:3]), key=("Port Code", "Date", "Measure", "Port Name"),
                     mode="replace")
    assert report["rows_imported"] == 3
    with env.engine.connect() as conn:
        assert store.get_dataset(conn, "bts")["natural_key"] == [
            "Port Code", "Date", "Measure", "Port Name"]


def test_keying_an_unkeyed_dataset_needs_replace_mode(env):
    env.run(bts(ROWS))
    with pytest.raises(Conflict, match="is not keyed"):
        env.run(bts(ROWS[:2]), key=ingest.parse_key(KEY))


def test_options_from_reads_key_and_again():
    options = ingest.options_from({"key": "Port Code, Date ,Measure", "again": "1"})
    assert options.key == ("Port Code", "Date", "Measure") and options.again is True
    assert ingest.options_from({"key": ["Port Code", "Date"]}).key == ("Port Code", "Date")
    assert ingest.options_from({"key": ""}).key is None
    with pytest.raises(BadRequest, match="again must be true or false"):
        ingest.options_from({"again": "maybe"})
