"""Shared file storage: files every app server reaches, in the database or an object store.

Uploads kept for preview, import and audit, and rejected-rows files, must outlive the server
that received them: behind a load balancer the next request goes to another server. Two
stores share one interface (`Storage`):

- `DatabaseStorage` (the default): a file is a row of ``stored_files`` and its content rows
  of ``stored_file_chunks`` of at most `CHUNK` bytes, written and read one chunk at a time,
  so a file is never whole in memory. Given a connection, a file is written in the caller's
  transaction (an import's original and rejected rows commit with the import, or not at
  all).
- `FsspecStorage`: any filesystem fsspec knows by URL (``s3://bucket/prefix`` with s3fs
  installed, ``file:///mnt/shared`` for a shared mount), for operators who keep large files
  out of the database.

`storage_for(url, database_url)` picks one from the ``STORAGE_URL`` setting. Keys are
relative paths such as ``uploads/<sha256>.csv``. No Flask.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import sqlalchemy as sa

from .. import db
from ..db import stored_file_chunks, stored_files
from ..errors import ConfigError
from .columns import utcnow

#: Bytes per stored chunk (and per read of a local file while storing it).
CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    """One stored file as listed: its key, size in bytes and when it was stored (UTC)."""

    key: str
    size: int
    created_at: dt.datetime


class Storage(Protocol):
    """What the ingest steps and the doors use of a shared store."""

    name: str

    def exists(self, key: str, conn: sa.Connection | None = None) -> bool: ...

    def put(self, key: str, path: str | os.PathLike, *,
            conn: sa.Connection | None = None) -> int: ...

    def chunks(self, key: str) -> Iterator[bytes] | None: ...

    def fetch(self, key: str, dest: str | os.PathLike) -> bool: ...

    def delete(self, key: str) -> None: ...

    def listing(self, prefix: str) -> list[StoredFile]: ...


class DatabaseStorage:
    """Files in the database, in chunks (tables ``stored_files`` and ``stored_file_chunks``).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The service's database; reads and writes without a caller's connection open their
        own (SQLite writes take the write lock up front, `db.write_connection`).
    chunk : int
        Bytes per stored chunk.
    own_transactions : bool
        Always write in a transaction of its own, never the caller's (SQLite, where the
        files are in a companion file: `storage_for`).
    """

    name = "database"

    def __init__(self, engine: sa.Engine, chunk: int = CHUNK, *,
                 own_transactions: bool = False):
        self.engine = engine
        self.chunk = chunk
        self.own_transactions = own_transactions

    def exists(self, key: str, conn: sa.Connection | None = None) -> bool:
        """Whether a file is stored under `key`."""
        query = sa.select(stored_files.c.key).where(stored_files.c.key == key)
        if conn is not None and not self.own_transactions:
            return conn.execute(query).first() is not None
        with self.engine.connect() as own:
            return own.execute(query).first() is not None

    def put(self, key: str, path: str | os.PathLike, *,
            conn: sa.Connection | None = None) -> int:
        """Store a local file under `key` (replacing what was there), a chunk at a time.

        Parameters
        ----------
        key : str
        path : path
            The local file; read in chunks of `CHUNK` bytes.
        conn : sqlalchemy.Connection, optional
            Write in this connection's transaction (unless `own_transactions`); without it,
            in a transaction of its own.

        Returns
        -------
        int
            The number of bytes stored.
        """
        if conn is not None and not self.own_transactions:
            return self._put(conn, key, Path(path))
        with db.write_connection(self.engine) as own, own.begin():
            return self._put(own, key, Path(path))

    def _put(self, conn: sa.Connection, key: str, path: Path) -> int:
        # A file stored again replaces the old one (its chunks go with it: ON DELETE
        # CASCADE); the file's row first (the chunks' foreign key), its totals at the end.
        conn.execute(sa.delete(stored_files).where(stored_files.c.key == key))
        conn.execute(sa.insert(stored_files).values(key=key, size=0, chunks=0,
                                                    created_at=utcnow()))
        size = seq = 0
        with open(path, "rb") as source:
            while chunk := source.read(self.chunk):
                conn.execute(sa.insert(stored_file_chunks).values(key=key, seq=seq,
                                                                  data=chunk))
                size += len(chunk)
                seq += 1
        conn.execute(sa.update(stored_files).where(stored_files.c.key == key)
                     .values(size=size, chunks=seq))
        return size

    def chunks(self, key: str) -> Iterator[bytes] | None:
        """The file's content as chunks (one query each, on a connection of its own held
        while the iterator runs), or None if nothing is stored under `key`."""
        with self.engine.connect() as conn:
            count = conn.execute(sa.select(stored_files.c.chunks)
                                 .where(stored_files.c.key == key)).scalar()
        if count is None:
            return None
        return self._chunks(key, count)

    def _chunks(self, key: str, count: int) -> Iterator[bytes]:
        query = sa.select(stored_file_chunks.c.data).where(
            stored_file_chunks.c.key == key, stored_file_chunks.c.seq == sa.bindparam("seq"))
        with self.engine.connect() as conn:
            for seq in range(count):
                data = conn.execute(query, {"seq": seq}).scalar()
                if data is None:  # deleted while being read (pruned): end, not a half file
                    raise FileNotFoundError(f"{key} was removed while being read")
                yield bytes(data)

    def fetch(self, key: str, dest: str | os.PathLike) -> bool:
        """Copy the stored file to a local path (written under a temporary name, then
        renamed); False if nothing is stored under `key`."""
        chunks = self.chunks(key)
        return chunks is not None and _write_local(chunks, Path(dest))

    def delete(self, key: str) -> None:
        """Remove a stored file (its chunks go with it)."""
        with db.write_connection(self.engine) as conn, conn.begin():
            conn.execute(sa.delete(stored_file_chunks).where(stored_file_chunks.c.key == key))
            conn.execute(sa.delete(stored_files).where(stored_files.c.key == key))

    def listing(self, prefix: str) -> list[StoredFile]:
        """The stored files whose keys start with `prefix`."""
        query = (sa.select(stored_files.c.key, stored_files.c.size, stored_files.c.created_at)
                 .where(stored_files.c.key.startswith(prefix, autoescape=True))
                 .order_by(stored_files.c.key))
        with self.engine.connect() as conn:
            return [StoredFile(*row) for row in conn.execute(query)]


class FsspecStorage:
    """Files in any filesystem fsspec opens by URL (S3-compatible stores with s3fs).

    Parameters
    ----------
    url : str
        The root, e.g. ``s3://bucket/geomap`` or ``file:///srv/shared/geomap``.
    """

    name = "fsspec"

    def __init__(self, url: str):
        import fsspec

        try:
            self.fs, self.root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise ConfigError(f"GEOMAP_STORAGE_URL={url!r} cannot be opened: {exc}") from None
        self.root = self.root.rstrip("/")
        self.name = url

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def exists(self, key: str, conn: sa.Connection | None = None) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def put(self, key: str, path: str | os.PathLike, *,
            conn: sa.Connection | None = None) -> int:
        """Upload a local file (streamed by fsspec); `conn` is not used here."""
        target = self._path(key)
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self.fs.put_file(str(path), target)
        return os.path.getsize(path)

    def chunks(self, key: str) -> Iterator[bytes] | None:
        if not self.exists(key):
            return None
        return self._chunks(key)

    def _chunks(self, key: str) -> Iterator[bytes]:
        with self.fs.open(self._path(key), "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def fetch(self, key: str, dest: str | os.PathLike) -> bool:
        chunks = self.chunks(key)
        return chunks is not None and _write_local(chunks, Path(dest))

    def delete(self, key: str) -> None:
        if self.exists(key):
            self.fs.rm_file(self._path(key))

    def listing(self, prefix: str) -> list[StoredFile]:
        folder, _, start = prefix.rpartition("/")
        base = self._path(folder) if folder else self.root
        if not self.fs.exists(base):
            return []
        out = []
        for info in self.fs.ls(base, detail=True):
            name = info["name"].rstrip("/").rsplit("/", 1)[-1]
            if info.get("type") != "file" or not name.startswith(start):
                continue
            key = f"{folder}/{name}" if folder else name
            out.append(StoredFile(key, int(info.get("size") or 0), _modified(self.fs, info)))
        return sorted(out, key=lambda f: f.key)


def _modified(fs, info: dict) -> dt.datetime:
    """When an fsspec file was written, as naive UTC (as ``stored_files.created_at``)."""
    stamp = info.get("mtime") or info.get("LastModified") or info.get("created")
    if stamp is None:
        try:
            stamp = fs.modified(info["name"])
        except (NotImplementedError, OSError):
            return utcnow()
    if isinstance(stamp, (int, float)):
        return dt.datetime.fromtimestamp(stamp, dt.timezone.utc).replace(tzinfo=None)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return stamp


def _write_local(chunks: Iterator[bytes], dest: Path) -> bool:
    """Write chunks to `dest` through a temporary file, so no reader sees half a file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f"tmp-{uuid.uuid4().hex}.part"
    try:
        with open(tmp, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


_STORES: dict[tuple[str, str], Storage] = {}
_STORES_LOCK = threading.Lock()


def storage_for(url: str, database_url: str) -> Storage:
    """The process-wide store for a ``STORAGE_URL`` setting: the database when it is empty
    or ``database`` (on SQLite its companion file ``<database>-files``, written in
    transactions of its own, `db.side_engine`: an import holds SQLite's write lock while a
    preview is kept), else the fsspec filesystem it names."""
    url = (url or "").strip()
    key = (url, database_url if url in ("", "database") else "")
    with _STORES_LOCK:
        if key not in _STORES:
            if url in ("", "database"):
                engine = db.side_engine(database_url, "files",
                                        [stored_files, stored_file_chunks])
                _STORES[key] = DatabaseStorage(
                    engine, own_transactions=engine is not db.engine_for(database_url))
            else:
                _STORES[key] = FsspecStorage(url)
        return _STORES[key]
