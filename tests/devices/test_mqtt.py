"""Issue 12 item 2, with a real Mosquitto (its dynamic security plugin) and real MQTT
clients: commands are published (QoS 1) only after the commit that issued them, never on a
rollback, again after a broker restart; the broker refuses a camera's subscription to
another camera's topic; an unbound camera is disconnected and its credential refused at
the broker job's next tick; accounts wait for a broker that is down; cameras' events mark
them online."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from kasacare.app import create_app
from kasacare.cameras.models import Camera as CameraRow
from kasacare.context import AppContext
from kasacare.devices import commands
from kasacare.devices.broker import parse_mqtt_url
from kasacare.devices.broker_config import write_broker_config
from kasacare.devices.models import BrokerAccount, CommandKind, DeviceCommand
from kasacare.devices.mqtt import BrokerControl, Publisher
from kasacare.jobs import deliver_commands, event_listener, sync_broker
from kasacare.kit.clock import FixedClock
from kasacare.kit.db import session_scope
from tests.conftest import START
from tests.devices.mosquitto import Broker, Camera, running_broker
from tests.factories import owner, register_camera

pytestmark = pytest.mark.e2e


@pytest.fixture
def broker(tmp_path: Path, context: AppContext) -> Iterator[Broker]:
    """A new broker, started from what `kasacare mqtt-config` writes (no camera yet)."""

    def configure(broker: Broker) -> None:
        with session_scope(context.sessions) as session:
            write_broker_config(session, broker.url, broker.directory)

    with running_broker(tmp_path, configure) as running:
        yield running


@pytest.fixture
def mqtt_context(context: AppContext, broker: Broker) -> Iterator[AppContext]:
    settings = context.settings.model_copy(update={"mqtt_url": SecretStr(broker.url)})
    publisher = Publisher(parse_mqtt_url(broker.url))
    control = BrokerControl(parse_mqtt_url(broker.url))
    yield replace(context, settings=settings, publisher=publisher, broker_control=control)
    publisher.close()
    control.close()


@pytest.fixture
def mqtt_client(mqtt_context: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(mqtt_context), raise_server_exceptions=False) as client:
        yield client


def _configure(context: AppContext, broker: Broker, accounts: int = 1) -> None:
    """The broker job's tick after bindings changed: the broker hears of each."""
    assert sync_broker(context, START) == accounts


def _bound_camera(
    client: TestClient, headers: dict[str, str]
) -> tuple[dict[str, Any], Camera, dict[str, str]]:
    camera = register_camera(client, headers, "KC120")
    device = {"Authorization": f"Device {camera['device_token']}"}
    credentials = client.get("/v1/device/mqtt-credentials", headers=device)
    assert credentials.status_code == 200, credentials.text
    body = credentials.json()
    assert body["username"] == camera["serial"]
    assert body["commands_topic"] == f"kasacare/devices/{camera['serial']}/commands"
    return camera, Camera(body["port"], body["username"], body["password"]), body


def _wait_for(camera: Camera, seconds: float = 5) -> list[dict[str, Any]]:
    camera.received.wait(seconds)
    return [json.loads(payload) for _, payload in camera.messages]


def test_issue_12_a_command_is_published_after_its_commit_and_never_on_a_rollback(
    mqtt_client: TestClient, mqtt_context: AppContext, broker: Broker
) -> None:
    _, headers = owner(mqtt_client)
    camera, device, credentials = _bound_camera(mqtt_client, headers)
    _configure(mqtt_context, broker)
    assert device.connect().value == 0
    assert not device.subscribe(credentials["commands_topic"])[0].is_failure
    # A change that issued a command and then rolled back: nothing goes out.
    with mqtt_context.sessions() as session:
        bound = commands_camera(session, camera["id"])
        commands.issue(session, bound, CommandKind.RECORD_NOW, START, request_id="rolled-back")
        session.rollback()
    assert deliver_commands(mqtt_context, START) == 0
    # The owner's manual recording (V5) commits its record_now; the job publishes it.
    request = mqtt_client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=headers)
    assert request.status_code == 202
    assert deliver_commands(mqtt_context, START) == 1
    received = _wait_for(device)
    assert len(received) == 1
    assert received[0]["kind"] == "record_now"
    assert received[0]["request_id"] == request.json()["id"]
    assert received[0]["until"] == "2026-03-01T12:02:00+00:00"  # requested at START + 2 min
    assert deliver_commands(mqtt_context, START) == 0  # delivered once: never again
    with mqtt_context.sessions() as session:
        row = session.scalars(select(DeviceCommand)).one()
    assert row.delivered_at == START
    device.close()


