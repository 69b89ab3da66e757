"""Dataset versions for the hot paths, without a database read per request.

Every map, embed and PNG request needs its dataset's head (id, slug, version, published,
created) to compute the ETag. `Heads` keeps the heads this process read, each under the
shared store's *epoch* (`geomap.web.shared_cache`) as it was before the read, and serves
them while the epoch is unchanged and they are younger than ``CACHE_VERSION_TTL`` seconds:
a 304 then costs one ``stat`` of the epoch file (diskcache) or one Redis ``GET``, not a
database round trip.

The epoch changes after every committed transaction that wrote a ``datasets`` row, whatever
door wrote it: imports and edits through `store.incidents_changed` and
`store.update_dataset` bump the version, publishing and unpublishing and title edits go
through `store.update_dataset`, deleting a dataset deletes its row. SQLAlchemy events watch
for those statements on every engine (`_watch`) and, once the transaction has committed
(the connection goes back to its pool, or begins its next transaction), bump the epoch of
every cache serving that database (`subscribe`). The order makes it race-free: a head read
before a commit was filed under the epoch before the bump, so it is never served after it.
A change made around the app (SQL by hand) is picked up within the TTL, the safety net.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import uuid
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from .render_cache import read_head
from .shared_cache import StoreError

LOGGER = logging.getLogger(__name__)

_WRITTEN = "geomap.datasets_written"
_DELETED = "geomap.datasets_deleted"
_COMMITTED = "geomap.datasets_committed"
_BEGAN = "geomap.began"
#: A statement that writes the datasets table (SQLAlchemy's own text, or hand-written SQL).
_DATASETS_DML = re.compile(r'\s*(update|delete\s+from|insert\s+into)\s+"?datasets"?[\s(]',
                           re.IGNORECASE)


class Heads:
    """The dataset heads this process read, valid while the shared epoch stays the same.

    ``store`` is the shared store whose epoch every writer of the database bumps: Redis,
    or the instance folder's cache when the database is SQLite (on that server too). None
    (no shared tier, or a cache local to a server whose PostgreSQL other servers write to):
    every lookup reads the database, as nothing would tell this process of the change.
    """

    #: Slugs remembered (a site has a handful; bounded against slug scans).
    SIZE = 4096

    def __init__(self, database_url: str, store, ttl: float):
        self.database_url = database_url
        self.store = store
        self.ttl = ttl
        self._last: Any = None
        #: Changed by every deletion of datasets (`changed`); part of every ETag, since a
        #: new dataset of a deleted one's slug may get its id and version back (SQLite).
        self.generation = ""
        self._table: dict[str, tuple[Any, float, tuple | None]] = {}
        self.reads = 0  # database reads (tests count them)

    def _epoch(self) -> Any:
        if self.store is None:
            return None
        try:
            epoch = self.store.epoch()
        except StoreError as exc:
            LOGGER.warning("cache epoch unreadable, reading the database: %s", exc)
            # A change made meanwhile may not have moved the epoch: start afresh after.
            self._table.clear()
            return None
        epoch = ("epoch", epoch)
        if epoch != self._last:  # something changed somewhere: maybe a deletion
            try:
                self.generation = self.store.get("generation") or ""
            except StoreError as exc:
                LOGGER.warning("cache generation unreadable, reading the database: %s", exc)
                return None
            self._last = epoch
        return epoch

    def get(self, slug: str) -> tuple | None:
        """Return (id, slug, version, published, created) of a dataset, or None if unknown."""
        epoch = self._epoch()
        if epoch is not None:
            entry = self._table.get(slug)
            if entry is not None and entry[0] == epoch and entry[1] > time.monotonic():
                return entry[2]
        return self._read(slug, epoch)

    def fresh(self, slug: str) -> tuple | None:
        """Return the head as the database has it now (and remember it)."""
        return self._read(slug, self._epoch())

    def _read(self, slug: str, epoch: Any) -> tuple | None:
        # The epoch was read before the database: a change committed in between bumps it
        # after this read, so this entry is never served past the change.
        row = read_head(self.database_url, slug)
        self.reads += 1
        if epoch is not None:
            if len(self._table) >= self.SIZE:
                self._table.clear()
            self._table[slug] = (epoch, time.monotonic() + self.ttl, row)
        return row

    def changed(self, deleted: bool = False) -> None:
        """A datasets row changed (committed): move the shared epoch on, for every process.

        ``deleted``: datasets were deleted; a new generation changes every ETag.
        """
        self._table.clear()
        if deleted:
            self.generation = uuid.uuid4().hex[:8]
        if self.store is not None:
            try:
                if deleted:  # before the epoch: whoever sees the new epoch reads it
                    self.store.set("generation", self.generation)
                self.store.bump_epoch()
            except StoreError as exc:
                LOGGER.error("cache epoch not bumped (maps may be stale for up to %s s): %s",
                             self.ttl, exc)


# --- after commit --------------------------------------------------------------------------

_SUBSCRIBERS: dict[str, "weakref.WeakSet"] = {}
_LOCK = threading.Lock()
_INSTALLED = False


def url_key(database_url: str | sa.URL) -> str:
    """The form of a database URL subscriptions are keyed by (engines render it the same)."""
    return sa.make_url(database_url).render_as_string(hide_password=False)


def subscribe(database_url: str, subscriber) -> None:
    """Call ``subscriber.datasets_committed(began, deleted)`` after every committed write
    of a datasets row on that database, in this process (``began``: when the transaction
    began, UTC; ``deleted``: it deleted datasets). Held weakly: an app that goes away stops
    being called."""
    _install()
    with _LOCK:
        _SUBSCRIBERS.setdefault(url_key(database_url), weakref.WeakSet()).add(subscriber)


def _install() -> None:
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return
        event.listen(sa.Engine, "begin", _begin)
        event.listen(sa.Engine, "after_cursor_execute", _watch)
        event.listen(sa.Engine, "commit", _commit)
        event.listen(sa.Engine, "rollback", _rollback)
        event.listen(sa.pool.Pool, "checkin", _checkin)
        _INSTALLED = True


def _begin(conn: sa.Connection) -> None:
    _notify(conn.info)  # a committed transaction's connection used again without checkin
    conn.info[_BEGAN] = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _watch(conn, _cursor, statement, _parameters, _context, _executemany) -> None:
    match = _DATASETS_DML.match(statement)
    if match:
        conn.info[_WRITTEN] = True
        if match.group(1)[:1].lower() == "d":
            conn.info[_DELETED] = True


def _commit(conn: sa.Connection) -> None:
    # Fired just before COMMIT: remember it; act once the connection is handed back.
    if conn.info.pop(_WRITTEN, False):
        conn.info[_COMMITTED] = (url_key(conn.engine.url), conn.info.get(_BEGAN),
                                 conn.info.pop(_DELETED, False))


def _rollback(conn: sa.Connection) -> None:
    conn.info.pop(_WRITTEN, None)
    conn.info.pop(_DELETED, None)


def _checkin(_dbapi_connection, record) -> None:
    if record is not None:
        _notify(record.info)


def _notify(info: dict) -> None:
    pending = info.pop(_COMMITTED, None)
    if pending is None:
        return
    key, began, deleted = pending
    with _LOCK:
        subscribers = list(_SUBSCRIBERS.get(key, ()))
    for subscriber in subscribers:
        try:
            subscriber.datasets_committed(began, deleted)
        except Exception:  # noqa: BLE001 - the commit happened; a cache must not undo it
            LOGGER.exception("cache not told of a committed dataset change")

