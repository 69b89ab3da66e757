"""Shared fixtures: an app per test on temporary paths, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from geomap import create_app, db

PG_ENV = "GEOMAP_TEST_DATABASE_URL"


def pytest_report_header(config):
    url = os.environ.get(PG_ENV)
    return f"PostgreSQL tests: {'on ' + url if url else 'SKIPPED (set ' + PG_ENV + ')'}"


@pytest.fixture
def pg_url():
    """Yield the URL of a new, empty PostgreSQL database, dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL not configured: set {PG_ENV}")
    url = sa.make_url(base)
    name = f"geomap_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    test_url = url.set(database=name).render_as_string(hide_password=False)
    try:
        yield test_url
    finally:
        db.dispose_engine(test_url)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Yield a fresh database URL on each backend (PostgreSQL skipped when not configured)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.sqlite'}"
        yield url
        db.dispose_engine(url)
    else:
        yield request.getfixturevalue("pg_url")


#: Fake collaborators create_app receives when a test asks for the fixture (name -> config key):
#: fake_regions (ingest_helpers) as REGIONS, fake_display_layers (below) as DISPLAY_LAYERS.
INJECTED = {"fake_regions": "REGIONS", "fake_display_layers": "DISPLAY_LAYERS"}


def _injected(request) -> dict:
    """The fakes this test asked for, as create_app config entries (see geomap.web.layers)."""
    return {key: request.getfixturevalue(name) for name, key in INJECTED.items()
            if name in request.fixturenames}


@pytest.fixture
def fake_display_layers():
    """Small display layers (maps_fixtures.display_layers), passed to the app as DISPLAY_LAYERS."""
    from maps_fixtures import display_layers

    return display_layers()


def make_app(tmp_path, **overrides):
    """Create an app on temporary paths; the sample, prerendering and columnar copies are off
    unless asked for,
    and background jobs run in the request that submits them (QUEUE_URL=immediate) unless a
    test asks for a real queue.

    Prerendering (background renders after every import) is asked for by the tests of it
    (tests/test_shared_cache.py): elsewhere its threads would outlive the test's files. So
    are columnar copies (built on threads too; tests/test_columnar_reads.py asks for them).
    """
    config = {"TESTING": True, "INSTANCE_PATH": tmp_path / "instance", "LOAD_SAMPLE": False,
              "SECRET_KEY": "test-secret", "WTF_CSRF_ENABLED": False, "PRERENDER": False,
              "COLUMNAR": False, "QUEUE_URL": "immediate"}
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app_factory(tmp_path, request):
    """Return make_app bound to this test's temporary folder: app_factory(**settings)."""
    made = []

    def factory(**overrides):
        application = make_app(tmp_path, **{**_injected(request), **overrides})
        made.append(application)
        return application

    yield factory
    for application in made:
        db.dispose_engine(application.config["DATABASE_URL"])


@pytest.fixture
def app(tmp_path, request):
    """An app on a temporary SQLite database."""
    application = make_app(tmp_path, **_injected(request))
    yield application
    db.dispose_engine(application.config["DATABASE_URL"])


@pytest.fixture
def any_app(tmp_path, database_url, request):
    """The same app on each backend."""
    return make_app(tmp_path, DATABASE_URL=database_url, **_injected(request))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def conn(any_app):
    """A connection (in a transaction, rolled back) to each backend's migrated database."""
    engine = db.engine_for(any_app.config["DATABASE_URL"])
    with engine.connect() as connection:
        with connection.begin() as tx:
            yield connection
            tx.rollback()
