"""location precision: rows located by a named place, a sector or a state/province

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

``incidents`` gains ``location_precision`` (``point``: the row's own coordinates; ``place``:
a gazetteer point of the port or town it names; ``sector``: known only by Border Patrol
sector; ``admin1``: known only by state/province) and ``place`` (the place, sector or
state/province it was matched to). ``lat`` and ``lon`` become nullable: sector- and
admin1-level rows carry their region codes and no invented coordinates.

``superseded_incidents`` (migration 0008: the rows an import replaced, kept for undo) holds
the incidents' columns, so it gains the same two columns and nullable coordinates.

Upgrade: every existing row has coordinates and becomes ``point``; nothing is rehashed (the
content hash covers ``place`` only where it is set, so existing hashes stay valid).
Downgrade deletes the rows without coordinates first (the old schema cannot hold them), and
the rollups of the datasets that had any (read from the incidents until rebuilt).

SQLite rebuilds the table to relax NOT NULL (batch mode); its indexes are dropped before and
made again after, so the partial ones keep their WHERE clauses. PostgreSQL alters in place.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _indexes(create: bool) -> None:
    """Drop or create the incidents indexes of revision 0005 (the current ones)."""
    unkeyed, keyed = sa.text("source_id IS NULL"), sa.text("source_id IS NOT NULL")
    specs = (("ix_incidents_dataset_date", ["dataset_id", "occurred_at"], {}),
             ("ix_incidents_dataset_hash", ["dataset_id", "row_hash"],
              {"sqlite_where": unkeyed, "postgresql_where": unkeyed}),
             ("ux_incidents_dataset_source_id", ["dataset_id", "source_id"],
              {"unique": True, "sqlite_where": keyed, "postgresql_where": keyed}))
    for name, columns, extra in specs:
        if create:
            op.create_index(name, "incidents", columns, **extra)
        else:
            op.drop_index(name, table_name="incidents")


TABLES = ("incidents", "superseded_incidents")


def _nullable(value: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        for table in TABLES:
            op.alter_column(table, "lat", existing_type=sa.Float(), nullable=value)
            op.alter_column(table, "lon", existing_type=sa.Float(), nullable=value)
        return
    # The trigger on datasets names incidents: SQLite refuses the rename that ends the table
    # copy while it exists, so it is dropped and made again from its stored SQL.
    triggers = op.get_bind().exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE "
        "'%incidents%'").fetchall()
    for name, _sql in triggers:
        op.execute(f'DROP TRIGGER "{name}"')
    _indexes(create=False)
    for table in TABLES:  # superseded_incidents' one plain index is kept by the batch copy
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.alter_column("lat", existing_type=sa.Float(), nullable=value)
            batch.alter_column("lon", existing_type=sa.Float(), nullable=value)
    _indexes(create=True)
    for _name, sql in triggers:
        op.execute(sql)


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column('location_precision', sa.String(8), nullable=False,
                                       server_default='point'))
        op.add_column(table, sa.Column('place', sa.String(120), nullable=True))
    _nullable(True)


def downgrade() -> None:
    # The rollups of datasets that lose rows are dropped with them: without its row in
    # incident_grids a dataset is read from its incidents until its next change rebuilds them.
    affected = "SELECT DISTINCT dataset_id FROM incidents WHERE lat IS NULL OR lon IS NULL"
    for table in ("incident_days", "incident_grid_cells", "incident_grids"):
        op.execute(f"DELETE FROM {table} WHERE dataset_id IN ({affected})")
    for table in TABLES:
        op.execute(f"DELETE FROM {table} WHERE lat IS NULL OR lon IS NULL")
    _nullable(False)
    for table in TABLES:
        op.drop_column(table, 'place')
        op.drop_column(table, 'location_precision')
