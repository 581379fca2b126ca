"""Camera tables.

A `Device` is the physical camera, known by its serial, with the instant its setup first
succeeded: the free period hangs on it (SPEC F2), so no re-binding can restart it.
A `Camera` is one binding of a device to an account; unbinding ends it (`unbound_at`) and a
later registration, on any account, is a new Camera of the same Device.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kasacare.kit.db import Base, new_id


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str] = mapped_column(String(32))
    setup_at: Mapped[datetime]


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = (
        # At most one live binding per device, enforced by the database itself.
        Index(
            "uq_cameras_live_device",
            "device_id",
            unique=True,
            sqlite_where=text("unbound_at IS NULL"),
            postgresql_where=text("unbound_at IS NULL"),
        ),
        # The job that tells cameras of a free plan's end walks the live ones due.
        Index(
            "ix_cameras_entitlement_recheck",
            "entitlement_recheck_at",
            sqlite_where=text("unbound_at IS NULL AND entitlement_recheck_at IS NOT NULL"),
            postgresql_where=text("unbound_at IS NULL AND entitlement_recheck_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    device_token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    unbound_at: Mapped[datetime | None]
    #: When the camera was last heard from: an MQTT event or a long poll (`devices.presence`).
    last_seen_at: Mapped[datetime | None]
    #: The entitlement (JSON) the camera was last told of, or had when bound
    #: (`devices.entitlement_push`); null only for bindings older than issue 12 item 4.
    pushed_entitlement: Mapped[str | None] = mapped_column(Text)
    #: When that entitlement changes by time alone (its free plan's end): the job looks again.
    entitlement_recheck_at: Mapped[datetime | None]

    device: Mapped[Device] = relationship(lazy="raise")
