"""The shared tier of the render cache: one store for every worker, and for every app server.

`GEOMAP_CACHE_URL` chooses it (`open_store`):

- empty (the default): a `diskcache.Cache` in ``instance/cache`` — SQLite in WAL mode with
  bodies over 32 KB as files beside it, safe across processes and threads, bounded by
  ``CACHE_SIZE_MB`` (least recently stored entries go first). Every worker of one server
  shares it; nothing to install or run. diskcache rather than a file-per-key cache (such as
  Flask-Caching's filesystem backend, which prunes by counting files, not bytes): it reads
  an entry with one indexed SELECT, writes atomically across processes and evicts by size.
- ``redis://host:6379/0`` (or ``rediss://``, ``unix://``): Redis, shared by every app server
  at scale. Entries expire after `ENTRY_TTL` if Redis's own ``maxmemory`` policy has not
  dropped them first (deploy/redis.conf sets ``allkeys-lru``).
- ``memory``: no shared tier: each process its own in-memory cache, and every request reads
  the dataset's version from the database (development, or one process).

Each store also keeps the version *epoch* (`epoch`, `bump_epoch`): a value that changes after
every committed write of a ``datasets`` row, in any process (`geomap.web.versions`).

Keys are namespaced by the database the server serves (`namespace`), so two deployments
sharing one Redis never read each other's entries. Values are pickled: the store belongs to
the same operator as the app (Redis bound to loopback or a private network), like the
database. A store that fails (Redis down, disk full) is a miss, logged, never a 500: the
app renders instead, as it would with an empty cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

LOGGER = logging.getLogger(__name__)

#: How long Redis keeps an entry nobody rewrote (renderings of old versions age out).
ENTRY_TTL = 7 * 24 * 3600


#: Entries `clear` keeps: they tell versions apart (`geomap.web.versions.Heads`), and
#: emptying the cache is no change of any dataset.
KEPT = ("epoch", "generation")


#: Longest a rendering holds its lock; past it another worker may render the same key.
LOCK_SECONDS = 60


class StoreError(Exception):
    """The shared store could not be read or written (treated as a miss)."""


class _Guarded:
    """A store's lock as a context manager that never fails its caller.

    If the lock cannot be taken (the store failing, or the wait running out) the caller goes
    on without it: at worst two workers render the same map, as without a shared cache.
    """

    def __init__(self, lock, errors: tuple):
        self.lock = lock
        self.errors = errors
        self.held = False

    def __enter__(self):
        try:
            self.held = self.lock.acquire() is not False
        except self.errors as exc:
            LOGGER.warning("render lock not taken: %s", exc)
        return self

    def __exit__(self, *exc_info):
        if self.held:
            try:
                self.lock.release()
            except self.errors as exc:  # expired meanwhile, or the store went away
                LOGGER.warning("render lock not released: %s", exc)
        return False


class DiskStore:
    """diskcache in a folder: every process of one server shares it.

    The version epoch (`epoch`, `bump_epoch`) is a small file beside it, replaced on every
    bump: checking it is one ``stat`` (its inode and modification time), far cheaper than
    any read of the database or of the cache itself.
    """

    #: The processes of one server share it; other servers have their own.
    shared_by_servers = False

    def __init__(self, directory: str | Path, size_mb: float, prefix: str):
        import diskcache

        self.directory = Path(directory)
        self.prefix = prefix
        self._errors = (diskcache.Timeout, sqlite3.Error, OSError)
        # least-recently-stored: a read never writes (least-recently-used would update
        # each entry's access time on every hit, a write per request).
        self.cache = diskcache.Cache(str(self.directory), size_limit=int(size_mb * 1024 * 1024),
                                     eviction_policy="least-recently-stored", timeout=5)
        self._epoch = self.directory / (prefix.replace(":", "-") + "epoch")

    def get(self, key: str) -> Any:
        try:
            return self.cache.get(self.prefix + key)
        except self._errors as exc:
            raise StoreError(str(exc)) from exc

    def set(self, key: str, value: Any) -> None:
        try:
            self.cache.set(self.prefix + key, value)
        except self._errors as exc:
            raise StoreError(str(exc)) from exc

    def lock(self, key: str):
        """A lock every process of this server sees (held at most `LOCK_SECONDS`)."""
        import diskcache

        return _Guarded(diskcache.Lock(self.cache, self.prefix + "lock:" + key,
                                       expire=LOCK_SECONDS), self._errors)

    def epoch(self) -> Any:
        """A value that changes whenever `bump_epoch` runs, in any process (None: never)."""
        try:
            st = os.stat(self._epoch)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(str(exc)) from exc
        return st.st_ino, st.st_mtime_ns, st.st_size

    def bump_epoch(self) -> None:
        # A new file each time (write, then rename over the old one): a new inode, so the
        # signature changes even when two bumps land within the clock's resolution.
        tmp = self._epoch.with_name(f"{self._epoch.name}.{os.getpid()}.{uuid.uuid4().hex}")
        try:
            tmp.write_text(uuid.uuid4().hex)
            os.replace(tmp, self._epoch)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(str(exc)) from exc

    def clear(self) -> None:
        try:
            kept = {self.prefix + name for name in KEPT}
            for key in list(self.cache.iterkeys()):
                if isinstance(key, str) and key.startswith(self.prefix) and key not in kept:
                    self.cache.delete(key)
        except self._errors as exc:
            raise StoreError(str(exc)) from exc

    def close(self) -> None:
        self.cache.close()


class RedisStore:
    """Redis: every worker of every app server shares it; the epoch is a counter (INCR).

    After a failure the store is left alone for `PAUSE` seconds (every call a StoreError at
    once): a Redis host that stopped answering would otherwise cost each request the
    connection timeout.
    """

    shared_by_servers = True
    PAUSE = 5.0

    def __init__(self, url: str, prefix: str):
        import redis

        self._errors = (redis.RedisError, OSError)
        self.url = url
        self.prefix = prefix
        self._paused_until = 0.0
        self._listener: _EpochListener | None = None
        self._lock = threading.Lock()
        # Short timeouts: a Redis that stops answering must not hold readers for long.
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def _call(self, method: str, *args, **kwargs) -> Any:
        if time.monotonic() < self._paused_until:
            raise StoreError(f"{self.url}: paused after a failure")
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except self._errors as exc:
            self._paused_until = time.monotonic() + self.PAUSE
            raise StoreError(f"{self.url}: {exc}") from exc

    def get(self, key: str) -> Any:
        raw = self._call("get", self.prefix + key)
        return None if raw is None else pickle.loads(raw)

    def set(self, key: str, value: Any) -> None:
        self._call("set", self.prefix + key,
                   pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), ex=ENTRY_TTL)

    def lock(self, key: str):
        """A lock every process of every server sees (held at most `LOCK_SECONDS`)."""
        if time.monotonic() < self._paused_until:
            return contextlib.nullcontext()
        return _Guarded(self.client.lock(self.prefix + "lock:" + key, timeout=LOCK_SECONDS,
                                         blocking_timeout=LOCK_SECONDS), self._errors)

    def epoch(self) -> Any:
        """The epoch as this process's listener last heard it, else read (one GET)."""
        listener = self._listener
        if listener is None or listener.pid != os.getpid() or not listener.live:
            listener = self._listen()
        if listener is not None and listener.live:
            return listener.value
        return int(self._call("get", self.prefix + "epoch") or 0)

    def bump_epoch(self) -> None:
        value = self._call("incr", self.prefix + "epoch")
        self._call("publish", self.prefix + "epoch", value)

    def _listen(self) -> "_EpochListener | None":
        """Start this process's epoch listener (after a fork too); None while Redis is away."""
        if time.monotonic() < self._paused_until:
            return None
        with self._lock:
            listener = self._listener
            if listener is None or listener.pid != os.getpid() or not listener.live:
                try:
                    listener = self._listener = _EpochListener(self.client,
                                                               self.prefix + "epoch")
                except self._errors as exc:
                    self._paused_until = time.monotonic() + self.PAUSE
                    LOGGER.warning("%s: epoch listener not started: %s", self.url, exc)
                    return None
        return listener

    def clear(self) -> None:
        kept = {(self.prefix + name).encode() for name in KEPT}
        found = self._call("scan_iter", match=_glob_escape(self.prefix) + "*", count=500)
        try:
            keys = [key for key in found if key not in kept]
        except self._errors as exc:
            raise StoreError(f"{self.url}: {exc}") from exc
        for start in range(0, len(keys), 500):
            self._call("unlink", *keys[start:start + 500])

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        self.client.close()


