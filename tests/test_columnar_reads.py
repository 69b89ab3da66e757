"""Maps and stats aggregate the dataset version's columnar copy (issue #20, `web.columnar`):
built in the background after a change commits, answering byte for byte as the database
does; until the copy of the version a request read exists, that request reads the database,
so no reader ever sees an older version's counts."""

from __future__ import annotations

import fcntl
import json

import pandas as pd
import pytest
import sqlalchemy as sa

from geomap import db, store
from geomap.web.columnar import copies_for
from maps_fixtures import add_incidents, incident_rows, mixed_precision_rows, seed_dataset

URLS = ("/embed/wa-bc", "/embed/wa-bc?layer=cluster&type=crossing",
        "/maps/wa-bc?layer=choropleth&by=border_segment&from=2025-02-01",
        "/maps/wa-bc?layer=time&period=week&direction=northbound",
        "/maps/wa-bc.png?layer=choropleth&by=sector",
        "/api/datasets/wa-bc/stats?by=month&admin1=US-WA",
        "/api/datasets/wa-bc/stats?by=border_segment",
        "/api/datasets/wa-bc/stats?by=location_precision")


def _stats_n(app, query: str = "by=admin1") -> int:
    response = app.test_client().get(f"/api/datasets/wa-bc/stats?{query}")
    assert response.status_code == 200, response.data
    return json.loads(response.data)["n"]


@pytest.fixture
def apps(app_factory, fake_display_layers):
    """An app reading copies and one reading the database, on one database and folder."""
    def make():
        return (app_factory(COLUMNAR=True, CACHE_URL="memory"),
                app_factory(COLUMNAR=False, CACHE_URL="memory"))
    return make


def test_maps_and_stats_from_the_copy_answer_as_from_the_database(apps):
    on, off = apps()
    # Points, and records known only by sector or state, or only by month or year.
    frame = pd.concat([incident_rows(60).drop(columns=["row_hash", "row_hash2"]),
                       mixed_precision_rows()], ignore_index=True)
    dataset = seed_dataset(on, frame=frame)
    copies = copies_for(on)
    copies.wait(60)  # the commit that made the dataset started its copy
    assert store.copy_path(copies.folder, dataset).exists()
    for url in URLS:
        a, b = on.test_client().get(url), off.test_client().get(url)
        assert a.status_code == b.status_code == 200, (url, a.data[:200])
        assert a.data == b.data, url

    # The copy is what answers: take the incidents from the database behind the app's back
    # (no version change). New apps (empty caches) reading copies still count them all.
    with db.engine_for(on.config["DATABASE_URL"]).begin() as conn:
        conn.execute(sa.delete(db.incidents).where(db.incidents.c.dataset_id == dataset["id"]))
    on, off = apps()
    assert _stats_n(on, "by=location_precision") == 67
    assert _stats_n(off, "by=location_precision") == 0


def test_a_new_version_reads_the_database_until_its_copy_is_built(apps):
    on, _off = apps()
    dataset = seed_dataset(on)
    copies = copies_for(on)
    copies.wait(60)
    assert _stats_n(on) == 60
    # Another process is building this dataset's copy (it holds the lock): this one builds
    # nothing, and readers of the new version count it from the database meanwhile.
    with open(copies.folder / f".{dataset['id']}.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        add_incidents(on, dataset, incident_rows(5, seed=11))
        copies.wait(60)
        with db.engine_for(on.config["DATABASE_URL"]).connect() as conn:
            newer = store.get_dataset(conn, "wa-bc")
        assert not store.copy_path(copies.folder, newer).exists()
        assert _stats_n(on, "by=sector") == 65
    # The first reader of the version without a copy started its build.
    assert _stats_n(on, "by=month") == 65
    copies.wait(60)
    assert store.copy_path(copies.folder, newer).exists()
    assert not store.copy_path(copies.folder, dataset).exists()  # the older one is gone
    assert _stats_n(on, "by=year") == 65


def test_a_copy_that_cannot_be_opened_is_read_around_and_built_again(apps, caplog):
    on, off = apps()
    dataset = seed_dataset(on)
    copies = copies_for(on)
    copies.wait(60)
    path = store.copy_path(copies.folder, dataset)
    path.write_bytes(b"not a DuckDB file")  # a damaged disk, or a file DuckDB cannot read
    response = on.test_client().get("/api/datasets/wa-bc/stats?by=sector")
    assert response.status_code == 200
    assert response.data == off.test_client().get("/api/datasets/wa-bc/stats?by=sector").data
    assert "cannot be opened" in caplog.text
    copies.wait(60)
    with open(path, "rb") as copy:
        assert b"DUCK" in copy.read(64)  # written again: DuckDB's header
    assert _stats_n(on, "by=month") == 60


def test_deleting_a_dataset_removes_its_copies(apps):
    on, _off = apps()
    gone, kept = seed_dataset(on), seed_dataset(on, "kept")
    copies = copies_for(on)
    copies.wait(60)
    assert store.copy_path(copies.folder, gone).exists()
    with db.engine_for(on.config["DATABASE_URL"]).begin() as conn:
        store.delete_dataset(conn, store.get_dataset(conn, "wa-bc"))
    copies.wait(60)  # the commit's follow-up runs on a thread
    assert not store.copy_path(copies.folder, gone).exists()
    assert store.copy_path(copies.folder, kept).exists()
    assert sorted(p.name for p in copies.folder.glob(".*.lock")) == [f".{kept['id']}.lock"]


def test_a_folder_copies_cannot_be_written_to_costs_one_failure_a_minute(app_factory,
                                                                          fake_display_layers,
                                                                          tmp_path, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the copies' folder should be")
    app = app_factory(COLUMNAR=True, CACHE_URL="memory", COLUMNAR_FOLDER=str(blocked))
    seed_dataset(app)  # the commit tries once
    copies = copies_for(app)
    copies.wait(60)
    assert caplog.text.count("building the columnar copy of dataset 1 failed") == 1
    for query in ("by=sector", "by=month", "by=year"):  # readers: from the database
        assert _stats_n(app, query) == 60
    copies.wait(60)
    assert caplog.text.count("building the columnar copy of dataset 1 failed") == 1
