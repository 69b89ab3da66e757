"""Uploads in the shared store: a preview made on one server imports on another, and any
server serves an import's original file and rejected rows (database or fsspec store)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from geomap import accounts, db, ingest, store

from conftest import make_app
from ingest_helpers import fake_regions  # noqa: F401  (fixture)

# One row outside the area (rejected), so the import has a rejected-rows file too.
CSV = ("source_id,date,lat,lon,count,direction\n"
       + "".join(f"s{i},2025-01-{1 + i % 28:02d},49.{i % 90:02d}0,-122.7{i % 10}0,1,northbound\n"
                 for i in range(40))
       + "bad,2025-01-05,not-a-number,-122.75,1,northbound\n").encode()


@pytest.fixture(scope="module")
def s3_endpoint():
    """An S3-compatible server (moto's, in a thread) that s3fs reaches through the standard
    AWS variables: what `GEOMAP_STORAGE_URL=s3://bucket/prefix` talks to in production."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] not installed")
    pytest.importorskip("s3fs", reason="s3fs not installed")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "geomap",
           "AWS_SECRET_ACCESS_KEY": "geomap", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield env["AWS_ENDPOINT_URL"]
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _bucket(name: str):
    """A new empty bucket on the S3 server; returns its s3fs filesystem."""
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir(name)
    return fs


@pytest.fixture(params=["database", "fsspec", "s3"])
def storage(request, tmp_path, database_url):
    if request.param == "database":
        return store.DatabaseStorage(db.engine_for(make_app(tmp_path, DATABASE_URL=database_url)
                                                   .config["DATABASE_URL"]), chunk=7)
    if request.param == "s3":
        request.getfixturevalue("s3_endpoint")
        bucket = f"geomap-{tmp_path.name.lower().replace('_', '-')[:40]}"
        _bucket(bucket)
        return store.FsspecStorage(f"s3://{bucket}/shared")
    return store.FsspecStorage(f"file://{tmp_path / 'shared'}")


def test_storage_round_trip_in_chunks(storage, tmp_path):
    source = tmp_path / "source.bin"
    content = bytes(range(256)) * 3 + b"tail"
    source.write_bytes(content)
    assert storage.chunks("uploads/x.csv") is None and not storage.exists("uploads/x.csv")
    assert storage.put("uploads/x.csv", source) == len(content)
    assert storage.exists("uploads/x.csv")
    chunks = list(storage.chunks("uploads/x.csv"))
    assert b"".join(chunks) == content
    if isinstance(storage, store.DatabaseStorage):
        assert len(chunks) == -(-len(content) // 7) and max(map(len, chunks)) == 7
    assert storage.fetch("uploads/x.csv", tmp_path / "copy" / "x.csv")
    assert (tmp_path / "copy" / "x.csv").read_bytes() == content
    assert not storage.fetch("uploads/missing.csv", tmp_path / "copy" / "missing.csv")
    assert not (tmp_path / "copy" / "missing.csv").exists()
    assert [p.name for p in (tmp_path / "copy").iterdir()] == ["x.csv"]  # no temporaries

    source.write_bytes(b"replaced")
    storage.put("uploads/x.csv", source)
    storage.put("rejected/3.csv", source)
    assert b"".join(storage.chunks("uploads/x.csv")) == b"replaced"
    listed = storage.listing("uploads/")
    assert [(f.key, f.size) for f in listed] == [("uploads/x.csv", 8)]
    assert abs(listed[0].created_at - store.utcnow()) < dt.timedelta(minutes=1)
    storage.delete("uploads/x.csv")
    assert storage.listing("uploads/") == [] and storage.chunks("uploads/x.csv") is None
    assert [f.key for f in storage.listing("rejected/")] == ["rejected/3.csv"]


def test_database_storage_writes_in_the_callers_transaction(tmp_path, database_url):
    engine = db.engine_for(make_app(tmp_path, DATABASE_URL=database_url).config["DATABASE_URL"])
    storage = store.DatabaseStorage(engine, chunk=4)
    source = tmp_path / "f.csv"
    source.write_bytes(b"0123456789")
    with db.write_connection(engine) as conn:
        with conn.begin() as tx:
            storage.put("uploads/f.csv", source, conn=conn)
            assert storage.exists("uploads/f.csv", conn=conn)
            tx.rollback()
    assert not storage.exists("uploads/f.csv")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.stored_file_chunks)).scalar() == 0


