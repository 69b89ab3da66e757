"""Datasets and imports records: create, read, list (with cached totals), update, version.

`incidents_changed` is the one door for every change of a dataset's incidents (version and
rollups in step). Also the database's health query (`database_status`).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import sqlalchemy as sa

from .. import db
from ..errors import BadRequest, Conflict, NotFound
from .columns import utcnow
from .rollups import RollupAccumulator, write_rollups

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
DATASET_FIELDS = ("title", "description", "source", "license", "min_public_count")


def check_slug(slug: str) -> str:
    """Return slug if it is URL-safe, else raise BadRequest saying what is allowed."""
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise BadRequest(
            f"dataset slug {slug!r} is not valid: use 1-100 lower-case letters, digits and "
            "hyphens, starting and ending with a letter or digit",
            details={"field": "slug", "value": slug})
    return slug


def create_dataset(conn: sa.Connection, slug: str, title: str, **fields: Any) -> dict:
    """Insert a dataset (draft unless published=True) and return it."""
    check_slug(slug)
    if get_dataset(conn, slug, missing_ok=True) is not None:
        raise Conflict(f"dataset {slug!r} already exists", details={"slug": slug})
    now = utcnow()
    values = {k: v for k, v in fields.items() if k in DATASET_FIELDS + ("published",)}
    # A dataset made again under a deleted one's slug starts above its last version: render
    # caches and ETags are keyed by slug and version.
    before = conn.execute(sa.select(sa.func.max(db.deleted_datasets.c.version))
                          .where(db.deleted_datasets.c.slug == slug)).scalar()
    conn.execute(sa.insert(db.datasets).values(
        slug=slug, title=title or slug, created_at=now, updated_at=now,
        version=(before or 0) + 1, incidents_version=(before or 0) + 1, **values))
    return get_dataset(conn, slug)


def get_dataset(conn: sa.Connection, slug: str, *, missing_ok: bool = False,
                published_only: bool = False) -> dict | None:
    """Return the dataset with this slug as a dict, or raise NotFound."""
    query = sa.select(db.datasets).where(db.datasets.c.slug == slug)
    if published_only:
        query = query.where(db.datasets.c.published.is_(True))
    row = conn.execute(query).mappings().first()
    if row is None:
        if missing_ok:
            return None
        # The catalogue id is marked (N_) where access.py raises the same error.
        raise NotFound(f"no dataset {slug!r}", details={"slug": slug},
                       translatable=("no dataset %(slug)s", {"slug": repr(slug)}))
    return dict(row)


def list_datasets(conn: sa.Connection, *, published_only: bool = True,
                  slug: str | None = None) -> list[dict]:
    """Return datasets (newest first), or the one with `slug`, with their incident totals."""
    query = sa.select(db.datasets).order_by(db.datasets.c.updated_at.desc(), db.datasets.c.slug)
    if published_only:
        query = query.where(db.datasets.c.published.is_(True))
    if slug is not None:
        query = query.where(db.datasets.c.slug == slug)
    rows = [dict(r) for r in conn.execute(query).mappings()]
    _attach_totals(conn, rows)
    return rows


# (database, dataset id) -> ((created_at, version), incidents, total count). Counting scans
# every incident, and every change of incidents bumps the version, so totals are recounted
# only then (created_at tells a re-created dataset that got the same id apart).
_TOTALS: dict[tuple[str, int], tuple[tuple, int, int]] = {}
_TOTALS_LOCK = threading.Lock()


def _attach_totals(conn: sa.Connection, rows: list[dict]) -> None:
    """Set ``incidents`` and ``total_count`` on dataset rows, counting only stale ones."""
    database = conn.engine.url.render_as_string(hide_password=True)
    with _TOTALS_LOCK:
        cached = {r["id"]: _TOTALS.get((database, r["id"])) for r in rows}
    stamps = {r["id"]: (r["created_at"], r["version"]) for r in rows}
    stale = [ident for ident, hit in cached.items() if hit is None or hit[0] != stamps[ident]]
    if stale:
        c = db.incidents.c
        counted = {row[0]: (row[1], row[2]) for row in conn.execute(
            sa.select(c.dataset_id, sa.func.count(), sa.func.coalesce(sa.func.sum(c["count"]), 0))
            .where(c.dataset_id.in_(stale)).group_by(c.dataset_id))}
        with _TOTALS_LOCK:
            for ident in stale:
                n, total = counted.get(ident, (0, 0))
                cached[ident] = _TOTALS[(database, ident)] = (stamps[ident], int(n), int(total))
    for row in rows:
        _stamp, row["incidents"], row["total_count"] = cached[row["id"]]


def has_datasets(conn: sa.Connection) -> bool:
    """Say whether the database holds any dataset at all."""
    return conn.execute(sa.select(db.datasets.c.id).limit(1)).first() is not None


def update_dataset(conn: sa.Connection, slug: str, **fields: Any) -> dict:
    """Change a dataset's descriptive fields or publication state and bump its version."""
    row = get_dataset(conn, slug)
    values = {k: v for k, v in fields.items() if k in DATASET_FIELDS + ("published",)}
    if values:
        metadata_changed(conn, row["id"], **values)
    return get_dataset(conn, slug)


