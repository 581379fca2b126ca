"""Random secrets every process of a deployment shares, created once in the database on
first use. Only development and the test clock keep a signing master here (`GENERATED_MASTER`,
see `kit.signing_keys`): in production the master comes from `KASACARE_SECRET_KEY`, so a
backup of the database cannot mint clip URLs or CSRF tokens."""

from __future__ import annotations

import secrets

from sqlalchemy import String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from kasacare.kit.db import Base, session_scope

#: The row of the generated signing master (development and the test clock only).
GENERATED_MASTER = "secret_key"


class ServiceSecret(Base):
    __tablename__ = "service_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


def shared_secret(session: Session, name: str) -> str:
    """The secret called `name`, created at random the first time any process asks."""
    row = session.get(ServiceSecret, name)
    if row is not None:
        return row.value
    try:
        with session.begin_nested():
            session.add(ServiceSecret(name=name, value=secrets.token_hex(32)))
            session.flush()
    except IntegrityError:
        pass  # another process created it first
    row = session.get(ServiceSecret, name)
    assert row is not None
    return row.value


def generated_master(sessions: sessionmaker[Session]) -> bytes:
    """The development signing master: random, created once, shared by every process."""
    with session_scope(sessions) as session:
        return bytes.fromhex(shared_secret(session, GENERATED_MASTER))
