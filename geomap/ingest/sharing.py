"""The shared copies of uploads and rejected-rows files, seen from ingest.

A server receives a file into its upload folder (its working copy) and shares it through
`Settings.storage` (`geomap.store.blobs`), so that any server can import a preview made on
another, and serve an import's original file or rejected rows. Keys: ``uploads/<sha256>.csv``
(the name recorded as ``imports.stored_path``) and ``rejected/<import_id>.csv``. Without a
store (``storage=None``) every function here is the upload folder alone. No Flask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import sqlalchemy as sa

from .settings import Settings


def upload_key(name: str) -> str:
    """The shared key of an upload kept as `name` (``<sha256>.csv``)."""
    return f"uploads/{name}"


def rejected_key(import_id: int) -> str:
    """The shared key of an import's rejected-rows file."""
    return f"rejected/{int(import_id)}.csv"


def share(settings: Settings, key: str, path: Path, *, conn: sa.Connection | None = None,
          replace: bool = False) -> None:
    """Store a local file under `key` in the shared store (in `conn`'s transaction when the
    store is the database); content-addressed uploads already there are not stored again."""
    storage = settings.storage
    if storage is None:
        return
    if not replace and storage.exists(key, conn=conn):
        return
    storage.put(key, path, conn=conn)


def local_copy(settings: Settings, key: str, path: Path) -> Path | None:
    """The local working copy `path` of a shared file, fetched from the store when this
    server does not hold it; None when neither has it."""
    if path.is_file():
        return path
    if settings.storage is not None and settings.storage.fetch(key, path):
        return path
    return None


def open_shared(settings: Settings, key: str, path: Path) -> Iterator[bytes] | None:
    """The content of a shared file as chunks, from the store (or the local copy when there
    is no store, or the store lacks it); None when neither has it."""
    if settings.storage is not None:
        chunks = settings.storage.chunks(key)
        if chunks is not None:
            return chunks
    if path.is_file():
        return _read_chunks(path)
    return None


def _read_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk
