"""Issue 12 item 2, the pure side of the broker (`devices.broker`): what Mosquitto's dynamic
security plugin is told. The real plugin's answers are in test_mqtt.py."""

from __future__ import annotations

import base64
import hashlib

from kasacare.devices import broker

SERVICE = broker.MqttTarget("127.0.0.1", 1883, "kasacare-service", "service-secret")


def test_issue_12_the_first_state_holds_the_service_and_each_bound_camera() -> None:
    config = broker.dynamic_security_config(SERVICE, [("SERIAL0001", "camera-password")])
    service, camera = config["clients"]
    assert [service["username"], camera["username"]] == ["kasacare-service", "SERIAL0001"]
    # The plugin's hash: PBKDF2-SHA512 of the password over the salt, 101 iterations.
    for client, password in ((service, "service-secret"), (camera, "camera-password")):
        salt = base64.b64decode(client["salt"])
        digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
        assert (client["password"], client["iterations"]) == (
            base64.b64encode(digest).decode(),
            101,
        )
    assert camera["roles"] == [{"rolename": "camera:SERIAL0001"}]
    roles = {role["rolename"]: role["acls"] for role in config["roles"]}
    assert roles["camera:SERIAL0001"] == [
        {
            "acltype": "subscribeLiteral",
            "topic": "kasacare/devices/SERIAL0001/commands",
            "allow": True,
        },
        {
            "acltype": "publishClientSend",
            "topic": "kasacare/devices/SERIAL0001/events",
            "allow": True,
        },
    ]
    # Nothing else is allowed: no subscription, no publish, unless a role says so.
    assert config["defaultACLAccess"] == {
        "publishClientSend": False,
        "publishClientReceive": True,
        "subscribe": False,
        "unsubscribe": True,
    }


def test_issue_12_a_grant_replaces_any_earlier_credential_of_the_serial() -> None:
    commands = broker.grant("SERIAL0001", "new-password")
    assert [c["command"] for c in commands] == [
        "deleteClient",
        "deleteRole",
        "createRole",
        "createClient",
    ]
    assert commands[-1] == {
        "command": "createClient",
        "username": "SERIAL0001",
        "password": "new-password",
        "roles": [{"rolename": "camera:SERIAL0001"}],
    }
    assert broker.revoke("SERIAL0001") == commands[:2]


def test_issue_12_revoking_what_is_gone_is_no_failure_but_other_errors_are() -> None:
    answers = [
        {"command": "deleteClient", "error": "Client not found"},
        {"command": "deleteRole", "error": "Role not found"},
        {"command": "createRole"},
        {"command": "createClient", "error": "Client already exists"},
    ]
    assert broker.failures(answers) == ["createClient: Client already exists"]


def test_issue_12_camera_passwords_differ_per_binding() -> None:
    first = broker.camera_password("deployment-key", "binding-1")
    assert first == broker.camera_password("deployment-key", "binding-1")
    assert first != broker.camera_password("deployment-key", "binding-2")
    assert first != broker.camera_password("other-key", "binding-1")
