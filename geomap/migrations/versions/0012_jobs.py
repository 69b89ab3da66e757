"""background jobs: imports' state, progress and report; one lease per dataset

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

Imports run as jobs on a task queue (`geomap.jobs`); every app server answers for every job
from ``jobs``, and ``job_leases`` lets one job at a time write a dataset. On SQLite the live
tables are in a companion file beside the database (an import holds SQLite's one write
lock for its whole transaction, and progress must be written meanwhile); these stay empty.
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('dataset', sa.String(100), nullable=False),
        sa.Column('state', sa.String(10), nullable=False),
        sa.Column('phase', sa.String(20), nullable=False),
        sa.Column('rows_expected', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('rows_read', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('rows_joined', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('rows_written', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('lease_owner', sa.String(100), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('user_name', sa.String(100), server_default='', nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('import_id', sa.Integer(), nullable=True),
        sa.Column('report', sa.JSON(), nullable=True),
        sa.Column('error', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_jobs_dataset', 'jobs', ['dataset'])
    op.create_table(
        'job_leases',
        sa.Column('dataset', sa.String(100), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('owner', sa.String(100), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('dataset'),
    )


def downgrade() -> None:
    op.drop_table('job_leases')
    op.drop_index('ix_jobs_dataset', table_name='jobs')
    op.drop_table('jobs')
