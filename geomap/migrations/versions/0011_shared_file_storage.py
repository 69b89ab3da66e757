"""shared file storage: uploads and rejected-rows files in the database

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-07

Uploads (previews, the original file of every import) and rejected-rows files lived in each
app server's upload folder, so a preview made on one server could not be imported on
another. ``stored_files`` names each file (its key, size, number of chunks) and
``stored_file_chunks`` holds its content in chunks of at most 1 MB, written and read one at a
time (`geomap.store.blobs`).
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'stored_files',
        sa.Column('key', sa.String(200), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('chunks', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_table(
        'stored_file_chunks',
        sa.Column('key', sa.String(200), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['key'], ['stored_files.key'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('key', 'seq'),
    )


def downgrade() -> None:
    op.drop_table('stored_file_chunks')
    op.drop_table('stored_files')
