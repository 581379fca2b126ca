"""Every device identity query."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kasacare.devices.models import ClaimCode, ClaimThrottle, ProvisionedDevice
from kasacare.kit.throttle_rows import forget_rows, lock_rows


class DeviceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_serial(self, serial: str) -> ProvisionedDevice | None:
        return self.session.scalar(
            select(ProvisionedDevice).where(ProvisionedDevice.serial == serial)
        )

    def known_serials(self, serials: Collection[str]) -> set[str]:
        return set(
            self.session.scalars(
                select(ProvisionedDevice.serial).where(ProvisionedDevice.serial.in_(serials))
            )
        )

    def add(self, device: ProvisionedDevice) -> None:
        self.session.add(device)

    def withdraw_codes(self, device_id: uuid.UUID) -> None:
        """Unused codes of the device are withdrawn: only its newest code is valid."""
        self.session.execute(
            delete(ClaimCode).where(ClaimCode.device_id == device_id, ClaimCode.used_at.is_(None))
        )

    def add_code(self, code: ClaimCode) -> None:
        self.session.add(code)

    def live_code(self, device_id: uuid.UUID, digest: str, now: datetime) -> ClaimCode | None:
        return self.session.scalar(
            select(ClaimCode)
            .where(
                ClaimCode.device_id == device_id,
                ClaimCode.code_digest == digest,
                ClaimCode.used_at.is_(None),
                ClaimCode.expires_at > now,
            )
            .with_for_update()
        )

    def lock_throttles(self, keys: Collection[str]) -> dict[str, ClaimThrottle]:
        return lock_rows(self.session, ClaimThrottle, keys)

    def forget_throttles(self, quiet_since: datetime, keys: Collection[str] = ()) -> None:
        forget_rows(self.session, ClaimThrottle, quiet_since, keys)
