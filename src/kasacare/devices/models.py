"""Device identity tables (issue 12 item 1).

A `ProvisionedDevice` is the factory's record of a camera: its serial, model, hardware and
the digest of its secret. It is not `cameras.models.Device` (the serial and its first
setup, made when a camera is first bound or imported): a device may be provisioned and
never set up, and cameras imported before provisioning existed have no record here.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kasacare.kit.db import Base, new_id
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
