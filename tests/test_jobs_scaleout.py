"""Stateless app servers with separate workers: two gunicorn servers and `flask worker`
processes on one database and one Redis queue. An import posted to one server is followed
to completion from the other; a worker killed mid-job (SIGKILL) leaves the dataset as it
was, and its job is retried once, then failed with the reason."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from geomap import accounts, db, store

from servers import ROOT, gunicorn, http
from test_jobs import rows_csv

pytestmark = pytest.mark.slow
REDIS = "redis://127.0.0.1:6379"


def _redis_or_skip() -> str:
    import redis

    url = f"{REDIS}/{random.randint(1, 15)}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return url


@contextmanager
def worker(env: dict, log: Path):
    """A `flask --app geomap worker` process; stopped (SIGTERM) when the block ends."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "flask"), "--app", "geomap", "worker",
             "--threads", "2"], cwd=ROOT, env={**os.environ, **env}, stdout=out,
            stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _job(base: str, url: str, auth: dict) -> dict:
    status, _h, body = http("GET", base + url, headers=auth)
    assert status == 200, body
    return json.loads(body)["job"]


def _until(base: str, url: str, auth: dict, test, timeout: float = 240) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = _job(base, url, auth)
        if test(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job never got there: {job}")


def _dataset(url: str, slug: str) -> tuple[int, int]:
    with db.engine_for(url).connect() as conn:
        dataset = store.get_dataset(conn, slug)
        return store.count_incidents(conn, dataset["id"]), dataset["version"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_app_servers_and_workers_share_jobs(tmp_path, backend, request, app_factory):
    queue = _redis_or_skip()
    url = (request.getfixturevalue("pg_url") if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'shared.sqlite'}")
    app_factory(DATABASE_URL=url)  # migrated
    with db.engine_for(url).begin() as conn:
        token = accounts.create_token(conn, "operator")
    auth = {"Authorization": f"Bearer {token}"}
    common = {"GEOMAP_DATABASE_URL": url, "GEOMAP_SECRET_KEY": "same-on-every-server",
              "GEOMAP_LOAD_SAMPLE": "false", "GEOMAP_TILES": "none",
              "GEOMAP_QUEUE_URL": queue, "GEOMAP_QUEUE_WORKERS": "0",
              "GEOMAP_JOB_LEASE_S": "3"}
    places = {name: tmp_path / name for name in ("one", "two", "w1", "w2", "w3")}
    for folder in places.values():
        folder.mkdir()
    env = {name: {**common, "GEOMAP_INSTANCE_PATH": str(folder / "instance")}
           for name, folder in places.items()}
    small, big = rows_csv(2000, "s"), rows_csv(600_000, "b")
    csv = {**auth, "Content-Type": "text/csv"}
    with gunicorn(env["one"], workers=1) as one, gunicorn(env["two"], workers=1) as two:
        # Posted to one, run by a worker, followed from two; the original from either.
        with worker(env["w1"], places["w1"] / "worker.log"):
            status, headers, body = http("POST", one + "/api/datasets/far/incidents?async=1",
                                         small, csv)
            assert status == 202, body
            job = json.loads(body)["job"]
            assert headers["Location"] == job["url"]
            done = _until(two, job["url"], auth, lambda j: j["state"] in ("done", "failed"))
            assert done["state"] == "done", done
            assert done["report"]["rows_imported"] == 2000
            assert _job(one, job["url"], auth)["report"] == done["report"]
            status, _h, original = http(
                "GET", f"{two}/api/datasets/far/imports/{done['import_id']}/original",
                headers=auth)
            assert status == 200 and original == small
        before = _dataset(url, "far")
        assert before[0] == 2000

        # A worker killed mid-job: nothing written, the job retried by the next worker.
        status, _h, body = http("POST", two + "/api/datasets/far/incidents?async=1", big, csv)
        assert status == 202, body
        big_job = json.loads(body)["job"]
        with worker(env["w1"], places["w1"] / "worker.log") as first:
            running = _until(one, big_job["url"], auth,
                             lambda j: j["progress"]["rows_read"] > 0)
            assert running["state"] == "running" and running["attempts"] == 1
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert _dataset(url, "far") == before
        with worker(env["w2"], places["w2"] / "worker.log") as second:
            again = _until(two, big_job["url"], auth,
                           lambda j: j["attempts"] == 2 and j["progress"]["rows_read"] > 0)
            assert again["state"] == "running"
            second.send_signal(signal.SIGKILL)  # and this one dies too
            second.wait()
        assert _dataset(url, "far") == before
        with worker(env["w3"], places["w3"] / "worker.log"):
            failed = _until(one, big_job["url"], auth, lambda j: j["state"] == "failed",
                            timeout=60)
            assert failed["error"]["code"] == "worker_lost"
            assert "stopped 2 times" in failed["error"]["message"]
            assert _dataset(url, "far") == before
            # The dataset is free again: the next import runs.
            status, _h, body = http("POST", one + "/api/datasets/far/incidents?async=1",
                                    rows_csv(10, "t"), csv)
            after = _until(two, json.loads(body)["job"]["url"], auth,
                           lambda j: j["state"] in ("done", "failed"))
            assert after["state"] == "done" and after["report"]["rows_imported"] == 10
        assert _dataset(url, "far")[0] == 2010
