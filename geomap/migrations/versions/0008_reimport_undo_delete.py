"""natural keys, undo of imports, deleting datasets

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

- ``datasets.natural_key``: the columns whose values are an incident's identity for upserts
  (a JSON list), remembered from the import that set it.
- ``imports`` outlive their dataset (the audit trail): ``dataset_id`` becomes nullable with
  ``ON DELETE SET NULL`` (it was ``CASCADE``) and ``dataset_slug`` records which dataset it
  was (filled here from the datasets). Also ``natural_key`` (the key the import used),
  ``rows_superseded``, ``undo_dropped_at``, ``reverted_at`` and ``reverted_by`` (undo).
- ``superseded_incidents``: the rows an import replaced or updated, as they were, so the
  import can be reverted; the trigger ``datasets_delete_incidents`` deletes them with their
  dataset.
- ``deleted_datasets``: who deleted which dataset and when, with its last version (a
  dataset made again under the slug starts above it, so no cached rendering is reused).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

TRIGGER = "datasets_delete_incidents"
BASE_DELETES = ("DELETE FROM incidents WHERE dataset_id = OLD.id; "
                "DELETE FROM incident_grid_cells WHERE dataset_id = OLD.id; "
                "DELETE FROM incident_days WHERE dataset_id = OLD.id; ")

IMPORT_COLUMNS = ("id, dataset_id, user_name, created_at, filename, sha256, size_bytes, "
                  "stored_path, mode, rows_total, rows_imported, rows_updated, "
                  "rows_unchanged, rows_rejected, report")


def _trigger(deletes: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER {TRIGGER}")
        op.execute(f"CREATE TRIGGER {TRIGGER} AFTER DELETE ON datasets FOR EACH ROW "
                   f"BEGIN {deletes}END")
    else:
        op.execute(f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql "
                   f"AS $$ BEGIN {deletes}RETURN OLD; END $$")


def _imports_table(name: str, ondelete: str, nullable: bool) -> None:
    """Create the imports table as of 0001 with the dataset link as asked (SQLite rebuild)."""
    op.create_table(
        name,
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dataset_id', sa.Integer(), nullable=nullable),
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
        sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], ondelete=ondelete),
        sa.PrimaryKeyConstraint('id'),
    )


def _relink_imports(ondelete: str, nullable: bool) -> None:
    """Change the imports -> datasets foreign key's ON DELETE (and dataset_id's NULLs)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # SQLite cannot alter a constraint: copy the table (nothing refers to imports by a
        # foreign key, so dropping it deletes nothing else).
        op.drop_index('ix_imports_dataset_id', table_name='imports')
        _imports_table('imports_new', ondelete, nullable)
        op.execute(f"INSERT INTO imports_new ({IMPORT_COLUMNS}) "
                   f"SELECT {IMPORT_COLUMNS} FROM imports")
        op.drop_table('imports')
        op.rename_table('imports_new', 'imports')
        op.create_index('ix_imports_dataset_id', 'imports', ['dataset_id'])
        return
    for fk in sa.inspect(bind).get_foreign_keys('imports'):
        if fk['referred_table'] == 'datasets':
            op.drop_constraint(fk['name'], 'imports', type_='foreignkey')
    op.alter_column('imports', 'dataset_id', existing_type=sa.Integer(), nullable=nullable)
    op.create_foreign_key('imports_dataset_id_fkey', 'imports', 'datasets', ['dataset_id'],
                          ['id'], ondelete=ondelete)


def upgrade() -> None:
    op.add_column('datasets', sa.Column('natural_key', sa.JSON(), nullable=True))
    _relink_imports('SET NULL', True)
    op.add_column('imports', sa.Column('dataset_slug', sa.String(100), nullable=False,
                                       server_default=''))
    op.add_column('imports', sa.Column('natural_key', sa.JSON(), nullable=True))
    op.add_column('imports', sa.Column('rows_superseded', sa.Integer(), nullable=False,
                                       server_default='0'))
    op.add_column('imports', sa.Column('undo_dropped_at', sa.DateTime(), nullable=True))
    op.add_column('imports', sa.Column('reverted_at', sa.DateTime(), nullable=True))
    op.add_column('imports', sa.Column('reverted_by', sa.String(100), nullable=True))
    op.execute("UPDATE imports SET dataset_slug = (SELECT slug FROM datasets "
               "WHERE datasets.id = imports.dataset_id)")
    # Imports made before this revision kept nothing of what they replaced: they cannot be
    # reverted when they replaced or updated rows.
    op.execute("UPDATE imports SET undo_dropped_at = CURRENT_TIMESTAMP "
               "WHERE mode = 'replace' OR rows_updated > 0")
    op.create_table(
        'superseded_incidents',
        sa.Column('superseded_by', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.BigInteger(), nullable=True),
        sa.Column('dataset_id', sa.Integer(), nullable=False),
        sa.Column('import_id', sa.Integer(), nullable=True),
        sa.Column('source_id', sa.String(200).with_variant(sa.String(200, collation="C"),
                                                           "postgresql"), nullable=True),
        sa.Column('occurred_at', sa.DateTime(), nullable=False),
        sa.Column('precision', sa.String(8), nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lon', sa.Float(), nullable=False),
        sa.Column('type', sa.String(100), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('direction', sa.String(12), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('attributes', sa.JSON(), nullable=True),
        sa.Column('admin1', sa.String(8), nullable=True),
        sa.Column('country', sa.String(2), nullable=True),
        sa.Column('sector', sa.String(20), nullable=True),
        sa.Column('border_mile', sa.Float(), nullable=True),
        sa.Column('border_km', sa.Float(), nullable=True),
        sa.Column('at_border', sa.Boolean(), nullable=False),
        sa.Column('row_hash', sa.BigInteger(), nullable=False),
        sa.Column('row_hash2', sa.BigInteger(), nullable=False),
    )
    op.create_index('ix_superseded_incidents_by', 'superseded_incidents', ['superseded_by'])
    op.create_table(
        'deleted_datasets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slug', sa.String(100), nullable=False),
        sa.Column('title', sa.String(300), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('incidents', sa.BigInteger(), nullable=False),
        sa.Column('deleted_at', sa.DateTime(), nullable=False),
        sa.Column('deleted_by', sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_deleted_datasets_slug', 'deleted_datasets', ['slug'])
    _trigger(BASE_DELETES + "DELETE FROM superseded_incidents WHERE dataset_id = OLD.id; ")


def downgrade() -> None:
    _trigger(BASE_DELETES)
    op.drop_index('ix_deleted_datasets_slug', table_name='deleted_datasets')
    op.drop_table('deleted_datasets')
    op.drop_index('ix_superseded_incidents_by', table_name='superseded_incidents')
    op.drop_table('superseded_incidents')
    # The audit records of deleted datasets cannot point anywhere under the old schema.
    op.execute("DELETE FROM imports WHERE dataset_id IS NULL")
    for column in ('reverted_by', 'reverted_at', 'undo_dropped_at', 'rows_superseded',
                   'natural_key', 'dataset_slug'):
        op.drop_column('imports', column)
    _relink_imports('CASCADE', False)
    op.drop_column('datasets', 'natural_key')
