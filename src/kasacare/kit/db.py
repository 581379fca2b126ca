"""Database kit: the declarative base, portable column types, engines and sessions.

The same models and migrations run on SQLite (the embedded default) and PostgreSQL.
Services never commit; the edge (a request, a job, a CLI command) opens one session per use
case with `session_scope` and commits once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Enum,
    Integer,
    MetaData,
    Table,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it as naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def str_enum(kind: type[StrEnum], length: int = 16) -> Enum:
    """A StrEnum column stored as its values in a VARCHAR (no native enum type to migrate)."""
    return Enum(
        kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class TestClockRow(Base):
    """The one row holding the test clock's current time (`KASACARE_TEST_CLOCK=1`)."""

    __tablename__ = "test_clock"
    __test__ = False  # not a pytest class

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    now: Mapped[datetime]


#: Execution option for connections that only read (see `_serialize_sqlite_writers`).
READ_ONLY = "kasacare_read_only"
#: Execution option for SQLite connections whose statements each commit on their own.
_SQLITE_AUTOCOMMIT = "kasacare_sqlite_autocommit"


def statement_connection(engine: Engine) -> Connection:
    """A connection on which every statement is its own transaction (autocommit): for use
    cases of single statements, which then pay no BEGIN and COMMIT. On SQLite a statement
    that writes takes the write lock for itself only, so it waits (busy timeout) like a
    BEGIN IMMEDIATE; it never holds a read lock it must upgrade."""
    connection = engine.connect()
    if engine.dialect.name == "sqlite":
        # Not SQLAlchemy's AUTOCOMMIT level: on pysqlite, resetting it when the connection
        # returns to the pool would turn the driver's own implicit BEGINs back on.
        return connection.execution_options(**{_SQLITE_AUTOCOMMIT: True})
    return connection.execution_options(isolation_level="AUTOCOMMIT")


def sqlalchemy_url(database_url: str) -> str:
    """Map the documented URL forms onto SQLAlchemy drivers (psycopg 3, pysqlite)."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    elif url.drivername == "sqlite":
        url = url.set(drivername="sqlite+pysqlite")
    return url.render_as_string(hide_password=False)


def create_db_engine(database_url: str, **kwargs: Any) -> Engine:
    url = make_url(sqlalchemy_url(database_url))
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
    _serialize_sqlite_writers(engine)
    return engine


def _serialize_sqlite_writers(engine: Engine) -> None:
    """Let SQLAlchemy drive transactions and start each with BEGIN IMMEDIATE.

    pysqlite's own transaction handling defers BEGIN, so two writers can both read and then
    fail to upgrade their locks. BEGIN IMMEDIATE makes a writer wait (busy timeout) for the
    other instead: SQLite's counterpart of the row locks we take on PostgreSQL.
    A connection marked `READ_ONLY` begins deferred: in WAL mode a reader never waits, so a
    read beside an open write transaction (the test clock during a request) cannot deadlock.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(_SQLITE_AUTOCOMMIT, False):
            return  # no BEGIN: the driver runs in autocommit mode (isolation_level None)
        connection.exec_driver_sql("BEGIN" if options.get(READ_ONLY, False) else "BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One use case, one transaction: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def committed_on(session: Session, *errors: type[BaseException]) -> Iterator[None]:
    """At the edge: one of `errors` commits what the use case wrote before raising it (a
    counted failure, `accounts.self_service.confirm_password`), then goes on as raised."""
    try:
        yield
    except errors:
        session.commit()
        raise


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class, for writes of many rows as plain values (one
    multi-row INSERT, one executemany UPDATE: far less work per row than ORM objects)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
