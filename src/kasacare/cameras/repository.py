"""Every camera query."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from kasacare.cameras.models import Camera, Device


class CameraRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def device_by_serial(self, serial: str, *, for_update: bool = False) -> Device | None:
        query = select(Device).where(Device.serial == serial)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def add_device(self, device: Device) -> Device:
        self.session.add(device)
        self.session.flush()
        return device

    def live_binding(self, device_id: uuid.UUID) -> Camera | None:
        return self.session.scalar(
            select(Camera).where(Camera.device_id == device_id, Camera.unbound_at.is_(None))
        )

    def add(self, camera: Camera) -> Camera:
        self.session.add(camera)
        self.session.flush()
        return camera

    def owned(self, account_id: uuid.UUID, camera_id: uuid.UUID) -> Camera | None:
        """A live camera of this account; another account's camera is simply not found."""
        return self.session.scalar(
            select(Camera)
            .options(joinedload(Camera.device))
            .where(
                Camera.id == camera_id,
                Camera.account_id == account_id,
                Camera.unbound_at.is_(None),
            )
        )

    def list_owned(self, account_id: uuid.UUID) -> list[Camera]:
        return list(
            self.session.scalars(
                select(Camera)
                .options(joinedload(Camera.device))
                .where(Camera.account_id == account_id, Camera.unbound_at.is_(None))
                .order_by(Camera.created_at, Camera.id)
            )
        )

    def by_device_token(self, digest: str) -> Camera | None:
        return self.session.scalar(
            select(Camera)
            .options(joinedload(Camera.device))
            .where(Camera.device_token_digest == digest, Camera.unbound_at.is_(None))
        )
