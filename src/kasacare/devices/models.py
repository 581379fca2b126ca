"""Device identity tables (issue 12 item 1).

A `ProvisionedDevice` is the factory's record of a camera: its serial, model, hardware and
the digest of its secret. It is not `cameras.models.Device` (the serial and its first
setup, made when a camera is first bound or imported): a device may be provisioned and
never set up, and cameras imported before provisioning existed have no record here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kasacare.kit.db import Base, new_id, str_enum
from kasacare.kit.throttle_rows import ThrottleRow


class ProvisionedDevice(Base):
    __tablename__ = "provisioned_devices"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str] = mapped_column(String(32))
    hardware_version: Mapped[str] = mapped_column(String(32))
    secret_digest: Mapped[str] = mapped_column(String(64))
    provisioned_at: Mapped[datetime]


class ClaimCode(Base):
    """A code a device asked for (`devices.codes`), kept as its digest; used once."""

    __tablename__ = "claim_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    device_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("provisioned_devices.id", ondelete="CASCADE"), index=True
    )
    code_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ClaimThrottle(ThrottleRow, Base):
    """Failed claims of one serial or one account (`kit.throttle`), one row per key."""

    __tablename__ = "claim_throttles"


class CommandKind(StrEnum):
    RECORD_NOW = "record_now"
    ENTITLEMENT_CHANGED = "entitlement_changed"


class DeviceCommand(Base):
    """The command outbox (`devices.commands`): written with the change that causes it,
    delivered after its commit by MQTT or to the camera's long poll."""

    __tablename__ = "device_commands"
    __table_args__ = (Index("ix_device_commands_open", "delivered_at", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    camera_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), index=True
    )
    #: The binding's serial, so delivery names the topic without a join.
    serial: Mapped[str] = mapped_column(String(64))
    kind: Mapped[CommandKind] = mapped_column(str_enum(CommandKind, length=32))
    payload: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime]
    #: The broker's PUBACK, or the camera's ack of a long poll: never handed out again.
    delivered_at: Mapped[datetime | None]
    #: A long poll handed it out until then.
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]


class BrokerAccount(Base):
    """What the MQTT broker should know of one serial (`devices.broker_accounts`): the
    binding whose credential it holds, or none. A change marks the row unsynced; the broker
    job tells the broker (Mosquitto's dynamic security plugin) and marks it synced."""

    __tablename__ = "broker_accounts"
    __table_args__ = (Index("ix_broker_accounts_unsynced", "synced", "next_attempt_at"),)

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The live binding (its id derives the broker password); None: no credential at all.
    camera_id: Mapped[uuid.UUID | None]
    synced: Mapped[bool] = mapped_column(default=False)
    changed_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