def _editor(application, name="editor"):
    client = application.test_client()
    with db.engine_for(application.config["DATABASE_URL"]).begin() as conn:
        if not conn.execute(sa.select(db.users.c.id).where(db.users.c.name == name)).first():
            accounts.create_user(conn, name, "s3cret-pass")
    response = client.post("/auth/login", data={"name": name, "password": "s3cret-pass"})
    assert response.status_code == 302
    return client


def _two_servers(tmp_path, database_url, regions):
    """Two apps on one database, each with its own instance and upload folder."""
    one = make_app(tmp_path / "one", DATABASE_URL=database_url, REGIONS=regions)
    two = make_app(tmp_path / "two", DATABASE_URL=database_url, REGIONS=regions)
    assert one.config["UPLOAD_FOLDER"] != two.config["UPLOAD_FOLDER"]
    return one, two


def test_preview_on_one_server_imports_on_another(tmp_path, database_url, fake_regions):  # noqa: F811
    one, two = _two_servers(tmp_path, database_url, fake_regions)
    editor_one, editor_two = _editor(one), _editor(two)
    preview = editor_one.post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "shared", "title": "Shared",
        "mode": "append", "file": (io.BytesIO(CSV), "crossings.csv")},
        content_type="multipart/form-data")
    assert preview.status_code == 200, preview.get_data(as_text=True)
    sha = hashlib.sha256(CSV).hexdigest()
    assert f'name="sha256" value="{sha}"' in preview.get_data(as_text=True)
    assert not any(Path(two.config["UPLOAD_FOLDER"]).iterdir())  # server two has no copy

    response = editor_two.post("/upload", data={
        "action": "import", "dataset": "__new__", "new_slug": "shared", "title": "Shared",
        "mode": "append", "sha256": sha, "filename": "crossings.csv"})
    assert response.status_code == 302, response.get_data(as_text=True)
    # The import's job ran on server two (in the request: QUEUE_URL=immediate); its report
    # is shown by server one.
    import_id = int(re.search(r"/imports/(\d+)$", response.headers["Location"]).group(1))
    report = editor_one.get(response.headers["Location"]).get_data(as_text=True)
    assert "40" in report and "not-a-number" in report
    assert f'href="/api/datasets/shared/imports/{import_id}/original" download' in report

    # Both servers lose their working copies: the shared store still serves everything.
    for application in (one, two):
        shutil.rmtree(application.config["UPLOAD_FOLDER"])
    for client in (editor_one, editor_two):
        original = client.get(f"/api/datasets/shared/imports/{import_id}/original")
        assert original.status_code == 200
        assert original.data == CSV
        assert original.headers["Content-Disposition"] == (
            f'attachment; filename="shared-import-{import_id}-original.csv"')
        rejected = client.get(f"/api/datasets/shared/imports/{import_id}/rejected.csv")
        assert rejected.status_code == 200 and "not-a-number" in rejected.get_data(as_text=True)
    with db.engine_for(database_url).connect() as conn:
        dataset = store.get_dataset(conn, "shared")
        assert store.count_incidents(conn, dataset["id"]) == 40
        assert store.get_import(conn, import_id)["stored_path"] == f"{sha}.csv"


