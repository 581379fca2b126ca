"""The credit balance when paid coverage ends (M9): a trial cancel, and a migration from
legacy (L3) whose preview and real call agree (C5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from tests.factories import (
    card_on_file,
    import_legacy,
    owner,
    register_camera,
    subscribe,
    token_for,
)
from tests.subscriptions.test_crash_safety import sandbox_charges, sandbox_refunds

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)
APRIL_11 = APRIL_1 + timedelta(days=10)  # 20 of April's 30 days unused
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)
MAY_11 = datetime(2026, 5, 11, tzinfo=UTC)  # 21 of May's 31 days unused
EMAIL = "owner@example.com"

QUOTE_FIELDS = ("charge_now", "refund_now", "credit_added", "credit_used", "balance_after")


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def _goodwill(client: TestClient, admin: dict[str, str], account_id: str, amount: int) -> None:
    response = client.post(
        f"/v1/support/accounts/{account_id}/goodwill-credits",
        json={"amount": usd(amount), "note": "Outage"},
        headers=admin,
    )
    assert response.status_code == 201, response.text


def _resolve_with_credit(
    client: TestClient, admin: dict[str, str], legacy_id: str, amount: int
) -> None:
    response = client.post(
        f"/v1/support/legacy-subscriptions/{legacy_id}/resolve",
        json={"outcome": "credit", "amount": usd(amount), "note": "Agreed by phone"},
        headers=admin,
    )
    assert response.status_code == 200, response.text


def _balance(client: TestClient, headers: dict[str, str]) -> Any:
    return client.get("/v1/balance", headers=headers).json()["credit"]


def _money(quote: dict[str, Any]) -> dict[str, Any]:
    return {field: quote[field] for field in QUOTE_FIELDS}


@pytest.fixture
def cameras_owner(
    client: TestClient, clock: FixedClock
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    clock.set(APRIL_11)
    account, headers = owner(client, EMAIL)
    card_on_file(client, headers)
    cameras = [register_camera(client, headers, "KC120")["id"] for _ in range(2)]
    return account, headers, cameras


# ---- trial cancel (T3, M9) -------------------------------------------------------------------


def test_m9_t3_a_trial_cancel_refunds_refundable_credit_to_the_card_payments(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    admin_headers: dict[str, str],
    cameras_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    """Refundable credit on an account that never trialed and has no plan: a direct legacy
    subscription renews by card (a charge of ours), then support ends it with a credit."""
    account, headers, cameras = cameras_owner
    direct = import_legacy(client, admin_headers, account["id"], cameras[:1])
    run_due(context, MAY_1)  # L1: renewed by card, 299
    ((charge_id, _, charged, _),) = sandbox_charges(context)
    assert charged == 299
    clock.set(MAY_11)
    headers = token_for(client, EMAIL)
    _resolve_with_credit(client, admin_headers, direct["id"], 120)
    _goodwill(client, admin_headers, account["id"], 100)
    assert _balance(client, headers) == usd(220)  # 120 refundable + 100 goodwill
    trial = subscribe(client, headers, cameras, trial=True)
    assert trial["status"] == "trialing"
    assert trial["last_change"]["balance_after"] == usd(220)  # T4: a trial moves no money
    preview = client.post("/v1/subscription/preview", json={"action": "cancel"}, headers=headers)
    cancelled = client.delete("/v1/subscription", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    # T3: nothing of the trial's own; M9: the refundable 120 goes back to the 299 charge,
    # the goodwill 100 stays
    assert (cancelled.json()["refund_now"], cancelled.json()["balance_after"]) == (
        usd(120),
        usd(100),
    )
    assert _money(preview.json()) == _money(cancelled.json())
    assert [(c, a) for _, c, _, a, _ in sandbox_refunds(context)] == [(charge_id, 120)]
    notes = client.get("/v1/credit-notes", headers=headers).json()["items"]
    assert ("refund", usd(120)) in [(n["kind"], n["total"]) for n in notes]
    assert _balance(client, headers) == usd(100)
    assert client.get("/v1/trial", headers=headers).json()["eligible"] is False  # T1


def test_m9_t3_a_trial_cancel_with_only_goodwill_refunds_nothing(
    client: TestClient,
    context: AppContext,
    admin_headers: dict[str, str],
    cameras_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = cameras_owner
    _goodwill(client, admin_headers, account["id"], 100)
    subscribe(client, headers, cameras[:1], trial=True)
    cancelled = client.delete("/v1/subscription", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["refund_now"], cancelled.json()["balance_after"]) == (
        usd(0),
        usd(100),
    )
    assert _balance(client, headers) == usd(100)
    assert sandbox_charges(context) == []
    assert sandbox_refunds(context) == []


# ---- migration (L3, M9, C5) ------------------------------------------------------------------


def _migrate_to_plus(
    client: TestClient, headers: dict[str, str], camera_ids: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """L3: the migration's preview, then the migration confirmed: (preview, its change)."""
    body = {"plan": "plus", "cycle": "monthly", "camera_ids": camera_ids}
    previewed = client.post(
        "/v1/subscription/preview", json={"action": "create", **body}, headers=headers
    )
    assert previewed.status_code == 200, previewed.text
    migrated = client.post(
        "/v1/subscription", json={**body, "confirm_legacy_termination": True}, headers=headers
    )
    assert migrated.status_code == 201, migrated.text
    preview: dict[str, Any] = previewed.json()
    change: dict[str, Any] = migrated.json()["last_change"]
    return preview, change


