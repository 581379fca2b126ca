"""Subscriptions over the API: trial, plans, changes with proration, cancel (SPEC T, P, C, M)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.billing.models import OutboxStatus, RefundOutbox
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)  # April has 30 days


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


@pytest.fixture
def april(clock: FixedClock) -> FixedClock:
    clock.set(APRIL_1)
    return clock


def _setup(
    client: TestClient, cameras: int = 1, model: str = "KC120"
) -> tuple[dict[str, str], list[str]]:
    _, headers = owner(client)
    card_on_file(client, headers)
    ids = [register_camera(client, headers, model)["id"] for _ in range(cameras)]
    return headers, ids


def test_c1_m6_plus_monthly_cancelled_10_days_into_april_refunds_266(
    client: TestClient, april: FixedClock, context: AppContext
) -> None:
    headers, ids = _setup(client)
    created = subscribe(client, headers, ids)
    assert created["last_change"]["charge_now"] == usd(399)
    assert created["current_period_end"] == "2026-05-01T00:00:00Z"
    april.advance(timedelta(days=10))
    headers = token_for(client, "owner@example.com")
    cancelled = client.delete("/v1/subscription", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    # 399 x 20/30 = 266.0
    assert cancelled.json()["refund_now"] == usd(266)
    notes = client.get("/v1/credit-notes", headers=headers).json()["items"]
    assert [(n["kind"], n["total"]) for n in notes] == [("refund", usd(266))]
    assert notes[0]["number"] == "CN-000001"
    assert client.get("/v1/subscription", headers=headers).status_code == 404
    # M4: the refund was an outbox row, carried out through the gateway after the commit.
    with context.sessions() as session:
        (row,) = session.scalars(select(RefundOutbox)).all()
    assert (row.status, row.amount) == (OutboxStatus.DONE, 266)
    assert row.gateway_charge_id is not None
    assert row.idempotency_key == f"refund:{notes[0]['id']}:{row.gateway_charge_id}"
    assert context.gateway.get_charge(row.gateway_charge_id).amount_refunded.amount == 266


def test_c1_m6_five_days_unused_refunds_66_half_even(client: TestClient, april: FixedClock) -> None:
    headers, ids = _setup(client)
    subscribe(client, headers, ids)
    april.set(datetime(2026, 4, 26, tzinfo=UTC))
    headers = token_for(client, "owner@example.com")
    # 399 x 5/30 = 66.5 -> 66 (half-even)
    assert client.delete("/v1/subscription", headers=headers).json()["refund_now"] == usd(66)


def test_c1_f4_cancel_returns_cameras_to_their_free_plan(
    client: TestClient, april: FixedClock
) -> None:
    headers, ids = _setup(client, model="KC120")
    subscribe(client, headers, ids)
    camera = client.get(f"/v1/cameras/{ids[0]}", headers=headers).json()
    assert (camera["entitlement"]["source"], camera["entitlement"]["history_hours"]) == (
        "plus",
        720,
    )
    quote = client.post(
        "/v1/subscription/preview", json={"action": "cancel"}, headers=headers
    ).json()
    # C4/C5: the window shrinks from 30 days to 2 days: clips before now - 48 h are erased.
    assert quote["erased"] == [{"camera_id": ids[0], "before": "2026-03-30T00:00:00Z"}]
    client.delete("/v1/subscription", headers=headers)
    camera = client.get(f"/v1/cameras/{ids[0]}", headers=headers).json()
    assert (camera["entitlement"]["source"], camera["entitlement"]["history_hours"]) == ("free", 48)


def test_t1_t4_trial_needs_a_card_moves_no_money_and_happens_once(
    client: TestClient, april: FixedClock
) -> None:
    _, headers = owner(client)
    ids = [register_camera(client, headers, "KC105")["id"]]
    no_card = client.post(
        "/v1/subscription",
        json={"plan": "premium", "cycle": "monthly", "camera_ids": ids, "trial": True},
        headers=headers,
    )
    assert no_card.status_code == 402
    assert no_card.json()["code"] == "payment_method_required"
    card_on_file(client, headers)
    trial = subscribe(client, headers, ids, plan="premium", trial=True)
    assert trial["status"] == "trialing"
    assert trial["trial_end"] == "2026-05-01T00:00:00Z"  # 30 x 24 h
    assert trial["next_invoice"] == {"date": "2026-05-01T00:00:00Z", "amount": usd(1099)}
    camera = client.get(f"/v1/cameras/{ids[0]}", headers=headers).json()
    assert camera["entitlement"]["source"] == "trial"
    assert camera["entitlement"]["cloud_recording"] is True  # Q15: KC105 records in the trial
    assert client.get("/v1/trial", headers=headers).json() == {
        "eligible": False,
        "reason": "trial_already_used",
    }
    # T3: cancelling a trial moves no money and writes no credit note.
    cancelled = client.delete("/v1/subscription", headers=headers).json()
    assert cancelled["refund_now"] == usd(0)
    assert client.get("/v1/credit-notes", headers=headers).json()["items"] == []
    assert client.get("/v1/invoices", headers=headers).json()["items"] == []
    again = client.post(
        "/v1/subscription",
        json={"plan": "plus", "cycle": "monthly", "camera_ids": ids, "trial": True},
        headers=headers,
    )
    assert again.status_code == 409
    assert again.json()["code"] == "trial_already_used"
    assert client.get("/v1/me", headers=headers).json()["trial_eligible"] is False


def test_p1_one_subscription_of_one_type(client: TestClient, april: FixedClock) -> None:
    headers, ids = _setup(client, cameras=2)
    subscribe(client, headers, ids[:1])
    for plan, code in (("plus", "subscription_exists"), ("premium", "plan_type_conflict")):
        response = client.post(
            "/v1/subscription",
            json={"plan": plan, "cycle": "monthly", "camera_ids": ids[1:]},
            headers=headers,
        )
        assert response.status_code == 409
        assert response.json()["code"] == code


def test_p2_q10_premium_refuses_an_11th_camera_naming_both_ways_out(
    client: TestClient, april: FixedClock
) -> None:
    headers, ids = _setup(client, cameras=11)
    response = client.post(
        "/v1/subscription",
        json={"plan": "premium", "cycle": "monthly", "camera_ids": ids},
        headers=headers,
    )
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "premium_camera_limit"
    assert "another Kasa account" in problem["detail"] and "Plus" in problem["detail"]
    subscribe(client, headers, ids[:10], plan="premium")
    eleventh = client.post("/v1/subscription/cameras", json={"camera_id": ids[10]}, headers=headers)
    assert eleventh.status_code == 409
    assert eleventh.json()["code"] == "premium_camera_limit"


def test_p3_c2_adding_a_plus_camera_charges_the_prorated_seat(
    client: TestClient, april: FixedClock
) -> None:
    headers, ids = _setup(client, cameras=2)
    subscribe(client, headers, ids[:1])
    april.advance(timedelta(days=10))
    headers = token_for(client, "owner@example.com")
    added = client.post("/v1/subscription/cameras", json={"camera_id": ids[1]}, headers=headers)
    assert added.status_code == 200, added.text
    # credit: 399 x 20/30 = 266.0 -> -266; charge: 798 x 20/30 = 532.0 -> 532; net 266
    assert added.json()["last_change"]["charge_now"] == usd(266)
    invoices = client.get("/v1/invoices", headers=headers).json()["items"]
    assert [i["number"] for i in invoices] == ["INV-000002", "INV-000001"]
    assert [line["amount"] for line in invoices[0]["lines"]] == [usd(-266), usd(532)]
    assert invoices[0]["total"] == usd(266)
    assert added.json()["next_invoice"] == {"date": "2026-05-01T00:00:00Z", "amount": usd(798)}


def test_c3_removing_a_plus_camera_credits_and_the_next_bill_uses_it(
    client: TestClient, april: FixedClock
) -> None:
    headers, ids = _setup(client, cameras=2)
    subscribe(client, headers, ids)  # 2 x 399 = 798
    april.advance(timedelta(days=25))
    headers = token_for(client, "owner@example.com")
    removed = client.delete(f"/v1/subscription/cameras/{ids[1]}", headers=headers)
    assert removed.status_code == 200, removed.text
    # credit: 798 x 5/30 = 133.0; charge: 399 x 5/30 = 66.5 -> 66; net -67 -> credit note 67
    assert removed.json()["last_change"]["credit_added"] == usd(67)
    notes = client.get("/v1/credit-notes", headers=headers).json()["items"]
    assert [(n["kind"], n["total"]) for n in notes] == [("credit", usd(67))]
    assert client.get("/v1/balance", headers=headers).json()["credit"] == usd(67)
    # P5: the next invoice is 399 net of the 67 credit.
    assert removed.json()["next_invoice"] == {"date": "2026-05-01T00:00:00Z", "amount": usd(332)}


def test_c2_downgrade_premium_to_plus_is_a_prorated_credit(
    client: TestClient, april: FixedClock
) -> None:
    headers, ids = _setup(client, cameras=2)
    subscribe(client, headers, ids, plan="premium")  # 1099
    april.advance(timedelta(days=15))
    headers = token_for(client, "owner@example.com")
    body = {"plan": "plus", "cycle": "monthly", "camera_ids": ids}
    preview = client.post(
        "/v1/subscription/preview", json={"action": "change", **body}, headers=headers
    )
    changed = client.post("/v1/subscription/change", json=body, headers=headers)
    assert changed.status_code == 200, changed.text
    # credit: 1099 x 15/30 = 549.5 -> 550 (half-even); charge: 798 x 15/30 = 399; net -151
    assert changed.json()["last_change"]["credit_added"] == usd(151)
    assert preview.json() == changed.json()["last_change"]  # C5: one computation
    assert changed.json()["plan"] == "plus"
    assert client.get("/v1/balance", headers=headers).json()["credit"] == usd(151)


def test_c1_m9_cancel_refunds_the_unused_part_and_the_balance(
    client: TestClient, april: FixedClock
) -> None:
    headers, ids = _setup(client, cameras=2)
    subscribe(client, headers, ids)  # 798 charged
    april.advance(timedelta(days=25))
    headers = token_for(client, "owner@example.com")
    client.delete(f"/v1/subscription/cameras/{ids[1]}", headers=headers)  # +67 credit
    cancelled = client.delete("/v1/subscription", headers=headers).json()
    # unused 399 x 5/30 = 66.5 -> 66, plus the 67 balance: 133 back to the card
    assert cancelled["refund_now"] == usd(133)
    assert cancelled["balance_after"] == usd(0)
    assert client.get("/v1/balance", headers=headers).json()["credit"] == usd(0)


def test_c6_a_subscribed_camera_cannot_be_unbound(client: TestClient, april: FixedClock) -> None:
    headers, ids = _setup(client)
    subscribe(client, headers, ids)
    response = client.delete(f"/v1/cameras/{ids[0]}", headers=headers)
    assert response.status_code == 409
    assert response.json()["code"] == "camera_subscribed"


def test_m3_a_declined_card_changes_nothing(client: TestClient, april: FixedClock) -> None:
    _, headers = owner(client)
    card_on_file(client, headers, "4000000000000341")
    ids = [register_camera(client, headers)["id"]]
    response = client.post(
        "/v1/subscription",
        json={"plan": "plus", "cycle": "monthly", "camera_ids": ids},
        headers=headers,
    )
    assert response.status_code == 402
    assert response.json()["code"] == "card_declined"
    assert client.get("/v1/subscription", headers=headers).status_code == 404
    assert client.get("/v1/invoices", headers=headers).json()["items"] == []


def test_another_accounts_camera_cannot_be_subscribed(
    client: TestClient, april: FixedClock
) -> None:
    _, theirs = owner(client, "theirs@example.com")
    foreign = register_camera(client, theirs)["id"]
    headers, _ = _setup(client)
    response = client.post(
        "/v1/subscription",
        json={"plan": "plus", "cycle": "monthly", "camera_ids": [foreign]},
        headers=headers,
    )
    assert response.status_code == 404
