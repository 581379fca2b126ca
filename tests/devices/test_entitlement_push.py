"""Plan changes pushed (issue 12 item 4; SPEC C1, C2, C3, F4, M5): every change of a
camera's entitlement writes an `entitlement_changed {entitlement}` command in the change's
own transaction, for each camera whose entitlement changed and no other: subscribe, cancel,
plan change, removing a camera, dunning end, auto-renew end, free plan end, unbind. Read
through the camera's own long poll (`GET /v1/device/commands`), as a camera sees them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.context import AppContext
from kasacare.devices.models import CommandKind, DeviceCommand
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)


def _told(client: TestClient, camera: dict[str, Any]) -> list[Any]:
    """The entitlements the camera is told of, oldest first, acknowledged as it would."""
    device = {"Authorization": f"Device {camera['device_token']}"}
    items = client.get("/v1/device/commands", headers=device).json()["items"]
    for item in items:
        client.post(f"/v1/device/commands/{item['id']}/ack", headers=device)
    return [i["entitlement"] for i in items if i["kind"] == "entitlement_changed"]


def _brief(entitlement: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if entitlement is None:
        return None
    return (
        entitlement["source"],
        entitlement["cloud_recording"],
        entitlement["history_hours"],
        entitlement["manual_recording"],
        entitlement["clip_download"],
    )


def _owner(client: TestClient, clock: FixedClock, card: str = "4242424242424242") -> Any:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers, card)
    return headers


# Setup 2026-04-01 for every camera here: a KC120's free plan (48 h) runs 2 years, to
# 2028-04-01; a KC105 has none (F5).
FREE = ("free", True, 48, True, False)
PLUS = ("plus", True, 720, True, True)  # the test catalog's Plus: 30 days = 720 h
PREMIUM = ("premium", True, 720, True, True)
NONE = ("none", False, 0, False, False)


def test_issue_12_item_4_binding_tells_nothing_subscribe_and_cancel_tell_each_camera(
    client: TestClient, clock: FixedClock
) -> None:
    headers = _owner(client, clock)
    free = register_camera(client, headers, "KC120")
    sd = register_camera(client, headers, "KC105")
    other = register_camera(client, headers, "KC120")  # never subscribed: never told
    assert _told(client, free) == [] and _told(client, sd) == []
    subscribe(client, headers, [free["id"], sd["id"]])
    assert [_brief(e) for e in _told(client, free)] == [PLUS]
    assert [_brief(e) for e in _told(client, sd)] == [PLUS]
    # C1, F4: cancel at once; the KC120 goes back to its free plan, the KC105 to nothing.
    assert client.delete("/v1/subscription", headers=headers).status_code == 200
    assert [_brief(e) for e in _told(client, free)] == [FREE]
    (none,) = _told(client, sd)
    assert _brief(none) == NONE
    assert none["free_plan_ends_at"] is None
    assert _told(client, other) == []


def test_issue_12_item_4_a_plan_change_and_a_removed_camera_tell_only_those_changed(
    client: TestClient, clock: FixedClock
) -> None:
    headers = _owner(client, clock)
    first, second = (register_camera(client, headers, "KC105") for _ in range(2))
    subscribe(client, headers, [first["id"], second["id"]])
    _told(client, first), _told(client, second)
    # C2: Plus -> Premium changes both cameras' source.
    changed = client.post(
        "/v1/subscription/change",
        json={"plan": "premium", "cycle": "monthly", "camera_ids": [first["id"], second["id"]]},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert [_brief(e) for e in _told(client, first)] == [PREMIUM]
    assert [_brief(e) for e in _told(client, second)] == [PREMIUM]
    # C3 on Premium: removing one camera changes that camera only.
    gone = client.delete(f"/v1/subscription/cameras/{second['id']}", headers=headers)
    assert gone.status_code == 200, gone.text
    assert [_brief(e) for e in _told(client, second)] == [NONE]
    assert _told(client, first) == []


def test_issue_12_item_4_the_end_of_dunning_tells_the_camera(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    headers = _owner(client, clock, "4000000000000341")  # attaches, then declines every charge
    camera = register_camera(client, headers, "KC120")
    subscribe(client, headers, [camera["id"]], plan="premium", trial=True)
    assert [e["source"] for e in _told(client, camera)] == ["trial"]
    trial_end = APRIL_1 + timedelta(days=30)
    run_due(context, trial_end)  # the first charge fails: past_due, its plan kept (M5)
    clock.set(trial_end)
    # The trial's end is told (the job looks again then, after the renewal ran).
    assert [_brief(e) for e in _told(client, camera)] == [PREMIUM]
    run_due(context, trial_end + timedelta(days=6))  # retries 1, 3, 5 fail
    clock.set(trial_end + timedelta(days=6))
    assert _told(client, camera) == []  # still past_due with its plan: nothing to tell
    assert run_due(context, trial_end + timedelta(days=7)) == 1  # the last retry ends it
    clock.set(trial_end + timedelta(days=7))
    assert [_brief(e) for e in _told(client, camera)] == [FREE]  # F4: back to its free plan


def test_issue_12_item_4_auto_renew_off_tells_the_camera_at_the_period_end(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    headers = _owner(client, clock)
    camera = register_camera(client, headers, "KC105")
    subscribe(client, headers, [camera["id"]])  # Apr 1 to May 1
    _told(client, camera)
    off = client.post("/v1/subscription/auto-renew", json={"enabled": False}, headers=headers)
    assert off.status_code == 200, off.text
    assert _told(client, camera) == []  # nothing changes until the period's end
    may_1 = datetime(2026, 5, 1, tzinfo=UTC)
    run_due(context, may_1)
    clock.set(may_1)
    assert [_brief(e) for e in _told(client, camera)] == [NONE]


def test_issue_12_item_4_f2_the_free_plans_end_tells_the_camera_once(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    headers = _owner(client, clock)
    camera = register_camera(client, headers, "KC120")
    covered = register_camera(client, headers, "KC120")
    subscribe(client, headers, [covered["id"]])
    _told(client, covered)
    # Setup 2026-04-01 + 2 years = 2028-04-01 (F2); the job looks then, not before.
    ends = datetime(2028, 4, 1, tzinfo=UTC)
    run_due(context, ends - timedelta(seconds=1))
    clock.set(ends - timedelta(seconds=1))
    token_for(client, "owner@example.com")
    assert _told(client, camera) == []
    run_due(context, ends)
    clock.set(ends)
    assert [_brief(e) for e in _told(client, camera)] == [NONE]
    # The subscribed camera's Plus window outlasts its free plan: nothing changed for it.
    assert _told(client, covered) == []
    run_due(context, ends + timedelta(days=1))
    assert _told(client, camera) == []  # told once


def test_issue_12_item_4_c6_an_unbound_camera_is_told_to_stop_in_the_same_transaction(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    headers = _owner(client, clock)
    camera = register_camera(client, headers, "KC120")
    assert client.delete(f"/v1/cameras/{camera['id']}", headers=headers).status_code == 204
    # Its device token is revoked with the binding, so the command is in the outbox for the
    # broker (`kasacare/devices/<serial>/commands`), not for a long poll.
    with context.sessions() as session:
        (command,) = session.scalars(select(DeviceCommand)).all()
    assert command.kind is CommandKind.ENTITLEMENT_CHANGED
    assert (command.serial, command.payload) == (camera["serial"], '{"entitlement": null}')


def test_issue_12_item_4_a_change_that_fails_tells_nothing(
    client: TestClient, clock: FixedClock
) -> None:
    headers = _owner(client, clock, "4000000000000341")  # attaches, then declines every charge
    camera = register_camera(client, headers, "KC105")
    refused = client.post(
        "/v1/subscription",
        json={"plan": "plus", "cycle": "monthly", "camera_ids": [camera["id"]], "trial": False},
        headers=headers,
    )
    assert refused.status_code == 402, refused.text
    assert _told(client, camera) == []  # the command went with the rolled-back change