def test_l3_c5_migration_preview_and_real_call_agree(
    client: TestClient,
    context: AppContext,
    admin_headers: dict[str, str],
    cameras_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = cameras_owner
    import_legacy(client, admin_headers, account["id"], cameras)
    preview, change = _migrate_to_plus(client, headers, cameras)
    # refund 299 x 20/30 = 199.33 -> 199; Plus for 2 cameras 2 x 399 = 798 charged
    assert (change["refund_now"], change["charge_now"], change["balance_after"]) == (
        usd(199),
        usd(798),
        usd(0),
    )
    assert preview == change
    assert [a for _, _, a, _ in sandbox_charges(context)] == [798]


def test_l3_m9_migration_keeps_goodwill_and_its_preview_agrees(
    client: TestClient,
    admin_headers: dict[str, str],
    cameras_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = cameras_owner
    import_legacy(client, admin_headers, account["id"], cameras)
    _goodwill(client, admin_headers, account["id"], 1000)  # cap: 299 x 12 = 3588
    preview, change = _migrate_to_plus(client, headers, cameras[:1])
    # goodwill pays the 399 invoice; 1000 - 399 = 601 stays (never refunded);
    # the legacy refund 299 x 20/30 = 199.33 -> 199
    assert _money(change) == {
        "charge_now": usd(0),
        "refund_now": usd(199),
        "credit_added": usd(0),
        "credit_used": usd(399),
        "balance_after": usd(601),
    }
    assert _money(preview) == _money(change)
    assert _balance(client, headers) == usd(601)


def test_l3_m9_migration_refunds_the_refundable_rest_of_the_balance_as_previewed(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    admin_headers: dict[str, str],
    cameras_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = cameras_owner
    direct = import_legacy(client, admin_headers, account["id"], cameras[:1])
    store = import_legacy(
        client,
        admin_headers,
        account["id"],
        cameras[1:],
        plan="legacy-premium",
        price=999,
        channel="app_store",
        start="2026-04-15T00:00:00Z",
        end="2026-05-15T00:00:00Z",
    )
    run_due(context, MAY_1)  # L1: the direct one renews by card, 299
    ((charge_id, _, charged, _),) = sandbox_charges(context)
    assert charged == 299
    clock.set(MAY_11)
    headers = token_for(client, EMAIL)
    _resolve_with_credit(client, admin_headers, store["id"], 350)
    _goodwill(client, admin_headers, account["id"], 100)
    assert _balance(client, headers) == usd(450)  # 350 refundable + 100 goodwill
    preview, change = _migrate_to_plus(client, headers, cameras[:1])
    # Plus 399: goodwill 100 first, then 299 of the refundable 350; its rest 51 goes back
    # to the May charge (299). Legacy refund 299 x 21/31 = 202.55 -> 203 to the card on
    # file: refund_now 203 + 51 = 254, balance_after 0.
    assert _money(change) == {
        "charge_now": usd(0),
        "refund_now": usd(254),
        "credit_added": usd(0),
        "credit_used": usd(399),
        "balance_after": usd(0),
    }
    assert _money(preview) == _money(change)
    assert [(c, a) for _, c, _, a, _ in sandbox_refunds(context)] == [(charge_id, 51)]
    assert _balance(client, headers) == usd(0)
    legacy = client.get("/v1/legacy-subscriptions", headers=headers).json()["items"]
    assert {x["id"]: x["status"] for x in legacy} == {direct["id"]: "ended", store["id"]: "ended"}
