"""Storage: datasets, incidents, imports, users and tokens on SQLite or PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any, Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import db
from .errors import BadRequest, Conflict, NotFound

LOGGER = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
DATASET_FIELDS = ("title", "description", "source", "license", "correction", "min_public_count")
INCIDENT_COLUMNS = (
    "dataset_id", "import_id", "source_id", "occurred_at", "precision", "lat", "lon", "type",
    "count", "direction", "description", "attributes", "admin1", "country", "sector",
    "border_mile", "border_km", "at_border", "row_hash",
)


def utcnow() -> dt.datetime:
    """Return the current UTC time as a naive datetime (the database stores UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


# --- datasets ---------------------------------------------------------------------------------

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
    conn.execute(sa.insert(db.datasets).values(
        slug=slug, title=title or slug, created_at=now, updated_at=now, version=1, **values))
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
        raise NotFound(f"no dataset {slug!r}", details={"slug": slug})
    return dict(row)


def list_datasets(conn: sa.Connection, *, published_only: bool = True) -> list[dict]:
    """Return datasets (newest first) with their incident totals."""
    totals = (sa.select(db.incidents.c.dataset_id,
                        sa.func.count().label("incidents"),
                        sa.func.coalesce(sa.func.sum(db.incidents.c["count"]), 0).label("people"))
              .group_by(db.incidents.c.dataset_id).subquery())
    query = (sa.select(db.datasets, sa.func.coalesce(totals.c.incidents, 0).label("incidents"),
                       sa.func.coalesce(totals.c.people, 0).label("total_count"))
             .outerjoin(totals, totals.c.dataset_id == db.datasets.c.id)
             .order_by(db.datasets.c.updated_at.desc(), db.datasets.c.slug))
    if published_only:
        query = query.where(db.datasets.c.published.is_(True))
    return [dict(r) for r in conn.execute(query).mappings()]


def update_dataset(conn: sa.Connection, slug: str, **fields: Any) -> dict:
    """Change a dataset's descriptive fields or publication state and bump its version."""
    get_dataset(conn, slug)
    values = {k: v for k, v in fields.items() if k in DATASET_FIELDS + ("published",)}
    if values:
        conn.execute(sa.update(db.datasets).where(db.datasets.c.slug == slug).values(
            **values, version=db.datasets.c.version + 1, updated_at=utcnow()))
    return get_dataset(conn, slug)


def set_published(conn: sa.Connection, slug: str, published: bool) -> dict:
    """Publish or unpublish a dataset."""
    return update_dataset(conn, slug, published=published)


def bump_version(conn: sa.Connection, dataset_id: int,
                 grid: "GridAccumulator | None" = None) -> int:
    """Increment a dataset's version after its incidents changed; return the new version.

    Also rebuilds the dataset's grid rollup (`refresh_grid`) in the same transaction, or,
    when the caller accumulated every incident the dataset now holds (`grid`), writes that.
    """
    if grid is not None:
        replace_grid(conn, dataset_id, grid)
    else:
        refresh_grid(conn, dataset_id)
    conn.execute(sa.update(db.datasets).where(db.datasets.c.id == dataset_id).values(
        version=db.datasets.c.version + 1, updated_at=utcnow()))
    return conn.execute(sa.select(db.datasets.c.version)
                        .where(db.datasets.c.id == dataset_id)).scalar_one()


# --- grid rollup -----------------------------------------------------------------------------

#: Cell size (degrees) of the grid rollup; every map cell size that is a multiple of it can
#: be summed from the rollup (all of `maps.CELL_SIZES` except the finest).
GRID_ROLLUP_CELL = 0.01
#: Rollup keys are shifted to be non-negative, so integer division is floor division on every
#: backend: gy = floor((lat + 90) / cell), gx = floor((lon + 180) / cell).
GRID_LAT_SHIFT, GRID_LON_SHIFT = 90.0, 180.0


def grid_key(conn: sa.Connection, column, shift: float, cell: float = GRID_ROLLUP_CELL):
    """Return the SQL expression floor((column + shift) / cell) as an integer (non-negative input).

    1e-9 of a cell is added before the floor, as for map cells (`aggregate.grid`).
    """
    scaled = (column + shift) / cell + 1e-9
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.floor(scaled), sa.Integer)
    return sa.cast(scaled, sa.Integer)  # SQLite truncates, which is floor for x >= 0


