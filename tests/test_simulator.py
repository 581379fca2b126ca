"""The camera fleet simulator (`kasacare simulate`) against a real server process: its summary
agrees with what the API and the clip storage hold (SPEC V1, V2, V3a, V4, V5, C4, F5); its
cameras speak the device protocol (issue 12 item 5): told of the cancel, the microSD camera
holds its clips back; each hour's Record now is answered with a manual clip."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from kasacare.simulator import (
    SimulationConfig,
    SimulationError,
    activity_center,
    print_summary,
    simulate,
)
from tests.conftest import ADMIN_TOKEN
from tests.databases import fresh_database
from tests.devices.mosquitto import Broker, require_mosquitto
from tests.e2e.server import VENV_BIN, kasacare_env, running_server

pytestmark = pytest.mark.e2e

NO_CLOUD = "403 no_cloud_recording"


@pytest.fixture(scope="module")
def fleet_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real `kasacare serve` with the test clock, on SQLite and the shipped catalog."""
    directory = tmp_path_factory.mktemp("simulator")
    clips = directory / "clips"
    with fresh_database("sqlite", directory) as database_url:
        env = kasacare_env(
            KASACARE_DATABASE_URL=database_url,
            KASACARE_STORAGE_URL=f"file://{clips}",
            KASACARE_ADMIN_TOKEN=ADMIN_TOKEN,
            KASACARE_TEST_CLOCK="1",
        )
        with running_server(env, directory / "server.log") as base:
            yield base, clips


def test_v1_c4_the_fleet_summary_agrees_with_the_api_and_the_storage(
    fleet_service: tuple[str, Path],
) -> None:
    base, clips = fleet_service
    output = io.StringIO()
    console = Console(file=output, width=140)
    # 3 cameras x 6 hours: a KC120 on its free plan (48 h), a KC105 (microSD) on Plus until
    # the owner cancels half-way (hour 3), and a KC115 (microSD) without any plan.
    report = simulate(
        SimulationConfig(cameras=3, hours=6, url=base, admin_token=ADMIN_TOKEN, seed=7),
        console,
    )
    print_summary(report, console)
    free, plus, bare = report.cameras
    assert [free.model, plus.model, bare.model] == ["KC120", "KC105", "KC115"]
    assert report.clock_end - report.clock_start == timedelta(hours=6)
    assert report.cancelled_at == report.clock_start + timedelta(hours=3)

    # F5, V1: the microSD camera without a plan is refused every time, and nothing is stored.
    assert (bare.source_start, bare.source_end, bare.cloud_recording) == ("none", "none", False)
    assert bare.uploaded == bare.replayed == 0
    assert set(bare.refused) == {NO_CLOUD}
    assert bare.refused[NO_CLOUD] > 0
    assert bare.available == bare.unavailable == 0

    # The free camera keeps everything: 6 hours of clips lie inside its 48 h window.
    assert (free.source_end, free.history_hours) == ("free", 48)
    assert free.uploaded > 0
    assert not free.refused
    assert (free.available, free.unavailable) == (free.uploaded, 0)

    # V5, issue 12 item 3: the owner asked the free camera to record at each of the 6 hours;
    # each was answered with a manual clip linked to its request.
    assert (len(free.requests), free.recorded) == (6, 6)

    # C4: the cancel erased the KC105's whole history at once. Issue 12 item 4: it was told
    # (entitlement_changed) right after the cancel, so it sent nothing more to be refused.
    assert (plus.source_start, plus.source_end) == ("plus", "none")
    assert plus.uploaded > 0
    assert not plus.refused
    assert plus.held_back > 0
    assert (plus.available, plus.unavailable) == (0, plus.uploaded)
    # Its Record now requests stop with the cancel: hours 1 and 2 only (hour 3 cancels first).
    assert (len(plus.requests), plus.recorded) == (2, 2)

    # The summary against the API itself: every stored clip of a camera with cloud recording
    # is listed available; the erased ones are listed without video and answer 410 (V3a, V4).
    owner = {"Authorization": f"Bearer {report.owner_token}"}
    with httpx.Client(base_url=base, timeout=30) as client:
        listed = {
            camera.id: list(activity_center(client, owner, camera.id, limit_pages=50))
            for camera in report.cameras
        }
        recording = [camera for camera in report.cameras if camera.cloud_recording]
        assert sum(camera.uploaded for camera in recording) == sum(
            entry["available"] for camera in recording for entry in listed[camera.id]
        )
        assert [entry["available"] for entry in listed[plus.id]] == [False] * plus.uploaded
        gone = client.get(f"/v1/clips/{listed[plus.id][0]['id']}", headers=owner)
        assert (gone.status_code, gone.json()["code"]) == (410, "clip_no_longer_available")
        kept = client.get(f"/v1/clips/{listed[free.id][0]['id']}", headers=owner)
        assert kept.status_code == 200
        assert listed[bare.id] == []
        clock = client.get("/v1/admin/clock", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert datetime.fromisoformat(clock.json()["now"]) == report.clock_end

    # Only the clips still available have bytes: the sweeper deleted the erased ones when the
    # clock moved after the cancel.
    assert sum(1 for _ in clips.rglob("*.mp4")) == report.available == free.uploaded
    # Every upload got exactly one answer: stored, replayed or refused.
    assert report.stored + report.replayed + sum(report.refused.values()) > 0
    text = output.getvalue()
    assert "Fleet simulation" in text
    assert "no_cloud_recording" in text


def test_the_simulate_command_prints_the_summary(fleet_service: tuple[str, Path]) -> None:
    base, _ = fleet_service
    result = subprocess.run(
        [str(VENV_BIN / "kasacare"), "simulate", "--cameras", "2", "--hours", "1", "--url", base],
        env=kasacare_env(KASACARE_ADMIN_TOKEN=ADMIN_TOKEN, COLUMNS="140"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Fleet simulation" in result.stdout
    assert "Refused uploads by code" in result.stdout


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1:8000", "http://example.com", "ftp://127.0.0.1/", "127.0.0.1:8000"]
)
def test_the_simulator_talks_only_to_this_machine(url: str) -> None:
    with pytest.raises(SimulationError):
        SimulationConfig(cameras=1, hours=1, url=url, admin_token=ADMIN_TOKEN).validate()


def test_the_simulate_command_refuses_another_machine_in_one_line() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "kasacare"), "simulate", "--url", "http://192.0.2.1:8000"],
        env=kasacare_env(KASACARE_ADMIN_TOKEN=ADMIN_TOKEN),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "kasacare: --url must point at this machine (127.0.0.1, ::1), got '192.0.2.1'"
    )


