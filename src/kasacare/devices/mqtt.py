"""The service's MQTT client (paho-mqtt): it publishes commands at QoS 1 and listens to the
cameras' events. The broker is Mosquitto here (any MQTT 3.1.1 broker serves)."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kasacare.devices.broker import CONTROL_TOPIC, RESPONSE_TOPIC, MqttTarget

log = logging.getLogger(__name__)

#: How long a publish waits for the broker's PUBACK before it counts as failed.
PUBLISH_TIMEOUT = 5.0
EVENTS = "kasacare/devices/+/events"


class BrokerUnavailable(Exception):
    pass


if TYPE_CHECKING:  # paho is imported by the processes that talk to a broker only
    import paho.mqtt.client as paho


def _client(target: MqttTarget, role: str) -> paho.Client:
    import paho.mqtt.client as paho  # lazily: about 15 MB a process without a broker saves
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"kasacare-{role}-{uuid.uuid4().hex[:12]}",
        protocol=paho.MQTTv311,
    )
    client.username_pw_set(target.username, target.password)
    return client


class _Connection:
    """One connection per process, opened when first needed (ready once `_prepare`'s
    callbacks say so) and dropped on any failure, with whatever paho had queued: the
    database row, not paho, is what is retried."""

    role = "service"

    def __init__(self, target: MqttTarget) -> None:
        self._target = target
        self._client: paho.Client | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _prepare(self, client: paho.Client) -> None:
        client.on_connect = lambda c, u, f, reason, p: (
            self._ready.set() if not reason.is_failure else None
        )

    def _connected(self) -> paho.Client:
        if self._client is not None and self._client.is_connected() and self._ready.is_set():
            return self._client
        self._drop()
        client = _client(self._target, self.role)
        self._prepare(client)
        client.connect(self._target.host, self._target.port, keepalive=30)
        client.loop_start()
        self._client = client
        if not self._ready.wait(PUBLISH_TIMEOUT):
            raise BrokerUnavailable(f"{self._target.host}:{self._target.port} is not ready")
        return client

    def _drop(self) -> None:
        self._ready.clear()
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None


class Publisher(_Connection):
    role = "publisher"

    def publish(self, topic: str, payload: bytes) -> None:
        """Send at QoS 1 and wait for the broker's PUBACK, else raise BrokerUnavailable."""
        with self._lock:
            try:
                info = self._connected().publish(topic, payload, qos=1)
                info.wait_for_publish(PUBLISH_TIMEOUT)
                if not info.is_published():
                    raise BrokerUnavailable(f"no PUBACK for {topic} in {PUBLISH_TIMEOUT} s")
            except (OSError, RuntimeError, ValueError, BrokerUnavailable) as error:
                self._drop()
                raise BrokerUnavailable(str(error)) from error


class BrokerControl(_Connection):
    """Commands to Mosquitto's dynamic security plugin over `$CONTROL` (`devices.broker`):
    one batch a message, answered on the response topic that every service process reads,
    so each batch carries its own correlation id. Ready once subscribed to the answers."""

    role = "control"

    def __init__(self, target: MqttTarget) -> None:
        super().__init__(target)
        #: Correlation id -> the answers to its batch, None until they came.
        self._waiting: dict[str, list[dict[str, Any]] | None] = {}
        self._answered = threading.Condition()

    def run(self, commands: list[dict[str, object]]) -> list[dict[str, Any]]:
        """The plugin's answer to each command, in order; BrokerUnavailable when the broker
        cannot be reached or does not answer in time."""
        if not commands:
            return []
        correlation = uuid.uuid4().hex
        body = json.dumps(
            {"commands": [{**command, "correlationData": correlation} for command in commands]}
        ).encode()
        with self._lock:
            try:
                client = self._connected()
                with self._answered:
                    self._waiting[correlation] = None
                client.publish(CONTROL_TOPIC, body, qos=1).wait_for_publish(PUBLISH_TIMEOUT)
                with self._answered:
                    answers = self._answered.wait_for(
                        lambda: self._waiting[correlation], PUBLISH_TIMEOUT
                    )
                if not answers:
                    raise BrokerUnavailable(f"no answer from {CONTROL_TOPIC}")
            except (OSError, RuntimeError, ValueError, BrokerUnavailable) as error:
                self._drop()
                raise BrokerUnavailable(str(error)) from error
            finally:
                with self._answered:
                    self._waiting.pop(correlation, None)
        if len(answers) != len(commands):
            raise BrokerUnavailable(f"{len(answers)} answers to {len(commands)} commands")
        return answers

    def _prepare(self, client: paho.Client) -> None:
        client.on_connect = lambda c, u, f, reason, p: (
            c.subscribe(RESPONSE_TOPIC, qos=1) if not reason.is_failure else None
        )
        client.on_subscribe = lambda c, u, mid, reasons, p: (
            self._ready.set() if not reasons[0].is_failure else None
        )
        client.on_message = self._on_message

    def _on_message(self, _: paho.Client, __: object, message: paho.MQTTMessage) -> None:
        try:
            answers = json.loads(message.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable answer on %s", message.topic)
            return
        with self._answered:
            for answer in answers:  # a batch's answers come in one message
                correlation = answer.get("correlationData")
                if correlation in self._waiting:  # another process's batch otherwise
                    self._waiting[correlation] = [*(self._waiting[correlation] or []), answer]
            self._answered.notify_all()


class EventListener:
    """Subscribes to every camera's events; `handle(serial, event)` runs for each message
    on paho's network thread. Reconnects and subscribes again by itself."""

    def __init__(
        self, target: MqttTarget, handle: Callable[[str, dict[str, object]], None]
    ) -> None:
        self._target = target
        self._handle = handle
        self._client = _client(target, "events")
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self.subscribed = threading.Event()
        self._client.on_subscribe = lambda c, u, mid, reasons, p: self.subscribed.set()

    def start(self) -> None:
        self._client.connect_async(self._target.host, self._target.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: paho.Client, _: object, __: object, reason: object, ___: object
    ) -> None:
        client.subscribe(EVENTS, qos=1)

    def _on_message(self, _: paho.Client, __: object, message: paho.MQTTMessage) -> None:
        parts = message.topic.split("/")
        try:
            event = json.loads(message.payload)
            if not isinstance(event, dict):
                raise ValueError("an event is a JSON object")
            self._handle(parts[2], event)
        except Exception:
            log.exception("device event on %s not recorded", message.topic)
