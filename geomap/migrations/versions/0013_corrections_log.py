"""a dated corrections log replaces the single free-text correction note

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

``dataset_corrections``: dated public entries (what changed, why, which import), kept like
imports when their dataset is deleted (``dataset_id`` NULL, ``dataset_slug`` says which).

``datasets.correction`` goes. A non-empty note is carried over as one entry dated by the
dataset's ``updated_at``: the note has no date of its own, and every edit and import moves
``updated_at``, so it is the latest the note can have been written (it may be earlier).
The entry's ``why`` is empty and it names no import or user. Downgrading puts the newest
entry of each dataset back in the note (``what``, then `` — why`` when there is one).
"""
from datetime import datetime

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dataset_corrections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dataset_id', sa.Integer(), nullable=True),
        sa.Column('dataset_slug', sa.String(100), nullable=False),
        sa.Column('corrected_on', sa.Date(), nullable=False),
        sa.Column('what', sa.Text(), nullable=False),
        sa.Column('why', sa.Text(), server_default='', nullable=False),
        sa.Column('import_id', sa.Integer(), nullable=True),
        sa.Column('user_name', sa.String(100), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['import_id'], ['imports.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_dataset_corrections_dataset_id', 'dataset_corrections',
                    ['dataset_id'])
    bind = op.get_bind()
    notes = bind.execute(sa.text(
        "SELECT id, slug, correction, updated_at FROM datasets WHERE correction <> ''"
    )).mappings().all()
    table = sa.table('dataset_corrections', sa.column('dataset_id'), sa.column('dataset_slug'),
                     sa.column('corrected_on', sa.Date), sa.column('what'), sa.column('why'),
                     sa.column('created_at', sa.DateTime))
    rows = []
    for note in notes:
        updated = note["updated_at"]
        if isinstance(updated, str):  # SQLite hands a raw text() column back as text
            updated = datetime.fromisoformat(updated)
        rows.append({"dataset_id": note["id"], "dataset_slug": note["slug"],
                     "corrected_on": updated.date(), "what": note["correction"],
                     "why": "", "created_at": updated})
    if rows:
        op.bulk_insert(table, rows)
    op.drop_column('datasets', 'correction')


def downgrade() -> None:
    op.add_column('datasets', sa.Column('correction', sa.Text(), server_default='',
                                        nullable=False))
    bind = op.get_bind()
    latest = bind.execute(sa.text(
        "SELECT dataset_id, what, why FROM dataset_corrections c WHERE dataset_id IS NOT NULL "
        "AND id = (SELECT max(id) FROM dataset_corrections d WHERE d.dataset_id = c.dataset_id "
        "AND d.corrected_on = (SELECT max(corrected_on) FROM dataset_corrections e "
        "WHERE e.dataset_id = c.dataset_id))")).mappings().all()
    for row in latest:
        note = row["what"] + (f" — {row['why']}" if row["why"] else "")
        bind.execute(sa.text("UPDATE datasets SET correction = :note WHERE id = :id"),
                     {"note": note, "id": row["dataset_id"]})
    op.drop_index('ix_dataset_corrections_dataset_id', table_name='dataset_corrections')
    op.drop_table('dataset_corrections')
