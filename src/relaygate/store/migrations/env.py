"""Alembic environment: always handed an open connection by `relaygate.store.migrate.migrate_engine`."""

from alembic import context

from relaygate.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through relaygate.store.migrate.migrate(), which supplies the connection")

# SQLite cannot ALTER most things in place; batch mode copies the table when a migration needs it.
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
