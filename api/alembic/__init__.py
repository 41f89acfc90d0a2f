"""Alembic migration scripts of the run store (``api.migrations.migrate`` runs them; shipped in the package)."""