def refresh_grid(conn: sa.Connection, dataset_id: int) -> int:
    """Rebuild a dataset's grid rollup from its incidents (one GROUP BY in SQL).

    Called inside the transaction that changed the incidents (`bump_version`, and the import
    that creates a dataset), so readers see incidents and rollup change together. Returns the
    number of cells.
    """
    c = db.incidents.c
    conn.execute(sa.delete(db.incident_grid_cells)
                 .where(db.incident_grid_cells.c.dataset_id == dataset_id))
    conn.execute(sa.delete(db.incident_grids).where(db.incident_grids.c.dataset_id == dataset_id))
    gy = grid_key(conn, c.lat, GRID_LAT_SHIFT)
    gx = grid_key(conn, c.lon, GRID_LON_SHIFT)
    select = (sa.select(c.dataset_id, gy, gx, sa.func.count(),
                        sa.func.coalesce(sa.func.sum(c["count"]), 0),
                        sa.func.min(c.lat), sa.func.max(c.lat), sa.func.min(c.lon),
                        sa.func.max(c.lon))
              .where(c.dataset_id == dataset_id).group_by(c.dataset_id, gy, gx))
    g = db.incident_grid_cells.c
    conn.execute(sa.insert(db.incident_grid_cells).from_select(
        [g.dataset_id, g.gy, g.gx, g.n, g.total, g.lat_min, g.lat_max, g.lon_min, g.lon_max],
        select))
    cells = conn.execute(sa.select(sa.func.count()).select_from(db.incident_grid_cells)
                         .where(g.dataset_id == dataset_id)).scalar_one()
    conn.execute(sa.insert(db.incident_grids).values(
        dataset_id=dataset_id, cell=GRID_ROLLUP_CELL, cells=cells, built_at=utcnow()))
    return cells


class GridAccumulator:
    """The grid rollup of incidents computed in Python as they are written (bulk imports).

    Gives exactly the cells `refresh_grid` would compute from the same incidents (same keys:
    floor((coordinate + shift) / cell + 1e-9) in IEEE doubles; exact counts, sums, minima and
    maxima), without scanning the table again. Valid only when the accumulated rows are all
    of the dataset's incidents (an import into an empty dataset that rewrote none of them).
    Partial aggregates per block are merged as they come, so memory is a few rows per cell.
    """

    _COLUMNS = ["n", "total", "lat_min", "lat_max", "lon_min", "lon_max"]

    def __init__(self):
        self._parts: list[pd.DataFrame] = []
        self._rows = 0

    def add(self, lat, lon, count) -> None:
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        if not len(lat):
            return
        frame = pd.DataFrame({
            "gy": np.floor((lat + GRID_LAT_SHIFT) / GRID_ROLLUP_CELL + 1e-9).astype(np.int64),
            "gx": np.floor((lon + GRID_LON_SHIFT) / GRID_ROLLUP_CELL + 1e-9).astype(np.int64),
            "count": np.asarray(count, dtype=np.int64), "lat": lat, "lon": lon})
        part = frame.groupby(["gy", "gx"], sort=False).agg(
            n=("lat", "size"), total=("count", "sum"), lat_min=("lat", "min"),
            lat_max=("lat", "max"), lon_min=("lon", "min"), lon_max=("lon", "max"))
        self._parts.append(part)
        self._rows += len(part)
        if len(self._parts) > 1 and self._rows > 4 * len(self._parts[0]) + 100_000:
            self._parts = [self.cells()]
            self._rows = len(self._parts[0])

    def cells(self) -> pd.DataFrame:
        """Return the merged cells, indexed by (gy, gx)."""
        if not self._parts:
            index = pd.MultiIndex.from_arrays([[], []], names=["gy", "gx"])
            return pd.DataFrame({c: [] for c in self._COLUMNS}, index=index)
        if len(self._parts) == 1:
            return self._parts[0]
        return pd.concat(self._parts).groupby(level=["gy", "gx"], sort=False).agg(
            {"n": "sum", "total": "sum", "lat_min": "min", "lat_max": "max",
             "lon_min": "min", "lon_max": "max"})


