"""Imports as background jobs: the API's async door, GET /api/jobs/<id> from any server, the
form's progress page, leases (one job per dataset, never twice, a dead worker's job retried
once then failed), and the CLI's progress bar."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time

import pytest
import sqlalchemy as sa

from geomap import access, accounts, db, ingest, jobs, store

from conftest import make_app
from ingest_helpers import fake_regions  # noqa: F401  (fixture)


def rows_csv(n: int, prefix: str = "r") -> bytes:
    """n valid incidents near the western border (the fake regions accept them)."""
    return ("source_id,date,lat,lon,count,direction\n" + "".join(
        f"{prefix}{i},2025-{1 + i % 12:02d}-{1 + i % 28:02d},49.{i % 97:02d}1,"
        f"-122.{i % 89:02d}1,{1 + i % 3},northbound\n" for i in range(n))).encode()


def _token(url: str) -> str:
    with db.engine_for(url).begin() as conn:
        return accounts.create_token(conn, "operator")


def _wait(client, url: str, headers: dict, until=("done", "failed"), timeout: float = 60):
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.json
        job = response.json["job"]
        seen.append(job)
        if job["state"] in until:
            return job, seen
        time.sleep(0.05)
    raise AssertionError(f"job not {until} after {timeout} s: {seen[-1]}")


def _queued_apps(tmp_path, database_url, regions, **config):
    """Two app servers on one database with real queues (SQLite files in their instance
    folders, worker threads inside each app) and their own upload folders."""
    common = {"DATABASE_URL": database_url, "REGIONS": regions, "QUEUE_URL": "",
              "JOB_LEASE_S": 5.0, **config}
    return (make_app(tmp_path / "one", **common), make_app(tmp_path / "two", **common))


def test_async_import_is_followed_from_another_server(tmp_path, database_url, fake_regions):  # noqa: F811
    one, two = _queued_apps(tmp_path, database_url, fake_regions)
    auth = {"Authorization": f"Bearer {_token(database_url)}"}
    body = rows_csv(3000)
    response = one.test_client().post("/api/datasets/bg/incidents?async=1&publish=1",
                                      data=body, headers={**auth, "Content-Type": "text/csv"})
    assert response.status_code == 202, response.json
    job = response.json["job"]
    assert set(job) == {"id", "url", "state", "progress"}
    assert response.headers["Location"] == job["url"] == f"/api/jobs/{job['id']}"
    assert job["state"] in ("queued", "running")

    done, seen = _wait(two.test_client(), job["url"], auth)
    assert done["state"] == "done", done
    report = done["report"]
    assert report["rows_imported"] == 3000 and report["dataset"] == "bg"
    assert done["progress"]["percent"] == 100.0
    assert done["progress"]["rows_read"] == done["progress"]["rows_written"] == 3000
    assert done["import_id"] == report["import_id"]
    # What the other server saw on the way only went forwards.
    reads = [j["progress"]["rows_read"] for j in seen]
    assert reads == sorted(reads)
    assert one.test_client().get(job["url"], headers=auth).json["job"]["state"] == "done"
    with db.engine_for(database_url).connect() as conn:
        dataset = store.get_dataset(conn, "bg")
        assert dataset["published"] and store.count_incidents(conn, dataset["id"]) == 3000
    original = two.test_client().get(
        f"/api/datasets/bg/imports/{report['import_id']}/original", headers=auth)
    assert original.data == body
    for application in (one, two):
        application.extensions["geomap.job_queue"].stop()


def test_job_progress_is_written_while_the_import_runs(tmp_path, fake_regions):  # noqa: F811
    """The records a worker writes between blocks: phase, counts, percent and time left."""
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    application = make_app(tmp_path, DATABASE_URL=url, REGIONS=fake_regions)
    settings = ingest.Settings.from_config(application.config)
    source = tmp_path / "big.csv"
    source.write_bytes(rows_csv(120_000))
    kept = ingest.preview(str(source), ingest.Options(), settings)
    engine = jobs.jobs_engine(url)
    job_id = jobs.create(engine, kind="import", dataset="progress", params={
        "sha256": kept["sha256"], "options": {"filename": "big.csv"}, "actor": None})
    snapshots = []

    class WatchedRunner(jobs.Runner):
        def _import(self, job, progress):
            def spy(counts):
                progress(counts)
                snapshots.append(jobs.public(jobs.get(engine, job_id)))
            return super()._import(job, spy)

    watched = WatchedRunner(url, settings, regions=lambda: fake_regions, lease_s=5)
    assert watched.run(job_id) == "failed"  # no actor: nobody may import
    assert jobs.get(engine, job_id)["error"]["code"] == "unauthorized"

    job_id = jobs.create(engine, kind="import", dataset="progress", params={
        "sha256": kept["sha256"], "options": {"filename": "big.csv"},
        "actor": {"id": None, "name": "cli", "role": "admin"}})
    assert watched.run(job_id) == "done"
    running = [s for s in snapshots if s["state"] == "running" and s["progress"]["rows_read"]]
    assert running, snapshots
    middle = running[len(running) // 2]["progress"]
    assert middle["rows_expected"] == 120_000 and 0 < middle["percent"] <= 95
    assert middle["left_s"] is not None and middle["phase"] in ("reading", "finishing")
    final = jobs.public(jobs.get(engine, job_id))
    assert final["state"] == "done" and final["report"]["rows_imported"] == 120_000
    assert final["attempts"] == 1


def _job(engine, dataset="d", **params):
    return jobs.create(engine, kind="import", dataset=dataset,
                       params={"sha256": "0" * 64, "options": {}, "actor": None, **params})


def test_leases_one_job_per_dataset_and_never_twice(tmp_path, database_url):
    make_app(tmp_path, DATABASE_URL=database_url)
    engine = jobs.jobs_engine(database_url)
    first, second, other = _job(engine), _job(engine, tag=2), _job(engine, "e")
    assert jobs.records.claim(engine, first, "w1", 30) == "claimed"
    assert jobs.records.claim(engine, first, "w2", 30) == "gone"  # never twice at once
    assert jobs.records.claim(engine, second, "w2", 30) == "busy"  # same dataset waits
    assert jobs.records.claim(engine, other, "w2", 30) == "claimed"  # others run alongside
    assert jobs.records.progress(engine, first, "w1", 30, {"phase": "reading", "rows_read": 7})
    assert not jobs.records.progress(engine, first, "w2", 30, {"rows_read": 9})
    assert jobs.get(engine, first)["rows_read"] == 7
    jobs.records.finish(engine, first, "w1", report={"import_id": 4, "rows_total": 7})
    assert jobs.get(engine, first)["state"] == "done"
    assert jobs.get(engine, first)["import_id"] == 4
    assert jobs.records.claim(engine, second, "w2", 30) == "claimed"  # the dataset is free


def test_a_dead_workers_job_is_retried_once_then_failed(tmp_path, database_url):
    make_app(tmp_path, DATABASE_URL=database_url)
    engine = jobs.jobs_engine(database_url)
    job_id = _job(engine)
    assert jobs.records.claim(engine, job_id, "dies", 1) == "claimed"
    assert jobs.recover_expired(engine) == []  # the lease still runs
    later = store.utcnow() + dt.timedelta(seconds=5)
    assert jobs.recover_expired(engine, now=later) == [job_id]
    job = jobs.get(engine, job_id)
    assert job["state"] == "queued" and job["lease_owner"] is None and job["attempts"] == 1
    # The dataset's lease went with it: another worker takes the job.
    assert jobs.records.claim(engine, job_id, "dies-too", 1) == "claimed"
    assert jobs.recover_expired(engine, now=store.utcnow() + dt.timedelta(seconds=5)) == []
    job = jobs.public(jobs.get(engine, job_id))
    assert job["state"] == "failed" and job["attempts"] == 2
    assert job["error"]["code"] == "worker_lost"
    assert "stopped 2 times" in job["error"]["message"]
    assert "dataset is as it was" in job["error"]["message"]


def test_api_job_errors_and_access(tmp_path, fake_regions):  # noqa: F811
    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    application = make_app(tmp_path, DATABASE_URL=url, REGIONS=fake_regions, QUEUE_WORKERS=0,
                           QUEUE_URL="")
    client = application.test_client()
    operator = {"Authorization": f"Bearer {_token(url)}"}
    with db.engine_for(url).begin() as conn:
        accounts.create_user(conn, "eve", "s3cret-pass")
        eve = {"Authorization": "Bearer " + accounts.create_token(conn, "eve", user_name="eve")}
    bad = client.post("/api/datasets/x/incidents?async=maybe", data=b"a",
                      headers={**operator, "Content-Type": "text/csv"})
    assert bad.status_code == 400 and "async must be true or false" in bad.json["error"]["message"]
    binary = client.post("/api/datasets/x/incidents?async=1", data=b"\x00\x01PK" * 50,
                         headers={**operator, "Content-Type": "text/csv"})
    assert binary.status_code in (415, 422), binary.json  # refused at once, no job
    with jobs.jobs_engine(url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.jobs)).scalar() == 0

    first = client.post("/api/datasets/x/incidents?async=1", data=rows_csv(5),
                        headers={**operator, "Content-Type": "text/csv"})
    again = client.post("/api/datasets/x/incidents?async=1", data=rows_csv(5),
                        headers={**operator, "Content-Type": "text/csv"})
    assert first.status_code == again.status_code == 202
    assert first.json["job"]["id"] == again.json["job"]["id"]  # the same import, one job
    assert first.json["job"]["state"] == "queued"  # no worker threads here
    job_url = first.json["job"]["url"]
    assert client.get(job_url).status_code == 401
    assert client.get(job_url, headers=eve).status_code == 404  # not hers: not there
    assert client.get("/api/jobs/999", headers=operator).status_code == 404
    queued = client.get(job_url, headers=operator).json["job"]
    assert queued["progress"]["percent"] is None and queued["report"] is None


def test_form_import_shows_progress_then_the_report(tmp_path, fake_regions):  # noqa: F811
    url = f"sqlite:///{tmp_path / 'f.sqlite'}"
    application = make_app(tmp_path, DATABASE_URL=url, REGIONS=fake_regions, QUEUE_WORKERS=0,
                           QUEUE_URL="")
    client = application.test_client()
    with db.engine_for(url).begin() as conn:
        accounts.create_user(conn, "ed", "s3cret-pass")
    assert client.post("/auth/login", data={"name": "ed", "password": "s3cret-pass"}
                       ).status_code == 302
    preview = client.post("/upload", data={
        "action": "preview", "dataset": "__new__", "new_slug": "formjob", "mode": "append",
        "file": (io.BytesIO(rows_csv(50)), "f.csv")}, content_type="multipart/form-data")
    page = preview.get_data(as_text=True)
    assert "data-submit-once" in page and "submit-once.js" in page
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    response = client.post("/upload", data=fields)
    assert response.status_code == 302
    job_page = response.headers["Location"]
    assert re.fullmatch(r"/upload/jobs/\d+", job_page)
    waiting = client.get(job_page)
    html = waiting.get_data(as_text=True)
    assert waiting.status_code == 200 and "Waiting for a worker" in html
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in html
    assert "job-progress.js" in html and 'data-url="/api/jobs/' in html
    # Submitted again (a second click): the same job.
    assert client.post("/upload", data=fields).headers["Location"] == job_page

    queue = application.extensions["geomap.job_queue"]
    job_id = int(job_page.rsplit("/", 1)[1])
    assert queue.runner.run(job_id) == "done"  # a worker's turn
    report = client.get(job_page)
    assert report.status_code == 302 and "/upload/formjob/imports/" in report.headers["Location"]
    assert "50" in client.get(report.headers["Location"]).get_data(as_text=True)


def test_cli_import_is_quiet_off_a_terminal_and_with_json(app, runner, fake_regions,  # noqa: F811
                                                           tmp_path):
    source = tmp_path / "c.csv"
    source.write_bytes(rows_csv(200))
    plain = runner.invoke(args=["import-csv", str(source), "--dataset", "cli-bar"])
    assert plain.exit_code == 0 and plain.stderr == ""  # not a terminal: no bar
    quiet = runner.invoke(args=["import-csv", str(source), "--dataset", "cli-bar2", "--json",
                                "--progress"])
    assert quiet.exit_code == 0 and json.loads(quiet.stdout)["rows_imported"] == 200


def test_cli_import_draws_a_progress_bar_on_a_terminal(tmp_path):
    """import-csv on a real terminal (a pseudo-terminal) draws click's bar on stderr."""
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    source = tmp_path / "c.csv"
    source.write_bytes(rows_csv(2000))
    leader, follower = pty.openpty()
    env = {**os.environ, "GEOMAP_INSTANCE_PATH": str(tmp_path / "instance"),
           "GEOMAP_LOAD_SAMPLE": "false", "GEOMAP_TILES": "none", "COLUMNS": "120"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "--app", "geomap", "import-csv",
         str(source), "--dataset", "tty-bar"], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=follower, env=env, timeout=300,
        cwd=Path(__file__).resolve().parent.parent)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert proc.returncode == 0, (proc.stdout, screen)
    text = screen.decode()
    assert "Importing" in text and "Finishing" in text and "2000/2000" in text, text
    assert "100%" in text
    assert "Imported 2,000" in proc.stdout.decode() or "2,000" in proc.stdout.decode()


