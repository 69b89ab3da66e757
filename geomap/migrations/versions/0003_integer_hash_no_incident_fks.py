"""integer content hash, partial hash index, no foreign keys on incidents

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Makes bulk imports cheaper for the database; every query and behaviour stays the same.

- ``row_hash`` becomes two 64-bit integers, ``row_hash`` and ``row_hash2`` (the 128-bit
  content hash of `storage.row_hashes`), instead of 32 hex characters: 8-byte index keys
  instead of 33-byte text ones, and no Python string per row. Every existing row is rehashed
  here from its stored content, so a file uploaded before the upgrade still dedupes after it.
- ``ix_incidents_dataset_hash`` covers only rows without ``source_id``: only they are looked
  up by hash (keyed rows are found through ``ux_incidents_dataset_source_id``, and their hash
  is only compared with the stored hash of the same source_id). Each row now lands in one of
  the two dedupe indexes, not both.
- No foreign keys on ``incidents``: each cost the server a lookup per inserted row (about a
  fifth of a COPY). ``dataset_id``'s ``ON DELETE CASCADE`` becomes the trigger
  ``datasets_delete_incidents`` (deleting a dataset deletes its incidents in the same
  statement); ``import_id`` (was ``ON DELETE SET NULL``) stays an audit link: imports are only
  ever deleted with their dataset, whose incidents go with it. The trigger also spares the
  server the per-import scan of incidents that ``SET NULL`` needed (``import_id`` has no index).
- PostgreSQL: ``source_id`` compares with ``COLLATE "C"`` (bytewise; equality lookups need no
  locale, and index maintenance under a libc locale costs several times more).

SQLite rebuilds the table (it cannot drop a foreign key in place); PostgreSQL alters it.
"""
from __future__ import annotations

import json

from alembic import op
import numpy as np
import pandas as pd
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

TRIGGER = "datasets_delete_incidents"
_CHUNK = 100_000
_CONTENT = sa.table(
    "incidents",
    sa.column("id", sa.BigInteger), sa.column("source_id", sa.String),
    sa.column("occurred_at", sa.DateTime), sa.column("precision", sa.String),
    sa.column("lat", sa.Float), sa.column("lon", sa.Float), sa.column("type", sa.String),
    sa.column("count", sa.Integer), sa.column("direction", sa.String),
    sa.column("description", sa.Text), sa.column("attributes", sa.JSON),
)
_COPIED = ("id", "dataset_id", "import_id", "source_id", "occurred_at", "precision", "lat",
           "lon", "type", "count", "direction", "description", "attributes", "admin1",
           "country", "sector", "border_mile", "border_km", "at_border")


