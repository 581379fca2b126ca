"""Legacy subscriptions (SPEC L1-L7, Q5-Q8, T2, M2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from kasacare.payments.sandbox import SandboxGateway
from tests.factories import PASSWORD, card_on_file, import_legacy, owner, register_camera, token_for

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)
APRIL_11 = APRIL_1 + timedelta(days=10)  # 20 of April's 30 days unused


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


@pytest.fixture
def legacy_owner(
    client: TestClient, clock: FixedClock, admin_headers: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    clock.set(APRIL_11)
    account, headers = owner(client)
    card_on_file(client, headers)
    cameras = [register_camera(client, headers, "KC120")["id"] for _ in range(2)]
    return account, headers, cameras


def test_l1_q7_legacy_covers_its_cameras_and_renews_at_its_grandfathered_price(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = legacy_owner
    legacy = import_legacy(client, admin_headers, account["id"], cameras[:1])
    listed = client.get("/v1/legacy-subscriptions", headers=headers).json()["items"]
    assert [(x["id"], x["status"], x["channel"]) for x in listed] == [
        (legacy["id"], "active", "direct")
    ]
    entitlement = client.get(f"/v1/cameras/{cameras[0]}", headers=headers).json()["entitlement"]
    assert (entitlement["source"], entitlement["history_hours"]) == ("legacy", 14 * 24)
    run_due(context, datetime(2026, 5, 1, tzinfo=UTC))
    clock.set(datetime(2026, 5, 1, 1, tzinfo=UTC))
    headers = token_for(client, "owner@example.com")
    (renewal,) = client.get("/v1/invoices", headers=headers).json()["items"]
    assert (renewal["total"], renewal["charged"]) == (usd(299), usd(299))
    assert renewal["lines"][0]["period_start"] == "2026-05-01T00:00:00Z"
    assert isinstance(context.gateway, SandboxGateway)


def test_l1_import_onto_an_account_with_a_new_plan_is_refused(
    client: TestClient,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = legacy_owner
    client.post(
        "/v1/subscription",
        json={"plan": "plus", "cycle": "monthly", "camera_ids": cameras[:1]},
        headers=headers,
    )
    refused = import_legacy(client, admin_headers, account["id"], cameras[1:], expect=409)
    assert refused["code"] == "plan_type_conflict"


def test_l2_c6_a_legacy_camera_cannot_be_unbound_or_put_on_a_new_plan_alongside(
    client: TestClient,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = legacy_owner
    import_legacy(client, admin_headers, account["id"], cameras[:1])
    unbind = client.delete(f"/v1/cameras/{cameras[0]}", headers=headers)
    assert (unbind.status_code, unbind.json()["code"]) == (409, "camera_subscribed")
    again = import_legacy(client, admin_headers, account["id"], cameras[:1], expect=409)
    assert again["code"] == "camera_subscribed"  # P4: one paid plan per camera


def test_l3_q5_migration_needs_confirmation_then_ends_legacy_with_its_refund(
    client: TestClient,
    context: AppContext,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = legacy_owner
    legacy = import_legacy(client, admin_headers, account["id"], cameras)
    body = {"plan": "premium", "cycle": "monthly", "camera_ids": cameras}
    unconfirmed = client.post("/v1/subscription", json=body, headers=headers)
    assert unconfirmed.status_code == 409
    problem = unconfirmed.json()
    assert problem["code"] == "legacy_confirmation_required"
    # legacy refund: 299 x 20/30 = 199.33 -> 199; Premium 1099 charged now
    assert problem["quote"]["refund_now"] == usd(199)
    assert problem["quote"]["charge_now"] == usd(1099)
    assert client.get("/v1/subscription", headers=headers).status_code == 404  # nothing changed
    assert client.get("/v1/legacy-subscriptions", headers=headers).json()["items"][0]["status"] == (
        "active"
    )
    migrated = client.post(
        "/v1/subscription", json={**body, "confirm_legacy_termination": True}, headers=headers
    )
    assert migrated.status_code == 201, migrated.text
    assert migrated.json()["last_change"]["refund_now"] == usd(199)
    (ended,) = client.get("/v1/legacy-subscriptions", headers=headers).json()["items"]
    assert (ended["id"], ended["status"]) == (legacy["id"], "ended")
    notes = client.get("/v1/credit-notes", headers=headers).json()["items"]
    assert [(n["kind"], n["total"]) for n in notes] == [("refund", usd(199))]
    me = client.get("/v1/me", headers=headers).json()
    assert me["legacy_locked"] is True
    assert me["trial_eligible"] is True  # T2: legacy never used up the new trial
    for camera in cameras:
        entitlement = client.get(f"/v1/cameras/{camera}", headers=headers).json()["entitlement"]
        assert entitlement["source"] == "premium"
    # M2: the refund reached the card on file through the gateway, once.
    gateway = context.gateway
    assert isinstance(gateway, SandboxGateway)
    with gateway.engine.connect() as connection:
        credits = connection.exec_driver_sql("SELECT amount FROM sandbox_card_credits").all()
    assert [row[0] for row in credits] == [199]


def test_l4_l7_cancelling_legacy_refunds_each_and_cameras_return_to_free(
    client: TestClient,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = legacy_owner
    import_legacy(client, admin_headers, account["id"], cameras[:1])
    import_legacy(
        client,
        admin_headers,
        account["id"],
        cameras[1:],
        plan="legacy-premium",
        price=599,
        paid=599,
    )
    preview = client.post(
        "/v1/subscription/preview", json={"action": "cancel_legacy"}, headers=headers
    ).json()
    cancelled = client.delete("/v1/legacy-subscriptions", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    # 299 x 20/30 = 199.33 -> 199 and 599 x 20/30 = 399.33 -> 399: 598 in all
    assert cancelled.json()["refund_now"] == usd(598)
    assert {k: v for k, v in preview.items()} == {
        k: v for k, v in cancelled.json().items() if k != "cancelled"
    }
    totals = sorted(
        n["total"]["amount"]
        for n in client.get("/v1/credit-notes", headers=headers).json()["items"]
    )
    assert totals == [199, 399]
    # L7: back to the KC120's free plan (2 days): clips older than 48 h go.
    assert sorted(e["camera_id"] for e in cancelled.json()["erased"]) == sorted(cameras)
    for camera in cameras:
        entitlement = client.get(f"/v1/cameras/{camera}", headers=headers).json()["entitlement"]
        assert (entitlement["source"], entitlement["history_hours"]) == ("free", 48)


def test_l5_q6_no_legacy_after_a_cancel_by_anyone(
    client: TestClient,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = legacy_owner
    import_legacy(client, admin_headers, account["id"], cameras[:1])
    client.delete("/v1/legacy-subscriptions", headers=headers)
    refused = import_legacy(client, admin_headers, account["id"], cameras[1:], expect=409)
    assert refused["code"] == "legacy_closed"
    assert client.get("/v1/me", headers=headers).json()["legacy_locked"] is True


def test_m2_legacy_refunds_need_a_card_on_file(
    client: TestClient, clock: FixedClock, admin_headers: dict[str, str]
) -> None:
    clock.set(APRIL_11)
    account, headers = owner(client)
    camera = register_camera(client, headers)["id"]
    import_legacy(client, admin_headers, account["id"], [camera])
    response = client.delete("/v1/legacy-subscriptions", headers=headers)
    assert (response.status_code, response.json()["code"]) == (402, "payment_method_required")
    items = client.get("/v1/legacy-subscriptions", headers=headers).json()["items"]
    assert items[0]["status"] == "active"  # nothing half-written
    assert client.get("/v1/me", headers=headers).json()["legacy_locked"] is False


def test_l6_app_store_legacy_is_not_refundable_before_any_confirmation(
    client: TestClient,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = legacy_owner
    import_legacy(client, admin_headers, account["id"], cameras[:1], channel="app_store")
    for response in (
        client.delete("/v1/legacy-subscriptions", headers=headers),
        client.post(
            "/v1/subscription",
            json={"plan": "plus", "cycle": "monthly", "camera_ids": cameras[1:]},
            headers=headers,
        ),
    ):
        assert response.status_code == 409
        problem = response.json()
        assert problem["code"] == "legacy_not_refundable"
        assert "This subscription cannot be refunded" in problem["detail"]
        assert "App Store or Google Play" in problem["detail"]
    assert client.get("/v1/me", headers=headers).json()["legacy_locked"] is False


@pytest.mark.parametrize(
    ("outcome", "amount"), [("refund", 150), ("credit", 150), ("terminate", None)]
)
def test_l6_a_support_agent_resolves_an_app_store_case_and_it_is_audited(
    client: TestClient,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
    outcome: str,
    amount: int | None,
) -> None:
    account, headers, cameras = legacy_owner
    legacy = import_legacy(client, admin_headers, account["id"], cameras[:1], channel="app_store")
    client.post(
        "/v1/admin/support-agents",
        json={"email": "agent@kasa.example", "password": PASSWORD},
        headers=admin_headers,
    )
    agent = token_for(client, "agent@kasa.example")
    path = f"/v1/support/legacy-subscriptions/{legacy['id']}/resolve"
    too_much = client.post(
        path, json={"outcome": "refund", "amount": usd(300), "note": "x"}, headers=agent
    )
    assert (too_much.status_code, too_much.json()["code"]) == (422, "validation_error")
    owner_try = client.post(path, json={"outcome": "terminate", "note": "x"}, headers=headers)
    assert owner_try.status_code == 403
    body: dict[str, Any] = {"outcome": outcome, "note": "Store refund refused; agreed by phone"}
    if amount is not None:
        body["amount"] = usd(amount)
    resolved = client.post(path, json=body, headers=agent)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "ended"
    assert client.get("/v1/me", headers=headers).json()["legacy_locked"] is True
    notes = client.get("/v1/credit-notes", headers=headers).json()["items"]
    balance = client.get("/v1/balance", headers=headers).json()["credit"]
    if outcome == "refund":
        assert [(n["kind"], n["total"]) for n in notes] == [("refund", usd(150))]
        assert balance == usd(0)
    elif outcome == "credit":
        assert [(n["kind"], n["total"]) for n in notes] == [("credit", usd(150))]
        assert balance == usd(150)
    else:
        assert notes == []
    log = client.get("/v1/admin/audit-log", headers=agent).json()["items"]
    resolve = next(e for e in log if e["action"] == "legacy_resolve")
    agent_id = client.get("/v1/me", headers=agent).json()["id"]
    assert resolve["actor"] == f"support:{agent_id}"
    assert resolve["note"] == "Store refund refused; agreed by phone"
    assert resolve["data"]["outcome"] == outcome
    assert resolve["account_id"] == account["id"]
