"""Test databases: a unique SQLite file or PostgreSQL database per run and worker.

PostgreSQL is found at KASACARE_TEST_POSTGRES_URL (default: the local server, user postgres).
Without it the PostgreSQL half of the suite is skipped with a message, unless
KASACARE_REQUIRE_POSTGRES=1 (CI), where its absence fails the run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete, inspect, text
from sqlalchemy.engine import make_url

from kasacare.clips.storage import ClipStorage, LocalDiskStorage
from kasacare.kit.db import create_db_engine, sqlalchemy_url
from kasacare.kit.migrate import upgrade
from kasacare.payments.gateway import PaymentGateway
from kasacare.payments.sandbox import SandboxGateway, sandbox_tables

POSTGRES_SERVER = os.environ.get(
    "KASACARE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]
KEEP_TABLES = {"alembic_version", "test_clock"}


def postgres_required() -> bool:
    return os.environ.get("KASACARE_REQUIRE_POSTGRES") == "1"


def _admin_engine() -> Engine:
    return create_engine(sqlalchemy_url(POSTGRES_SERVER), isolation_level="AUTOCOMMIT")


def postgres_available() -> str | None:
    """None when the server answers, else why not."""
    engine = _admin_engine()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return None
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    finally:
        engine.dispose()


def skip_or_fail_without_postgres() -> None:
    reason = postgres_available()
    if reason is None:
        return
    message = (
        f"PostgreSQL is not reachable at {POSTGRES_SERVER} ({reason}); "
        "the PostgreSQL half of the suite is skipped. Start PostgreSQL or set "
        "KASACARE_TEST_POSTGRES_URL to run it; CI requires it."
    )
    if postgres_required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@contextmanager
def fresh_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    """A new, migrated database for this backend, dropped afterwards. Yields its URL."""
    name = f"kasacare_test_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        url = f"sqlite:///{tmp_dir / name}.db"
        _migrate(url)
        yield url
        return
    skip_or_fail_without_postgres()
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate(url: str) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()


def empty_tables(engine: Engine) -> None:
    """Delete every row a test wrote (the schema, its version and the clock row stay; the
    number rows are seeded again)."""
    tables = [t for t in inspect(engine).get_table_names() if t not in KEEP_TABLES]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{table}"' for table in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            connection.execute(text("PRAGMA defer_foreign_keys=ON"))
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))
        # As migration 0011 leaves them: the document number rows exist from the start.
        connection.execute(
            text("INSERT INTO number_sequences (name, last_value) VALUES ('credit_note', 0)")
        )
        connection.execute(
            text("INSERT INTO number_sequences (name, last_value) VALUES ('invoice', 0)")
        )


def empty_sandbox(gateway: PaymentGateway) -> None:
    """Empty the sandbox gateway's books too: on SQLite they live in a file of their own."""
    if not isinstance(gateway, SandboxGateway):
        return
    with gateway.engine.begin() as connection:
        for table in reversed(sandbox_tables()):
            connection.execute(delete(table))


def empty_storage(storage: ClipStorage) -> None:
    """Remove every clip file a test stored (local disk storage)."""
    if isinstance(storage, LocalDiskStorage) and storage.root.exists():
        for child in storage.root.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
