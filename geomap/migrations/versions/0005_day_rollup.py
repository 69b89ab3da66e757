"""day rollup; no region indexes on incidents

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Adds ``incident_days``: per dataset, incidents counted per UTC day and combination of the
columns filters select on (type, direction, country, admin1, sector), written with the grid
rollup in the transaction that changes the incidents. Stats and choropleths by any of those
columns, under any filter, sum these rows (thousands) instead of grouping the incidents
(millions). Filled here from the existing incidents.

Drops ``ix_incidents_dataset_admin1`` and ``ix_incidents_dataset_sector`` (the covering
indexes of migration 0002, which only served those stats): maintaining them was about a
third of the cost of writing an import's rows on both backends (a 1M-row SQLite import
rebuilt them in ~7 of its ~10 s of index building). Maps filtered by region read the
incidents through ``ix_incidents_dataset_date`` or scan the dataset's rows.

The trigger ``datasets_delete_incidents`` also deletes a dataset's day rows with it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TRIGGER = "datasets_delete_incidents"
COLUMNS = "type, direction, country, admin1, sector"


def _trigger(with_days: bool) -> None:
    deletes = ("DELETE FROM incidents WHERE dataset_id = OLD.id; "
               "DELETE FROM incident_grid_cells WHERE dataset_id = OLD.id; "
               + ("DELETE FROM incident_days WHERE dataset_id = OLD.id; " if with_days else ""))
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER {TRIGGER}")
        op.execute(f"CREATE TRIGGER {TRIGGER} AFTER DELETE ON datasets FOR EACH ROW "
                   f"BEGIN {deletes}END")
    else:
        op.execute(f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql "
                   f"AS $$ BEGIN {deletes}RETURN OLD; END $$")


def _covering(name: str, keys: list[str], extra: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(name, "incidents", keys, postgresql_include=extra)
    else:
        op.create_index(name, "incidents", keys + extra)


def upgrade() -> None:
    op.create_table(
        'incident_days',
        sa.Column('dataset_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('type', sa.String(100), nullable=False),
        sa.Column('direction', sa.String(12), nullable=False),
        sa.Column('country', sa.String(2), nullable=True),
        sa.Column('admin1', sa.String(8), nullable=True),
        sa.Column('sector', sa.String(20), nullable=True),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.Column('total', sa.BigInteger(), nullable=False),
    )
    day = ("CAST(occurred_at AS date)" if op.get_bind().dialect.name == "postgresql"
           else "date(occurred_at)")
    op.execute(f"INSERT INTO incident_days (dataset_id, day, {COLUMNS}, n, total) "
               f"SELECT dataset_id, {day}, {COLUMNS}, count(*), coalesce(sum(count), 0) "
               f"FROM incidents GROUP BY dataset_id, {day}, {COLUMNS}")
    op.create_index('ix_incident_days_dataset_day', 'incident_days', ['dataset_id', 'day'])
    _trigger(True)
    op.drop_index('ix_incidents_dataset_admin1', table_name='incidents')
    op.drop_index('ix_incidents_dataset_sector', table_name='incidents')


def downgrade() -> None:
    _covering('ix_incidents_dataset_sector', ['dataset_id', 'sector', 'occurred_at'],
              ['admin1', 'count'])
    _covering('ix_incidents_dataset_admin1', ['dataset_id', 'admin1', 'occurred_at'],
              ['sector', 'count'])
    _trigger(False)
    op.drop_table('incident_days')
