"""Helpers for migration tests: databases at an older schema revision, holding data."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from alembic import command

from geomap import db, store


def migrate_to(url: str, revision: str, *, down: bool = False) -> None:
    """Upgrade (or downgrade) the database at url to `revision`."""
    cfg = db.alembic_config(url)
    with db.engine_for(url).begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def insert_before_0003(conn: sa.Connection, frame: pd.DataFrame) -> None:
    """Insert incidents into a database at revision 0001 or 0002 (32-hex-character row_hash).

    The stored hashes are placeholders: migration 0003 recomputes every hash from content.
    """
    table = sa.Table("incidents", sa.MetaData(), autoload_with=conn)
    frame = frame if "row_hash2" in frame else store.add_row_hashes(frame.copy())
    values = store.incident_values(frame, "generic")
    names = [name for name in store.INCIDENT_COLUMNS
             if name in table.c and name not in ("row_hash", "row_hash2")]
    records = [{**{name: values[name][i] for name in names}, "row_hash": f"{i:032x}"}
               for i in range(len(frame))]
    conn.execute(sa.insert(table), records)


def day_rollup(conn: sa.Connection, dataset_id: int) -> list[tuple]:
    """Return a dataset's day rollup summed per day and values, in a stable order.

    Appends add rows for days and values already present (readers sum them), so two rollups
    answer the same when these sums are equal.
    """
    d = db.incident_days.c
    keys = [d.day, *(d[name] for name in store.DAY_COLUMNS)]
    rows = conn.execute(sa.select(*keys, sa.func.sum(d.n), sa.func.sum(d.total))
                        .where(d.dataset_id == dataset_id).group_by(*keys)).all()
    out = [(r[0] if isinstance(r[0], dt.date) else dt.date.fromisoformat(r[0]), *r[1:-2],
            int(r[-2]), int(r[-1])) for r in rows]
    return sorted(out, key=lambda r: tuple("" if v is None else str(v) for v in r))
