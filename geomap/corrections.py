"""Adding to a dataset's corrections log, for the doors (editor page, API, CLI), and what the
API shows of an entry (`public`).

One write transaction that locks the dataset (so an entry never lands on a dataset being
deleted, and queues behind a running import as reverts do) and checks there that the actor
may write it (`access.require_write`, the one write rule). The entry's rules and the table
are `store.corrections`'. No Flask.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from . import access, db, jsontext, store


def add(engine: sa.Engine, slug: str, values: Mapping, *,
        actor: access.Actor | None = access.OPERATOR) -> dict:
    """Add an entry to a dataset's corrections log.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    slug : str
    values : Mapping
        ``date``, ``what``, ``why``, ``import_id`` as `store.parse_correction` reads them
        (form fields, a JSON object or CLI options).
    actor : access.Actor, optional
        Who writes it (recorded as ``user_name``); must be allowed to write the dataset.

    Returns
    -------
    dict
        The entry (`store.list_corrections`' form) with ``version``, the dataset's version
        after it.

    Raises
    ------
    NotFound
        No such dataset.
    Unauthorized, Forbidden
        The actor may not write it (checked before the entry is read).
    BadRequest
        The entry breaks a rule (`store.parse_correction`), or names another dataset's import.
    Conflict
        An import holds SQLite's write lock.
    """
    with db.busy_is_conflict(slug), db.write_connection(engine) as conn, conn.begin():
        dataset, _created = store.lock_dataset(conn, slug, create=False)
        access.require_write(conn, actor, dataset)
        entry = store.parse_correction(values)
        return store.add_correction(conn, dataset, **entry,
                                    user_name=actor.name if actor else None)


def public(entry: dict, *, private: bool = False) -> dict:
    """Return what the API shows of an entry; who wrote it only when `private` (to the
    dataset's writers, as who uploaded which file)."""
    out = {"id": entry["id"], "date": entry["corrected_on"].isoformat(),
           "what": entry["what"], "why": entry["why"], "import_id": entry["import_id"],
           "recorded_at": jsontext.plain(entry["created_at"])}
    if private:
        out["user_name"] = entry["user_name"]
    return out