def metadata_changed(conn: sa.Connection, dataset_id: int, **values: Any) -> int:
    """The one door for changes of what a dataset's pages show besides its incidents.

    Sets `values` (its fields, publication state) and bumps the version and ``updated_at``
    in one statement (not ``incidents_version``: its columnar copy stays valid): render caches and ETags are keyed by the version, and the write to
    ``datasets`` moves the heads' epoch after the commit (`geomap.web.versions`). Its
    corrections log (`corrections.add_correction`) comes through here too. Returns the
    version after the change.
    """
    conn.execute(sa.update(db.datasets).where(db.datasets.c.id == dataset_id).values(
        **values, version=db.datasets.c.version + 1, updated_at=utcnow()))
    return conn.execute(sa.select(db.datasets.c.version)
                        .where(db.datasets.c.id == dataset_id)).scalar_one()


def changed_since(conn: sa.Connection, since: dt.datetime, *, published_only: bool = False
                  ) -> list[tuple[int, str]]:
    """Return the datasets (id, slug) changed (``updated_at``, whole seconds) at or after
    ``since``: every one, or the published ones."""
    d = db.datasets.c
    query = sa.select(d.id, d.slug).where(d.updated_at >= since.replace(microsecond=0))
    if published_only:
        query = query.where(d.published)
    return [(row.id, row.slug) for row in conn.execute(query)]


def set_published(conn: sa.Connection, slug: str, published: bool) -> dict:
    """Publish or unpublish a dataset."""
    return update_dataset(conn, slug, published=published)