class _EpochListener:
    """The epoch as published on its Redis channel, heard by a thread of this process.

    So a 304 costs no round trip to Redis either: `RedisStore.bump_epoch` publishes each
    new value (INCR, then PUBLISH on a channel named like the key). The listener subscribes
    first, waits for Redis to confirm, and only then reads the current value, so no bump
    between the two is missed. If its connection fails it stops being ``live`` and
    `RedisStore.epoch` reads the key again (and starts a new listener after the pause).
    """

    def __init__(self, client, key: str):
        self.pid = os.getpid()
        self.live = False
        self.pubsub = client.pubsub()
        self.pubsub.subscribe(**{key: self._heard})
        deadline = time.monotonic() + 2
        while True:  # the subscription's confirmation
            message = self.pubsub.get_message(timeout=0.2)
            if message is not None and message["type"] == "subscribe":
                break
            if time.monotonic() > deadline:
                self.pubsub.close()
                raise OSError("no subscription confirmation within 2 s")
        self.value = int(client.get(key) or 0)
        self.thread = self.pubsub.run_in_thread(sleep_time=1.0, daemon=True,
                                                exception_handler=self._failed)
        self.live = True

    def _heard(self, message) -> None:
        self.value = max(self.value, int(message["data"]))

    def _failed(self, exc, pubsub, thread) -> None:
        if self.live:  # not when stop() closed it
            LOGGER.warning("epoch listener stopped: %s", exc)
        self.live = False
        thread.stop()
        pubsub.close()

    def stop(self) -> None:
        self.live = False
        self.thread.stop()


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def open_store(url: str, database_url: str, instance_path: str | Path, size_mb: float):
    """Return the shared store a ``CACHE_URL`` names (None: ``memory``, no shared tier).

    Raises ValueError for a URL it does not know (the message names the setting).
    """
    url = (url or "").strip()
    prefix = namespace(database_url)
    if not url:
        return DiskStore(Path(instance_path) / "cache", size_mb, prefix)
    if url == "memory":
        return None
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("redis", "rediss", "unix"):
        return RedisStore(url, prefix)
    if scheme == "file":
        return DiskStore(url.split("://", 1)[1], size_mb, prefix)
    raise ValueError(f"GEOMAP_CACHE_URL={url!r}: expected empty (a cache in the instance "
                     "folder), redis://host:port/db, file:///folder or memory")


def namespace(database_url: str) -> str:
    """Return the key prefix of a database's entries (its URL without the password, hashed).

    Servers share entries when they name the database by the same URL; two deployments on
    one Redis, with different databases, never see each other's.
    """
    text = sa.make_url(database_url).render_as_string(hide_password=True)
    return "geomap:" + hashlib.sha256(text.encode()).hexdigest()[:12] + ":"
