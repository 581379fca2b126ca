"""`kasacare mqtt-config`: the first state of Mosquitto's dynamic security plugin, from the
database (`devices.broker`). From then on the broker job keeps it current
(`devices.broker_sync`); the file is for a new broker, or one rebuilt from scratch."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kasacare.cameras.models import Camera, Device
from kasacare.devices import broker
from kasacare.devices.broker_sync import MQTT_SECRET
from kasacare.kit.secrets import shared_secret

CONFIG_FILE = "dynamic-security.json"


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


def write_broker_config(session: Session, mqtt_url: str, directory: Path) -> int:
    """Write `dynamic-security.json` into `directory` (replaced whole, readable by its owner
    only: the broker's user must own it, as the plugin writes it back on every change);
    answers how many cameras may connect."""
    service = broker.parse_mqtt_url(mqtt_url)
    cameras = bound_cameras(session)
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{CONFIG_FILE}.tmp"
    text = json.dumps(broker.dynamic_security_config(service, cameras), indent=2)
    temporary.write_text(text + "\n")
    os.chmod(temporary, 0o600)
    temporary.replace(directory / CONFIG_FILE)  # the broker never reads half a file
    return len(cameras)
