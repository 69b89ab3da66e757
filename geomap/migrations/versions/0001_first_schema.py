"""first schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('datasets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('source', sa.String(length=500), server_default='', nullable=False),
    sa.Column('license', sa.String(length=200), server_default='', nullable=False),
    sa.Column('correction', sa.Text(), server_default='', nullable=False),
    sa.Column('min_public_count', sa.Integer(), server_default='1', nullable=False),
    sa.Column('published', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('user_name', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('filename', sa.String(length=300), server_default='', nullable=False),
    sa.Column('sha256', sa.String(length=64), server_default='', nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('stored_path', sa.String(length=500), nullable=True),
    sa.Column('mode', sa.String(length=10), server_default='append', nullable=False),
    sa.Column('rows_total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rows_imported', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rows_updated', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rows_unchanged', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rows_rejected', sa.Integer(), server_default='0', nullable=False),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imports_dataset_id'), ['dataset_id'], unique=False)

    op.create_table('incidents',
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
    sa.Column('row_hash', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['import_id'], ['imports.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_dataset_admin1', ['dataset_id', 'admin1'], unique=False)
        batch_op.create_index('ix_incidents_dataset_date', ['dataset_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_incidents_dataset_hash', ['dataset_id', 'row_hash'], unique=False)
        batch_op.create_index('ix_incidents_dataset_sector', ['dataset_id', 'sector'], unique=False)
        batch_op.create_index('ux_incidents_dataset_source_id', ['dataset_id', 'source_id'], unique=True, sqlite_where=sa.text('source_id IS NOT NULL'), postgresql_where=sa.text('source_id IS NOT NULL'))




def downgrade() -> None:

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ux_incidents_dataset_source_id', sqlite_where=sa.text('source_id IS NOT NULL'), postgresql_where=sa.text('source_id IS NOT NULL'))
        batch_op.drop_index('ix_incidents_dataset_sector')
        batch_op.drop_index('ix_incidents_dataset_hash')
        batch_op.drop_index('ix_incidents_dataset_date')
        batch_op.drop_index('ix_incidents_dataset_admin1')

    op.drop_table('incidents')
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imports_dataset_id'))

    op.drop_table('imports')
    op.drop_table('api_tokens')
    op.drop_table('users')
    op.drop_table('datasets')

