"""`kasacare mqtt-config`: the broker's files from the database (`devices.broker`)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kasacare.cameras.models import Camera, Device
from kasacare.devices import broker
from kasacare.devices.command_endpoints import MQTT_SECRET
from kasacare.kit.secrets import shared_secret


def bound_cameras(session: Session) -> list[tuple[str, str]]:
    """(serial, broker password) of every live binding."""
    key = shared_secret(session, MQTT_SECRET)
    rows = session.execute(
        select(Device.serial, Camera.id)
        .join(Camera, Camera.device_id == Device.id)
        .where(Camera.unbound_at.is_(None))
        .order_by(Device.serial)
    )
    return [(serial, broker.camera_password(key, camera_id)) for serial, camera_id in rows]


def write_broker_files(session: Session, mqtt_url: str, directory: Path) -> int:
    """Write `passwords` and `acl` into `directory` (each replaced whole, readable by the
    owner only); answers how many cameras may connect."""
    service = broker.parse_mqtt_url(mqtt_url)
    cameras = bound_cameras(session)
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "passwords": broker.password_file(service, cameras),
        "acl": broker.acl_file(service.username),
    }
    for name, text in files.items():
        temporary = directory / f".{name}.tmp"
        temporary.write_text(text)
        os.chmod(temporary, 0o600)
        temporary.replace(directory / name)  # the broker never reads half a file
    return len(cameras)
