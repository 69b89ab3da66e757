"""day rollup keeps the date's precision

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Dates are now known as precisely as they are published: ``incidents.precision`` (a
``String(8)`` since 0001) takes ``quarter`` and ``year`` besides ``second``, ``day`` and
``month``, so no change there. Counts per week, month or quarter must leave out the records
known only at a coarser period (a record known by its year is not January's), and stats read
the day rollup: ``incident_days`` gets a ``precision`` column and is rebuilt from the
incidents, grouped by it too (as ``store.refresh_rollups`` now does).

"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

COLUMNS = "type, direction, country, admin1, sector"


def _rebuild(with_precision: bool) -> None:
    day = ("CAST(occurred_at AS date)" if op.get_bind().dialect.name == "postgresql"
           else "date(occurred_at)")
    columns = COLUMNS + (", precision" if with_precision else "")
    op.execute("DELETE FROM incident_days")
    op.execute(f"INSERT INTO incident_days (dataset_id, day, {columns}, n, total) "
               f"SELECT dataset_id, {day}, {columns}, count(*), coalesce(sum(count), 0) "
               f"FROM incidents GROUP BY dataset_id, {day}, {columns}")


def upgrade() -> None:
    # A plain ADD COLUMN on both backends (SQLite takes a NOT NULL column with a constant
    # default): no table copy, which on SQLite would trip over the dataset trigger's body.
    op.add_column('incident_days', sa.Column('precision', sa.String(8), nullable=False,
                                             server_default='day'))
    _rebuild(True)


def downgrade() -> None:
    op.drop_column('incident_days', 'precision')
    _rebuild(False)
