"""A dataset's history of imports: earlier imports of a file, undo (revert) and deletion.

An import that replaces or updates rows first copies them, as they were, into
``superseded_incidents`` (`supersede`), so it can be reverted while it is the dataset's
latest import (`revert_import`): its added rows go, the superseded ones come back with their
ids, and `incidents_changed` advances the version and rebuilds the rollups. Only the latest
superseding import keeps its rows (`keep_undo_of` drops the others'), so a 1M-row replace
costs one extra copy of the replaced rows until the next import that supersedes rows, not
forever. `delete_dataset` deletes a dataset and keeps its imports as the audit trail.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY as postgresql_array

from .. import db
from ..errors import Conflict, NotFound
from .columns import INCIDENT_COLUMNS, utcnow
from .datasets import get_import, incidents_changed

_SLICE = 900  # SQLite's bound-variable cap per IN list
_COLUMNS = ", ".join(f'"{name}"' for name in INCIDENT_COLUMNS)


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "an unknown time"


def _active(dataset_id: int):
    c = db.imports.c
    return sa.select(db.imports).where(c.dataset_id == dataset_id, c.reverted_at.is_(None))


def latest_import(conn: sa.Connection, dataset_id: int) -> dict | None:
    """Return the dataset's newest import that was not reverted (None: there is none)."""
    row = conn.execute(_active(dataset_id).order_by(db.imports.c.id.desc()).limit(1)
                       ).mappings().first()
    return dict(row) if row is not None else None


