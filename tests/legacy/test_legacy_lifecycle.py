"""Legacy periods over their lifetime: import checks, app-store expiry and extension (L6,
L7), and the credit balance on a legacy cancel (L4, M9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from kasacare.payments.models import SandboxCardCredit
from tests.factories import (
    card_on_file,
    import_legacy,
    owner,
    post_legacy_import,
    register_camera,
    token_for,
)
from tests.subscriptions.test_crash_safety import sandbox_charges, sandbox_of, sandbox_refunds

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)
APRIL_11 = APRIL_1 + timedelta(days=10)  # 20 of April's 30 days unused
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)
MAY_11 = datetime(2026, 5, 11, tzinfo=UTC)  # 21 of May's 31 days unused
EMAIL = "owner@example.com"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def _legacy(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get("/v1/legacy-subscriptions", headers=headers).json()[
        "items"
    ]
    return items


def _card_credits(context: AppContext) -> list[int]:
    """Legacy refunds: money paid back to the card on file (no charge of ours to refund)."""
    with sandbox_of(context).engine.connect() as connection:
        return [int(a) for a in connection.scalars(select(SandboxCardCredit.amount))]


@pytest.fixture
def legacy_owner(
    client: TestClient, clock: FixedClock
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    clock.set(APRIL_11)
    account, headers = owner(client, EMAIL)
    card_on_file(client, headers)
    cameras = [register_camera(client, headers, "KC120")["id"] for _ in range(2)]
    return account, headers, cameras


# ---- import: the period ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cycle", "start", "end"),
    [
        ("monthly", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),  # ended before now
        ("monthly", "2026-03-11T00:00:00Z", "2026-04-11T00:00:00Z"),  # ends exactly now
        ("monthly", "2026-04-01T00:00:00Z", "2026-05-02T00:00:00Z"),  # a month and a day
        ("monthly", "2026-04-01T00:00:00Z", "2026-04-30T00:00:00Z"),  # 29 days
        ("annual", "2026-04-01T00:00:00Z", "2027-03-31T00:00:00Z"),  # a day short of a year
        ("annual", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"),  # a month, not a year
    ],
)
def test_l1_m7_import_refuses_an_ended_period_or_one_not_one_cycle_long(
    client: TestClient,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
    cycle: str,
    start: str,
    end: str,
) -> None:
    account, headers, cameras = legacy_owner
    response = post_legacy_import(
        client, admin_headers, account["id"], cameras[:1], cycle=cycle, start=start, end=end
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_period"
    assert _legacy(client, headers) == []


@pytest.mark.parametrize(
    ("cycle", "start", "end"),
    [
        ("monthly", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"),
        ("monthly", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z"),  # M7: clamped to April 30
        ("annual", "2026-04-01T00:00:00Z", "2027-04-01T00:00:00Z"),
    ],
)
def test_l1_m7_import_accepts_a_running_period_of_one_cycle(
    client: TestClient,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
    cycle: str,
    start: str,
    end: str,
) -> None:
    account, headers, cameras = legacy_owner
    imported = import_legacy(
        client, admin_headers, account["id"], cameras[:1], cycle=cycle, start=start, end=end
    )
    assert (imported["current_period_start"], imported["current_period_end"]) == (start, end)
    assert [x["id"] for x in _legacy(client, headers)] == [imported["id"]]


# ---- app-store subscriptions end at their period's end (L6, L7) ------------------------------


def test_l6_l7_an_app_store_legacy_ends_at_its_period_end_uncharged_and_not_locked(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = legacy_owner
    legacy = import_legacy(client, admin_headers, account["id"], cameras[:1], channel="app_store")
    run_due(context, MAY_1 - timedelta(seconds=1))
    assert [x["status"] for x in _legacy(client, headers)] == ["active"]
    run_due(context, MAY_1)
    clock.set(MAY_1 + timedelta(hours=1))
    headers = token_for(client, EMAIL)
    (ended,) = _legacy(client, headers)
    assert (ended["id"], ended["status"], ended["channel"]) == (legacy["id"], "ended", "app_store")
    assert ended["current_period_end"] == "2026-05-01T00:00:00Z"
    # L6: the store bills it: never a charge, an invoice or a refund here
    assert client.get("/v1/invoices", headers=headers).json()["items"] == []
    assert client.get("/v1/credit-notes", headers=headers).json()["items"] == []
    assert sandbox_charges(context) == []
    assert _card_credits(context) == []
    # L7: the KC120 set up on April 11 is back on its free plan (2 days)
    entitlement = client.get(f"/v1/cameras/{cameras[0]}", headers=headers).json()["entitlement"]
    assert (entitlement["source"], entitlement["history_hours"]) == ("free", 48)
    # An expiry is not a cancel: legacy stays open to the account (L5)
    assert client.get("/v1/me", headers=headers).json()["legacy_locked"] is False
    renewed = import_legacy(
        client,
        admin_headers,
        account["id"],
        cameras[:1],
        channel="app_store",
        start="2026-05-01T00:00:00Z",
        end="2026-06-01T00:00:00Z",
    )
    assert renewed["status"] == "active"


def test_l6_extending_an_app_store_legacy_runs_it_one_more_cycle(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = legacy_owner
    legacy = import_legacy(client, admin_headers, account["id"], cameras[:1], channel="app_store")
    path = f"/v1/admin/legacy-subscriptions/{legacy['id']}/extend"
    extended = client.post(
        path, json={"current_period_end": "2026-06-01T00:00:00Z"}, headers=admin_headers
    )
    assert extended.status_code == 200, extended.text
    body = extended.json()
    assert (body["current_period_start"], body["current_period_end"]) == (
        "2026-05-01T00:00:00Z",
        "2026-06-01T00:00:00Z",
    )
    assert body["status"] == "active"
    run_due(context, MAY_1)
    clock.set(MAY_1 + timedelta(hours=1))
    headers = token_for(client, EMAIL)
    (still,) = _legacy(client, headers)
    assert (still["status"], still["current_period_end"]) == ("active", "2026-06-01T00:00:00Z")
    entitlement = client.get(f"/v1/cameras/{cameras[0]}", headers=headers).json()["entitlement"]
    assert entitlement["source"] == "legacy"
    assert sandbox_charges(context) == []  # L6: the store billed the renewal
    log = client.get("/v1/admin/audit-log", headers=admin_headers).json()["items"]
    assert "legacy_extend" in [e["action"] for e in log]
    run_due(context, datetime(2026, 6, 1, tzinfo=UTC))
    clock.set(datetime(2026, 6, 1, 1, tzinfo=UTC))
    headers = token_for(client, EMAIL)
    assert [x["status"] for x in _legacy(client, headers)] == ["ended"]


def test_l6_extend_refuses_a_wrong_period_a_direct_subscription_and_unknown_ids(
    client: TestClient,
    clock: FixedClock,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = legacy_owner
    store = import_legacy(client, admin_headers, account["id"], cameras[:1], channel="app_store")
    direct = import_legacy(client, admin_headers, account["id"], cameras[1:])

    def extend(legacy_id: str, end: str) -> Any:
        return client.post(
            f"/v1/admin/legacy-subscriptions/{legacy_id}/extend",
            json={"current_period_end": end},
            headers=admin_headers,
        )

    for end in ("2026-06-02T00:00:00Z", "2026-05-31T00:00:00Z", "2026-05-01T00:00:00Z"):
        wrong = extend(store["id"], end)
        assert (wrong.status_code, wrong.json()["code"]) == (422, "invalid_period"), end
    not_store = extend(direct["id"], "2026-06-01T00:00:00Z")
    assert (not_store.status_code, not_store.json()["code"]) == (422, "validation_error")
    unknown = extend(UNKNOWN, "2026-06-01T00:00:00Z")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    owner_try = client.post(
        f"/v1/admin/legacy-subscriptions/{store['id']}/extend",
        json={"current_period_end": "2026-06-01T00:00:00Z"},
        headers=headers,
    )
    assert owner_try.status_code == 403
    # The period ran out before the jobs ran: a new end already past is refused too.
    clock.set(datetime(2026, 6, 2, tzinfo=UTC))
    late = extend(store["id"], "2026-06-01T00:00:00Z")
    assert (late.status_code, late.json()["code"]) == (422, "invalid_period")
    headers = token_for(client, EMAIL)
    periods = {x["id"]: x["current_period_end"] for x in _legacy(client, headers)}
    assert periods[store["id"]] == "2026-05-01T00:00:00Z"  # nothing changed


# ---- the balance on a legacy cancel (L4, M9) -------------------------------------------------


def test_l4_m9_legacy_cancel_refunds_the_unused_part_and_keeps_goodwill(
    client: TestClient,
    context: AppContext,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = legacy_owner
    import_legacy(client, admin_headers, account["id"], cameras[:1])
    goodwill = client.post(
        f"/v1/support/accounts/{account['id']}/goodwill-credits",
        json={"amount": usd(100), "note": "Outage"},
        headers=admin_headers,
    )
    assert goodwill.status_code == 201, goodwill.text
    preview = client.post(
        "/v1/subscription/preview", json={"action": "cancel_legacy"}, headers=headers
    ).json()
    cancelled = client.delete("/v1/legacy-subscriptions", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    # 299 x 20/30 = 199.33 -> 199; the goodwill 100 is never refunded
    assert (cancelled.json()["refund_now"], cancelled.json()["balance_after"]) == (
        usd(199),
        usd(100),
    )
    assert preview == {k: v for k, v in cancelled.json().items() if k != "cancelled"}
    assert client.get("/v1/balance", headers=headers).json()["credit"] == usd(100)
    assert _card_credits(context) == [199]
    assert sandbox_refunds(context) == []


def test_l4_m9_legacy_cancel_refunds_refundable_credit_to_the_charges_but_not_goodwill(
    client: TestClient,
    clock: FixedClock,
    context: AppContext,
    admin_headers: dict[str, str],
    legacy_owner: tuple[dict[str, Any], dict[str, str], list[str]],
) -> None:
    account, headers, cameras = legacy_owner
    direct = import_legacy(client, admin_headers, account["id"], cameras[:1])
    store = import_legacy(
        client,
        admin_headers,
        account["id"],
        cameras[1:],
        channel="app_store",
        start="2026-04-15T00:00:00Z",
        end="2026-05-15T00:00:00Z",
    )
    # L1: the direct subscription renews by card on May 1 (a charge of ours, 299).
    run_due(context, MAY_1)
    ((charge_id, key, amount, _),) = sandbox_charges(context)
    assert (key, amount) == (f"renewal:{direct['id']}:2026-05-01T00:00:00+00:00", 299)
    clock.set(MAY_11)
    headers = token_for(client, EMAIL)
    # Refundable credit: support resolves the app-store case with a credit of 50.
    resolved = client.post(
        f"/v1/support/legacy-subscriptions/{store['id']}/resolve",
        json={"outcome": "credit", "amount": usd(50), "note": "Agreed by phone"},
        headers=admin_headers,
    )
    assert resolved.status_code == 200, resolved.text
    goodwill = client.post(
        f"/v1/support/accounts/{account['id']}/goodwill-credits",
        json={"amount": usd(100), "note": "Outage"},
        headers=admin_headers,
    )
    assert goodwill.status_code == 201, goodwill.text
    assert client.get("/v1/balance", headers=headers).json()["credit"] == usd(150)
    preview = client.post(
        "/v1/subscription/preview", json={"action": "cancel_legacy"}, headers=headers
    ).json()
    cancelled = client.delete("/v1/legacy-subscriptions", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    # unused: 299 x 21/31 = 202.55 -> 203 (to the card on file); the refundable 50 back to
    # the May charge; the goodwill 100 stays: 203 + 50 = 253
    assert (cancelled.json()["refund_now"], cancelled.json()["balance_after"]) == (
        usd(253),
        usd(100),
    )
    assert preview == {k: v for k, v in cancelled.json().items() if k != "cancelled"}
    assert _card_credits(context) == [203]
    assert [(c, a) for _, c, _, a, _ in sandbox_refunds(context)] == [(charge_id, 50)]
    assert client.get("/v1/balance", headers=headers).json()["credit"] == usd(100)
    assert [x["status"] for x in _legacy(client, headers)] == ["ended", "ended"]
