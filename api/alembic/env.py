"""Alembic environment of the run store: runs on the connection ``api.migrations.migrate`` passes in
(``config.attributes["connection"]``), inside the caller's transaction and lock."""
from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the run store's migrations run through api.migrations.migrate (python -m api.migrations URL)")
context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
