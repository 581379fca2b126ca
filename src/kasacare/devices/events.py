"""What cameras report on `kasacare/devices/<serial>/events` (issue 12 item 2): `online`
and `recording_started {request_id}` (its manual recording request is `recording`, issue 12
item 3); each records the camera as seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kasacare.cameras.models import Camera, Device
from kasacare.clips import manual

KINDS = frozenset({"online", "recording_started"})


def record_event(session: Session, serial: str, event: dict[str, object], now: datetime) -> bool:
    """Record the live camera `serial` as seen; False for an unknown kind or a serial no
    account has bound (the broker's ACL already ties the topic to the camera's user)."""
    if event.get("kind") not in KINDS:
        return False
    camera = session.scalar(
        select(Camera)
        .join(Device, Device.id == Camera.device_id)
        .where(Device.serial == serial, Camera.unbound_at.is_(None))
    )
    if camera is None:
        return False
    if camera.last_seen_at is None or camera.last_seen_at < now:
        camera.last_seen_at = now
    if event["kind"] == "recording_started":
        manual.recording_started(session, camera.id, event.get("request_id"), now)
    return True
