"""Migration 0010: the day rollup keeps each date's precision (rebuilt from the incidents)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from db_helpers import day_rollup, migrate_to
from geomap import aggregate, db, store
from ingest_helpers import fake_regions  # noqa: F401  (fixture)
from test_db import _import, _schema_differences


def test_0010_rebuilds_the_day_rollup_with_precision(any_app, fake_regions,  # noqa: F811
                                                     tmp_path):
    url = any_app.config["DATABASE_URL"]
    engine = db.engine_for(url)
    path = tmp_path / "periods.csv"
    path.write_text(
        "date,lat,lon,count\n"
        "2025-01-05,49.001,-122.75,2\n"
        "Jan 2025,49.002,-122.74,3\n"
        "2025 Q1,49.003,-122.73,5\n"
        "2025,49.004,-122.72,7\n", encoding="utf-8")
    _import(any_app, path, engine)
    with engine.connect() as conn:
        dataset_id = store.get_dataset(conn, "mig")["id"]
        expected = day_rollup(conn, dataset_id)
        months = aggregate.by_period(conn, dataset_id, None, "month")
    # All four start on a day of January 2025; January counts the two known by day or month.
    at = 1 + store.DAY_COLUMNS.index("precision")  # day_rollup: day, DAY_COLUMNS, n, total
    assert [(r[0], r[at], r[-1]) for r in expected] == [
        (dt.date(2025, 1, 1), "month", 3), (dt.date(2025, 1, 1), "quarter", 5),
        (dt.date(2025, 1, 1), "year", 7), (dt.date(2025, 1, 5), "day", 2)]
    assert months.to_dict("records") == [{"period": "2025-01", "n": 2, "total": 5}]
    migrate_to(url, "0007", down=True)
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("incident_days")}
        assert "precision" not in columns
        rows = conn.execute(sa.text("SELECT sum(n), sum(total) FROM incident_days")).one()
        assert tuple(int(v) for v in rows) == (4, 17)
    db.migrate(url)
    with engine.connect() as conn:
        assert _schema_differences(conn) == []
        assert day_rollup(conn, dataset_id) == expected
