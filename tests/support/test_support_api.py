"""Support over the API: goodwill credit within the policy's cap, never refunded (M9), and
force-unbinding a resold camera (C1, C3, C6); every action audited (L6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for
from tests.subscriptions.test_crash_safety import sandbox_charges, sandbox_refunds

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)  # April has 30 days
APRIL_11 = APRIL_1 + timedelta(days=10)  # 20 of April's 30 days unused
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)  # May has 31 days
EMAIL = "owner@example.com"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


@pytest.fixture
def april(clock: FixedClock) -> FixedClock:
    clock.set(APRIL_1)
    return clock


def _setup(
    client: TestClient, cameras: int = 1
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    account, headers = owner(client, EMAIL)
    card_on_file(client, headers)
    ids = [register_camera(client, headers, "KC120")["id"] for _ in range(cameras)]
    return account, headers, ids


def _goodwill(
    client: TestClient,
    admin: dict[str, str],
    account_id: str,
    amount: dict[str, Any],
    note: str = "Outage in March",
) -> Any:
    return client.post(
        f"/v1/support/accounts/{account_id}/goodwill-credits",
        json={"amount": amount, "note": note},
        headers=admin,
    )


def _balance(client: TestClient, headers: dict[str, str]) -> Any:
    return client.get("/v1/balance", headers=headers).json()["credit"]


def _actions(client: TestClient, admin: dict[str, str]) -> list[str]:
    return [e["action"] for e in client.get("/v1/admin/audit-log", headers=admin).json()["items"]]


# ---- goodwill credit: the policy's cap ------------------------------------------------------


def test_m9_goodwill_credit_is_a_credit_note_added_to_the_balance_and_audited(
    client: TestClient, april: FixedClock, admin_headers: dict[str, str]
) -> None:
    account, headers, _ = _setup(client)
    response = _goodwill(client, admin_headers, account["id"], usd(250))
    assert response.status_code == 201, response.text
    note = response.json()
    assert (note["kind"], note["total"], note["number"]) == ("credit", usd(250), "CN-000001")
    assert [line["amount"] for line in note["lines"]] == [usd(250)]
    assert [n["id"] for n in client.get("/v1/credit-notes", headers=headers).json()["items"]] == [
        note["id"]
    ]
    assert _balance(client, headers) == usd(250)
    (entry,) = client.get("/v1/admin/audit-log", headers=admin_headers).json()["items"]
    assert (entry["action"], entry["actor"], entry["account_id"], entry["target"]) == (
        "goodwill_credit",
        "operator",
        account["id"],
        note["id"],
    )
    assert entry["note"] == "Outage in March"
    assert entry["data"]["amount"] == usd(250)


def test_m9_goodwill_cap_without_a_plan_is_one_year_of_plus_for_one_camera(
    client: TestClient, april: FixedClock, admin_headers: dict[str, str]
) -> None:
    account, headers, _ = _setup(client)
    over = _goodwill(client, admin_headers, account["id"], usd(4000))
    # No plan: Plus annual for one camera, 3999 x 1 = 3999
    assert over.status_code == 409, over.text
    assert (over.json()["code"], over.json()["allowed"]) == ("goodwill_limit_exceeded", usd(3999))
    assert _goodwill(client, admin_headers, account["id"], usd(3999)).status_code == 201
    assert _balance(client, headers) == usd(3999)
    assert _actions(client, admin_headers) == ["goodwill_credit"]  # the refusal wrote nothing


def test_m9_goodwill_cap_with_plus_for_two_cameras_is_two_annual_seats(
    client: TestClient, april: FixedClock, admin_headers: dict[str, str]
) -> None:
    account, headers, ids = _setup(client, cameras=2)
    subscribe(client, headers, ids)  # Plus monthly: the cap is at the annual price
    over = _goodwill(client, admin_headers, account["id"], usd(7999))
    # 2 seats x 3999 (Plus annual) = 7998
    assert over.status_code == 409, over.text
    assert (over.json()["code"], over.json()["allowed"]) == ("goodwill_limit_exceeded", usd(7998))
    assert _goodwill(client, admin_headers, account["id"], usd(7998)).status_code == 201


def test_m9_earlier_goodwill_in_the_last_365_days_counts_against_the_cap(
    client: TestClient, april: FixedClock, admin_headers: dict[str, str]
) -> None:
    account, headers, _ = _setup(client)
    assert _goodwill(client, admin_headers, account["id"], usd(3000)).status_code == 201
    april.advance(timedelta(days=200))
    over = _goodwill(client, admin_headers, account["id"], usd(1000))
    # 3999 - 3000 given 200 days ago = 999 left
    assert (over.status_code, over.json()["code"]) == (409, "goodwill_limit_exceeded")
    assert over.json()["allowed"] == usd(999)
    assert _goodwill(client, admin_headers, account["id"], usd(999)).status_code == 201
    assert _goodwill(client, admin_headers, account["id"], usd(1)).json()["allowed"] == usd(0)
    # 366 days after the first credit only the 999 (166 days ago) still counts: 3999 - 999 = 3000
    april.set(APRIL_1 + timedelta(days=366))
    later = _goodwill(client, admin_headers, account["id"], usd(3001))
    assert (later.status_code, later.json()["allowed"]) == (409, usd(3000))
    assert _goodwill(client, admin_headers, account["id"], usd(3000)).status_code == 201
    headers = token_for(client, EMAIL)
    assert _balance(client, headers) == usd(6999)  # 3000 + 999 + 3000, never spent


@pytest.mark.parametrize(
    "amount",
    [
        usd(0),
        {"amount": 100, "currency": "GBP"},
        usd(-5),
        usd(99999999999999999999),
        {"amount": 100, "currency": "usd"},
    ],
    ids=["zero", "other-currency", "negative", "huge", "lowercase-currency"],
)
def test_m9_goodwill_amount_must_be_positive_in_the_account_currency(
    client: TestClient,
    april: FixedClock,
    admin_headers: dict[str, str],
    amount: dict[str, Any],
) -> None:
    account, headers, _ = _setup(client)
    response = _goodwill(client, admin_headers, account["id"], amount)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert _balance(client, headers) == usd(0)
    assert client.get("/v1/credit-notes", headers=headers).json()["items"] == []


def test_m9_goodwill_for_an_unknown_account_is_404_and_owners_may_not_give_it(
    client: TestClient, april: FixedClock, admin_headers: dict[str, str]
) -> None:
    account, headers, _ = _setup(client)
    unknown = _goodwill(client, admin_headers, UNKNOWN, usd(100))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    self_service = _goodwill(client, headers, account["id"], usd(100))
    assert (self_service.status_code, self_service.json()["code"]) == (403, "forbidden")
    assert _balance(client, headers) == usd(0)


# ---- goodwill credit is never refunded (M9) -------------------------------------------------


def test_m9_c1_a_cancel_never_pays_goodwill_out(
    client: TestClient, april: FixedClock, context: AppContext, admin_headers: dict[str, str]
) -> None:
    account, headers, ids = _setup(client)
    subscribe(client, headers, ids)  # 399 charged
    assert _goodwill(client, admin_headers, account["id"], usd(100)).status_code == 201
    april.set(APRIL_11)
    headers = token_for(client, EMAIL)
    preview = client.post("/v1/subscription/preview", json={"action": "cancel"}, headers=headers)
    cancelled = client.delete("/v1/subscription", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    # 399 x 20/30 = 266.0; the goodwill 100 stays
    assert cancelled.json()["refund_now"] == usd(266)
    assert cancelled.json()["balance_after"] == usd(100)
    assert preview.json() == {k: v for k, v in cancelled.json().items() if k != "cancelled"}
    assert _balance(client, headers) == usd(100)
    ((charge_id, _, charged, _),) = sandbox_charges(context)
    assert charged == 399
    assert [(c, amount) for _, c, _, amount, _ in sandbox_refunds(context)] == [(charge_id, 266)]


def test_m9_c2_goodwill_pays_the_next_invoice_before_the_card(
    client: TestClient, april: FixedClock, context: AppContext, admin_headers: dict[str, str]
) -> None:
    account, headers, ids = _setup(client, cameras=2)
    subscribe(client, headers, ids[:1])  # 399 charged
    assert _goodwill(client, admin_headers, account["id"], usd(100)).status_code == 201
    april.set(APRIL_11)
    headers = token_for(client, EMAIL)
    body = {"camera_id": ids[1]}
    preview = client.post(
        "/v1/subscription/preview", json={"action": "add_camera", **body}, headers=headers
    )
    added = client.post("/v1/subscription/cameras", json=body, headers=headers)
    assert added.status_code == 200, added.text
    change = added.json()["last_change"]
    # 798 x 20/30 - 399 x 20/30 = 532 - 266 = 266: 100 from goodwill, 166 from the card
    assert (change["credit_used"], change["charge_now"]) == (usd(100), usd(166))
    assert change["balance_after"] == usd(0)
    assert preview.json() == change
    invoices = client.get("/v1/invoices", headers=headers).json()["items"]
    latest = next(i for i in invoices if i["total"] == usd(266))
    assert (latest["credit_used"], latest["charged"]) == (usd(100), usd(166))
    assert sorted(amount for _, _, amount, _ in sandbox_charges(context)) == [166, 399]
    assert _balance(client, headers) == usd(0)


def test_m9_c3_goodwill_is_spent_before_refundable_credit(
    client: TestClient, april: FixedClock, context: AppContext, admin_headers: dict[str, str]
) -> None:
    account, headers, ids = _setup(client, cameras=2)
    subscribe(client, headers, ids)  # 2 x 399 = 798 charged
    april.set(APRIL_11)
    headers = token_for(client, EMAIL)
    removed = client.delete(f"/v1/subscription/cameras/{ids[1]}", headers=headers)
    assert removed.status_code == 200, removed.text
    # C3: 798 x 20/30 - 399 x 20/30 = 532 - 266 = 266 credited (refundable)
    assert _balance(client, headers) == usd(266)
    assert _goodwill(client, admin_headers, account["id"], usd(100)).status_code == 201
    added = client.post("/v1/subscription/cameras", json={"camera_id": ids[1]}, headers=headers)
    assert added.status_code == 200, added.text
    # 532 - 266 = 266 owed: 100 goodwill first, then 166 of the refundable 266; 100 left
    change = added.json()["last_change"]
    assert (change["credit_used"], change["charge_now"]) == (usd(266), usd(0))
    assert _balance(client, headers) == usd(266 + 100 - 266)
    preview = client.post("/v1/subscription/preview", json={"action": "cancel"}, headers=headers)
    cancelled = client.delete("/v1/subscription", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    # Unused 798 x 20/30 = 532. Goodwill paid 100 of the re-add's invoice, which covers
    # April 11 to May 1, all of it unused: 100 x 20/20 = 100 of the unused time goes back
    # to goodwill (never to a card). The card gets 532 - 100 = 432 plus the refundable 100
    # left in the balance: 532 back to the 798 charge; the balance keeps the 100 of goodwill.
    quote = cancelled.json()
    assert (quote["refund_now"], quote["credit_added"], quote["balance_after"]) == (
        usd(532),
        usd(100),
        usd(100),
    )
    assert preview.json()["refund_now"] == quote["refund_now"]
    assert preview.json()["balance_after"] == quote["balance_after"]
    assert _balance(client, headers) == usd(100)
    assert sum(amount for _, _, _, amount, _ in sandbox_refunds(context)) == 532


def test_m9_time_paid_with_goodwill_is_never_refunded_to_a_card(
    client: TestClient, april: FixedClock, context: AppContext, admin_headers: dict[str, str]
) -> None:
    """Goodwill pays the May renewal; a cancel on May 2 gives the unused part of May back
    to goodwill, not to April's card charge (credit never turns into cash)."""
    account, headers, ids = _setup(client)
    subscribe(client, headers, ids)  # April: 399 by card
    assert _goodwill(client, admin_headers, account["id"], usd(399)).status_code == 201
    run_due(context, MAY_1)  # May's 399: all of it from the goodwill credit
    april.set(MAY_1 + timedelta(days=1))
    headers = token_for(client, EMAIL)
    invoices = client.get("/v1/invoices", headers=headers).json()["items"]
    assert [(i["credit_used"], i["charged"]) for i in invoices] == [
        (usd(399), usd(0)),
        (usd(0), usd(399)),
    ]
    cancelled = client.delete("/v1/subscription", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    # Unused: 399 x 30/31 = 386.13 -> 386, all of it paid by goodwill: kept as goodwill.
    quote = cancelled.json()
    assert (quote["refund_now"], quote["credit_added"], quote["balance_after"]) == (
        usd(0),
        usd(386),
        usd(386),
    )
    assert sandbox_refunds(context) == []
    # Documented: the goodwill given, and the unused time it paid, back as goodwill (M8).
    notes = client.get("/v1/credit-notes", headers=headers).json()["items"]
    assert [(n["kind"], n["total"]) for n in notes] == [("credit", usd(386)), ("credit", usd(399))]


# ---- force unbind -----------------------------------------------------------------------------


def test_c6_c1_force_unbinding_the_only_plus_camera_cancels_with_a_refund(
    client: TestClient, april: FixedClock, context: AppContext, admin_headers: dict[str, str]
) -> None:
    account, headers, ids = _setup(client)
    subscribe(client, headers, ids)  # 399 charged
    april.set(APRIL_11)
    headers = token_for(client, EMAIL)
    response = client.post(
        f"/v1/support/cameras/{ids[0]}/unbind", json={"note": "Resold"}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "camera_id": ids[0],
        "account_id": account["id"],
        "unbound_at": "2026-04-11T00:00:00Z",
    }
    assert client.get("/v1/cameras", headers=headers).json()["items"] == []
    assert client.get("/v1/subscription", headers=headers).status_code == 404
    notes = client.get("/v1/credit-notes", headers=headers).json()["items"]
    # 399 x 20/30 = 266.0
    assert [(n["kind"], n["total"]) for n in notes] == [("refund", usd(266))]
    assert [amount for _, _, _, amount, _ in sandbox_refunds(context)] == [266]
    (entry,) = client.get("/v1/admin/audit-log", headers=admin_headers).json()["items"]
    assert (entry["action"], entry["account_id"], entry["target"], entry["note"]) == (
        "force_unbind",
        account["id"],
        ids[0],
        "Resold",
    )
    again = client.post(
        f"/v1/support/cameras/{ids[0]}/unbind", json={"note": "Resold"}, headers=admin_headers
    )
    assert (again.status_code, again.json()["code"]) == (404, "not_found")


def test_c6_c3_force_unbinding_one_of_two_plus_cameras_credits_the_unused_seat(
    client: TestClient, april: FixedClock, admin_headers: dict[str, str]
) -> None:
    _, headers, ids = _setup(client, cameras=2)
    subscribe(client, headers, ids)  # 798 charged
    april.set(APRIL_11)
    headers = token_for(client, EMAIL)
    response = client.post(
        f"/v1/support/cameras/{ids[1]}/unbind", json={"note": "Resold"}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert [c["id"] for c in client.get("/v1/cameras", headers=headers).json()["items"]] == ids[:1]
    assert client.get("/v1/subscription", headers=headers).json()["camera_ids"] == ids[:1]
    # C3: 798 x 20/30 - 399 x 20/30 = 532 - 266 = 266 credit, not a refund
    notes = client.get("/v1/credit-notes", headers=headers).json()["items"]
    assert [(n["kind"], n["total"]) for n in notes] == [("credit", usd(266))]
    assert _balance(client, headers) == usd(266)


def test_l6_force_unbind_refuses_a_camera_a_legacy_plan_covers(
    client: TestClient, april: FixedClock, admin_headers: dict[str, str]
) -> None:
    account, headers, ids = _setup(client)
    imported = client.post(
        "/v1/admin/legacy-subscriptions",
        json={
            "account_id": account["id"],
            "plan": "legacy-plus",
            "cycle": "monthly",
            "camera_ids": ids,
            "price": usd(299),
            "paid": usd(299),
            "current_period_start": "2026-04-01T00:00:00Z",
            "current_period_end": "2026-05-01T00:00:00Z",
            "channel": "app_store",
        },
        headers=admin_headers,
    )
    assert imported.status_code == 201, imported.text
    response = client.post(
        f"/v1/support/cameras/{ids[0]}/unbind", json={"note": "Resold"}, headers=admin_headers
    )
    assert (response.status_code, response.json()["code"]) == (409, "camera_covered_by_legacy")
    assert [c["id"] for c in client.get("/v1/cameras", headers=headers).json()["items"]] == ids
    assert "force_unbind" not in _actions(client, admin_headers)
    unknown = client.post(
        f"/v1/support/cameras/{UNKNOWN}/unbind", json={"note": "Resold"}, headers=admin_headers
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
