"""An incident's identity across imports: natural keys, and files imported before.

A dataset may be keyed by a composite of columns (``--key "Port Code,Date,Measure"``): each
row's values of those columns, joined, are its ``source_id``, so a later file with a changed
value updates exactly that incident (the upsert of `storing`). The dataset remembers its key
(``datasets.natural_key``) and later imports use it unless they name another; changing the
key of a dataset with incidents takes replace mode, since the new identities would match
none of the old ones and add every row again.

A file whose sha256 was already imported into the dataset is refused in append mode unless
the caller confirms (``again``): appending it again adds its rows a second time when
anything about how it is read changed (another column mapped, other extra columns). No
Flask; the message says how to confirm in the terms of the caller's door (`doors`).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import doors
from .columns import _key
from .options import Options
from .. import store
from ..errors import BadRequest, Conflict

#: source_id's width in the database; longer joined keys are stored as their digest.
MAX_ID = 200
SEPARATOR = "|"


class AlreadyImported(Conflict):
    """The file was imported into the dataset before (append mode, not confirmed)."""

    code = "already_imported"


def refuse_reimport(conn: sa.Connection, dataset: dict, sha256: str, options: Options) -> None:
    """Raise AlreadyImported if this file was imported into the dataset before (append mode
    without ``again``); its message says when and as which import."""
    if options.mode != "append" or options.again:
        return
    earlier = store.imported_before(conn, dataset["id"], sha256)
    if earlier is None:
        return
    raise AlreadyImported(
        f"this file was already imported into dataset {dataset['slug']!r} "
        f"{store.describe_import(earlier)}; importing it again in append mode could count "
        f"its incidents twice; {doors.import_again(options.door)}",
        details={"dataset": dataset["slug"], "import_id": earlier["id"],
                 "imported_at": earlier["created_at"].isoformat(),
                 "filename": earlier["filename"], "sha256": sha256})


def refuse_reimport_into(conn: sa.Connection, slug: str, sha256: str, options: Options) -> None:
    """`refuse_reimport` by the dataset's slug (nothing to refuse when it does not exist yet):
    for doors that queue an import and must refuse before the job is made."""
    dataset = store.get_dataset(conn, slug, missing_ok=True)
    if dataset is not None:
        refuse_reimport(conn, dataset, sha256, options)


def reimport_status(conn: sa.Connection, slug: str, sha256: str) -> dict:
    """What a preview tells the editor before importing into dataset `slug`: ``earlier``,
    the import of this same file into it (None: none, or no such dataset yet), and ``key``,
    the dataset's remembered key columns (None: not keyed)."""
    dataset = store.get_dataset(conn, slug, missing_ok=True)
    if dataset is None:
        return {"earlier": None, "key": None}
    return {"earlier": store.imported_before(conn, dataset["id"], sha256),
            "key": dataset.get("natural_key") or None}


def settle_key(conn: sa.Connection, dataset: dict, options: Options, columns: list[str],
               header: bool, *, empty: bool) -> list[str] | None:
    """Return the key columns (as the file names them) this import uses, remembering a new one.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The import's transaction (the dataset is locked).
    dataset : dict
        The dataset's row (``natural_key``: the remembered key or None).
    options : Options
        ``key``: the columns asked for (None: the remembered key).
    columns : list of str
        The file's column names.
    header : bool
        Whether the file has a header row (without one, key columns may be numbers).
    empty : bool
        The dataset has no incidents (new, or emptied by replace mode).

    Raises
    ------
    BadRequest
        A key column is not in the file (the message lists its columns).
    Conflict
        Another key than the dataset's, on a dataset with incidents, in append mode.
    """
    remembered = dataset.get("natural_key") or None
    asked = list(options.key) if options.key is not None else None
    if asked is None:
        if remembered is None:
            return None
        return resolve_key(columns, remembered, header, remembered=True)
    resolved = resolve_key(columns, asked, header)
    same = remembered is not None and [_key(n) for n in remembered] == [_key(n) for n in resolved]
    if not same:
        if not empty:
            was = (f"keyed by {', '.join(remembered)}" if remembered else
                   "not keyed (its incidents are matched by their id column, or by content)")
            raise Conflict(
                f"dataset {dataset['slug']!r} is {was}; key {', '.join(resolved)} would match "
                "none of its incidents and add every row again. Import with the dataset's "
                "key, or in replace mode to change it",
                details={"dataset": dataset["slug"], "key": resolved, "natural_key": remembered})
        store.set_natural_key(conn, dataset["id"], resolved)
    return resolved


def resolve_key(columns: list[str], key: list[str], header: bool, *,
                remembered: bool = False) -> list[str]:
    """Return the file's names of the key columns (by name, insensitive to case, spaces,
    '_' and '-', or by 1-based number in a file without a header row)."""
    by_key = {_key(n): n for n in columns}
    out = []
    for name in key:
        name = str(name).strip()
        if not header and name.isascii() and name.isdigit() and len(name) <= 6 \
                and 1 <= int(name) <= len(columns):
            out.append(columns[int(name) - 1])
        elif _key(name) in by_key:
            out.append(by_key[_key(name)])
        else:
            whose = "the dataset's key column" if remembered else "key column"
            raise BadRequest(f"{whose} {name!r} is not in the file; its columns are: "
                             f"{', '.join(columns[:40])}", details={"key": name})
    if len(set(out)) != len(out):
        raise BadRequest(f"a column appears twice in the key {', '.join(key)}",
                         details={"key": list(key)})
    return out


def natural_ids(frame: pd.DataFrame, key: list[str]) -> tuple[pd.Series, pd.DataFrame]:
    """Return each record's identity from its key cells, and the errors of records without.

    Parameters
    ----------
    frame : pandas.DataFrame
        A block of string cells (`reading.Batch.frame`).
    key : list of str
        The key columns.

    Returns
    -------
    (ids, errors)
        ``ids``: the stripped cells joined by ``|`` (a ``|`` or ``\\`` in a cell escaped
        with ``\\``, so different cells never join alike), or ``sha256:<hex>`` when longer
        than `MAX_ID`; ``errors``: one (record, column, value, message) per record with an
        empty key cell (the record is rejected).
    """
    parts = [frame[name].fillna("").astype(str).str.strip() for name in key]
    empty = np.zeros(len(frame), dtype=bool)
    first_empty = np.full(len(frame), None, dtype=object)
    for name, part in zip(key, parts):
        blank = (part == "").to_numpy()
        first_empty[blank & ~empty] = name
        empty |= blank
    if len(key) == 1:
        ids = parts[0]
    else:
        escaped = [p.str.replace("\\", "\\\\", regex=False)
                   .str.replace(SEPARATOR, "\\" + SEPARATOR, regex=False) for p in parts]
        ids = escaped[0].str.cat(escaped[1:], sep=SEPARATOR)
    long = (ids.str.len() > MAX_ID).to_numpy()
    if long.any():
        ids = ids.copy()
        ids[long] = ["sha256:" + hashlib.sha256(v.encode("utf-8")).hexdigest()
                     for v in ids[long]]
    records = np.flatnonzero(empty)
    errors = pd.DataFrame({
        "record": records, "column": first_empty[records], "value": "",
        "message": f"the key column is empty: every row needs a value in each key column "
                   f"({', '.join(key)})"})
    return ids, errors
