"""Random secrets every process of a deployment shares (clip URL signing, CSRF tokens),
created once in the database on first use, so nothing has to be configured for them."""

from __future__ import annotations

import secrets

from sqlalchemy import String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from kasacare.kit.db import Base


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
