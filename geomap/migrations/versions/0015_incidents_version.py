"""datasets.incidents_version: the version of a dataset's incidents alone

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Issue #20: a dataset version's columnar copy (``store.columnar``) holds its incidents and
rollups only, so it is named by the version those last changed at, not by ``version``
(which every edit of a title, the publication state or the corrections log bumps too).
``store.bump_version`` (every change of incidents) sets both to the same new number;
``store.metadata_changed`` moves ``version`` alone. Existing rows start with
``incidents_version = version``.
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy of the table): on SQLite a batch rebuild of
    # ``datasets`` would drop the trigger that deletes a dataset's incidents with it.
    op.add_column('datasets', sa.Column('incidents_version', sa.Integer(),
                                        server_default='1', nullable=False))
    op.execute("UPDATE datasets SET incidents_version = version")


def downgrade() -> None:
    # DROP COLUMN in place on both (SQLite 3.35+), keeping the trigger on ``datasets``.
    op.execute("ALTER TABLE datasets DROP COLUMN incidents_version")
