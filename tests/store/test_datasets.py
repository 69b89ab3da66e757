"""Datasets and imports records on SQLite and PostgreSQL."""

import pytest

from db_helpers import day_rollup
from geomap import store
from geomap.errors import BadRequest, Conflict, NotFound
from store_helpers import three_incidents


def test_dataset_round_trip(conn):
    created = store.create_dataset(conn, "wa-bc", "WA → BC", description="d", source="RCMP",
                                   license="CC-BY-4.0")
    assert created["version"] == 1 and created["published"] is False
    assert store.get_dataset(conn, "wa-bc")["title"] == "WA → BC"
    assert store.list_datasets(conn) == []
    published = store.set_published(conn, "wa-bc", True)
    assert published["published"] is True and published["version"] == 2
    [listed] = store.list_datasets(conn)
    assert listed["slug"] == "wa-bc" and listed["incidents"] == 0


def test_dataset_errors(conn):
    store.create_dataset(conn, "one", "One")
    with pytest.raises(Conflict):
        store.create_dataset(conn, "one", "Again")
    with pytest.raises(BadRequest) as info:
        store.create_dataset(conn, "Bad Slug!", "x")
    assert "Bad Slug!" in info.value.message
    with pytest.raises(NotFound):
        store.get_dataset(conn, "missing")


def test_delete_and_version_bump(conn):
    ds = store.create_dataset(conn, "d", "Delete")
    store.insert_incidents(conn, three_incidents(ds["id"]))
    assert store.delete_incidents(conn, ds["id"]) == 3
    assert store.bump_version(conn, ds["id"]) == 2


def test_imports_are_recorded_with_report(conn):
    ds = store.create_dataset(conn, "imp", "Imports")
    import_id = store.record_import(conn, ds["id"], filename="a.csv", sha256="0" * 64,
                                    rows_total=3, report={"errors": [{"row": 2}]})
    assert store.get_import(conn, import_id)["report"] == {"errors": [{"row": 2}]}
    [listed] = store.list_imports(conn, ds["id"])
    assert listed["filename"] == "a.csv" and "report" not in listed


def test_list_datasets_totals_follow_the_version(conn):
    ds = store.create_dataset(conn, "tot", "Totals", published=True)
    store.create_dataset(conn, "other", "Other", published=True)
    assert store.list_datasets(conn, slug="tot")[0]["incidents"] == 0
    store.insert_incidents(conn, three_incidents(ds["id"]))
    store.bump_version(conn, ds["id"])  # every change of incidents bumps the version
    [row] = store.list_datasets(conn, slug="tot")
    assert (row["incidents"], row["total_count"]) == (3, 7)
    assert {r["slug"] for r in store.list_datasets(conn)} == {"tot", "other"}
    assert store.has_datasets(conn)


def test_incidents_changed_is_the_one_door(conn):
    """Version, rollups and publication change together; a dataset created in the same
    transaction keeps its first version but gets its rollups."""
    new = store.create_dataset(conn, "door", "Door")
    store.insert_incidents(conn, three_incidents(new["id"]))
    assert store.incidents_changed(conn, new, created=True) == 1
    assert store.rollup_cell(conn, new["id"]) == store.GRID_ROLLUP_CELL
    assert store.get_dataset(conn, "door")["version"] == 1

    dataset = store.get_dataset(conn, "door")
    rollup = store.RollupAccumulator(delta=True)
    more = three_incidents(new["id"]).assign(source_id=["id-3", "id-4", "id-5"])
    rollup.add(more)
    store.insert_incidents(conn, more)
    assert store.incidents_changed(conn, dataset, rollup, publish=True) == 2
    after = store.get_dataset(conn, "door")
    assert after["version"] == 2 and after["published"] is True
    [listed] = store.list_datasets(conn, slug="door")
    assert listed["incidents"] == 6
    merged = day_rollup(conn, new["id"])
    store.refresh_rollups(conn, new["id"])
    assert merged == day_rollup(conn, new["id"])
