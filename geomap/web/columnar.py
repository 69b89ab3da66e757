"""Where maps and stats aggregate: the dataset version's columnar copy, or the database.

With ``COLUMNAR`` on, every aggregation of a request (map layers, the tables under maps, the
filter form's values, stats) runs on a read-only DuckDB connection to the copy of exactly the
dataset version the request read (`geomap.store.columnar`). When there is no copy of that
version yet, the request aggregates on the database as before and a background thread builds
the copy; every later request finds it. Copies are built too right after a change commits
(`AfterCommit`, before the prerender), so readers seldom meet a missing one.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from flask import current_app, g

from .. import db, store

LOGGER = logging.getLogger(__name__)

EXTENSION = "geomap.columnar"

#: Seconds before a reader's miss tries again to build a copy whose build failed.
RETRY_AFTER_S = 60.0


class Copies:
    """An app's columnar copies: where they are, the reader, and the builds in flight."""

    def __init__(self, app) -> None:
        self.database_url = app.config["DATABASE_URL"]
        self.folder = Path(app.config["COLUMNAR_FOLDER"])
        self.reader = store.CopyReader(self.folder)
        self.builds: dict[int, threading.Thread] = {}  # dataset id -> build (tests wait)
        self.failed: dict[int, float] = {}  # dataset id -> when its last build failed
        self.lookups: list[threading.Thread] = []  # `changed_later` threads
        self._lock = threading.Lock()

    def build_now(self, dataset_id: int) -> Path | None:
        """Build the copy of a dataset's current version here (None: see `store.build_copy`)."""
        return store.build_copy(db.engine_for(self.database_url), dataset_id, self.folder)

    def build_later(self, dataset_id: int, *, changed: bool = False
                    ) -> threading.Thread | None:
        """Build a dataset's copy on a thread, unless this process is building one or (for
        readers' misses) its last build failed less than `RETRY_AFTER_S` ago: a broken
        folder costs one logged failure a minute, not a thread per request. ``changed``:
        after a commit, which always tries again."""
        with self._lock:
            thread = self.builds.get(dataset_id)
            if thread is not None and thread.is_alive():
                return thread
            failed = self.failed.get(dataset_id)
            if (not changed and failed is not None
                    and time.monotonic() - failed < RETRY_AFTER_S):
                return None

            def run() -> None:
                try:
                    self.build_now(dataset_id)
                    self.failed.pop(dataset_id, None)
                except Exception:  # noqa: BLE001 - readers use the database meanwhile
                    self.failed[dataset_id] = time.monotonic()
                    LOGGER.exception("building the columnar copy of dataset %s failed",
                                     dataset_id)

            # Not a daemon: a process that ends (a command-line import) finishes its build
            # first instead of being stopped inside DuckDB (a stopped build leaves only a
            # partial file, which the next build removes, but no copy).
            thread = threading.Thread(target=run, name="geomap-columnar", daemon=False)
            self.builds[dataset_id] = thread
            thread.start()
            return thread

    def changed_later(self, since: dt.datetime, deleted: bool) -> threading.Thread:
        """After a commit that changed datasets: on a thread (the commit's own connection is
        still being handed back), remove deleted datasets' copies and start building the
        copies of every dataset changed (``updated_at``) at or after ``since``."""
        def run() -> None:
            try:
                if deleted:
                    self.prune_deleted()
                with db.engine_for(self.database_url).connect() as conn:
                    changed = store.changed_since(conn, since)
                for dataset_id, _slug in changed:
                    self.build_later(dataset_id, changed=True)
            except Exception:  # noqa: BLE001 - readers build what they miss
                LOGGER.exception("starting the columnar copies after a change failed")

        # Not a daemon either: a command-line import starts its copy's build before exiting.
        thread = threading.Thread(target=run, name="geomap-columnar-changes", daemon=False)
        with self._lock:
            self.lookups = [t for t in self.lookups if t.is_alive()] + [thread]
        thread.start()
        return thread

    def prune_deleted(self) -> int:
        """Remove the copies of deleted datasets (after a commit that deleted any)."""
        with db.engine_for(self.database_url).connect() as conn:
            return store.prune_deleted(conn, self.folder)

    def wait_for(self, dataset_id: int, timeout: float | None = None) -> None:
        """Wait for this process's build of a dataset's copy, if one is running (or about
        to be: the changes looked up after a commit first)."""
        for lookup in list(self.lookups):
            lookup.join(timeout)
        thread = self.builds.get(dataset_id)
        if thread is not None:
            thread.join(timeout)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the builds started so far (tests)."""
        for lookup in list(self.lookups):
            lookup.join(timeout)
        for thread in list(self.builds.values()):
            thread.join(timeout)


def init_app(app) -> None:
    """Open the app's copies when ``COLUMNAR`` is on; close the request's copy connection
    after each request."""
    if app.config["COLUMNAR"]:
        app.extensions[EXTENSION] = Copies(app)
    app.teardown_appcontext(_close)


def copies_for(app) -> Copies | None:
    """Return an app's columnar copies (None when ``COLUMNAR`` is off)."""
    return app.extensions.get(EXTENSION)


def connection(dataset: dict) -> sa.Connection:
    """Return the connection to aggregate a dataset's version on for this request.

    The copy of that version when there is one, else the request's database connection
    (and the copy is built in the background).
    """
    copies = copies_for(current_app)
    if copies is None:
        return db.get_db()
    opened = g.setdefault("columnar", {})
    key = (dataset["id"], dataset["incidents_version"])
    if key in opened:
        return opened[key]
    engine = copies.reader.engine(dataset)
    if engine is None:
        copies.build_later(dataset["id"])
        return db.get_db()
    try:
        opened[key] = engine.connect()
    except Exception:  # noqa: BLE001 - a copy that cannot be opened is built again
        LOGGER.exception("the columnar copy of dataset %s cannot be opened; rebuilding it",
                         dataset["id"])
        copies.reader.discard(dataset)
        copies.build_later(dataset["id"])
        return db.get_db()
    return opened[key]


def _close(_exc: BaseException | None = None) -> None:
    for conn in g.pop("columnar", {}).values():
        conn.close()
