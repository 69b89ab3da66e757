"""Undoing imports and deleting datasets, for the doors (editor pages, CLI, API).

Each runs in one write transaction that locks the dataset (as imports do, so it queues
behind a running import) and checks the actor there: reverting is a write
(`access.require_write`), deleting is for the dataset's owners and admins
(`access.require_delete`). The work is `store.revert_import` / `store.delete_dataset`. No
Flask.
"""

from __future__ import annotations

import contextlib

import sqlalchemy as sa

from . import storing
from .. import access, db, store
from ..errors import NotFound


@contextlib.contextmanager
def _locked(engine: sa.Engine, slug: str):
    """A write transaction with the dataset's row locked; the row is yielded. SQLite gets
    an import's page cache (`storing.big_cache`): a revert may rewrite a million rows."""
    with (db.busy_is_conflict(slug), db.write_connection(engine) as conn,
          storing.big_cache(conn), conn.begin()):
        dataset, _created = store.lock_dataset(conn, slug, create=False)
        yield conn, dataset


def revert_import(engine: sa.Engine, slug: str, import_id: int | None = None, *,
                  actor: access.Actor | None = access.OPERATOR) -> dict:
    """Revert a dataset's latest import (or check that `import_id` is it, and revert it).

    Parameters
    ----------
    engine : sqlalchemy.Engine
    slug : str
    import_id : int, optional
        The import to revert; None: the latest one not reverted.
    actor : access.Actor, optional
        Who reverts (recorded as ``reverted_by``); must be allowed to write the dataset.

    Returns
    -------
    dict
        `store.revert_import`'s summary plus ``dataset`` (the slug).

    Raises
    ------
    NotFound
        No such dataset or import, or the dataset has no import to revert.
    Conflict
        Not the latest import, already reverted, or its superseded rows are gone.
    """
    with _locked(engine, slug) as (conn, dataset):
        access.require_write(conn, actor, dataset)
        if import_id is None:
            latest = store.latest_import(conn, dataset["id"])
            if latest is None:
                raise NotFound(f"dataset {slug!r} has no import to revert",
                               details={"slug": slug})
            import_id = latest["id"]
        # Restoring a replaced dataset as big as the table: SQLite rebuilds the indexes
        # after (as a big import does) instead of a million scattered B-tree inserts.
        bulk = storing.BulkIndexes(conn, store.superseded_count(conn, import_id), empty=True)
        done = store.revert_import(conn, dataset, import_id,
                                   user_name=actor.name if actor else None)
        bulk.restore()
    return {"dataset": slug, **done}


def delete_dataset(engine: sa.Engine, slug: str, *,
                   actor: access.Actor | None = access.OPERATOR) -> dict:
    """Delete a dataset with its incidents, keeping the records of its imports.

    Returns
    -------
    dict
        `store.delete_dataset`'s summary (``slug``, ``incidents``, ``imports``).
    """
    with _locked(engine, slug) as (conn, dataset):
        access.require_delete(conn, actor, dataset)
        return store.delete_dataset(conn, dataset, user_name=actor.name if actor else None)
