"""Alembic environment for the ERP Sync status store.

The store passes its own connection in ``config.attributes["connection"]``, so migrations run on
the same engine (SQLite or PostgreSQL) that the pipelines use.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    render_as_batch=connection.dialect.name == "sqlite",
    version_table="erp_sync_schema_version",
)
with context.begin_transaction():
    context.run_migrations()
