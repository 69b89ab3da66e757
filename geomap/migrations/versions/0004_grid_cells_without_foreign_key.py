"""grid rollup cells without a foreign key

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

``incident_grid_cells.dataset_id`` loses its foreign key to ``datasets``: PostgreSQL checked
it once per written cell, which was three quarters of writing an import's rollup (428k cells:
2.7 s -> 0.7 s). The trigger ``datasets_delete_incidents`` (migration 0003) now deletes a
dataset's rollup cells along with its incidents, so deleting a dataset still removes
everything of it in the same statement (``incident_grids`` keeps its ``ON DELETE CASCADE``).
SQLite rebuilds the small table (it cannot drop a foreign key in place).
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

TRIGGER = "datasets_delete_incidents"


def _cells_table(name: str, foreign_key: bool) -> None:
    keys = ([sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], ondelete='CASCADE')]
            if foreign_key else [])
    op.create_table(
        name,
        sa.Column('dataset_id', sa.Integer(), nullable=False),
        sa.Column('gy', sa.Integer(), nullable=False),
        sa.Column('gx', sa.Integer(), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.Column('total', sa.BigInteger(), nullable=False),
        sa.Column('lat_min', sa.Float(), nullable=False),
        sa.Column('lat_max', sa.Float(), nullable=False),
        sa.Column('lon_min', sa.Float(), nullable=False),
        sa.Column('lon_max', sa.Float(), nullable=False),
        *keys,
        sa.PrimaryKeyConstraint('dataset_id', 'gy', 'gx'),
    )


def _sqlite_rebuild(foreign_key: bool) -> None:
    _cells_table("incident_grid_cells_rebuilt", foreign_key)
    op.execute("INSERT INTO incident_grid_cells_rebuilt SELECT dataset_id, gy, gx, n, total, "
               "lat_min, lat_max, lon_min, lon_max FROM incident_grid_cells")
    op.drop_table("incident_grid_cells")
    op.rename_table("incident_grid_cells_rebuilt", "incident_grid_cells")


def _trigger(with_cells: bool) -> None:
    cells = "DELETE FROM incident_grid_cells WHERE dataset_id = OLD.id; " if with_cells else ""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER {TRIGGER}")
        op.execute(f"CREATE TRIGGER {TRIGGER} AFTER DELETE ON datasets FOR EACH ROW "
                   f"BEGIN DELETE FROM incidents WHERE dataset_id = OLD.id; {cells}END")
    else:
        op.execute(f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql "
                   "AS $$ BEGIN DELETE FROM incidents WHERE dataset_id = OLD.id; "
                   f"{cells}RETURN OLD; END $$")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _sqlite_rebuild(False)
    else:
        for key in sa.inspect(bind).get_foreign_keys("incident_grid_cells"):
            op.drop_constraint(key["name"], "incident_grid_cells", type_="foreignkey")
    _trigger(True)


def downgrade() -> None:
    bind = op.get_bind()
    # First: SQLite checks a trigger's tables when the rebuilt table is renamed.
    _trigger(False)
    op.execute("DELETE FROM incident_grid_cells WHERE dataset_id NOT IN (SELECT id FROM datasets)")
    if bind.dialect.name == "sqlite":
        _sqlite_rebuild(True)
    else:
        op.create_foreign_key("incident_grid_cells_dataset_id_fkey", "incident_grid_cells",
                              "datasets", ["dataset_id"], ["id"], ondelete="CASCADE")