def lock_dataset(conn: sa.Connection, slug: str, title: str = "", *, create: bool = True,
                 **fields: Any) -> tuple[dict, bool]:
    """Return the dataset row locked for this transaction, creating it if missing.

    For writers of a dataset's incidents (imports). PostgreSQL: a transaction-scoped advisory
    lock on the slug first, so two imports that both create a new dataset queue instead of
    one failing on the unique slug; then the row lock (``FOR UPDATE``). SQLite: ``BEGIN
    IMMEDIATE`` already serialises writers.

    Returns
    -------
    tuple of (dict, bool)
        The dataset's row, and whether this call created it (with `title` and `fields`, as
        `create_dataset`). With ``create=False`` (revert, delete) a missing dataset is a
        NotFound.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                     {"key": f"geomap-import:{slug}"})
    query = sa.select(db.datasets).where(db.datasets.c.slug == slug).with_for_update()
    row = conn.execute(query).mappings().first()
    if row is not None:
        return dict(row), False
    if not create:
        raise NotFound(f"no dataset {slug!r}", details={"slug": slug})
    create_dataset(conn, slug, title, **fields)
    return dict(conn.execute(query).mappings().one()), True


def incidents_changed(conn: sa.Connection, dataset: dict,
                      rollup: "RollupAccumulator | None" = None, *, created: bool = False,
                      publish: bool = False) -> int:
    """The one door for every change of a dataset's incidents; return its version after it.

    Called in the transaction that inserted, updated or deleted the incidents, after the last
    of those writes: it keeps the dataset's rollups in step with its incidents
    (`write_rollups`) and bumps the version render caches and ETags are keyed by
    (`bump_version`), so readers see incidents, rollups and version change together at the
    commit. Writing incidents without it serves stale maps and stats.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The connection whose transaction changed the incidents.
    dataset : dict
        The dataset's row as read in this transaction (``id``, ``version``, ``published``).
    rollup : RollupAccumulator, optional
        The rollups of the rows the caller wrote, when they are all of the dataset's
        incidents or (``rollup.delta``) all it gained; None rebuilds them from the table.
    created : bool
        The dataset was created in this transaction: it stays at its first version (nothing
        of it can be cached yet), but its rollups must still be built with it.
    publish : bool
        Also publish the dataset if it is a draft.

    Returns
    -------
    int
        The dataset's version after the change.
    """
    if publish and not dataset["published"]:
        conn.execute(sa.update(db.datasets).where(db.datasets.c.id == dataset["id"])
                     .values(published=True))
    if created:
        write_rollups(conn, dataset["id"], rollup)
        return dataset["version"]
    return bump_version(conn, dataset["id"], rollup)


def bump_version(conn: sa.Connection, dataset_id: int,
                 rollup: "RollupAccumulator | None" = None) -> int:
    """Increment a dataset's version after its incidents changed; return the new version.

    Also brings the dataset's rollups up to date in the same transaction (`write_rollups`).
    Writers of incidents call it through `incidents_changed`.
    """
    write_rollups(conn, dataset_id, rollup)
    conn.execute(sa.update(db.datasets).where(db.datasets.c.id == dataset_id).values(
        version=db.datasets.c.version + 1, incidents_version=db.datasets.c.version + 1,
        updated_at=utcnow()))
    return conn.execute(sa.select(db.datasets.c.version)
                        .where(db.datasets.c.id == dataset_id)).scalar_one()


# --- imports ----------------------------------------------------------------------------------

def set_natural_key(conn: sa.Connection, dataset_id: int, key: list[str] | None) -> None:
    """Remember the columns that identify a dataset's incidents on later imports."""
    conn.execute(sa.update(db.datasets).where(db.datasets.c.id == dataset_id)
                 .values(natural_key=key))


def list_imports(conn: sa.Connection, dataset_id: int) -> list[dict]:
    """Return a dataset's imports, newest first, without their full reports."""
    c = db.imports.c
    query = (sa.select(*[col for col in db.imports.c if col.name != "report"])
             .where(c.dataset_id == dataset_id).order_by(c.id.desc()))
    return [dict(r) for r in conn.execute(query).mappings()]


def record_import(conn: sa.Connection, dataset_id: int, **fields: Any) -> int:
    """Insert one import row and return its id."""
    fields.setdefault("created_at", utcnow())
    return conn.execute(sa.insert(db.imports).values(dataset_id=dataset_id, **fields)
                        .returning(db.imports.c.id)).scalar_one()


def finish_import(conn: sa.Connection, import_id: int, **fields: Any) -> None:
    """Set an import's results once it has run (stored file, row counts, report)."""
    conn.execute(sa.update(db.imports).where(db.imports.c.id == import_id).values(**fields))


def get_import(conn: sa.Connection, import_id: int, dataset: dict | None = None) -> dict:
    """Return one import with its report; with `dataset`, it must belong to that dataset."""
    row = conn.execute(sa.select(db.imports).where(db.imports.c.id == import_id)).mappings().first()
    if row is None or (dataset is not None and row["dataset_id"] != dataset["id"]):
        where = f" in dataset {dataset['slug']!r}" if dataset is not None else ""
        raise NotFound(f"no import {import_id}{where}")
    return dict(row)


def database_status(conn: sa.Connection) -> dict:
    """Return the backend name, schema revision and whether a trivial query succeeds."""
    conn.execute(sa.text("SELECT 1")).scalar_one()
    return {"ok": True, "backend": conn.dialect.name, "revision": db.current_revision(conn)}
