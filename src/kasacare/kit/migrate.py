"""Alembic, driven from code: the migrations ship inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from kasacare.kit.errors import KasaCareError

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_PG_MIGRATION_LOCK = 0x6B6173  # advisory lock key: one migrating process at a time


class SchemaTooNew(KasaCareError):
    code = "schema_too_new"
    title = "Database is newer than this code"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def check_not_newer(engine: Engine) -> None:
    """Refuse a database migrated by newer code: its revision is unknown here."""
    revision = current_revision(engine)
    script = ScriptDirectory.from_config(alembic_config(engine))
    if revision is not None and revision not in {s.revision for s in script.walk_revisions()}:
        raise SchemaTooNew(
            f"database schema revision {revision} is newer than this code "
            f"(head {script.get_current_head()}); upgrade kasacare"
        )


def upgrade(engine: Engine) -> None:
    """Migrate to head, under an advisory lock on PostgreSQL so API processes can race."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            try:
                check_not_newer(engine)
                command.upgrade(alembic_config(engine), "head")
            finally:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
                connection.commit()
        return
    check_not_newer(engine)
    command.upgrade(alembic_config(engine), "head")