def commands_camera(session: Session, camera_id: str) -> CameraRow:
    return session.scalars(
        select(CameraRow)
        .options(joinedload(CameraRow.device))
        .where(CameraRow.id == uuid.UUID(camera_id))
    ).one()


def test_issue_12_a_command_is_retried_after_a_broker_restart(
    mqtt_client: TestClient, mqtt_context: AppContext, broker: Broker, clock: FixedClock
) -> None:
    _, headers = owner(mqtt_client)
    camera, _, credentials = _bound_camera(mqtt_client, headers)
    _configure(mqtt_context, broker)
    broker.stop()
    mqtt_client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=headers)
    assert deliver_commands(mqtt_context, START) == 0  # the broker is down
    with mqtt_context.sessions() as session:
        row = session.scalars(select(DeviceCommand)).one()
    assert (row.attempts, row.delivered_at) == (1, None)
    # Commands' own short schedule (a record_now lasts 2 minutes), not the jobs' 5 minutes.
    assert row.next_attempt_at == START + timedelta(seconds=2)
    assert deliver_commands(mqtt_context, START + timedelta(seconds=2)) == 0  # still down
    with mqtt_context.sessions() as session:
        row = session.scalars(select(DeviceCommand)).one()
    assert (row.attempts, row.next_attempt_at) == (2, START + timedelta(seconds=6))  # 2 + 4 s
    broker.start()
    device = Camera(broker.port, credentials["username"], credentials["password"])
    assert device.connect().value == 0
    device.subscribe(credentials["commands_topic"])
    assert deliver_commands(mqtt_context, START + timedelta(seconds=5)) == 0  # not due yet
    assert deliver_commands(mqtt_context, START + timedelta(seconds=6)) == 1
    assert [m["kind"] for m in _wait_for(device)] == ["record_now"]
    device.close()


def test_issue_12_the_broker_refuses_a_subscription_to_another_cameras_topic(
    mqtt_client: TestClient, mqtt_context: AppContext, broker: Broker
) -> None:
    """Each camera's role on the broker names its own topics only: a subscription to
    another camera's commands, or to a wildcard over all of them, is refused in the SUBACK
    (0x80, MQTT 3.1.1's failure); so is a publish on another camera's events."""
    _, headers = owner(mqtt_client)
    _, snoop, snoop_credentials = _bound_camera(mqtt_client, headers)
    target, device, credentials = _bound_camera(mqtt_client, headers)
    _configure(mqtt_context, broker, accounts=2)
    assert snoop.connect().value == 0
    (own,) = snoop.subscribe(snoop_credentials["commands_topic"])
    assert (own.is_failure, own.value) == (False, 1)  # granted at QoS 1
    for topic in (credentials["commands_topic"], "kasacare/devices/+/commands", "#"):
        (refused,) = snoop.subscribe(topic)
        assert (refused.is_failure, refused.value) == (True, 0x80), topic
    assert device.connect().value == 0
    device.subscribe(credentials["commands_topic"])
    mqtt_client.post(f"/v1/cameras/{target['id']}/manual-recordings", headers=headers)
    assert deliver_commands(mqtt_context, START) == 1
    assert [m["kind"] for m in _wait_for(device)] == ["record_now"]
    time.sleep(0.5)  # the snoop's copy, were there one, left with the target's
    assert snoop.messages == []
    snoop.close()
    device.close()


def test_issue_12_an_unbound_camera_is_disconnected_and_its_credential_refused(
    mqtt_client: TestClient, mqtt_context: AppContext, broker: Broker
) -> None:
    _, headers = owner(mqtt_client)
    camera, device, credentials = _bound_camera(mqtt_client, headers)
    _configure(mqtt_context, broker)
    assert device.connect().value == 0
    device.subscribe(credentials["commands_topic"])
    assert mqtt_client.delete(f"/v1/cameras/{camera['id']}", headers=headers).status_code == 204
    # The unbinding's entitlement_changed goes out first, then the credential is revoked.
    assert deliver_commands(mqtt_context, START) == 1
    assert [m["kind"] for m in _wait_for(device)] == ["entitlement_changed"]
    assert not device.disconnected.is_set()
    _configure(mqtt_context, broker)  # the broker job's next tick
    assert device.disconnected.wait(5), "the broker kept the unbound camera connected"
    device.close()
    again = Camera(broker.port, credentials["username"], credentials["password"])
    assert again.connect().is_failure  # CONNACK: not authorized
    again.close()
    with mqtt_context.sessions() as session:
        account = session.get(BrokerAccount, credentials["username"])
    assert account is not None
    assert (account.camera_id, account.synced) == (None, True)


