"""The cluster test (issue 12 item 6): two `kasacare serve` processes as two nodes (separate
processes on different ports) on one PostgreSQL, one S3 (moto's server) and one Mosquitto
the test starts from the dynamic security file `kasacare mqtt-config` writes. Both nodes run
their jobs (the system clock, no test clock), so both publish the command outbox, both
grant cameras their broker accounts and both listen to the cameras' events.

- a camera connected through the broker gets the record_now an owner issued on the other
  node, says it records, and its clip (posted to the other node) answers the request;
- a cancel on node A refuses an upload on node B at once (the coverage is the database's),
  and the camera is told over MQTT (`entitlement_changed`);
- the jobs of both nodes split the outbox: every command reaches its camera exactly once.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clips import conftest as clip_fixtures
from tests.conftest import ADMIN_TOKEN, DEVICE_CLAIMS, TEST_CATALOG
from tests.databases import fresh_database
from tests.devices.mosquitto import Broker, Camera, require_mosquitto
from tests.e2e.server import VENV_BIN, kasacare_env, running_server
from tests.factories import VIDEO

pytestmark = pytest.mark.e2e

aws_env = clip_fixtures.aws_env
s3_endpoint = clip_fixtures.s3_endpoint

PASSWORD = "correct horse battery"
#: How Mosquitto's log (-v) names the client of each PUBLISH: one publisher per node.
PUBLISHER = r"Received PUBLISH from (kasacare-publisher-\w+)"


@dataclass
class Cluster:
    node_a: str
    node_b: str
    broker: Broker
    env: dict[str, str]

    def configure_broker(self) -> None:
        """What the operator runs once for a new broker: `kasacare mqtt-config`."""
        done = subprocess.run(
            [str(VENV_BIN / "kasacare"), "mqtt-config", "--out", str(self.broker.directory)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def cluster(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_mosquitto()
    directory = tmp_path_factory.mktemp("cluster")
    broker_dir = directory / "broker"
    broker_dir.mkdir()
    broker = Broker(broker_dir)
    bucket = f"clips-{uuid.uuid4().hex[:20]}"
    try:
        with fresh_database("postgresql", directory) as database_url:
            env = kasacare_env(
                KASACARE_DATABASE_URL=database_url,
                KASACARE_STORAGE_URL=(
                    f"s3://{bucket}?endpoint={s3_endpoint}&region=us-east-1&create_bucket=1"
                ),
                KASACARE_ADMIN_TOKEN=ADMIN_TOKEN,
                KASACARE_CATALOG_PATH=str(TEST_CATALOG),
                KASACARE_DEVICE_CLAIMS=DEVICE_CLAIMS.value,
                KASACARE_MQTT_URL=broker.url,
            )
            # The service's own broker user exists before the nodes connect to listen.
            Cluster("", "", broker, env).configure_broker()
            broker.start()
            with (
                running_server(env, directory / "node-a.log") as node_a,
                running_server(env, directory / "node-b.log") as node_b,
            ):
                yield Cluster(node_a, node_b, broker, env)
    finally:
        broker.stop()


def _owner(http: httpx.Client, email: str) -> dict[str, str]:
    http.post("/v1/accounts", json={"email": email, "password": PASSWORD, "country": "US"})
    token = http.post("/v1/auth/token", json={"email": email, "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def _bind(http: httpx.Client, owner: dict[str, str], model: str) -> dict[str, Any]:
    serial = f"CL{uuid.uuid4().hex[:10].upper()}"
    camera = http.post("/v1/cameras", json={"model": model, "serial": serial}, headers=owner)
    assert camera.status_code == 201, camera.text
    body: dict[str, Any] = camera.json()
    body["device"] = {"Authorization": f"Device {body['device_token']}"}
    return body


def _connect(http: httpx.Client, camera: dict[str, Any]) -> tuple[Camera, dict[str, Any]]:
    credentials = http.get("/v1/device/mqtt-credentials", headers=camera["device"])
    assert credentials.status_code == 200, credentials.text
    body: dict[str, Any] = credentials.json()
    deadline = time.monotonic() + 15
    while True:  # a node's broker job grants the new binding its account within a tick
        client = Camera(body["port"], body["username"], body["password"])
        if client.connect().value == 0:
            break
        client.close()
        assert time.monotonic() < deadline, "the camera's broker account never came"
        time.sleep(0.2)
    assert not client.subscribe(body["commands_topic"])[0].is_failure
    return client, body


def _messages(camera: Camera, count: int, seconds: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while len(camera.messages) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return [json.loads(payload) for _, payload in camera.messages]


def _upload(http: httpx.Client, camera: dict[str, Any], **fields: str) -> httpx.Response:
    started_at = datetime.now(UTC).isoformat()
    return http.post(
        "/v1/device/clips",
        data={"started_at": started_at, "duration_s": "10", "kind": "motion", **fields},
        files={"video": ("clip.mp4", VIDEO, "video/mp4")},
        headers=camera["device"],
    )


def test_issue_12_item_6_a_camera_on_the_broker_gets_record_now_issued_on_the_other_node(
    cluster: Cluster,
) -> None:
    with (
        httpx.Client(base_url=cluster.node_a, timeout=60) as a,
        httpx.Client(base_url=cluster.node_b, timeout=60) as b,
    ):
        owner = _owner(a, "cluster-record@example.com")
        camera = _bind(a, owner, "KC120")
        device, credentials = _connect(b, camera)
        try:
            posted = a.post(f"/v1/cameras/{camera['id']}/manual-recordings", headers=owner)
            assert posted.status_code == 202
            (command,) = _messages(device, 1)  # published by a node's jobs after the commit
            assert (command["kind"], command["request_id"]) == ("record_now", posted.json()["id"])
            event = {"kind": "recording_started", "request_id": command["request_id"]}
            device.publish(credentials["events_topic"], json.dumps(event).encode())
            path = f"/v1/cameras/{camera['id']}/manual-recordings/{command['request_id']}"
            state = _wait_state(b, owner, path, "recording")
            clip = _upload(b, camera, kind="manual", request_id=command["request_id"])
            assert clip.status_code == 201, clip.text
            state = a.get(path, headers=owner).json()
            assert (state["state"], state["clip_id"]) == ("uploaded", clip.json()["id"])
        finally:
            device.close()


def _wait_state(http: httpx.Client, owner: dict[str, str], path: str, wanted: str) -> Any:
    deadline = time.monotonic() + 10
    while True:
        state = http.get(path, headers=owner).json()
        if state["state"] == wanted or time.monotonic() > deadline:
            assert state["state"] == wanted, state
            return state
        time.sleep(0.1)


def test_issue_12_item_6_a_cancel_on_node_a_refuses_an_upload_on_node_b_at_once(
    cluster: Cluster,
) -> None:
    with (
        httpx.Client(base_url=cluster.node_a, timeout=60) as a,
        httpx.Client(base_url=cluster.node_b, timeout=60) as b,
    ):
        owner = _owner(a, "cluster-cancel@example.com")
        expiry = {"exp_month": 12, "exp_year": datetime.now(UTC).year + 3, "cvc": "123"}
        card = a.post("/v1/sandbox/tokens", json={"number": "4242424242424242", **expiry})
        on_file = a.put("/v1/payment-method", json={"token": card.json()["token"]}, headers=owner)
        assert on_file.status_code == 200, on_file.text
        camera = _bind(a, owner, "KC105")  # microSD: cloud recording only on a plan (F5)
        device, _ = _connect(b, camera)
        try:
            subscribed = a.post(
                "/v1/subscription",
                json={"plan": "plus", "cycle": "monthly", "camera_ids": [camera["id"]]},
                headers=owner,
            )
            assert subscribed.status_code == 201, subscribed.text
            assert _upload(b, camera).status_code == 201
            assert a.delete("/v1/subscription", headers=owner).status_code == 200
            refused = _upload(b, camera)  # at once: no cache of the plan on node B
            assert (refused.status_code, refused.json()["code"]) == (403, "no_cloud_recording")
            told = [m for m in _messages(device, 2) if m["kind"] == "entitlement_changed"]
            assert [m["entitlement"]["cloud_recording"] for m in told] == [True, False]
        finally:
            device.close()


def test_issue_12_item_6_both_nodes_jobs_split_the_outbox_and_send_nothing_twice(
    cluster: Cluster,
) -> None:
    with (
        httpx.Client(base_url=cluster.node_a, timeout=60) as a,
        httpx.Client(base_url=cluster.node_b, timeout=60) as b,
    ):
        owner = _owner(a, "cluster-outbox@example.com")
        cameras = [_bind(a, owner, "KC120") for _ in range(3)]
        devices = [_connect(b, camera)[0] for camera in cameras]
        try:
            log = cluster.broker.directory / "mosquitto.log"
            log_start = log.stat().st_size

            def issue(n: int) -> str:
                node = a if n % 2 else b
                camera = cameras[n % len(cameras)]
                path = f"/v1/cameras/{camera['id']}/manual-recordings"
                posted = node.post(path, headers=owner)
                assert posted.status_code == 202
                return str(posted.json()["id"])

            # Bursts of 12 commands (on both nodes), 0.7 s apart against the jobs' 1 s ticks:
            # each burst goes to whichever node's jobs look first, so over the rounds both
            # take part (each round is a coin toss; 10 rounds all one way: 1 in 512).
            issued: list[str] = []
            publishers: set[str] = set()
            with ThreadPoolExecutor(4) as pool:
                for round_ in range(10):
                    issued += pool.map(issue, range(12 * round_, 12 * (round_ + 1)))
                    time.sleep(0.7)
                    publishers = set(re.findall(PUBLISHER, _tail(log, log_start)))
                    if len(publishers) == 2 and round_ >= 2:
                        break
            per_camera = [sum(1 for n in range(len(issued)) if n % 3 == i) for i in range(3)]
            received = [_messages(d, count) for d, count in zip(devices, per_camera, strict=True)]
            time.sleep(2)  # a second copy, were there one, would come within a job tick
            ids = [
                m["request_id"]
                for d in devices
                for m in _messages(d, 0)
                if m["kind"] == "record_now"
            ]
            assert sorted(ids) == sorted(issued)  # each command once: none lost, none twice
            assert sum(len(got) for got in received) == len(issued)
            # Both nodes' publishers took part (SKIP LOCKED hands each row to one of them).
            publishers = set(re.findall(PUBLISHER, _tail(log, log_start)))
            assert len(publishers) == 2, publishers
        finally:
            for device in devices:
                device.close()


def _tail(path: Path, start: int) -> str:
    with path.open("rb") as log:
        log.seek(start)
        return log.read().decode(errors="replace")
