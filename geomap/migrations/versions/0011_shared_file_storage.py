"""shared file storage: uploads and rejected-rows files in the database

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Uploads (previews, the original file of every import) and rejected-rows files lived in each
app server's upload folder, so a preview made on one server could not be imported on
another. ``stored_files`` names each file (its key, size, number of chunks) and
``stored_file_chunks`` holds its content in chunks of at most 1 MB, written and read one at a
time (`geomap.store.blobs`). On PostgreSQL the chunks are compressed with lz4 where the
server has it (PostgreSQL 14+): storing a 60 MB CSV took 2.0 s with the default pglz, 0.65 s
with lz4, at 21 and 47 MB on disk (BENCHMARKS.md, "Shared store and background jobs").
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
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
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and bind.exec_driver_sql(
            "SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND 'lz4' = ANY(enumvals)").scalar():
        op.execute("ALTER TABLE stored_file_chunks ALTER COLUMN data SET COMPRESSION lz4")


def downgrade() -> None:
    op.drop_table('stored_file_chunks')
    op.drop_table('stored_files')