def replace_grid(conn: sa.Connection, dataset_id: int, grid: GridAccumulator) -> int:
    """Replace a dataset's grid rollup by accumulated cells (see `GridAccumulator`)."""
    conn.execute(sa.delete(db.incident_grid_cells)
                 .where(db.incident_grid_cells.c.dataset_id == dataset_id))
    conn.execute(sa.delete(db.incident_grids).where(db.incident_grids.c.dataset_id == dataset_id))
    cells = grid.cells().reset_index()
    if len(cells):
        values = {"dataset_id": [int(dataset_id)] * len(cells)}
        for name in ("gy", "gx", "n", "total"):
            values[name] = cells[name].astype(np.int64).tolist()
        for name in ("lat_min", "lat_max", "lon_min", "lon_max"):
            values[name] = cells[name].astype(float).tolist()
        names = list(values)
        conn.execute(sa.insert(db.incident_grid_cells),
                     [dict(zip(names, row)) for row in zip(*values.values())])
    conn.execute(sa.insert(db.incident_grids).values(
        dataset_id=dataset_id, cell=GRID_ROLLUP_CELL, cells=len(cells), built_at=utcnow()))
    return len(cells)


# --- incidents --------------------------------------------------------------------------------

def insert_incidents(conn: sa.Connection, frame: pd.DataFrame) -> int:
    """Bulk-insert incidents (columns named as in the table) with the backend's fast path.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        An open connection inside a transaction.
    frame : pandas.DataFrame
        One row per incident; missing optional columns get their defaults.

    Returns
    -------
    int
        The number of rows written.
    """
    if frame.empty:
        return 0
    records = _records(frame)
    if conn.dialect.name == "postgresql":
        _copy_postgres(conn, records)
    else:
        conn.execute(sa.insert(db.incidents), records)
    return len(records)


def _records(frame: pd.DataFrame) -> list[dict]:
    """Turn a frame into insert parameters with Python types and defaults filled in."""
    defaults = {"import_id": None, "source_id": None, "precision": "day", "type": "",
                "count": 1, "direction": "unknown", "description": "", "attributes": None,
                "admin1": None, "country": None, "sector": None, "border_mile": None,
                "border_km": None, "at_border": False}
    out = frame.reindex(columns=list(INCIDENT_COLUMNS)).astype(object)
    out = out.where(pd.notna(out), None)
    records = out.to_dict("records")
    for rec in records:
        for key, default in defaults.items():
            if rec[key] is None:
                rec[key] = default
        ts = rec["occurred_at"]
        if isinstance(ts, pd.Timestamp):
            rec["occurred_at"] = ts.to_pydatetime()
        for key in ("lat", "lon", "border_mile", "border_km"):
            if rec[key] is not None:
                rec[key] = float(rec[key])
        for key in ("count", "dataset_id"):
            rec[key] = int(rec[key])
        rec["at_border"] = bool(rec["at_border"])
    return records


def _copy_postgres(conn: sa.Connection, records: list[dict]) -> None:
    """Write records with PostgreSQL COPY (the bulk path; executemany is ~10x slower)."""
    import json

    raw = conn.connection.driver_connection
    columns = ", ".join(f'"{c}"' for c in INCIDENT_COLUMNS)
    with raw.cursor() as cur:
        with cur.copy(f"COPY incidents ({columns}) FROM STDIN") as copy:
            for rec in records:
                row = [rec[c] for c in INCIDENT_COLUMNS]
                attrs_index = INCIDENT_COLUMNS.index("attributes")
                if row[attrs_index] is not None:
                    row[attrs_index] = json.dumps(row[attrs_index])
                copy.write_row(row)


def incident_frame(conn: sa.Connection, dataset_id: int,
                   filters: dict | None = None, columns: Iterable[str] | None = None,
                   limit: int | None = None, offset: int = 0) -> pd.DataFrame:
    """Return the dataset's incidents matching filters as a DataFrame (oldest first)."""
    cols = [db.incidents.c[name] for name in (columns or INCIDENT_COLUMNS[2:])]
    query = (sa.select(db.incidents.c.id, *cols)
             .where(db.incidents.c.dataset_id == dataset_id,
                    *filter_clauses(filters or {}))
             .order_by(db.incidents.c.occurred_at, db.incidents.c.id))
    if limit is not None:
        query = query.limit(limit).offset(offset)
    result = conn.execute(query)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    if "occurred_at" in frame:
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"])
    return frame