def test_original_file_is_for_writers_only(tmp_path, database_url, fake_regions):  # noqa: F811
    one, two = _two_servers(tmp_path, database_url, fake_regions)
    with db.engine_for(database_url).begin() as conn:
        token = accounts.create_token(conn, "operator")
    response = one.test_client().post("/api/datasets/api-shared/incidents", data=CSV,
                                      headers={"Authorization": f"Bearer {token}",
                                               "Content-Type": "text/csv"})
    assert response.status_code == 201, response.json
    import_id = response.json["import_id"]
    url = f"/api/datasets/api-shared/imports/{import_id}/original"
    assert two.test_client().get(url).status_code == 401
    stranger = _editor(two, "stranger")
    assert stranger.get(url).status_code == 403
    assert two.test_client().get(url, headers={"Authorization": f"Bearer {token}"}).data == CSV
    missing = two.test_client().get(url.replace(f"/{import_id}/", f"/{import_id + 99}/"),
                                    headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404 and "no import" in missing.json["error"]["message"]


def test_prune_uploads_prunes_the_shared_store(tmp_path, database_url, fake_regions):  # noqa: F811
    one, two = _two_servers(tmp_path, database_url, fake_regions)
    with db.engine_for(database_url).begin() as conn:
        token = accounts.create_token(conn, "operator")
    imported = one.test_client().post("/api/datasets/pruned/incidents", data=CSV, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
    assert imported.status_code == 201
    stale = CSV.replace(b"s1,", b"t1,")
    preview = _editor(two).post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "other", "mode": "append",
        "file": (io.BytesIO(stale), "stale.csv")},
        content_type="multipart/form-data")
    assert preview.status_code == 200
    settings = ingest.Settings.from_config(one.config)
    uploads = [f.key for f in settings.storage.listing("uploads/")]
    assert sorted(uploads) == sorted(f"uploads/{hashlib.sha256(c).hexdigest()}.csv"
                                     for c in (CSV, stale))
    later = time.time() + 2 * 86_400
    with db.engine_for(database_url).connect() as conn:
        recent = ingest.prune_uploads(conn, one.config["UPLOAD_FOLDER"], older_than_s=86_400,
                                      storage=settings.storage)
        assert recent.shared_removed == [] and recent.removed == []
        result = ingest.prune_uploads(conn, one.config["UPLOAD_FOLDER"], older_than_s=86_400,
                                      storage=settings.storage, now=later)
    # The never-imported preview goes from the store; the import's original and rejected
    # rows stay there, and server one's working copies of them go.
    assert result.shared_removed == [f"uploads/{hashlib.sha256(stale).hexdigest()}.csv"]
    assert result.shared_kept == 2
    local = Path(one.config["UPLOAD_FOLDER"])
    assert sorted(p.relative_to(local).as_posix() for p in result.removed) == sorted(
        [f"{hashlib.sha256(CSV).hexdigest()}.csv", f"rejected/{imported.json['import_id']}.csv"])
    assert not [p for p in local.rglob("*") if p.is_file()]
    original = two.test_client().get(
        f"/api/datasets/pruned/imports/{imported.json['import_id']}/original",
        headers={"Authorization": f"Bearer {token}"})
    assert original.data == CSV


def test_prune_uploads_command_reports_the_shared_store(app, runner, fake_regions):  # noqa: F811
    settings = ingest.Settings.from_config(app.config)
    source = Path(app.config["UPLOAD_FOLDER"]) / "x.bin"
    source.write_bytes(b"abc")
    settings.storage.put(f"uploads/{'e' * 64}.csv", source)
    source.unlink()
    dry = runner.invoke(args=["prune-uploads", "--older-than", "0", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would remove shared uploads/{'e' * 64}.csv" in dry.output
    assert "Shared store (database): would remove 1 file(s), 3 bytes; kept 0." in dry.output
    assert settings.storage.exists(f"uploads/{'e' * 64}.csv")
    done = runner.invoke(args=["prune-uploads", "--older-than", "0"])
    assert "Shared store (database): removed 1 file(s), 3 bytes; kept 0." in done.output
    assert not settings.storage.exists(f"uploads/{'e' * 64}.csv")


def test_sqlite_keeps_previews_while_an_import_holds_the_write_lock(tmp_path):
    """On SQLite the store is a companion file: a preview kept while an import holds the
    database's one write lock does not wait for it (it would time out after 30 s)."""
    url = f"sqlite:///{tmp_path / 'locked.sqlite'}"
    application = make_app(tmp_path, DATABASE_URL=url)
    settings = ingest.Settings.from_config(application.config)
    assert settings.storage.own_transactions
    assert settings.storage.engine.url.database.endswith("locked.sqlite-files")
    with db.write_connection(db.engine_for(url)) as importing, importing.begin():
        importing.execute(sa.insert(db.datasets).values(
            slug="busy", title="Busy", created_at=store.utcnow(), updated_at=store.utcnow()))
        kept = ingest.preview(io.BytesIO(CSV), ingest.Options(), settings)
        assert settings.storage.exists(f"uploads/{kept['sha256']}.csv")


def test_an_fsspec_store_is_shared_the_same_way(tmp_path, fake_regions):  # noqa: F811
    """GEOMAP_STORAGE_URL naming a filesystem (here a shared folder, file://): the preview
    made on one server is imported on the other; the original comes from the store."""
    url = f"sqlite:///{tmp_path / 'fs.sqlite'}"
    shared = tmp_path / "bucket"
    common = {"DATABASE_URL": url, "REGIONS": fake_regions, "STORAGE_URL": f"file://{shared}"}
    one = make_app(tmp_path / "one", **common)
    two = make_app(tmp_path / "two", **common)
    preview = _editor(one).post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "fs", "mode": "append",
        "file": (io.BytesIO(CSV), "fs.csv")}, content_type="multipart/form-data")
    assert preview.status_code == 200
    sha = hashlib.sha256(CSV).hexdigest()
    assert (shared / "uploads" / f"{sha}.csv").read_bytes() == CSV
    response = _editor(two).post("/upload", data={
        "action": "import", "dataset": "__new__", "new_slug": "fs", "mode": "append",
        "sha256": sha, "filename": "fs.csv"})
    assert response.status_code == 302, response.get_data(as_text=True)
    import_id = int(re.search(r"/imports/(\d+)$", response.headers["Location"]).group(1))
    assert (shared / "rejected" / f"{import_id}.csv").is_file()
    for application in (one, two):
        shutil.rmtree(application.config["UPLOAD_FOLDER"])
    original = _editor(one).get(f"/api/datasets/fs/imports/{import_id}/original")
    assert original.status_code == 200 and original.data == CSV
    # Nothing went to the database's store (on SQLite, its companion file).
    assert not Path(f"{tmp_path / 'fs.sqlite'}-files").exists()


