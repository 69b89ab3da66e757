"""Alembic environment: runs on the connection geomap.db.migrate() hands over."""

from alembic import context

from geomap.db import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
if connection.dialect.name == "postgresql":
    # Several app servers may start at once; only one of them migrates at a time.
    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7240001)")
with context.begin_transaction():
    context.run_migrations()
