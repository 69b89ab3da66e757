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

import hashlib
import logging
import os
import pickle
import sqlite3
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


class StoreError(Exception):
    """The shared store could not be read or written (treated as a miss)."""


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
    """Redis: every worker of every app server shares it; the epoch is a counter (INCR)."""

    shared_by_servers = True

    def __init__(self, url: str, prefix: str):
        import redis

        self._errors = (redis.RedisError, OSError)
        self.url = url
        self.prefix = prefix
        # Short timeouts: a Redis that stops answering must not hold readers for long.
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def get(self, key: str) -> Any:
        try:
            raw = self.client.get(self.prefix + key)
        except self._errors as exc:
            raise StoreError(str(exc)) from exc
        return None if raw is None else pickle.loads(raw)

    def set(self, key: str, value: Any) -> None:
        try:
            self.client.set(self.prefix + key,
                            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), ex=ENTRY_TTL)
        except self._errors as exc:
            raise StoreError(str(exc)) from exc

    def epoch(self) -> Any:
        try:
            return self.client.get(self.prefix + "epoch")
        except self._errors as exc:
            raise StoreError(str(exc)) from exc

    def bump_epoch(self) -> None:
        try:
            self.client.incr(self.prefix + "epoch")
        except self._errors as exc:
            raise StoreError(str(exc)) from exc

    def clear(self) -> None:
        try:
            batch = []
            kept = {(self.prefix + name).encode() for name in KEPT}
            for key in self.client.scan_iter(match=_glob_escape(self.prefix) + "*", count=500):
                if key in kept:
                    continue
                batch.append(key)
                if len(batch) >= 500:
                    self.client.unlink(*batch)
                    batch = []
            if batch:
                self.client.unlink(*batch)
        except self._errors as exc:
            raise StoreError(str(exc)) from exc

    def close(self) -> None:
        self.client.close()


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
