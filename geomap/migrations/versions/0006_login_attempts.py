"""sign-in attempts counted in the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

``login_attempts`` counts sign-in attempts per client address and fixed window (a minute,
an hour). The counters were in each process's memory, so with gunicorn's several workers
on one machine, or several app servers sharing PostgreSQL, an address got that many times
the limit.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'login_attempts',
        sa.Column('address', sa.String(64), nullable=False),
        sa.Column('span', sa.Integer(), nullable=False),
        sa.Column('window_start', sa.BigInteger(), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('address', 'span', 'window_start'),
    )


def downgrade() -> None:
    op.drop_table('login_attempts')