def test_issue_12_broker_accounts_wait_for_a_broker_that_is_down(
    mqtt_client: TestClient, mqtt_context: AppContext, broker: Broker
) -> None:
    """A binding made while the broker is down gets its credential once the broker is
    back, on the commands' short retry schedule (2 s, 4 s, ...); nothing is lost."""
    broker.stop()
    _, headers = owner(mqtt_client)
    _, _, credentials = _bound_camera(mqtt_client, headers)
    assert sync_broker(mqtt_context, START) == 0
    with mqtt_context.sessions() as session:
        account = session.get(BrokerAccount, credentials["username"])
    assert account is not None
    assert (account.synced, account.attempts) == (False, 1)
    assert account.next_attempt_at == START + timedelta(seconds=2)
    broker.start()  # the plugin's file kept the service's user
    assert sync_broker(mqtt_context, START + timedelta(seconds=1)) == 0  # not due yet
    assert sync_broker(mqtt_context, START + timedelta(seconds=2)) == 1
    device = Camera(broker.port, credentials["username"], credentials["password"])
    assert device.connect().value == 0
    device.close()


def test_issue_12_events_mark_a_camera_online_then_offline(
    mqtt_client: TestClient, mqtt_context: AppContext, broker: Broker, clock: FixedClock
) -> None:
    _, headers = owner(mqtt_client)
    _, device, credentials = _bound_camera(mqtt_client, headers)
    _configure(mqtt_context, broker)
    listener = event_listener(mqtt_context)
    assert listener is not None
    listener.start()
    try:
        assert listener.subscribed.wait(5)
        listed = mqtt_client.get("/v1/cameras", headers=headers).json()["items"][0]
        assert (listed["online"], listed["last_seen_at"]) == (False, None)
        assert device.connect().value == 0
        device.publish(credentials["events_topic"], json.dumps({"kind": "online"}).encode())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            listed = mqtt_client.get("/v1/cameras", headers=headers).json()["items"][0]
            if listed["online"]:
                break
            time.sleep(0.1)
        assert (listed["online"], listed["last_seen_at"]) == (True, "2026-03-01T12:00:00Z")
        listener.stop()  # no late copy of the event (QoS 1 is at least once) after this
        clock.advance(timedelta(minutes=2))  # nothing heard for 2 minutes: offline
        listed = mqtt_client.get("/v1/cameras", headers=headers).json()["items"][0]
        assert (listed["online"], listed["last_seen_at"]) == (False, "2026-03-01T12:00:00Z")
    finally:
        listener.stop()
        device.close()


def test_issue_12_item_3_a_recording_started_event_over_the_broker_moves_the_request(
    mqtt_client: TestClient, mqtt_context: AppContext, broker: Broker
) -> None:
    _, headers = owner(mqtt_client)
    camera, device, credentials = _bound_camera(mqtt_client, headers)
    _configure(mqtt_context, broker)
    listener = event_listener(mqtt_context)
    assert listener is not None
    listener.start()
    try:
        assert listener.subscribed.wait(5)
        assert device.connect().value == 0
        device.subscribe(credentials["commands_topic"])
        posted = mqtt_client.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=headers)
        assert deliver_commands(mqtt_context, START) == 1
        (command,) = _wait_for(device)
        event = {"kind": "recording_started", "request_id": command["request_id"]}
        device.publish(credentials["events_topic"], json.dumps(event).encode())
        path = f"/v1/cameras/{camera['id']}/manual-recordings/{posted.json()['id']}"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            state = mqtt_client.get(path, headers=headers).json()
            if state["state"] != "sent":
                break
            time.sleep(0.1)
        assert (state["state"], state["recording_started_at"]) == (
            "recording",
            "2026-03-01T12:00:00Z",
        )
    finally:
        listener.stop()
        device.close()
