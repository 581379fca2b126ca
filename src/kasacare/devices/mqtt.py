"""The service's MQTT client (paho-mqtt): it publishes commands at QoS 1 and listens to the
cameras' events. The broker is Mosquitto here (any MQTT 3.1.1 broker serves)."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from kasacare.devices.broker import MqttTarget

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


class Publisher:
    """One connection per process, opened when first needed and dropped on any failure
    (with whatever paho had queued: the outbox row, not paho, is what is retried)."""

    def __init__(self, target: MqttTarget) -> None:
        self._target = target
        self._client: paho.Client | None = None
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: bytes) -> None:
        """Send at QoS 1 and wait for the broker's PUBACK, else raise BrokerUnavailable."""
        with self._lock:
            try:
                client = self._connected()
                info = client.publish(topic, payload, qos=1)
                info.wait_for_publish(PUBLISH_TIMEOUT)
                if not info.is_published():
                    raise BrokerUnavailable(f"no PUBACK for {topic} in {PUBLISH_TIMEOUT} s")
            except (OSError, RuntimeError, ValueError, BrokerUnavailable) as error:
                self._drop()
                raise BrokerUnavailable(str(error)) from error

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _connected(self) -> paho.Client:
        if self._client is not None and self._client.is_connected():
            return self._client
        self._drop()
        client = _client(self._target, "publisher")
        connected = threading.Event()
        client.on_connect = lambda c, u, f, reason, p: (
            connected.set() if not reason.is_failure else None
        )
        client.connect(self._target.host, self._target.port, keepalive=30)
        client.loop_start()
        self._client = client
        if not connected.wait(PUBLISH_TIMEOUT):
            raise BrokerUnavailable(f"cannot connect to {self._target.host}:{self._target.port}")
        return client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None


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
