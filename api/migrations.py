"""Schema migrations of the run store, by Alembic (scripts in ``api/alembic/``, shipped in the package).

``migrate(conn)`` brings the database to the newest revision. It runs in ONE transaction that first
takes a database-wide lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``pg_advisory_xact_lock``), so
two processes opening the same database at once apply each revision exactly once; the second waits,
then finds nothing left to do. Alembic records the revision in ``alembic_version``.

A database made before Alembic (the hand-written steps recorded in ``schema_migrations``) is
stamped with the revision its last step equals (:data:`LEGACY_REVISIONS`), then upgraded; its rows
are untouched. ``schema_migrations`` stays as a record of that history.

A revision is history: never edit one that has shipped, add a new one (``alembic revision`` with
``script_location = api/alembic``, or copy the newest file). Command line:
``python -m api.migrations [DATABASE_URL]`` (default: the settings' database).
"""
from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.engine import Connection

#: Key of the PostgreSQL advisory lock that serialises migrations ("mineops" in ASCII, any fixed int64).
PG_MIGRATION_LOCK_KEY = 0x6D696E656F7073
#: The Alembic scripts (package data of ``api``).
SCRIPT_LOCATION = Path(__file__).resolve().parent / "alembic"
#: Last hand-written step recorded in ``schema_migrations`` -> the Alembic revision with the same schema.
LEGACY_REVISIONS: dict[int, str] = {1: "0001", 2: "0002", 3: "0003"}


def alembic_config(conn: Connection | None = None, script_location: Path = SCRIPT_LOCATION) -> Config:
    """An Alembic configuration on the shipped scripts (``conn``: the connection env.py runs on)."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    """The newest revision of the shipped scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _lock(conn: Connection) -> None:
    """Take the database-wide migration lock (released when the transaction ends)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK_KEY})
    # SQLite: the store opens migration transactions with BEGIN IMMEDIATE (the write lock).


def legacy_versions(conn: Connection) -> list[int]:
    """Steps the hand-written migrations recorded (``schema_migrations``; empty when never used)."""
    if not conn.dialect.has_table(conn, "schema_migrations"):
        return []
    table = Table("schema_migrations", MetaData(), Column("version", Integer, primary_key=True))
    return sorted(conn.execute(select(table.c.version)).scalars())


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in ``alembic_version`` (None: not under Alembic yet)."""
    return MigrationContext.configure(conn).get_current_revision()


def migrate(conn: Connection, script_location: Path = SCRIPT_LOCATION) -> list[str]:
    """Bring the schema to the newest revision; return the revisions applied now (oldest first).

    ``conn`` must be inside a transaction that holds the write lock (SQLite ``BEGIN IMMEDIATE``);
    on PostgreSQL the advisory lock is taken here. ``script_location``: the scripts (tests add one).
    """
    _lock(conn)
    config = alembic_config(conn, script_location)
    scripts = ScriptDirectory.from_config(config)
    current = current_revision(conn)
    if current is None:
        legacy = legacy_versions(conn)
        unknown = [v for v in legacy if v not in LEGACY_REVISIONS]
        if unknown:
            raise RuntimeError(f"the database has schema version(s) {unknown} this code does not know: "
                               "it was migrated by a newer release")
        if legacy:
            current = LEGACY_REVISIONS[max(legacy)]
            command.stamp(config, current)
    elif current not in {s.revision for s in scripts.walk_revisions()}:
        raise RuntimeError(f"the database is at schema revision {current!r}, which this code does not know: "
                           "it was migrated by a newer release")
    pending = [s.revision for s in scripts.walk_revisions(base="base", head="heads")]
    pending.reverse()  # oldest first
    done = pending[pending.index(current) + 1:] if current is not None else pending
    command.upgrade(config, "head")
    return done


def main(argv: list[str] | None = None) -> int:
    """``python -m api.migrations [URL]``: migrate a run store and print its revision."""
    from api.store import RunStore
    from api.settings import get_settings

    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else get_settings().effective_database_url
    store = RunStore.from_url(url)
    try:
        with store.engine.connect() as conn:
            print(f"run store at revision {current_revision(conn)} (head {head_revision()})")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
