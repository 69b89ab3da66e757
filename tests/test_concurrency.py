"""Concurrent imports and readers against the app under gunicorn, on both databases."""

import json
import threading

import pytest

from geomap import accounts, db, store

from servers import gunicorn, http

pytestmark = pytest.mark.slow

ROWS = 1500
IMPORTERS = 4


def _csv(importer: int) -> bytes:
    lines = ["source_id,date,lat,lon,count,direction,type"]
    for i in range(ROWS):
        # Just north of the line near Blaine/Surrey, spread along 0.5 degrees of longitude.
        lines.append(f"imp{importer}-{i},2025-0{1 + importer}-{1 + i % 28:02d},"
                     f"{49.01 + (i % 50) * 0.0005:.5f},{-122.95 + (i % 997) * 0.0005:.5f},"
                     f"1,northbound,apprehension")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def server(tmp_path, database_url, app_factory):
    """gunicorn (2 workers) on a migrated database with a published dataset and a token."""
    application = app_factory(DATABASE_URL=database_url)
    with db.engine_for(database_url).begin() as conn:
        store.create_dataset(conn, "conc", "Concurrency", published=True)
        token = accounts.create_token(conn, "bench")
    env = {"GEOMAP_INSTANCE_PATH": application.instance_path, "GEOMAP_DATABASE_URL": database_url,
           "GEOMAP_SECRET_KEY": "test", "GEOMAP_LOAD_SAMPLE": "false", "GEOMAP_TILES": "none"}
    with gunicorn(env, workers=2) as base:
        yield base, token


def _count(base: str) -> int:
    status, _headers, body = http("GET", base + "/api/datasets/conc")
    assert status == 200, body
    return json.loads(body)["incidents"]


def _stats_n(base: str) -> int:
    """Incidents counted by the stats (aggregated on the version's columnar copy once each
    worker has built it, on the database before)."""
    status, _headers, body = http("GET", base + "/api/datasets/conc/stats?by=month")
    assert status == 200, body
    return json.loads(body)["n"]


def _import_all(base: str, token: str, query: str = "") -> list[dict]:
    reports, errors = [None] * IMPORTERS, []

    def run(i: int) -> None:
        status, _h, body = http("POST", base + "/api/datasets/conc/incidents" + query, _csv(i),
                                {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
        if status not in (200, 201):
            errors.append((i, status, body[:500]))
        else:
            reports[i] = json.loads(body)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(IMPORTERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    return reports


def test_concurrent_imports_and_readers(server):
    base, token = server
    seen, counted, stop, reader_errors = [], [], threading.Event(), []

    def read() -> None:
        while not stop.is_set():
            try:
                seen.append(_count(base))
                counted.append(_stats_n(base))
            except Exception as exc:  # noqa: BLE001 - reported below
                reader_errors.append(repr(exc))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    try:
        reports = _import_all(base, token)
    finally:
        stop.set()
        for r in readers:
            r.join(timeout=60)
    assert not reader_errors, reader_errors[:3]
    assert [r["rows_imported"] for r in reports] == [ROWS] * IMPORTERS
    assert sorted({r["version"] for r in reports}) == sorted(r["version"] for r in reports)
    assert _count(base) == ROWS * IMPORTERS
    # Readers only ever saw whole imports: no count between two import boundaries, neither
    # in the dataset's totals nor in the stats (database or columnar copy).
    assert seen and set(seen) <= {k * ROWS for k in range(IMPORTERS + 1)}, sorted(set(seen))
    assert counted and set(counted) <= {k * ROWS for k in range(IMPORTERS + 1)}, sorted(
        set(counted))
    assert _stats_n(base) == ROWS * IMPORTERS

    # The same four files again (confirmed), concurrently: nothing is doubled, everything is
    # unchanged.
    again = _import_all(base, token, "?again=1")
    assert [r["rows_unchanged"] for r in again] == [ROWS] * IMPORTERS
    assert [r["rows_imported"] for r in again] == [0] * IMPORTERS
    assert _count(base) == ROWS * IMPORTERS
