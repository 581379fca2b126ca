"""Plan changes pushed (issue 12 item 4) on the paths that reach the same two hooks
(`reconcile_account`, `erase_camera`) from elsewhere: legacy termination (L4 cancel, L3
migration), support (L6 resolution, force-unbind), account deletion, a billing cycle change
(P5) and auto-renew's end. Each asserts the exact rows of the command outbox that a change
queued: kind, serial and the entitlement it carries, one row per camera whose entitlement
changed and none for the others."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.context import AppContext
from kasacare.devices.models import DeviceCommand
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from tests.factories import (
    PASSWORD,
    card_on_file,
    import_legacy,
    owner,
    register_camera,
    subscribe,
    token_for,
)

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)
APRIL_11 = APRIL_1 + timedelta(days=10)
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)
#: A KC120 set up on 1 April 2026 has its free plan (48 h) for 2 years (F2); a KC105 none.
KC120_FREE_ENDS = "2028-04-01T00:00:00Z"


def entitlement(
    source: str, hours: int, *, free_ends: str | None = KC120_FREE_ENDS
) -> dict[str, Any]:
    """The payload's entitlement (the API's `EntitlementRead`) of a camera with that source
    and window: a paid source may download clips, the free plan may not, none records
    nothing."""
    paid = source not in ("free", "none")
    return {
        "source": source,
        "cloud_recording": source != "none",
        "history_hours": hours,
        "manual_recording": source != "none",
        "clip_download": paid,
        "free_plan_ends_at": free_ends,
    }


FREE = entitlement("free", 48)
PLUS = entitlement("plus", 720)  # the test catalog's Plus: 30 days
PLUS_KC105 = entitlement("plus", 720, free_ends=None)
PREMIUM = entitlement("premium", 720)
LEGACY_PLUS = entitlement("legacy", 14 * 24)
LEGACY_PREMIUM = entitlement("legacy", 30 * 24)
NONE_KC105 = entitlement("none", 0, free_ends=None)
STOP = None  # unbound: stop uploading


class Outbox:
    """The `device_commands` rows queued since the last look, as (kind, serial,
    entitlement) sorted by serial: exactly what the broker or a long poll hands out."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.seen: set[uuid.UUID] = set()

    def new(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        with self.context.sessions() as session:
            rows = [r for r in session.scalars(select(DeviceCommand)) if r.id not in self.seen]
        self.seen.update(r.id for r in rows)
        queued = [(r.kind.value, r.serial, json.loads(r.payload)) for r in rows]
        assert all(set(body) == {"entitlement"} for _, _, body in queued)
        return sorted(
            ((kind, serial, body["entitlement"]) for kind, serial, body in queued),
            key=lambda row: (row[1], json.dumps(row[2], sort_keys=True)),
        )


def told(camera: dict[str, Any], what: dict[str, Any] | None) -> tuple[str, str, Any]:
    return ("entitlement_changed", camera["serial"], what)


def by_serial(*rows: tuple[str, str, Any]) -> list[tuple[str, str, Any]]:
    return sorted(rows, key=lambda row: row[1])


def _owner(client: TestClient, clock: FixedClock) -> tuple[dict[str, Any], dict[str, str]]:
    clock.set(APRIL_1)
    account, headers = owner(client)
    card_on_file(client, headers)
    return account, headers


def _at(client: TestClient, clock: FixedClock, moment: datetime) -> dict[str, str]:
    """The owner's headers at `moment` (a token from 1 April has expired by then)."""
    clock.set(moment)
    return token_for(client, "owner@example.com")


def _agent(client: TestClient, admin_headers: dict[str, str]) -> dict[str, str]:
    created = client.post(
        "/v1/admin/support-agents",
        json={"email": "agent@kasa.example", "password": PASSWORD},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    return token_for(client, "agent@kasa.example")


def test_issue_12_item_4_l4_cancelling_legacy_tells_each_legacy_camera_its_free_plan(
    client: TestClient, clock: FixedClock, context: AppContext, admin_headers: dict[str, str]
) -> None:
    account, headers = _owner(client, clock)
    plus, premium = (register_camera(client, headers, "KC120") for _ in range(2))
    register_camera(client, headers, "KC120")  # a bystander, on its free plan all along
    outbox = Outbox(context)
    import_legacy(client, admin_headers, account["id"], [plus["id"]])
    import_legacy(
        client, admin_headers, account["id"], [premium["id"]], plan="legacy-premium", price=599
    )
    # The import itself is a change (V6 reconciles): each covered camera is told its window.
    assert outbox.new() == by_serial(told(plus, LEGACY_PLUS), told(premium, LEGACY_PREMIUM))
    headers = _at(client, clock, APRIL_11)
    cancelled = client.delete("/v1/legacy-subscriptions", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    # L4, L7: both back to the KC120's free plan, once each; the bystander: nothing.
    assert outbox.new() == by_serial(told(plus, FREE), told(premium, FREE))


def test_issue_12_item_4_l3_migration_tells_each_camera_its_new_plan_only(
    client: TestClient, clock: FixedClock, context: AppContext, admin_headers: dict[str, str]
) -> None:
    account, headers = _owner(client, clock)
    legacy, added = (register_camera(client, headers, "KC120") for _ in range(2))
    import_legacy(client, admin_headers, account["id"], [legacy["id"]])
    outbox = Outbox(context)
    outbox.new()
    headers = _at(client, clock, APRIL_11)
    migrated = client.post(
        "/v1/subscription",
        json={
            "plan": "premium",
            "cycle": "monthly",
            "camera_ids": [legacy["id"], added["id"]],
            "confirm_legacy_termination": True,
        },
        headers=headers,
    )
    assert migrated.status_code == 201, migrated.text
    # One transaction ends legacy and starts Premium: the legacy camera is told Premium, never
    # the free plan in between; the camera the migration adds is told Premium too.
    assert outbox.new() == by_serial(told(legacy, PREMIUM), told(added, PREMIUM))


@pytest.mark.parametrize(("outcome", "amount"), [("refund", 150), ("terminate", None)])
def test_issue_12_item_4_l6_a_support_resolution_tells_the_legacy_camera(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    admin_headers: dict[str, str],
    outcome: str,
    amount: int | None,
) -> None:
    account, headers = _owner(client, clock)
    covered = register_camera(client, headers, "KC120")
    register_camera(client, headers, "KC120")  # a bystander, never covered
    legacy = import_legacy(
        client, admin_headers, account["id"], [covered["id"]], channel="app_store"
    )
    outbox = Outbox(context)
    assert outbox.new() == [told(covered, LEGACY_PLUS)]
    clock.set(APRIL_11)
    agent = _agent(client, admin_headers)
    body: dict[str, Any] = {"outcome": outcome, "note": "Store refund refused; agreed by phone"}
    if amount is not None:
        body["amount"] = {"amount": amount, "currency": "USD"}
    resolved = client.post(
        f"/v1/support/legacy-subscriptions/{legacy['id']}/resolve", json=body, headers=agent
    )
    assert resolved.status_code == 200, resolved.text
    assert outbox.new() == [told(covered, FREE)]  # and nothing for the bystander


def test_issue_12_item_4_c6_a_force_unbind_tells_that_camera_to_stop_once(
    client: TestClient, clock: FixedClock, context: AppContext, admin_headers: dict[str, str]
) -> None:
    _, headers = _owner(client, clock)
    kept, resold = (register_camera(client, headers, "KC120") for _ in range(2))
    subscribe(client, headers, [kept["id"], resold["id"]])
    outbox = Outbox(context)
    assert outbox.new() == by_serial(told(kept, PLUS), told(resold, PLUS))
    clock.set(APRIL_11)
    response = client.post(
        f"/v1/support/cameras/{resold['id']}/unbind", json={"note": "Resold"}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    # C3 takes the camera off the plan, then C6 unbinds it, in one transaction: it hears
    # "stop" alone, not its free plan first; the camera still on Plus hears nothing.
    assert outbox.new() == [told(resold, STOP)]


def test_issue_12_item_4_c6_force_unbinding_the_last_plus_camera_tells_it_to_stop_once(
    client: TestClient, clock: FixedClock, context: AppContext, admin_headers: dict[str, str]
) -> None:
    _, headers = _owner(client, clock)
    only = register_camera(client, headers, "KC105")
    register_camera(client, headers, "KC120")  # a bystander, never on the plan
    subscribe(client, headers, [only["id"]])
    outbox = Outbox(context)
    outbox.new()
    clock.set(APRIL_11)
    response = client.post(
        f"/v1/support/cameras/{only['id']}/unbind", json={"note": "Resold"}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    # C1: the plan is cancelled with it; the bystander's entitlement is unchanged: nothing.
    assert outbox.new() == [told(only, STOP)]


def test_issue_12_item_4_account_deletion_tells_every_bound_camera_to_stop_once(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    _, headers = _owner(client, clock)
    free, sd, bare = (
        register_camera(client, headers, "KC120"),
        register_camera(client, headers, "KC105"),
        register_camera(client, headers, "KC120"),
    )
    gone = register_camera(client, headers, "KC120")
    subscribe(client, headers, [free["id"], sd["id"]])
    assert client.delete(f"/v1/cameras/{gone['id']}", headers=headers).status_code == 204
    outbox = Outbox(context)
    assert outbox.new() == by_serial(told(free, PLUS), told(sd, PLUS_KC105), told(gone, STOP))
    headers = _at(client, clock, APRIL_11)
    done = client.request("DELETE", "/v1/me", json={"password": PASSWORD}, headers=headers)
    assert done.status_code == 200, done.text
    # The cancel (C1) and the unbinding of every camera are one transaction: each bound
    # camera hears "stop" once (not its free plan first); the one unbound before, nothing.
    assert outbox.new() == by_serial(told(free, STOP), told(sd, STOP), told(bare, STOP))


def test_issue_12_item_4_p5_a_cycle_change_tells_only_the_camera_it_drops(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    _, headers = _owner(client, clock)
    first, second, dropped = (register_camera(client, headers, "KC120") for _ in range(3))
    subscribe(client, headers, [first["id"], second["id"], dropped["id"]])
    outbox = Outbox(context)
    outbox.new()
    headers = _at(client, clock, APRIL_11)
    annual = {"plan": "plus", "cycle": "annual", "camera_ids": [first["id"], second["id"]]}
    changed = client.post("/v1/subscription/change", json=annual, headers=headers)
    assert changed.status_code == 200, changed.text
    # A new subscription (new id), the same Plus for the cameras it keeps: nothing changed
    # for them, nothing is sent; the camera left out goes back to its free plan.
    assert outbox.new() == [told(dropped, FREE)]
    again = {**annual, "cycle": "monthly"}
    assert client.post("/v1/subscription/change", json=again, headers=headers).status_code == 200
    assert outbox.new() == []


def test_issue_12_item_4_p5_a_cycle_change_during_a_trial_tells_nothing(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    _, headers = _owner(client, clock)
    camera = register_camera(client, headers, "KC105")
    subscribe(client, headers, [camera["id"]], trial=True)
    outbox = Outbox(context)
    assert outbox.new() == [told(camera, entitlement("trial", 720, free_ends=None))]
    headers = _at(client, clock, APRIL_11)
    annual = {"plan": "plus", "cycle": "annual", "camera_ids": [camera["id"]]}
    changed = client.post("/v1/subscription/change", json=annual, headers=headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "trialing"
    assert outbox.new() == []
    # The trial's end (May 1, kept by the new subscription) is still looked at: the renewal
    # charges the annual Plus and the camera hears it then, once.
    run_due(context, MAY_1)
    assert outbox.new() == [told(camera, PLUS_KC105)]
    run_due(context, MAY_1 + timedelta(days=1))
    assert outbox.new() == []


def test_issue_12_item_4_auto_renew_off_tells_each_camera_once_at_the_period_end(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    _, headers = _owner(client, clock)
    free, sd = register_camera(client, headers, "KC120"), register_camera(client, headers, "KC105")
    subscribe(client, headers, [free["id"], sd["id"]])  # Apr 1 to May 1
    outbox = Outbox(context)
    outbox.new()
    off = client.post("/v1/subscription/auto-renew", json={"enabled": False}, headers=headers)
    assert off.status_code == 200, off.text
    run_due(context, MAY_1 - timedelta(seconds=1))  # the ending reminder only
    assert outbox.new() == []
    run_due(context, MAY_1)  # the plan ends, not renewed (reason not_renewed)
    assert outbox.new() == by_serial(told(free, FREE), told(sd, NONE_KC105))
    run_due(context, MAY_1 + timedelta(days=40))
    assert outbox.new() == []