def test_an_s3_store_is_shared_the_same_way(tmp_path, fake_regions, s3_endpoint):  # noqa: F811
    """GEOMAP_STORAGE_URL=s3://bucket/prefix (an S3-compatible server): the preview made on
    one server is imported on the other, and the original and rejected rows come from the
    bucket once the servers' own folders are gone."""
    fs = _bucket("geomap-shared")
    url = f"sqlite:///{tmp_path / 's3.sqlite'}"
    common = {"DATABASE_URL": url, "REGIONS": fake_regions,
              "STORAGE_URL": "s3://geomap-shared/geomap"}
    one = make_app(tmp_path / "one", **common)
    two = make_app(tmp_path / "two", **common)
    preview = _editor(one).post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "s3", "mode": "append",
        "file": (io.BytesIO(CSV), "s3.csv")}, content_type="multipart/form-data")
    assert preview.status_code == 200
    sha = hashlib.sha256(CSV).hexdigest()
    assert fs.cat(f"geomap-shared/geomap/uploads/{sha}.csv") == CSV
    response = _editor(two).post("/upload", data={
        "action": "import", "dataset": "__new__", "new_slug": "s3", "mode": "append",
        "sha256": sha, "filename": "s3.csv"})
    assert response.status_code == 302, response.get_data(as_text=True)
    import_id = int(re.search(r"/imports/(\d+)$", response.headers["Location"]).group(1))
    assert fs.exists(f"geomap-shared/geomap/rejected/{import_id}.csv")
    for application in (one, two):
        shutil.rmtree(application.config["UPLOAD_FOLDER"])
    original = _editor(one).get(f"/api/datasets/s3/imports/{import_id}/original")
    assert original.status_code == 200 and original.data == CSV
    rejected = _editor(two).get(f"/api/datasets/s3/imports/{import_id}/rejected.csv")
    assert rejected.status_code == 200 and b"not-a-number" in rejected.data
    # prune-uploads on the bucket: a preview never imported goes, the import's files stay.
    stale = CSV.replace(b"s1,", b"t1,")
    assert _editor(two).post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "other", "mode": "append",
        "file": (io.BytesIO(stale), "stale.csv")},
        content_type="multipart/form-data").status_code == 200
    settings = ingest.Settings.from_config(one.config)
    with db.engine_for(url).connect() as conn:
        result = ingest.prune_uploads(conn, one.config["UPLOAD_FOLDER"], older_than_s=86_400,
                                      storage=settings.storage, now=time.time() + 2 * 86_400)
    assert result.shared_removed == [f"uploads/{hashlib.sha256(stale).hexdigest()}.csv"]
    assert fs.exists(f"geomap-shared/geomap/uploads/{sha}.csv")
    assert not fs.exists(f"geomap-shared/geomap/uploads/{hashlib.sha256(stale).hexdigest()}.csv")