def test_deploy_worker_unit_and_settings(tmp_path):
    """deploy/'s worker unit and Procfile line run the real command; the env example's
    queue and storage settings are settings the app knows."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from geomap import config

    root = Path(__file__).resolve().parent.parent
    unit = (root / "deploy" / "geomap-worker.service").read_text()
    command = re.search(r"^ExecStart=(\S+)/\.venv/bin/flask (.+)$", unit, re.M).group(2)
    assert command == "--app geomap worker --threads 2"
    assert "worker: flask " + command in (root / "Procfile").read_text()
    shown = subprocess.run([str(Path(sys.executable).parent / "flask"), *command.split(),
                            "--help"], cwd=root, capture_output=True, text=True,
                           env={**os.environ, "GEOMAP_INSTANCE_PATH": str(tmp_path / "i")})
    assert shown.returncode == 0 and "Run background imports" in shown.stdout, shown.stderr
    example = (root / "deploy" / "geomap.env.example").read_text()
    names = set(re.findall(r"^GEOMAP_([A-Z_]+)=", example, re.M))
    assert {"QUEUE_URL", "QUEUE_WORKERS", "STORAGE_URL"} <= names <= set(config.SETTINGS_BY_NAME)
    redis_conf = (root / "deploy" / "redis.conf").read_text()
    assert "bind 127.0.0.1" in redis_conf and "0.0.0.0" not in redis_conf + unit


def test_worker_refuses_an_immediate_queue(runner):
    result = runner.invoke(args=["worker"])
    assert result.exit_code == 1 and "no queue for a worker to read" in result.output


@pytest.mark.parametrize("name, value, message", [
    ("QUEUE_URL", "amqp://127.0.0.1/", "is not a queue"),
    ("STORAGE_URL", "nosuchscheme://bucket/x", "cannot be opened"),
])
def test_a_queue_or_store_that_cannot_be_opened_stops_the_start(tmp_path, name, value,
                                                                 message):
    from geomap.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        make_app(tmp_path, **{name: value})


def test_one_datasets_jobs_run_in_turn_others_alongside(tmp_path, database_url,
                                                         fake_regions):  # noqa: F811
    """Two worker threads, three jobs: two for one dataset (never running at once, the
    second starting after the first ended) and one for another (running alongside)."""
    application = make_app(tmp_path, DATABASE_URL=database_url, REGIONS=fake_regions,
                           QUEUE_URL="", QUEUE_WORKERS=0, JOB_LEASE_S=10.0)
    from geomap.web import job_queue

    queue = job_queue.queue_of(application, embedded=False)
    settings = queue.runner.settings
    submitted = []
    for slug, prefix in (("turns", "a"), ("turns", "b"), ("aside", "c")):
        kept = ingest.preview(io.BytesIO(rows_csv(150_000, prefix)), ingest.Options(), settings)
        submitted.append(jobs.submit_import(queue, sha256=kept["sha256"], dataset=slug,
                                            options=ingest.Options(filename=f"{prefix}.csv"),
                                            actor=access.OPERATOR)["id"])
    engine = queue.runner.engine
    queue.start_embedded(2)
    running_together = []
    deadline = time.time() + 240
    while time.time() < deadline:
        rows = {i: jobs.get(engine, i) for i in submitted}
        running = {rows[i]["dataset"] + str(i) for i in submitted
                   if rows[i]["state"] == "running"}
        running_together.append(running)
        if all(r["state"] in ("done", "failed") for r in rows.values()):
            break
        time.sleep(0.02)
    queue.stop()
    first, second, aside = (jobs.get(engine, i) for i in submitted)
    assert [j["state"] for j in (first, second, aside)] == ["done"] * 3, (
        [j["error"] for j in (first, second, aside)])
    # One dataset's jobs: never both running, the second started after the first finished.
    assert not any({f"turns{submitted[0]}", f"turns{submitted[1]}"} <= seen
                   for seen in running_together)
    ordered = sorted((first, second), key=lambda j: j["started_at"])
    assert ordered[1]["started_at"] >= ordered[0]["finished_at"]
    # The other dataset's job ran while one of them did.
    assert any(f"aside{submitted[2]}" in seen and len(seen) == 2 for seen in running_together)
    with db.engine_for(database_url).connect() as conn:
        assert store.count_incidents(conn, store.get_dataset(conn, "turns")["id"]) == 300_000


def test_a_worker_that_lost_its_lease_stops_its_import(tmp_path, fake_regions):  # noqa: F811
    """A worker that hung past its lease finds the job taken back at its next progress
    write: its import stops and rolls back, and only the new run writes the dataset."""
    url = f"sqlite:///{tmp_path / 'lost.sqlite'}"
    application = make_app(tmp_path, DATABASE_URL=url, REGIONS=fake_regions)
    settings = ingest.Settings.from_config(application.config)
    kept = ingest.preview(io.BytesIO(rows_csv(100_000)), ingest.Options(), settings)
    engine = jobs.jobs_engine(url)
    job_id = jobs.create(engine, kind="import", dataset="lost", params={
        "sha256": kept["sha256"], "options": {"filename": "l.csv"},
        "actor": {"id": None, "name": "cli", "role": "admin"}})

    class Hung(jobs.Runner):
        def _import(self, job, progress):
            # The lease runs out while this worker hangs; a sweep takes the job back.
            assert jobs.recover_expired(engine, now=store.utcnow()
                                        + dt.timedelta(seconds=60)) == [job_id]
            time.sleep(3 * jobs.Heartbeat.interval)
            return super()._import(job, progress)

    hung = Hung(url, settings, regions=lambda: fake_regions, lease_s=30)
    assert hung.run(job_id) == "gone"
    with db.engine_for(url).connect() as conn:
        assert store.get_dataset(conn, "lost", missing_ok=True) is None  # rolled back
    job = jobs.get(engine, job_id)
    assert job["state"] == "queued" and job["lease_owner"] is None
    fresh = jobs.Runner(url, settings, regions=lambda: fake_regions, lease_s=30)
    assert fresh.run(job_id) == "done"
    assert jobs.get(engine, job_id)["report"]["rows_imported"] == 100_000