def _columns(new: bool) -> list:
    """Return the incidents columns of revision 0003 (new) or 0002 (for the rebuilds)."""
    hashes = ([sa.Column('row_hash', sa.BigInteger(), nullable=False),
               sa.Column('row_hash2', sa.BigInteger(), nullable=False)] if new
              else [sa.Column('row_hash', sa.String(length=32), nullable=False)])
    keys = ([] if new else [
        sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['import_id'], ['imports.id'], ondelete='SET NULL')])
    return [
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('dataset_id', sa.Integer(), nullable=False),
        sa.Column('import_id', sa.Integer(), nullable=True),
        sa.Column('source_id', sa.String(length=200), nullable=True),
        sa.Column('occurred_at', sa.DateTime(), nullable=False),
        sa.Column('precision', sa.String(length=8), server_default='day', nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lon', sa.Float(), nullable=False),
        sa.Column('type', sa.String(length=100), server_default='', nullable=False),
        sa.Column('count', sa.Integer(), server_default='1', nullable=False),
        sa.Column('direction', sa.String(length=12), server_default='unknown', nullable=False),
        sa.Column('description', sa.Text(), server_default='', nullable=False),
        sa.Column('attributes', sa.JSON(), nullable=True),
        sa.Column('admin1', sa.String(length=8), nullable=True),
        sa.Column('country', sa.String(length=2), nullable=True),
        sa.Column('sector', sa.String(length=20), nullable=True),
        sa.Column('border_mile', sa.Float(), nullable=True),
        sa.Column('border_km', sa.Float(), nullable=True),
        sa.Column('at_border', sa.Boolean(), server_default=sa.false(), nullable=False),
        *hashes, *keys, sa.PrimaryKeyConstraint('id'),
    ]


def _indexes(new: bool) -> None:
    """Create the incidents indexes of revision 0003 (new) or 0002."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, keys, extra in (("ix_incidents_dataset_sector", ["dataset_id", "sector"],
                               ["admin1", "count"]),
                              ("ix_incidents_dataset_admin1", ["dataset_id", "admin1"],
                               ["sector", "count"])):
        if sqlite:
            op.create_index(name, "incidents", keys + ["occurred_at"] + extra)
        else:
            op.create_index(name, "incidents", keys + ["occurred_at"], postgresql_include=extra)
    op.create_index("ix_incidents_dataset_date", "incidents", ["dataset_id", "occurred_at"])
    unkeyed = sa.text("source_id IS NULL") if new else None
    op.create_index("ix_incidents_dataset_hash", "incidents", ["dataset_id", "row_hash"],
                    sqlite_where=unkeyed, postgresql_where=unkeyed)
    keyed = sa.text("source_id IS NOT NULL")
    op.create_index("ux_incidents_dataset_source_id", "incidents", ["dataset_id", "source_id"],
                    unique=True, sqlite_where=keyed, postgresql_where=keyed)


# Revision 0003's content hash (`storage.row_hashes` as of this revision), frozen here like
# 0002's below: a migration must give the same result whatever the live code later becomes.
# A change of the live hash needs a migration of its own that rehashes every row.
_HASHED = ("keyed", "occurred_at", "precision", "lat", "lon", "type", "count", "direction",
           "description", "attributes")
_FEW_VALUES = frozenset({"precision", "type", "direction"})
_KEYS = ("geomap-rowhash-1", "geomap-rowhash-2")
_SEEDS = (0x345678, 0x9E3779B97F4A7C15)


def _new_hashes(frame: pd.DataFrame) -> list[np.ndarray]:
    """Revision 0003's row_hash and row_hash2 (two independently keyed 64-bit hashes)."""
    accumulators = [np.full(len(frame), seed, dtype=np.uint64) for seed in _SEEDS]
    for position, column in enumerate(_HASHED):
        values = _normalised(frame, column)
        multiplier = np.uint64(1000003 + 2 * position * 82520)
        for acc, key in zip(accumulators, _KEYS):
            acc ^= _column_hash(values, column, key)
            acc *= multiplier
    return [_mix(acc).view(np.int64) for acc in accumulators]


def _mix(values: np.ndarray) -> np.ndarray:
    values = values.copy()
    values ^= values >> np.uint64(30)
    values *= np.uint64(0xBF58476D1CE4E5B9)
    values ^= values >> np.uint64(27)
    values *= np.uint64(0x94D049BB133111EB)
    values ^= values >> np.uint64(31)
    return values


def _column_hash(values: pd.Series, column: str, key: str) -> np.ndarray:
    if values.dtype != object:
        hashed = pd.util.hash_array(values.to_numpy())
        return hashed if key == _KEYS[0] else _mix(hashed ^ np.uint64(0x5BD1E9955BD1E995))
    if column in _FEW_VALUES:
        codes, uniques = pd.factorize(values.to_numpy(), sort=False)
        return pd.util.hash_array(np.asarray(uniques, dtype=object), hash_key=key,
                                  categorize=False)[codes]
    return pd.util.hash_array(values.to_numpy(), hash_key=key, categorize=False)


def _normalised(frame: pd.DataFrame, column: str) -> pd.Series:
    if column == "keyed":
        if "source_id" not in frame:
            return pd.Series(0, index=frame.index, dtype=np.int64)
        return frame["source_id"].notna().astype(np.int64)
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
        return pd.Series([json.dumps(v, sort_keys=True) if isinstance(v, dict) and v else ""
                          for v in values], index=frame.index, dtype=object)
    values = values.astype(object)
    values = values.where(values.notna(), "")
    if pd.api.types.infer_dtype(values, skipna=False) not in ("string", "empty"):
        values = values.map(str)
    return values


def _old_hashes(frame: pd.DataFrame) -> list[np.ndarray]:
    """Revision 0002's row_hash (32 hex digits), frozen here for the downgrade."""
    def column(name):
        if name not in frame:
            return pd.Series("", index=frame.index, dtype=object)
        values = frame[name]
        if name in ("lat", "lon"):
            return values.astype(float).round(6)
        if name == "count":
            return values.astype("int64")
        if name == "occurred_at":
            return pd.to_datetime(values).astype("datetime64[s]").astype("int64")
        if name == "attributes":
            return values.map(lambda v: json.dumps(v, sort_keys=True)
                              if isinstance(v, dict) and v else "").astype(object)
        return values.fillna("").astype(str).astype(object)

    names = ("source_id", "occurred_at", "precision", "lat", "lon", "type", "count",
             "direction", "description", "attributes")
    normalised = pd.DataFrame({name: column(name) for name in names}, index=frame.index)
    halves = [pd.util.hash_pandas_object(normalised, index=False, hash_key=key).to_numpy()
              for key in ("geomap-rowhash-1", "geomap-rowhash-2")]
    text = np.column_stack(halves).astype(">u8").tobytes().hex()
    return [np.array([text[i:i + 32] for i in range(0, len(text), 32)], dtype=object)]


def _hash_table(compute, types: list[str]) -> None:
    """Fill the temporary table incident_hashes (id, h0[, h1]) from every incident's content.

    Reads the incidents in id order, a chunk at a time (memory stays bounded), and hashes
    each chunk with `compute`.
    """
    bind = op.get_bind()
    columns = ", ".join(f"h{i} {kind}" for i, kind in enumerate(types))
    temporary = ("CREATE TEMPORARY TABLE incident_hashes (id BIGINT PRIMARY KEY, "
                 f"{columns})")
    if bind.dialect.name == "postgresql":
        temporary += " ON COMMIT DROP"
    bind.exec_driver_sql(temporary)
    names = ", ".join(["id"] + [f"h{i}" for i in range(len(types))])
    marks = ", ".join("?" for _ in range(len(types) + 1))
    last = None
    while True:
        query = sa.select(_CONTENT).order_by(_CONTENT.c.id).limit(_CHUNK)
        if last is not None:
            query = query.where(_CONTENT.c.id > last)
        result = bind.execute(query)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        if frame.empty:
            return
        last = int(frame["id"].iloc[-1])
        rows = zip(frame["id"].astype(np.int64).tolist(),
                   *(h.tolist() for h in compute(frame)))
        raw = bind.connection.driver_connection
        if bind.dialect.name == "postgresql":
            with raw.cursor() as cur, cur.copy(f"COPY incident_hashes ({names}) FROM STDIN") \
                    as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor = raw.cursor()
            try:
                cursor.executemany(f"INSERT INTO incident_hashes ({names}) VALUES ({marks})",
                                   rows)
            finally:
                cursor.close()


def _drop_hash_table() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE temp.incident_hashes")
    else:
        op.execute("DROP TABLE incident_hashes")


def _sqlite_rebuild(new: bool, hash_columns: list[str]) -> None:
    """Copy incidents into a table of the target revision with the hashes in incident_hashes."""
    op.create_table("incidents_rebuilt", *_columns(new))
    copied = ", ".join(f'"{c}"' for c in _COPIED)
    selected = ", ".join(f'i."{c}"' for c in _COPIED)
    hashes = ", ".join(f"h.h{i}" for i in range(len(hash_columns)))
    op.execute(f"INSERT INTO incidents_rebuilt ({copied}, {', '.join(hash_columns)}) "
               f"SELECT {selected}, {hashes} FROM incidents AS i "
               "JOIN temp.incident_hashes AS h ON h.id = i.id")
    _drop_hash_table()
    op.drop_table("incidents")
    op.rename_table("incidents_rebuilt", "incidents")
    _indexes(new)


def upgrade() -> None:
    bind = op.get_bind()
    _hash_table(_new_hashes, ["BIGINT", "BIGINT"])
    if bind.dialect.name == "sqlite":
        _sqlite_rebuild(True, ["row_hash", "row_hash2"])
        op.execute(f"CREATE TRIGGER {TRIGGER} AFTER DELETE ON datasets FOR EACH ROW "
                   "BEGIN DELETE FROM incidents WHERE dataset_id = OLD.id; END")
        return
    for key in sa.inspect(bind).get_foreign_keys("incidents"):
        op.drop_constraint(key["name"], "incidents", type_="foreignkey")
    op.drop_index("ix_incidents_dataset_hash", table_name="incidents")
    op.drop_column("incidents", "row_hash")
    op.add_column("incidents", sa.Column("row_hash", sa.BigInteger(), nullable=True))
    op.add_column("incidents", sa.Column("row_hash2", sa.BigInteger(), nullable=True))
    op.execute("UPDATE incidents SET row_hash = h.h0, row_hash2 = h.h1 "
               "FROM incident_hashes AS h WHERE h.id = incidents.id")
    _drop_hash_table()
    op.alter_column("incidents", "row_hash", nullable=False)
    op.alter_column("incidents", "row_hash2", nullable=False)
    op.execute('ALTER TABLE incidents ALTER COLUMN source_id TYPE varchar(200) COLLATE "C"')
    unkeyed = sa.text("source_id IS NULL")
    op.create_index("ix_incidents_dataset_hash", "incidents", ["dataset_id", "row_hash"],
                    postgresql_where=unkeyed)
    op.execute(f"CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$ "
               "BEGIN DELETE FROM incidents WHERE dataset_id = OLD.id; RETURN OLD; END $$")
    op.execute(f"CREATE TRIGGER {TRIGGER} AFTER DELETE ON datasets FOR EACH ROW "
               f"EXECUTE FUNCTION {TRIGGER}()")


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(f"DROP TRIGGER {TRIGGER}" + ("" if bind.dialect.name == "sqlite"
                                             else " ON datasets"))
    # The foreign key comes back: links to imports that no longer exist are cleared first.
    op.execute("UPDATE incidents SET import_id = NULL WHERE import_id IS NOT NULL AND "
               "import_id NOT IN (SELECT id FROM imports)")
    op.execute("DELETE FROM incidents WHERE dataset_id NOT IN (SELECT id FROM datasets)")
    _hash_table(_old_hashes, ["VARCHAR(32)"])
    if bind.dialect.name == "sqlite":
        _sqlite_rebuild(False, ["row_hash"])
        return
    op.execute(f"DROP FUNCTION {TRIGGER}()")
    op.drop_index("ix_incidents_dataset_hash", table_name="incidents")
    op.drop_column("incidents", "row_hash2")
    op.drop_column("incidents", "row_hash")
    op.add_column("incidents", sa.Column("row_hash", sa.String(length=32), nullable=True))
    op.execute("UPDATE incidents SET row_hash = h.h0 FROM incident_hashes AS h "
               "WHERE h.id = incidents.id")
    _drop_hash_table()
    op.alter_column("incidents", "row_hash", nullable=False)
    op.execute('ALTER TABLE incidents ALTER COLUMN source_id TYPE varchar(200) '
               'COLLATE "default"')
    op.create_index("ix_incidents_dataset_hash", "incidents", ["dataset_id", "row_hash"])
    op.create_foreign_key("incidents_dataset_id_fkey", "incidents", "datasets",
                          ["dataset_id"], ["id"], ondelete="CASCADE")
    op.create_foreign_key("incidents_import_id_fkey", "incidents", "imports",
                          ["import_id"], ["id"], ondelete="SET NULL")
