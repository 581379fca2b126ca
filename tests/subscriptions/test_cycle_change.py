"""P5: changing the billing cycle is a cancel plus a new subscription, in one step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from kasacare.kit.clock import FixedClock
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def _change(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    preview = client.post(
        "/v1/subscription/preview", json={"action": "change", **body}, headers=headers
    )
    response = client.post("/v1/subscription/change", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert preview.json() == result["last_change"]  # C5: one computation
    return result


def test_p5_monthly_to_annual_refunds_the_unused_part_and_starts_a_new_subscription(
    client: TestClient, clock: FixedClock
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    camera = register_camera(client, headers)["id"]
    old = subscribe(client, headers, [camera])
    clock.advance(timedelta(days=10))
    headers = token_for(client, "owner@example.com")
    new = _change(client, headers, {"plan": "plus", "cycle": "annual", "camera_ids": [camera]})
    # cancel: 399 x 20/30 = 266.0 refunded; new annual period 3999 charged
    assert new["last_change"]["refund_now"] == usd(266)
    assert new["last_change"]["charge_now"] == usd(3999)
    assert new["id"] != old["id"]
    assert (new["cycle"], new["status"]) == ("annual", "active")
    assert (new["current_period_start"], new["current_period_end"]) == (
        "2026-04-11T00:00:00Z",
        "2027-04-11T00:00:00Z",
    )
    notes = client.get("/v1/credit-notes", headers=headers).json()["items"]
    assert [(n["kind"], n["total"]) for n in notes] == [("refund", usd(266))]
    invoices = client.get("/v1/invoices", headers=headers).json()["items"]
    assert [i["total"] for i in invoices] == [usd(3999), usd(399)]
    camera_now = client.get(f"/v1/cameras/{camera}", headers=headers).json()["entitlement"]
    assert camera_now["source"] == "plus"


def test_p5_the_balance_is_not_refunded_but_pays_the_new_first_invoice(
    client: TestClient, clock: FixedClock
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    ids = [register_camera(client, headers)["id"] for _ in range(2)]
    subscribe(client, headers, ids)  # 798
    clock.advance(timedelta(days=25))
    headers = token_for(client, "owner@example.com")
    client.delete(f"/v1/subscription/cameras/{ids[1]}", headers=headers)  # credit 67 (C3)
    new = _change(client, headers, {"plan": "plus", "cycle": "annual", "camera_ids": ids[:1]})
    change = new["last_change"]
    # cancel: 399 x 5/30 = 66.5 -> 66 refunded; the 67 credit pays the new 3999 first
    assert change["refund_now"] == usd(66)
    assert change["credit_used"] == usd(67)
    assert change["charge_now"] == usd(3932)
    assert change["balance_after"] == usd(0)
    assert client.get("/v1/balance", headers=headers).json()["credit"] == usd(0)


def test_p5_t1_a_cycle_change_during_a_trial_keeps_trialing_without_a_second_trial(
    client: TestClient, clock: FixedClock
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    camera = register_camera(client, headers)["id"]
    trial = subscribe(client, headers, [camera], plan="premium", trial=True)
    clock.advance(timedelta(days=5))
    headers = token_for(client, "owner@example.com")
    body = {"plan": "premium", "cycle": "annual", "camera_ids": [camera]}
    new = _change(client, headers, body)
    assert new["id"] != trial["id"]
    assert (new["status"], new["cycle"], new["trial_end"]) == (
        "trialing",
        "annual",
        trial["trial_end"],
    )
    assert new["last_change"]["charge_now"] == usd(0)
    assert new["last_change"]["refund_now"] == usd(0)
    assert new["next_invoice"] == {"date": trial["trial_end"], "amount": usd(10999)}
    assert client.get("/v1/invoices", headers=headers).json()["items"] == []
    assert client.get("/v1/credit-notes", headers=headers).json()["items"] == []
    assert client.get("/v1/me", headers=headers).json()["trial_eligible"] is False
