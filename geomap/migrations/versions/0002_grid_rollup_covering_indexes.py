"""grid rollup tables; covering indexes for filtered stats

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Adds ``incident_grids`` / ``incident_grid_cells``: per dataset, the incidents counted per
0.01-degree cell (with each cell's exact lat/lon bounds), rebuilt in the transaction that
changes the dataset's incidents, so an unfiltered heat or cluster map of millions of incidents
reads thousands of rows instead of millions. Existing datasets simply have no rollup until
their next import (maps fall back to the direct GROUP BY), so upgrading loses nothing.

Widens the region indexes into covering ones: ``(dataset_id, sector, occurred_at)`` and
``(dataset_id, admin1, occurred_at)`` carrying the other region column and ``count``
(PostgreSQL ``INCLUDE``; extra key columns on SQLite), so a stats query filtered by region
and dates is an index-only range scan. Same index names as before.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _covering(name: str, keys: list[str], extra: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(name, "incidents", keys, postgresql_include=extra)
    else:
        op.create_index(name, "incidents", keys + extra)


def upgrade() -> None:
    op.create_table(
        'incident_grids',
        sa.Column('dataset_id', sa.Integer(), nullable=False),
        sa.Column('cell', sa.Float(), nullable=False),
        sa.Column('cells', sa.Integer(), nullable=False),
        sa.Column('built_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('dataset_id'),
    )
    op.create_table(
        'incident_grid_cells',
        sa.Column('dataset_id', sa.Integer(), nullable=False),
        sa.Column('gy', sa.Integer(), nullable=False),
        sa.Column('gx', sa.Integer(), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.Column('total', sa.BigInteger(), nullable=False),
        sa.Column('lat_min', sa.Float(), nullable=False),
        sa.Column('lat_max', sa.Float(), nullable=False),
        sa.Column('lon_min', sa.Float(), nullable=False),
        sa.Column('lon_max', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('dataset_id', 'gy', 'gx'),
    )
    op.drop_index('ix_incidents_dataset_sector', table_name='incidents')
    _covering('ix_incidents_dataset_sector', ['dataset_id', 'sector', 'occurred_at'],
              ['admin1', 'count'])
    op.drop_index('ix_incidents_dataset_admin1', table_name='incidents')
    _covering('ix_incidents_dataset_admin1', ['dataset_id', 'admin1', 'occurred_at'],
              ['sector', 'count'])


def downgrade() -> None:
    op.drop_index('ix_incidents_dataset_admin1', table_name='incidents')
    op.create_index('ix_incidents_dataset_admin1', 'incidents', ['dataset_id', 'admin1'])
    op.drop_index('ix_incidents_dataset_sector', table_name='incidents')
    op.create_index('ix_incidents_dataset_sector', 'incidents', ['dataset_id', 'sector'])
    op.drop_table('incident_grid_cells')
    op.drop_table('incident_grids')