def filter_clauses(filters: dict) -> list:
    """Translate normalised filters (see maps/web) into SQL conditions."""
    c = db.incidents.c
    clauses = []
    if filters.get("from"):
        clauses.append(c.occurred_at >= filters["from"])
    if filters.get("to"):
        clauses.append(c.occurred_at < filters["to"])
    for key, column in (("type", c.type), ("direction", c.direction), ("country", c.country),
                        ("admin1", c.admin1), ("sector", c.sector)):
        values = filters.get(key)
        if values:
            clauses.append(column.in_(list(values)))
    return clauses


def count_incidents(conn: sa.Connection, dataset_id: int, filters: dict | None = None) -> int:
    """Return the number of incidents matching filters."""
    return conn.execute(sa.select(sa.func.count()).select_from(db.incidents).where(
        db.incidents.c.dataset_id == dataset_id, *filter_clauses(filters or {}))).scalar_one()


def delete_incidents(conn: sa.Connection, dataset_id: int) -> int:
    """Delete all of a dataset's incidents; return how many there were."""
    return conn.execute(sa.delete(db.incidents)
                        .where(db.incidents.c.dataset_id == dataset_id)).rowcount


# --- imports ----------------------------------------------------------------------------------

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


def get_import(conn: sa.Connection, import_id: int) -> dict:
    """Return one import with its report."""
    row = conn.execute(sa.select(db.imports).where(db.imports.c.id == import_id)).mappings().first()
    if row is None:
        raise NotFound(f"no import {import_id}")
    return dict(row)


def database_status(conn: sa.Connection) -> dict:
    """Return the backend name, schema revision and whether a trivial query succeeds."""
    conn.execute(sa.text("SELECT 1")).scalar_one()
    return {"ok": True, "backend": conn.dialect.name, "revision": db.current_revision(conn)}


def as_json_safe(value: Any) -> Any:
    """Convert numpy/pandas/datetime values into JSON-serialisable ones."""
    if isinstance(value, dict):
        return {k: as_json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json_safe(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value




HASHED_COLUMNS = ("source_id", "occurred_at", "precision", "lat", "lon", "type", "count",
                  "direction", "description", "attributes")


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """Return a 32-hex-digit content hash per incident (dedupe key for rows without source_id).

    The hash covers what an incident says (time, place rounded to 1e-6 degrees, type, count,
    direction, description, extra attributes), not what the import computed from it, so the
    same row uploaded twice hashes the same. It is two keyed 64-bit SipHashes of the
    normalised columns (pandas' vectorised hashing), so a million rows take well under a
    second instead of a Python loop over hashlib.
    """
    normalised = pd.DataFrame(
        {column: _hash_column(frame, column) for column in HASHED_COLUMNS}, index=frame.index)
    halves = [pd.util.hash_pandas_object(normalised, index=False, hash_key=key).to_numpy()
              for key in _HASH_KEYS]
    # Both halves big-endian side by side, hex-encoded in one call, then cut per row.
    text = np.column_stack(halves).astype(">u8").tobytes().hex()
    return pd.Series([text[i:i + 32] for i in range(0, len(text), 32)], index=frame.index,
                     dtype=object)


_HASH_KEYS = ("geomap-rowhash-1", "geomap-rowhash-2")


def _hash_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return one column in a canonical dtype, so equal content always hashes equal."""
    import json

    if column not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[column]
    if column in ("lat", "lon"):
        return values.astype(float).round(6)
    if column == "count":
        return values.astype("int64")
    if column == "occurred_at":
        return pd.to_datetime(values).astype("datetime64[s]").astype("int64")
    if column == "attributes":
        return values.map(lambda v: json.dumps(v, sort_keys=True) if isinstance(v, dict) and v
                          else "").astype(object)
    return values.fillna("").astype(str).astype(object)
