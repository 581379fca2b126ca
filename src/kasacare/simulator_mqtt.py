"""A simulated camera's MQTT link (`kasacare simulate --mqtt`, issue 12 item 5): the broker
credential from `GET /v1/device/mqtt-credentials`, a persistent session (client id = the
serial, clean session off, as a real camera keeps one so the broker holds a QoS 1 command
while it is away), its commands topic, and its events (`online`, `recording_started`)."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from kasacare.kit.errors import KasaCareError

#: How long a new binding may wait for its broker account (the service's broker job).
GRANT_WAIT = 30.0


class MqttLinkError(KasaCareError):
    code = "simulation_failed"
    title = "The simulation could not run"


class MqttLink:
    def __init__(self, credentials: dict[str, Any]) -> None:
        self.host: str = credentials["host"]
        self.port: int = credentials["port"]
        self.commands_topic: str = credentials["commands_topic"]
        self.events_topic: str = credentials["events_topic"]
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=credentials["username"],
            clean_session=False,
            protocol=paho.MQTTv311,
        )
        self._client.username_pw_set(credentials["username"], credentials["password"])
        self._client.on_message = self._on_message
        #: The broker's last CONNACK or SUBACK, once `_answered` is set.
        self._answered = threading.Event()
        self._reason: ReasonCode | None = None

    @classmethod
    def open(cls, client: httpx.Client, device_token: str) -> MqttLink:
        """Ask for the credential, connect (waiting for the broker to know it) and subscribe."""
        answer = client.get(
            "/v1/device/mqtt-credentials", headers={"Authorization": f"Device {device_token}"}
        )
        if answer.status_code != 200:
            raise MqttLinkError(
                f"mqtt-credentials answered {answer.status_code}: {answer.text[:200]} "
                "(--mqtt needs a service with KASACARE_MQTT_URL)"
            )
        link = cls(answer.json())
        link._connect()
        return link

    def _connect(self) -> None:
        deadline = time.monotonic() + GRANT_WAIT
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        while True:
            self._answered.clear()
            self._client.connect(self.host, self.port, keepalive=60)
            self._client.loop_start()
            if self._answered.wait(5) and self._granted():
                break
            self._client.loop_stop()
            self._client.disconnect()
            if time.monotonic() > deadline:
                raise MqttLinkError(f"the broker refused the camera of {self.commands_topic}")
            time.sleep(0.2)  # the service grants a new binding's account within a job tick
        self._answered.clear()
        self._client.subscribe(self.commands_topic, qos=1)
        if not (self._answered.wait(5) and self._granted()):
            raise MqttLinkError(f"the broker refused the subscription to {self.commands_topic}")
        self.publish({"kind": "online"})

    def _granted(self) -> bool:
        return self._reason is not None and not self._reason.is_failure

    def _on_connect(
        self, _c: object, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        self._reason = reason
        self._answered.set()

    def _on_subscribe(
        self, _c: object, _u: object, _m: int, reasons: list[ReasonCode], _p: object
    ) -> None:
        self._reason = reasons[0]
        self._answered.set()

    def _on_message(self, _c: object, _u: object, message: paho.MQTTMessage) -> None:
        self.inbox.put(json.loads(message.payload))

    def publish(self, event: dict[str, Any]) -> None:
        self._client.publish(self.events_topic, json.dumps(event).encode(), qos=1)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MqttLink:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
