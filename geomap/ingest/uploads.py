"""The upload folder: files kept for the audit trail, and pruning what nothing refers to.

An upload is stored as ``<sha256>.csv`` when it is previewed or imported; imports record that
name (``imports.stored_path``) so the original file of every import stays downloadable.
Previews that were never imported, the files of deleted datasets' imports (their records
stay, as the audit trail), rejected-row files of deleted imports and temporary files left by
a killed process are referred to by nothing; `prune` removes them once they are
older than a grace period (an editor may still be looking at a preview). With a shared store
(`Settings.storage`) the same rule prunes its ``uploads/`` and ``rejected/`` files, and a
local file the store also holds is only this server's working copy: it goes after the grace
period even when an import refers to it (the store's copy is served). This module never
imports Flask.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..db import imports

_UPLOAD = re.compile(r"^[0-9a-f]{64}\.csv$")
_REJECTED = re.compile(r"^([0-9]+)\.csv$")
_TEMPORARY = re.compile(r"^tmp-[0-9a-f]{32}\.(part|csv)$")


@dataclass
class Pruned:
    """What `prune` removed (or would remove) and kept."""

    removed: list[Path] = field(default_factory=list)
    removed_bytes: int = 0
    kept: int = 0
    shared_removed: list[str] = field(default_factory=list)  # keys in the shared store
    shared_bytes: int = 0
    shared_kept: int = 0


def prune(conn: sa.Connection, folder: str | Path, *, older_than_s: float,
          dry_run: bool = False, now: float | None = None, storage: Any = None) -> Pruned:
    """Remove upload-folder files no import refers to, if older than ``older_than_s``.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Connection to the database whose imports refer to the files.
    folder : path
        The upload folder (``UPLOAD_FOLDER``).
    older_than_s : float
        Grace period in seconds, measured from each file's modification time.
    dry_run : bool
        List what would be removed without removing it.
    now : float, optional
        Current time (``time.time()``), for tests.
    storage : store.Storage, optional
        The shared store (`Settings.storage`), pruned by the same rule.

    Returns
    -------
    Pruned
        The removed paths (and shared keys) and the number of files kept. Files whose names
        the service does not write are never touched.
    """
    folder = Path(folder)
    cutoff = (time.time() if now is None else now) - older_than_s
    # Imports of deleted datasets stay as the audit trail but no longer keep their files.
    live = imports.c.dataset_id.is_not(None)
    stored = {name for (name,) in conn.execute(
        sa.select(imports.c.stored_path).where(imports.c.stored_path.is_not(None), live))}
    import_ids = {str(i) for (i,) in conn.execute(sa.select(imports.c.id).where(live))}
    result = Pruned()
    shared: set[str] = set()
    if storage is not None:
        shared = _prune_shared(storage, result, stored, import_ids, cutoff, dry_run)
    if not folder.is_dir():
        return result
    for path, referenced in _candidates(folder, stored, import_ids):
        stat = path.stat()
        if _shared_key(folder, path) in shared:
            referenced = False  # a working copy of what the store keeps
        if referenced or stat.st_mtime > cutoff:
            result.kept += 1
            continue
        result.removed.append(path)
        result.removed_bytes += stat.st_size
    if not dry_run:
        for path in result.removed:
            path.unlink(missing_ok=True)
    return result


def _shared_key(folder: Path, path: Path) -> str:
    return ("rejected/" if path.parent != folder else "uploads/") + path.name


def _prune_shared(storage, result: Pruned, stored: set[str], import_ids: set[str],
                  cutoff: float, dry_run: bool) -> set[str]:
    """Prune the shared store; return the keys it keeps (their local copies may go)."""
    oldest = dt.datetime.fromtimestamp(cutoff, dt.timezone.utc).replace(tzinfo=None)
    kept: set[str] = set()
    for prefix, pattern, referenced in (("uploads/", _UPLOAD, stored),
                                        ("rejected/", _REJECTED, import_ids)):
        for item in storage.listing(prefix):
            name = item.key[len(prefix):]
            match = pattern.match(name)
            if match is None:
                continue
            wanted = (name if prefix == "uploads/" else match.group(1)) in referenced
            if wanted or item.created_at > oldest:
                result.shared_kept += 1
                kept.add(item.key)
                continue
            result.shared_removed.append(item.key)
            result.shared_bytes += item.size
            if not dry_run:
                storage.delete(item.key)
    return kept


def _candidates(folder: Path, stored: set[str], import_ids: set[str]):
    """Yield (path, referenced) for every file of the service in the folder."""
    for path in sorted(folder.iterdir()):
        if path.is_file() and _UPLOAD.match(path.name):
            yield path, path.name in stored
        elif path.is_file() and _TEMPORARY.match(path.name):
            yield path, False
    rejected = folder / "rejected"
    if rejected.is_dir():
        for path in sorted(rejected.iterdir()):
            match = _REJECTED.match(path.name)
            if path.is_file() and match:
                yield path, match.group(1) in import_ids
            elif path.is_file() and _TEMPORARY.match(path.name):
                yield path, False
