"""roles, dataset owners and collaborators, disabled users, session generations

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

``users`` gains ``role`` (``admin`` or ``editor``), ``disabled_at`` and
``session_generation`` (a session cookie is valid only while it carries the user's current
generation: logout, a password change and disabling the user advance it).
``dataset_members`` says which editors may write which dataset (``owner`` or
``collaborator``).

Upgrade path: before this revision every user could do everything, so every existing user
becomes an ``admin`` (demote them with ``set-role``). Datasets record no creator, only who
made each import (``imports.user_name``): the user who made a dataset's first import, when
that name is an existing user, becomes its owner; other datasets have no owner and only
admins may write them until one is added (``add-collaborator SLUG USER --owner``).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('role', sa.String(10), nullable=False,
                                     server_default='editor'))
    op.add_column('users', sa.Column('disabled_at', sa.DateTime(), nullable=True))
    op.add_column('users', sa.Column('session_generation', sa.Integer(), nullable=False,
                                     server_default='0'))
    op.execute("UPDATE users SET role = 'admin'")
    op.create_table(
        'dataset_members',
        sa.Column('dataset_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(12), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('dataset_id', 'user_id'),
    )
    op.create_index('ix_dataset_members_user_id', 'dataset_members', ['user_id'])
    # The first import's user owns the dataset (when that user still exists).
    op.execute(
        "INSERT INTO dataset_members (dataset_id, user_id, role, created_at) "
        "SELECT i.dataset_id, u.id, 'owner', CURRENT_TIMESTAMP "
        "FROM imports i JOIN users u ON u.name = i.user_name "
        "WHERE i.id = (SELECT MIN(f.id) FROM imports f WHERE f.dataset_id = i.dataset_id)")


def downgrade() -> None:
    op.drop_index('ix_dataset_members_user_id', table_name='dataset_members')
    op.drop_table('dataset_members')
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of `users` would drop
    # the table and, with foreign keys on, delete every API token with it.
    for column in ('session_generation', 'disabled_at', 'role'):
        op.drop_column('users', column)
