"""A dataset's corrections log: dated public entries of what changed, why, and which import.

The rules for an entry live here (`parse_correction`), whichever door it comes through (the
editor's form, the JSON API, the CLI); `add_correction` writes it and moves the dataset's
version through `metadata_changed`, as edits of its fields do, so cached map pages and
embeds (keyed by version) show it at once. Entries outlive their dataset as the records of
its imports do (`history.delete_dataset`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from .. import db
from ..errors import BadRequest, NotFound
from .columns import utcnow
from .datasets import get_import, metadata_changed

#: Characters per text field: a log entry is a sentence or a paragraph, not a report.
TEXT_LIMITS = {"what": 2000, "why": 2000}
#: The fields an entry is given by (form, JSON body, CLI options).
FIELDS = ("date", "what", "why", "import_id")
#: The earliest date an entry may carry.
EARLIEST = dt.date(1900, 1, 1)


def _text(values: Mapping, name: str, *, required: bool) -> str:
    raw = values.get(name)
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise BadRequest(f"{name} must be text, got {type(raw).__name__}",
                         details={"field": name, "expected": "text"})
    text = raw.strip()
    if required and not text:
        raise BadRequest(f"{name} must not be empty: say what changed in the data",
                         details={"field": name})
    limit = TEXT_LIMITS[name]
    if len(text) > limit:
        raise BadRequest(f"{name} is {len(text)} characters long; the limit is {limit}",
                         details={"field": name, "limit": limit})
    if "\x00" in text:  # PostgreSQL cannot store U+0000 in text
        raise BadRequest(f"{name} contains a NUL character (U+0000)", details={"field": name})
    return text


def _date(raw: Any, today: dt.date) -> dt.date:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return today
    text = raw.strip() if isinstance(raw, str) else raw
    try:
        if not isinstance(text, str) or len(text) != 10:
            raise ValueError
        value = dt.date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"date must be a day written YYYY-MM-DD, got {raw!r}",
                         details={"field": "date", "value": str(raw)[:100],
                                  "expected": "YYYY-MM-DD"}) from None
    # A day ahead of UTC is still today somewhere (editors east of Greenwich).
    if not EARLIEST <= value <= today + dt.timedelta(days=1):
        raise BadRequest(f"date {value.isoformat()} is not between {EARLIEST.isoformat()} and "
                         "today: an entry records a correction made, not one planned",
                         details={"field": "date", "value": value.isoformat()})
    return value


def _import_id(raw: Any) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    # ASCII and short before int(): "²" and 5000-digit strings make int() raise or crawl.
    text = raw.strip() if isinstance(raw, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 12 and int(text) > 0:
        return int(text)
    raise BadRequest(f"import_id must be the number of one of the dataset's imports, got "
                     f"{raw!r}", details={"field": "import_id", "value": str(raw)[:100]})


def parse_correction(values: Mapping, *, today: dt.date | None = None) -> dict:
    """Read a corrections-log entry from a form, a JSON object or CLI options.

    Parameters
    ----------
    values : Mapping
        ``what`` (required: what changed in the data), ``why`` (optional), ``date``
        (``YYYY-MM-DD``, default today in UTC; at most a day ahead of it) and ``import_id``
        (optional: the import that made the change). Other keys are ignored.
    today : datetime.date, optional
        The current UTC date (tests pin it).

    Returns
    -------
    dict
        ``corrected_on`` (date), ``what``, ``why`` (str) and ``import_id`` (int or None).

    Raises
    ------
    BadRequest
        Naming the field, the value and what was expected.
    """
    today = today or utcnow().date()
    return {"corrected_on": _date(values.get("date"), today),
            "what": _text(values, "what", required=True),
            "why": _text(values, "why", required=False),
            "import_id": _import_id(values.get("import_id"))}


def add_correction(conn: sa.Connection, dataset: dict, *, corrected_on: dt.date, what: str,
                   why: str = "", import_id: int | None = None,
                   user_name: str | None = None) -> dict:
    """Add an entry (as `parse_correction` returns it) to a dataset's log; bump its version.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        In the caller's write transaction (which checked who may write the dataset).
    dataset : dict
        The dataset's row.
    corrected_on, what, why, import_id
        The entry. The import must be one of this dataset's (reverted ones included: an
        entry may say why an import was undone).
    user_name : str, optional
        Who wrote it (shown to the dataset's writers only).

    Returns
    -------
    dict
        The entry as `list_corrections` gives it, plus ``version``: the dataset's version
        after it.

    Raises
    ------
    BadRequest
        The import is not one of the dataset's.
    """
    if import_id is not None:
        try:
            get_import(conn, import_id, dataset)
        except NotFound:
            raise BadRequest(f"import {import_id} is not an import of dataset "
                             f"{dataset['slug']!r}: see its imports on its editor page",
                             details={"field": "import_id", "value": import_id}) from None
    entry_id = conn.execute(sa.insert(db.dataset_corrections).values(
        dataset_id=dataset["id"], dataset_slug=dataset["slug"], corrected_on=corrected_on,
        what=what, why=why, import_id=import_id, user_name=user_name, created_at=utcnow())
        .returning(db.dataset_corrections.c.id)).scalar_one()
    version = metadata_changed(conn, dataset["id"])
    [entry] = [e for e in list_corrections(conn, dataset["id"]) if e["id"] == entry_id]
    return {**entry, "version": version}


def list_corrections(conn: sa.Connection, dataset_id: int) -> list[dict]:
    """Return a dataset's log, newest first (by date, then by when written down).

    Each entry: ``id``, ``corrected_on``, ``what``, ``why``, ``import_id``, ``user_name``,
    ``created_at``, and of its import (None without one) ``import_created_at`` and
    ``import_reverted_at``.
    """
    c, i = db.dataset_corrections.c, db.imports.c
    query = (sa.select(c.id, c.corrected_on, c.what, c.why, c.import_id, c.user_name,
                       c.created_at, i.created_at.label("import_created_at"),
                       i.reverted_at.label("import_reverted_at"))
             .select_from(db.dataset_corrections.outerjoin(db.imports, i.id == c.import_id))
             .where(c.dataset_id == dataset_id)
             .order_by(c.corrected_on.desc(), c.id.desc()))
    return [dict(row) for row in conn.execute(query).mappings()]