def test_issue_12_item_5_the_fleet_over_mqtt_hears_its_commands_from_the_broker(
    tmp_path: Path,
) -> None:
    """`--mqtt`: each camera connects to the service's broker with the credential the
    service issued (granted by its broker job), hears record_now and entitlement_changed on
    its topic, reports recording_started as an event and answers with a manual clip; the
    microSD camera told of the cancel over MQTT holds its clips back."""
    require_mosquitto()
    broker = Broker(tmp_path / "broker")
    broker.directory.mkdir()
    with fresh_database("sqlite", tmp_path) as database_url:
        env = kasacare_env(
            KASACARE_DATABASE_URL=database_url,
            KASACARE_STORAGE_URL=f"file://{tmp_path / 'clips'}",
            KASACARE_ADMIN_TOKEN=ADMIN_TOKEN,
            KASACARE_TEST_CLOCK="1",
            KASACARE_MQTT_URL=broker.url,
        )
        configured = subprocess.run(
            [str(VENV_BIN / "kasacare"), "mqtt-config", "--out", str(broker.directory)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert configured.returncode == 0, configured.stderr
        broker.start()
        try:
            with running_server(env, tmp_path / "server.log") as base:
                report = simulate(
                    SimulationConfig(
                        cameras=3, hours=4, url=base, admin_token=ADMIN_TOKEN, seed=7, mqtt=True
                    ),
                    Console(file=io.StringIO()),
                )
                owner = {"Authorization": f"Bearer {report.owner_token}"}
                listed = httpx.get(f"{base}/v1/cameras", headers=owner).json()["items"]
        finally:
            broker.stop()
    free, plus, bare = report.cameras
    assert report.cancelled_at == report.clock_start + timedelta(hours=2)
    # V5 over the broker: every Record now reached its camera and ended uploaded.
    assert (len(free.requests), free.recorded) == (4, 4)
    assert free.heard_requests == set(free.requests)
    # Plus until hour 2: asked at hour 1 only; then told over MQTT, it held back its clips.
    assert (len(plus.requests), plus.recorded) == (1, 1)
    assert plus.told_cloud_recording is False
    assert plus.held_back > 0
    assert not plus.refused
    assert (bare.requests, set(bare.refused)) == ([], {NO_CLOUD})
    # Their events over the broker (`online`, `recording_started`) reached the service: each
    # was seen, though none ever polled.
    assert all(camera["last_seen_at"] is not None for camera in listed)
