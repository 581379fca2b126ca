"""The broker's side of MQTT, pure (issue 12 item 2): the URL, each camera's broker
password and topics, and what Mosquitto's dynamic security plugin is told: its first state
(`kasacare mqtt-config`) and the commands that grant or revoke one camera's credential
(`devices.broker_sync`).

A camera's broker password is derived, not stored: HMAC-SHA256 of its binding's id under a
deployment secret (`kit.secrets`). The service hands it to the bound camera
(`GET /v1/device/mqtt-credentials`); an unbinding deletes the broker's user (which
disconnects it), and a new binding of the same device gets a new password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

#: The plugin's PBKDF2-SHA512 password hashes, as `mosquitto_ctrl dynsec init` writes them.
PBKDF2_ITERATIONS = 101
SERVICE_USER = "kasacare-service"
SERVICE_ROLE = "kasacare-service"
#: Mosquitto's dynamic security plugin is managed by messages to this topic.
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"


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


def _hashed(password: str, salt: bytes | None = None) -> dict[str, object]:
    """A password as the dynamic security plugin keeps it: PBKDF2-SHA512, base64."""
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": PBKDF2_ITERATIONS,
    }


def _acl(kind: str, topic: str) -> dict[str, object]:
    return {"acltype": kind, "topic": topic, "allow": True}


def service_role() -> dict[str, object]:
    """The service publishes every camera's commands, reads every camera's events and
    manages the cameras' broker accounts (`$CONTROL`)."""
    return {
        "rolename": SERVICE_ROLE,
        "acls": [
            _acl("publishClientSend", "kasacare/devices/+/commands"),
            _acl("subscribePattern", "kasacare/devices/+/events"),
            _acl("publishClientReceive", "kasacare/devices/+/events"),
            _acl("publishClientSend", f"{CONTROL_TOPIC}/#"),
            _acl("subscribePattern", f"{CONTROL_TOPIC}/#"),
            _acl("publishClientReceive", f"{CONTROL_TOPIC}/#"),
        ],
    }


def camera_role(serial: str) -> dict[str, object]:
    """A camera subscribes to its own commands topic only and publishes to its own events
    topic only; anything else is refused (a failed SUBACK; a publish dropped). Mosquitto
    2.0's plugin has no `%u` in role topics, so each camera has a role of its own."""
    return {
        "rolename": camera_role_name(serial),
        "acls": [
            _acl("subscribeLiteral", commands_topic(serial)),
            _acl("publishClientSend", events_topic(serial)),
        ],
    }


def camera_role_name(serial: str) -> str:
    return f"camera:{serial}"


def commands_topic(serial: str) -> str:
    return f"kasacare/devices/{serial}/commands"


def events_topic(serial: str) -> str:
    return f"kasacare/devices/{serial}/events"


def revoke(serial: str) -> list[dict[str, object]]:
    """The plugin's commands that take a serial's credential away: deleting the client
    also disconnects it at once."""
    return [
        {"command": "deleteClient", "username": serial},
        {"command": "deleteRole", "rolename": camera_role_name(serial)},
    ]


def grant(serial: str, password: str) -> list[dict[str, object]]:
    """The commands that leave exactly one credential for `serial`: any earlier one (an
    earlier binding's, or this one's sent before) is deleted first, then made anew."""
    role = camera_role(serial)
    return [
        *revoke(serial),
        {"command": "createRole", **role},
        {
            "command": "createClient",
            "username": serial,
            "password": password,
            "roles": [{"rolename": role["rolename"]}],
        },
    ]


#: Errors that mean the broker already is as the command wanted (a revoke of nothing).
ALREADY_SO = frozenset({"Client not found", "Role not found"})


def failures(responses: Sequence[Mapping[str, object]]) -> list[str]:
    """The errors in the plugin's answers to a batch, but for those that change nothing."""
    return [
        f"{answer.get('command')}: {answer['error']}"
        for answer in responses
        if "error" in answer and answer["error"] not in ALREADY_SO
    ]


def dynamic_security_config(
    service: MqttTarget, cameras: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    """The plugin's whole state (its `plugin_opt_config_file`) for a new broker: the
    service's user and role, and one user and role per bound camera (`serial`, password).
    Nothing is allowed by default but receiving what a subscription was granted."""
    clients: list[dict[str, object]] = [
        {
            "username": service.username,
            "textName": "Kasa Care service",
            **_hashed(service.password),
            "roles": [{"rolename": SERVICE_ROLE}],
        }
    ]
    roles = [service_role()]
    for serial, password in cameras:
        role = camera_role(serial)
        roles.append(role)
        clients.append(
            {"username": serial, **_hashed(password), "roles": [{"rolename": role["rolename"]}]}
        )
    return {
        "clients": clients,
        "groups": [],
        "roles": roles,
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": True,
            "subscribe": False,
            "unsubscribe": True,
        },
    }
