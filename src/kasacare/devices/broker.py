"""The broker's side of MQTT, pure (issue 12 item 2): the URL, each camera's broker
password, and the Mosquitto password and ACL files `kasacare mqtt-config` writes.

A camera's broker password is derived, not stored: HMAC-SHA256 of its binding's id under a
deployment secret (`kit.secrets`). The service hands it to the bound camera
(`GET /v1/device/mqtt-credentials`) and can write the broker's files again at any time;
an unbound camera is left out of them, so once the broker reloads them (SIGHUP) its
credential no longer connects, and a new binding of the same device gets a new one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

#: Mosquitto's PBKDF2-SHA512 password hashes (`$7$`), as `mosquitto_passwd` writes them.
PBKDF2_ROUNDS = 101
SERVICE_USER = "kasacare-service"


class InvalidMqttUrl(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MqttTarget:
    host: str
    port: int
    username: str
    password: str


def parse_mqtt_url(url: str) -> MqttTarget:
    """`mqtt://user:password@host:port` (port 1883 when left out); the user is the
    service's own broker user (default `kasacare-service`)."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise InvalidMqttUrl("expected mqtt://user:password@host:port")
    if not parts.password:
        raise InvalidMqttUrl("the service's broker password is missing (mqtt://user:password@...)")
    return MqttTarget(
        host=parts.hostname,
        port=parts.port or 1883,
        username=unquote(parts.username or SERVICE_USER),
        password=unquote(parts.password),
    )


def camera_password(key: str, binding_id: object) -> str:
    digest = hmac.new(key.encode(), f"mqtt:{binding_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def password_line(user: str, password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(12)
    hashed = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ROUNDS)
    b64 = base64.b64encode
    return f"{user}:$7${PBKDF2_ROUNDS}${b64(salt).decode()}${b64(hashed).decode()}"


def password_file(service: MqttTarget, cameras: Iterable[tuple[str, str]]) -> str:
    """The service's user and one line per bound camera (`serial`, password)."""
    lines = [password_line(service.username, service.password)]
    lines += [password_line(serial, password) for serial, password in cameras]
    return "\n".join(lines) + "\n"


def acl_file(service_user: str) -> str:
    """A camera (user = its serial) reads only its own commands topic and writes only its
    own events topic; the service publishes every camera's commands and reads every
    camera's events."""
    return (
        f"user {service_user}\n"
        "topic write kasacare/devices/+/commands\n"
        "topic read kasacare/devices/+/events\n"
        "\n"
        "pattern read kasacare/devices/%u/commands\n"
        "pattern write kasacare/devices/%u/events\n"
    )
