"""Robustness: arbitrary CSV text never gives a 500 or a partial import; SIGKILL mid-import
leaves the dataset exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from geomap import accounts, db, ingest, store

from ingest_helpers import FAKE_REGIONS, kill_import_after_first_write
from ingest_helpers import fake_regions  # noqa: F401  (fixture)

TESTS = Path(__file__).parent.parent
DATA = TESTS / "data" / "ingest"

NAMES = ["lat", "lon", "latitude", "x", "y", "date", "occurred_at", "count", "type", "id",
         "direction", "location", "state", "notes", ""]
CELLS = st.one_of(
    st.sampled_from(["49.0021", "-122.7566", "2025-01-03", "01/02/24 3:04", "Jan 2025", "45000",
                     "POINT (-122.75 49.0)", "49.0, -122.75", "N", "sb", "-1", "2.5", "0", "",
                     "WA", "=1+1", "\"", "99999999999999999999", "nan", "inf", "1e308"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
)


@st.composite
def csv_texts(draw):
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    header = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=7), max_size=8))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in rows]
    return newline.join(lines) + draw(st.sampled_from(["", newline]))


BODIES = st.one_of(
    csv_texts().map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
    csv_texts().map(lambda t: t.encode("utf-16")),
)


@pytest.fixture
def api(any_app, fake_regions):  # noqa: F811
    app = any_app
    with db.engine_for(app.config["DATABASE_URL"]).begin() as conn:
        accounts.create_user(conn, "editor", "s3cret-pass")
        token = accounts.create_token(conn, "script", "editor")
    yield app, app.test_client(), {"Authorization": f"Bearer {token}",
                                   "Content-Type": "text/csv"}
    db.dispose_engine(app.config["DATABASE_URL"])


def _state(app):
    with db.engine_for(app.config["DATABASE_URL"]).connect() as conn:
        dataset = store.get_dataset(conn, "fuzz", missing_ok=True)
        if dataset is None:
            return None, 0, 0
        return dataset["version"], store.count_incidents(conn, dataset["id"]), len(
            store.list_imports(conn, dataset["id"]))


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=BODIES, strict=st.booleans())
def test_arbitrary_csv_never_500_nor_partial(api, body, strict):
    app, client, headers = api
    version, count, imports = _state(app)
    url = "/api/datasets/fuzz/incidents" + ("?strict=1" if strict else "")
    response = client.post(url, data=body, headers=headers)
    assert response.status_code in (200, 201, 400, 422), response.get_data(as_text=True)
    after_version, after_count, after_imports = _state(app)
    if response.status_code >= 400:
        assert response.json["error"]["message"]
        assert (after_version, after_count, after_imports) == (version, count, imports)
    else:
        report = response.json
        assert after_count - count == report["rows_imported"]
        assert after_imports == imports + 1
        assert report["rows_total"] == (report["rows_imported"] + report["rows_updated"]
                                        + report["rows_unchanged"] + report["rows_rejected"])
        assert all(isinstance(e["row"], int) for e in report["errors"][:-1] if e["row"])




@pytest.mark.parametrize("mode", ["append", "replace"])
def test_sigkill_mid_import_leaves_the_dataset_as_it_was(any_app, fake_regions, tmp_path,  # noqa: F811
                                                         mode):
    url = any_app.config["DATABASE_URL"]
    engine = db.engine_for(url)
    ingest.import_file(engine, DATA / "basic.csv", dataset="killed", options=ingest.Options(),
                       settings=ingest.Settings.from_config(any_app.config), regions=FAKE_REGIONS)

    def snapshot():
        with engine.connect() as conn:
            dataset = store.get_dataset(conn, "killed")
            frame = store.incident_frame(conn, dataset["id"])
            return (dataset["version"], len(store.list_imports(conn, dataset["id"])),
                    frame.drop(columns=["attributes"]).to_dict("records"))

    before = snapshot()
    big = tmp_path / "big.csv"
    big.write_text("id,lat,lon,date\n" + "".join(
        f"K{i},49.{i % 9000:04d},-122.5,2025-01-{1 + i % 28:02d}\n" for i in range(3000)))
    kill_import_after_first_write(url, big, "killed", mode, tmp_path)
    assert snapshot() == before
    # The dataset is usable afterwards: the same import now succeeds.
    report = ingest.import_file(engine, big, dataset="killed", options=ingest.Options(mode=mode),
                                settings=ingest.Settings.from_config(any_app.config),
                                regions=FAKE_REGIONS)
    assert report["rows_imported"] == 3000
    db.dispose_engine(url)


def test_concurrent_imports_into_one_dataset_serialise(any_app, fake_regions, tmp_path):  # noqa: F811
    import threading

    engine = db.engine_for(any_app.config["DATABASE_URL"])
    files = []
    for k in range(2):
        path = tmp_path / f"part{k}.csv"
        path.write_text("id,lat,lon,date\n" + "".join(
            f"P{k}-{i},49.{i:04d},-122.5,2025-01-{1 + i % 28:02d}\n" for i in range(2000)))
        files.append(path)
    reports, failures = [], []

    def run(path):
        try:
            reports.append(ingest.import_file(engine, path, dataset="shared",
                                              options=ingest.Options(),
                                              settings=ingest.Settings.from_config(
                                                  any_app.config), regions=FAKE_REGIONS))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    assert sorted(r["rows_imported"] for r in reports) == [2000, 2000]
    with engine.connect() as conn:
        dataset = store.get_dataset(conn, "shared")
        assert store.count_incidents(conn, dataset["id"]) == 4000
        assert dataset["version"] == 2
    db.dispose_engine(any_app.config["DATABASE_URL"])
