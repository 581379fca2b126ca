"""A Mosquitto of the test's own (never the system one at 1883): /usr/sbin/mosquitto on a
free port with its dynamic security plugin, started from the file `kasacare mqtt-config`
writes, and a camera's MQTT client."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.e2e.server import free_port

MOSQUITTO = "/usr/sbin/mosquitto"
DYNAMIC_SECURITY = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
SERVICE_PASSWORD = "service-broker-password-0123"


def require_mosquitto() -> None:
    if shutil.which(MOSQUITTO) is None:
        pytest.skip("Mosquitto is not installed at /usr/sbin/mosquitto")
    if not Path(DYNAMIC_SECURITY).exists():
        pytest.skip(f"Mosquitto's dynamic security plugin is not at {DYNAMIC_SECURITY}")


class Broker:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://kasacare-service:{SERVICE_PASSWORD}@127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"plugin {DYNAMIC_SECURITY}\n"
            f"plugin_opt_config_file {self.directory / 'dynamic-security.json'}\n"
            "persistence false\n"
            "user root\n"  # the file is the test's, readable by its owner only
        )
        log = (self.directory / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(config), "-v"], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = paho.Client(CallbackAPIVersion.VERSION2)
            try:
                probe.connect("127.0.0.1", self.port)
                probe.disconnect()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def running_broker(directory: Path, configure: Callable[[Broker], None]) -> Iterator[Broker]:
    """A broker whose first state `configure` writes (as `kasacare mqtt-config` does)."""
    require_mosquitto()
    broker = Broker(directory)
    configure(broker)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


class Camera:
    """A camera's MQTT client: connects with its broker credential, subscribes, collects."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        self.client.username_pw_set(username, password)
        self.messages: list[tuple[str, bytes]] = []
        self.connack: ReasonCode | None = None
        self.granted: list[ReasonCode] = []
        self._connected = threading.Event()
        self.disconnected = threading.Event()
        self._subscribed = threading.Event()
        self.received = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self.disconnected.set()
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.port = port

    def _on_connect(
        self, _c: object, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        self.connack = reason
        self._connected.set()

    def _on_subscribe(
        self, _c: object, _u: object, _m: int, reasons: list[ReasonCode], _p: object
    ) -> None:
        self.granted = reasons
        self._subscribed.set()

    def _on_message(self, _c: object, _u: object, message: paho.MQTTMessage) -> None:
        self.messages.append((message.topic, bytes(message.payload)))
        self.received.set()

    def connect(self) -> ReasonCode:
        self.client.reconnect_delay_set(min_delay=60)  # a kicked camera stays out
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert self._connected.wait(5), "no CONNACK"
        assert self.connack is not None
        return self.connack

    def subscribe(self, topic: str) -> list[ReasonCode]:
        self._subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self._subscribed.wait(5), "no SUBACK"
        return self.granted

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
