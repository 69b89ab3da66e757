"""The schema: SQLAlchemy Core tables and the metadata migrations compare against.

`geomap.db` re-exports every name here (``db.incidents``, ``db.metadata``), so callers keep
reading the schema from `db`; Alembic's migrations in `geomap/migrations/` are the history of
these definitions.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

datasets = sa.Table(
    "datasets", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.String(100), nullable=False, unique=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("source", sa.String(500), nullable=False, server_default=""),
    sa.Column("license", sa.String(200), nullable=False, server_default=""),
    sa.Column("min_public_count", sa.Integer, nullable=False, server_default="1"),
    sa.Column("published", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # The version at which its incidents (and rollups) last changed (migration 0015): what
    # a columnar copy holds (`store.columnar`); edits of the rest leave it alone.
    sa.Column("incidents_version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # Migration 0008: the column names whose values are an incident's identity for upserts
    # (a JSON list; None: the file's id column, or the content for rows without one).
    sa.Column("natural_key", sa.JSON, nullable=True),
)

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(300), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    # Migration 0007: "admin" (users, tokens, every dataset) or "editor" (the datasets they
    # own or collaborate on, see dataset_members); disabled users cannot sign in and their
    # tokens stop working; a session is valid only while it carries the user's current
    # session generation (advanced by logout, password change and disabling).
    sa.Column("role", sa.String(10), nullable=False, server_default="editor"),
    sa.Column("disabled_at", sa.DateTime, nullable=True),
    sa.Column("session_generation", sa.Integer, nullable=False, server_default="0"),
)

# Who may write a dataset besides admins (migration 0007): its owners (who also manage its
# members) and collaborators.
dataset_members = sa.Table(
    "dataset_members", metadata,
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
              primary_key=True, index=True),
    sa.Column("role", sa.String(12), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime, nullable=True),
)

# Imports are the audit trail: they outlive their dataset (migration 0008: ``dataset_id``
# becomes NULL when it is deleted, ``dataset_slug`` still says which it was).
imports = sa.Table(
    "imports", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="SET NULL"),
              nullable=True, index=True),
    sa.Column("user_name", sa.String(100), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("filename", sa.String(300), nullable=False, server_default=""),
    sa.Column("sha256", sa.String(64), nullable=False, server_default=""),
    sa.Column("size_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("stored_path", sa.String(500), nullable=True),
    sa.Column("mode", sa.String(10), nullable=False, server_default="append"),
    sa.Column("rows_total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_imported", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_unchanged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_rejected", sa.Integer, nullable=False, server_default="0"),
    sa.Column("report", sa.JSON, nullable=True),
    # Migration 0008: undo. An import can be reverted while it is the dataset's latest one
    # not reverted; `rows_superseded` of the rows it replaced or updated are kept in
    # `superseded_incidents` until a later import supersedes rows (`undo_dropped_at`).
    sa.Column("dataset_slug", sa.String(100), nullable=False, server_default=""),
    sa.Column("natural_key", sa.JSON, nullable=True),
    sa.Column("rows_superseded", sa.Integer, nullable=False, server_default="0"),
    sa.Column("undo_dropped_at", sa.DateTime, nullable=True),
    sa.Column("reverted_at", sa.DateTime, nullable=True),
    sa.Column("reverted_by", sa.String(100), nullable=True),
)

# The corrections log (migration 0013; it replaced ``datasets.correction``, a single free-text
# note): dated public entries saying what changed in a dataset and why, optionally naming the
# import that made the change. Like imports they are the audit trail and outlive their
# dataset (``dataset_id`` becomes NULL when it is deleted, ``dataset_slug`` still says which
# it was), so a dataset made again under the slug starts with an empty log.
dataset_corrections = sa.Table(
    "dataset_corrections", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="SET NULL"),
              nullable=True, index=True),
    sa.Column("dataset_slug", sa.String(100), nullable=False),
    sa.Column("corrected_on", sa.Date, nullable=False),  # the date the entry is dated
    sa.Column("what", sa.Text, nullable=False),
    sa.Column("why", sa.Text, nullable=False, server_default=""),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id", ondelete="SET NULL"),
              nullable=True),
    sa.Column("user_name", sa.String(100), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),  # when it was written down
)

# Shared file storage (migration 0011): uploads kept for preview, import and audit, and
# rejected-rows files, in the database by default so that every app server reaches them
# (`store.blobs`). A file is one `stored_files` row and its content in `stored_file_chunks`
# of at most `store.blobs.CHUNK` bytes each, written and read a chunk at a time.
stored_files = sa.Table(
    "stored_files", metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

stored_file_chunks = sa.Table(
    "stored_file_chunks", metadata,
    sa.Column("key", sa.String(200), sa.ForeignKey("stored_files.key", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# Background jobs (migration 0012; `geomap.jobs`): an import's state, progress and report,
# read by every app server. A job runs under a lease (`lease_owner` until
# `lease_expires_at`, renewed while it runs); `job_leases` holds one lease per dataset, so
# one dataset's jobs run one at a time. On SQLite these live in a companion file beside the
# database (`jobs.jobs_engine`), since an import holds SQLite's one write lock throughout.
jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("dataset", sa.String(100), nullable=False, index=True),
    sa.Column("state", sa.String(10), nullable=False),  # queued, running, done, failed
    sa.Column("phase", sa.String(20), nullable=False),
    sa.Column("rows_expected", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_read", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_joined", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_written", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_owner", sa.String(100), nullable=True),
    sa.Column("lease_expires_at", sa.DateTime, nullable=True),
    sa.Column("user_id", sa.Integer, nullable=True),
    sa.Column("user_name", sa.String(100), nullable=False, server_default=""),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("import_id", sa.Integer, nullable=True),
    sa.Column("report", sa.JSON, nullable=True),
    sa.Column("error", sa.JSON, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=True),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=True),
)

job_leases = sa.Table(
    "job_leases", metadata,
    sa.Column("dataset", sa.String(100), primary_key=True),
    sa.Column("job_id", sa.Integer, nullable=False),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

# Migration 0003 made the bulk path cheaper for the server: no foreign keys on `incidents`
# (each one cost a lookup per inserted row); deleting a dataset still deletes its incidents
# in the same statement, by the trigger INCIDENTS_CASCADE_TRIGGER on `datasets`, and
# `import_id` is an audit link to the import that last wrote the row (imports are only ever
# deleted with their dataset). The content hash is two 64-bit integers (`row_hash`, indexed
# only for rows without source_id, the only ones looked up by it; `row_hash2`), and on
# PostgreSQL source_id compares bytewise (COLLATE "C"), as equality lookups need no locale.
incidents = sa.Table(
    "incidents", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("dataset_id", sa.Integer, nullable=False),
    sa.Column("import_id", sa.Integer, nullable=True),
    sa.Column("source_id", sa.String(200).with_variant(sa.String(200, collation="C"),
                                                       "postgresql"), nullable=True),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("precision", sa.String(8), nullable=False, server_default="day"),
    # NULL for rows known only by sector or state/province (location_precision, 0009).
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("type", sa.String(100), nullable=False, server_default=""),
    sa.Column("count", sa.Integer, nullable=False, server_default="1"),
    sa.Column("direction", sa.String(12), nullable=False, server_default="unknown"),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("attributes", sa.JSON, nullable=True),
    sa.Column("admin1", sa.String(8), nullable=True),
    sa.Column("country", sa.String(2), nullable=True),
    sa.Column("sector", sa.String(20), nullable=True),
    sa.Column("border_mile", sa.Float, nullable=True),
    sa.Column("border_km", sa.Float, nullable=True),
    sa.Column("at_border", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("row_hash", sa.BigInteger, nullable=False),
    sa.Column("row_hash2", sa.BigInteger, nullable=False),
    # point | place | sector | admin1, and the place or region a row was matched to (0009).
    sa.Column("location_precision", sa.String(8), nullable=False, server_default="point"),
    sa.Column("place", sa.String(120), nullable=True),
    # Stats filtered by region read the day rollup (`incident_days`), so there are no region
    # indexes here (migration 0005): they were most of the cost of writing an import.
    sa.Index("ix_incidents_dataset_date", "dataset_id", "occurred_at"),
    sa.Index("ix_incidents_dataset_hash", "dataset_id", "row_hash",
             sqlite_where=sa.text("source_id IS NULL"),
             postgresql_where=sa.text("source_id IS NULL")),
    sa.Index("ux_incidents_dataset_source_id", "dataset_id", "source_id", unique=True,
             sqlite_where=sa.text("source_id IS NOT NULL"),
             postgresql_where=sa.text("source_id IS NOT NULL")),
)

# The rows an import replaced or updated, as they were (migration 0008), so that the import
# can be reverted: `superseded_by` is that import, `incident_id` the row's id, the rest the
# incident's columns (its own `import_id` included). Only the latest superseding import of a
# dataset keeps its rows (`store.history`); no foreign keys (bulk copies), the trigger
# INCIDENTS_CASCADE_TRIGGER deletes them with their dataset.
superseded_incidents = sa.Table(
    "superseded_incidents", metadata,
    sa.Column("superseded_by", sa.Integer, nullable=False),
    sa.Column("incident_id", sa.BigInteger, nullable=True),
    *[sa.Column(c.name, c.type, nullable=c.nullable) for c in incidents.columns
      if c.name != "id"],
    sa.Index("ix_superseded_incidents_by", "superseded_by"),
)

# Deleted datasets (migration 0008): who deleted which and when, and its last version, so
# that a dataset made again under the same slug starts above it (render caches and ETags
# are keyed by slug and version).
deleted_datasets = sa.Table(
    "deleted_datasets", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.String(100), nullable=False, index=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("incidents", sa.BigInteger, nullable=False),
    sa.Column("deleted_at", sa.DateTime, nullable=False),
    sa.Column("deleted_by", sa.String(100), nullable=True),
)

#: Name of the trigger that deletes a dataset's incidents (migration 0003), grid rollup
#: cells (0004) and day rollup (0005) with the dataset.
INCIDENTS_CASCADE_TRIGGER = "datasets_delete_incidents"

# Grid rollup (migration 0002): per dataset, incidents counted per GRID_ROLLUP_CELL-degree cell
# with the cell's exact bounds, rebuilt with every change of the dataset's incidents
# (`store.refresh_rollups`); unfiltered heat and cluster maps read it instead of the incidents.
incident_grids = sa.Table(
    "incident_grids", metadata,
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("cell", sa.Float, nullable=False),
    sa.Column("cells", sa.Integer, nullable=False),
    sa.Column("built_at", sa.DateTime, nullable=False),
)

# No foreign key on the cells (migration 0004: checking it per written cell was most of the
# cost of writing a rollup); INCIDENTS_CASCADE_TRIGGER deletes them with their dataset.
incident_grid_cells = sa.Table(
    "incident_grid_cells", metadata,
    sa.Column("dataset_id", sa.Integer, primary_key=True),
    sa.Column("gy", sa.Integer, primary_key=True),
    sa.Column("gx", sa.Integer, primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("lat_min", sa.Float, nullable=False),
    sa.Column("lat_max", sa.Float, nullable=False),
    sa.Column("lon_min", sa.Float, nullable=False),
    sa.Column("lon_max", sa.Float, nullable=False),
)


# Day rollup (migration 0005): per dataset, incidents counted per UTC day and combination of
# the columns filters select on, written with the grid rollup (`store.refresh_rollups`).
# Stats and choropleths by those columns, under any filter, sum these rows instead of
# grouping the incidents. A day and combination may have several rows (appends add rows;
# readers sum them), so there is no primary key; no foreign key either (the trigger
# INCIDENTS_CASCADE_TRIGGER deletes them with their dataset).
incident_days = sa.Table(
    "incident_days", metadata,
    sa.Column("dataset_id", sa.Integer, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("direction", sa.String(12), nullable=False),
    sa.Column("country", sa.String(2), nullable=True),
    sa.Column("admin1", sa.String(8), nullable=True),
    sa.Column("sector", sa.String(20), nullable=True),
    # The date's precision (migration 0010): monthly counts leave out records known only by
    # quarter or year, and say how many there are.
    sa.Column("precision", sa.String(8), nullable=False, server_default="day"),
    # How the row was located (migration 0014): stats by location precision sum the rollup.
    sa.Column("location_precision", sa.String(8), nullable=False, server_default="point"),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Index("ix_incident_days_dataset_day", "dataset_id", "day"),
)


# Period rollups (migration 0014, issue #20): the day rollup summed per week (grain 'w', the
# Monday it starts) and per month (grain 'm', its first day), so stats and choropleths whose
# date bounds fall on those boundaries (or have none) sum a few thousand rows instead of one
# per day. Written with the day rollup (`store.refresh_rollups`, `store.RollupAccumulator`);
# appends add rows, readers sum them; INCIDENTS_CASCADE_TRIGGER deletes them with the dataset.
incident_periods = sa.Table(
    "incident_periods", metadata,
    sa.Column("dataset_id", sa.Integer, nullable=False),
    sa.Column("grain", sa.String(1), nullable=False),
    sa.Column("start", sa.Date, nullable=False),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("direction", sa.String(12), nullable=False),
    sa.Column("country", sa.String(2), nullable=True),
    sa.Column("admin1", sa.String(8), nullable=True),
    sa.Column("sector", sa.String(20), nullable=True),
    sa.Column("precision", sa.String(8), nullable=False),
    sa.Column("location_precision", sa.String(8), nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Index("ix_incident_periods_dataset", "dataset_id", "grain", "start"),
)

# Time-layer rollup (migration 0014, issue #20): located incidents per 0.1-degree cell (keys
# as the grid rollup's, `store.TIME_ROLLUP_CELL`), week or month (grain, start as above) and
# date precision: the unfiltered time layer sums these instead of grouping every incident.
incident_cell_periods = sa.Table(
    "incident_cell_periods", metadata,
    sa.Column("dataset_id", sa.Integer, nullable=False),
    sa.Column("grain", sa.String(1), nullable=False),
    sa.Column("start", sa.Date, nullable=False),
    sa.Column("gy", sa.Integer, nullable=False),
    sa.Column("gx", sa.Integer, nullable=False),
    sa.Column("precision", sa.String(8), nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Index("ix_incident_cell_periods_dataset", "dataset_id", "grain", "start"),
)


# Sign-in attempts per client address and fixed window (migration 0006), in the database so
# that every worker process and app server counts against the same limit.
login_attempts = sa.Table(
    "login_attempts", metadata,
    sa.Column("address", sa.String(64), primary_key=True),
    sa.Column("span", sa.Integer, primary_key=True),           # window length, seconds
    sa.Column("window_start", sa.BigInteger, primary_key=True),  # Unix seconds
    sa.Column("hits", sa.Integer, nullable=False),
)
