"""period rollups: the day rollup per week and month, and the time layer's cells per period

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

Issue #20: stats and maps at millions of incidents answered from rollups. Adds
``incident_periods`` (the day rollup summed per week, grain ``w``, and per month, grain
``m``) and ``incident_cell_periods`` (located incidents per 0.1-degree cell, week or month and
date precision, for the time layer), both filled here from the existing rollups and
incidents, as ``store.refresh_rollups`` now writes them. The day rollup also keeps how each
row was located (``location_precision``: stats by it sum the rollup), rebuilt from the
incidents as in 0010. The trigger
``datasets_delete_incidents`` also deletes them with their dataset.
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

TRIGGER = "datasets_delete_incidents"
DELETES = ("DELETE FROM incidents WHERE dataset_id = OLD.id; "
           "DELETE FROM incident_grid_cells WHERE dataset_id = OLD.id; "
           "DELETE FROM incident_days WHERE dataset_id = OLD.id; "
           "DELETE FROM superseded_incidents WHERE dataset_id = OLD.id; ")
PERIOD_DELETES = ("DELETE FROM incident_periods WHERE dataset_id = OLD.id; "
                  "DELETE FROM incident_cell_periods WHERE dataset_id = OLD.id; ")
COLUMNS = "type, direction, country, admin1, sector, precision, location_precision"
OLD_COLUMNS = "type, direction, country, admin1, sector, precision"
CELL = 0.1  # store.TIME_ROLLUP_CELL when this migration was written


def _trigger(deletes: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER {TRIGGER}")
        op.execute(f"CREATE TRIGGER {TRIGGER} AFTER DELETE ON datasets FOR EACH ROW "
                   f"BEGIN {deletes}END")
    else:
        op.execute(f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql "
                   f"AS $$ BEGIN {deletes}RETURN OLD; END $$")


def _starts(day: str) -> dict[str, str]:
    if op.get_bind().dialect.name == "postgresql":
        return {"w": f"({day} - (CAST(EXTRACT(isodow FROM {day}) AS integer) - 1))",
                "m": f"CAST(date_trunc('month', CAST({day} AS timestamp)) AS date)"}
    return {"w": f"date({day}, '-6 days', 'weekday 1')", "m": f"date({day}, 'start of month')"}


def _key(column: str, shift: float) -> str:
    scaled = f"(({column} + {shift}) / {CELL} + 1e-9)"
    if op.get_bind().dialect.name == "postgresql":
        return f"CAST(floor{scaled} AS integer)"
    return f"CAST({scaled} AS integer)"


def upgrade() -> None:
    for name, extra in (('incident_periods',
                         [sa.Column('type', sa.String(100), nullable=False),
                          sa.Column('direction', sa.String(12), nullable=False),
                          sa.Column('country', sa.String(2), nullable=True),
                          sa.Column('admin1', sa.String(8), nullable=True),
                          sa.Column('sector', sa.String(20), nullable=True)]),
                        ('incident_cell_periods',
                         [sa.Column('gy', sa.Integer(), nullable=False),
                          sa.Column('gx', sa.Integer(), nullable=False)])):
        op.create_table(
            name,
            sa.Column('dataset_id', sa.Integer(), nullable=False),
            sa.Column('grain', sa.String(1), nullable=False),
            sa.Column('start', sa.Date(), nullable=False),
            *extra,
            sa.Column('precision', sa.String(8), nullable=False),
            *([sa.Column('location_precision', sa.String(8), nullable=False)]
              if name == 'incident_periods' else []),
            sa.Column('n', sa.BigInteger(), nullable=False),
            sa.Column('total', sa.BigInteger(), nullable=False),
        )
        op.create_index(f'ix_{name}_dataset', name, ['dataset_id', 'grain', 'start'])
    postgresql = op.get_bind().dialect.name == "postgresql"
    day = "CAST(occurred_at AS date)" if postgresql else "date(occurred_at)"
    # A plain ADD COLUMN with a constant default on both backends (as 0010), then rebuilt.
    op.add_column('incident_days', sa.Column('location_precision', sa.String(8),
                                             nullable=False, server_default='point'))
    _rebuild_days(day, COLUMNS)
    for grain, start in _starts("day").items():
        op.execute(f"INSERT INTO incident_periods (dataset_id, grain, start, {COLUMNS}, n, total) "
                   f"SELECT dataset_id, '{grain}', {start}, {COLUMNS}, sum(n), sum(total) "
                   f"FROM incident_days GROUP BY dataset_id, {start}, {COLUMNS}")
    gy, gx = _key("lat", 90.0), _key("lon", 180.0)
    for grain, start in _starts(day).items():
        op.execute("INSERT INTO incident_cell_periods "
                   "(dataset_id, grain, start, gy, gx, precision, n, total) "
                   f"SELECT dataset_id, '{grain}', {start}, {gy}, {gx}, precision, count(*), "
                   "coalesce(sum(count), 0) FROM incidents WHERE lat IS NOT NULL "
                   f"GROUP BY dataset_id, {start}, {gy}, {gx}, precision")
    _trigger(DELETES + PERIOD_DELETES)


def _rebuild_days(day: str, columns: str) -> None:
    op.execute("DELETE FROM incident_days")
    op.execute(f"INSERT INTO incident_days (dataset_id, day, {columns}, n, total) "
               f"SELECT dataset_id, {day}, {columns}, count(*), coalesce(sum(count), 0) "
               f"FROM incidents GROUP BY dataset_id, {day}, {columns}")


def downgrade() -> None:
    _trigger(DELETES)
    op.drop_column('incident_days', 'location_precision')
    day = ("CAST(occurred_at AS date)" if op.get_bind().dialect.name == "postgresql"
           else "date(occurred_at)")
    _rebuild_days(day, OLD_COLUMNS)
    for name in ('incident_cell_periods', 'incident_periods'):
        op.drop_index(f'ix_{name}_dataset', table_name=name)
        op.drop_table(name)