def imported_before(conn: sa.Connection, dataset_id: int, sha256: str) -> dict | None:
    """Return the newest import (not reverted) of the file with this sha256 into the dataset."""
    row = conn.execute(_active(dataset_id).where(db.imports.c.sha256 == sha256)
                       .order_by(db.imports.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row is not None else None


def superseded_count(conn: sa.Connection, import_id: int) -> int:
    """Return how many rows an import superseded and still keeps (what a revert restores)."""
    s = db.superseded_incidents.c
    return conn.execute(sa.select(sa.func.count()).select_from(db.superseded_incidents)
                        .where(s.superseded_by == import_id)).scalar_one()


def describe_import(record: dict) -> str:
    """Say which import a record is, for messages: when, its number and its file."""
    name = f" ({record['filename']})" if record.get("filename") else ""
    return f"on {_when(record['created_at'])} as import {record['id']}{name}"


def supersede(conn: sa.Connection, dataset_id: int, import_id: int,
              ids=None) -> int:
    """Copy incidents about to be replaced or updated by an import, as they are, for undo.

    Parameters
    ----------
    conn : sqlalchemy.Connection
    dataset_id : int
    import_id : int
        The import about to change them (``superseded_by``).
    ids : sequence of int, optional
        The incidents it updates; None: all of the dataset's (a replace).

    Returns
    -------
    int
        How many rows were copied. Rows the import itself wrote are not copied: reverting
        deletes them anyway, and the version before the import is the one to bring back.
    """
    select = (f"INSERT INTO superseded_incidents (superseded_by, incident_id, {_COLUMNS}) "
              f"SELECT :by, id, {_COLUMNS} FROM incidents WHERE dataset_id = :ds "
              "AND (import_id IS NULL OR import_id <> :by)")
    params = {"by": import_id, "ds": dataset_id}
    if ids is None:
        return conn.execute(sa.text(select), params).rowcount
    ids = [int(i) for i in ids]
    if conn.dialect.name == "postgresql":
        statement = sa.text(select + " AND id = ANY(:ids)").bindparams(
            sa.bindparam("ids", type_=postgresql_array(sa.BigInteger)))
        return conn.execute(statement, {**params, "ids": ids}).rowcount
    copied = 0
    for start in range(0, len(ids), _SLICE):
        part = ids[start:start + _SLICE]
        statement = sa.text(select + " AND id IN :ids").bindparams(
            sa.bindparam("ids", expanding=True))
        copied += conn.execute(statement, {**params, "ids": part}).rowcount
    return copied


def keep_undo_of(conn: sa.Connection, dataset_id: int, import_id: int) -> int:
    """Return how many rows this import superseded; if any, drop the dataset's other copies.

    Only the latest import can be reverted, so only the latest import that superseded rows
    needs its copies. The imports whose copies go can no longer be reverted
    (``undo_dropped_at``): only reverting this one first could have reached them.
    """
    s, c = db.superseded_incidents.c, db.imports.c
    own = superseded_count(conn, import_id)
    if not own:
        return 0
    conn.execute(sa.delete(db.superseded_incidents).where(
        s.dataset_id == dataset_id, s.superseded_by != import_id))
    conn.execute(sa.update(db.imports).where(
        c.dataset_id == dataset_id, c.id != import_id, c.rows_superseded > 0,
        c.undo_dropped_at.is_(None), c.reverted_at.is_(None)).values(undo_dropped_at=utcnow()))
    return own


def revert_import(conn: sa.Connection, dataset: dict, import_id: int, *,
                  user_name: str | None = None) -> dict:
    """Undo the dataset's latest import, in the caller's transaction.

    Its added rows are deleted, the rows it replaced or updated come back as they were (with
    their ids, unless an id was taken meanwhile), the import is marked reverted, and
    `incidents_changed` advances the version and rebuilds the rollups.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        In a transaction that locked the dataset (`lock_dataset`).
    dataset : dict
        The dataset's row.
    import_id : int
    user_name : str, optional
        Recorded as who reverted it.

    Returns
    -------
    dict
        ``import_id``, ``removed`` and ``restored`` (rows) and ``version``.

    Raises
    ------
    NotFound
        No such import in this dataset.
    Conflict
        It was reverted already, is not the latest import, or its superseded rows were
        dropped by a later import.
    """
    record = get_import(conn, import_id, dataset)
    if record["reverted_at"] is not None:
        raise Conflict(f"import {import_id} was already reverted on "
                       f"{_when(record['reverted_at'])}", details={"import_id": import_id})
    latest = latest_import(conn, dataset["id"])
    if latest["id"] != import_id:
        raise Conflict(f"only the latest import can be reverted: import {latest['id']} came "
                       f"after import {import_id} (revert it first)",
                       details={"import_id": import_id, "latest": latest["id"]})
    if record["undo_dropped_at"] is not None:
        raise Conflict(f"import {import_id} can no longer be reverted: the rows it replaced or "
                       f"updated were discarded on {_when(record['undo_dropped_at'])}, when a "
                       "later import replaced or updated rows", details={"import_id": import_id})
    i = db.incidents.c
    removed = conn.execute(sa.delete(db.incidents).where(
        i.dataset_id == dataset["id"], i.import_id == import_id)).rowcount
    restored = _restore(conn, import_id)
    conn.execute(sa.update(db.imports).where(db.imports.c.id == import_id).values(
        reverted_at=utcnow(), reverted_by=user_name))
    version = incidents_changed(conn, dataset)
    return {"import_id": import_id, "removed": removed, "restored": restored,
            "version": version}


def _restore(conn: sa.Connection, import_id: int) -> int:
    """Put an import's superseded rows back into incidents and forget them.

    They keep their ids, except where an id was taken meanwhile (SQLite may hand the ids of
    deleted rows at the end of the table out again): those rows get new ones.
    """
    params = {"by": import_id}
    conn.execute(sa.text(
        "UPDATE superseded_incidents SET incident_id = NULL WHERE superseded_by = :by "
        "AND incident_id IN (SELECT id FROM incidents)"), params)
    restored = conn.execute(sa.text(
        f"INSERT INTO incidents (id, {_COLUMNS}) SELECT incident_id, {_COLUMNS} "
        "FROM superseded_incidents WHERE superseded_by = :by AND incident_id IS NOT NULL"),
        params).rowcount
    restored += conn.execute(sa.text(
        f"INSERT INTO incidents ({_COLUMNS}) SELECT {_COLUMNS} "
        "FROM superseded_incidents WHERE superseded_by = :by AND incident_id IS NULL"),
        params).rowcount
    conn.execute(sa.delete(db.superseded_incidents)
                 .where(db.superseded_incidents.c.superseded_by == import_id))
    return restored


def delete_dataset(conn: sa.Connection, dataset: dict, *, user_name: str | None = None
                   ) -> dict:
    """Delete a dataset (locked by the caller) with its incidents; keep its imports' records
    and its corrections log.

    The trigger of migration 0003 deletes its incidents, rollups and superseded rows; its
    imports stay (``dataset_id`` NULL, ``dataset_slug`` saying which it was), so their files
    are no longer referred to and ``prune-uploads`` removes them. The deletion is recorded in
    ``deleted_datasets`` with the last version: a dataset made again under the slug starts
    above it (`create_dataset`), so no cached rendering or ETag of this one is reused.

    Returns
    -------
    dict
        ``slug``, ``incidents`` (how many were deleted), ``imports`` and ``corrections``
        (records kept).
    """
    i, c = db.incidents.c, db.imports.c
    incidents = conn.execute(sa.select(sa.func.count()).select_from(db.incidents)
                             .where(i.dataset_id == dataset["id"])).scalar_one()
    kept = conn.execute(sa.update(db.imports).where(c.dataset_id == dataset["id"])
                        .values(dataset_id=None)).rowcount
    # Its corrections log is kept as its imports are (dataset_slug says whose it was).
    log = db.dataset_corrections
    corrections = conn.execute(sa.update(log).where(log.c.dataset_id == dataset["id"])
                               .values(dataset_id=None)).rowcount
    conn.execute(sa.insert(db.deleted_datasets).values(
        slug=dataset["slug"], title=dataset["title"], version=dataset["version"],
        incidents=incidents, deleted_at=utcnow(), deleted_by=user_name))
    if not conn.execute(sa.delete(db.datasets).where(db.datasets.c.id == dataset["id"])
                        ).rowcount:
        raise NotFound(f"no dataset {dataset['slug']!r}", details={"slug": dataset["slug"]})
    return {"slug": dataset["slug"], "incidents": incidents, "imports": kept,
            "corrections": corrections}
