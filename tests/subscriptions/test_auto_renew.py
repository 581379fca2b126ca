"""Turning off auto-renew (issue 14 item 5): the plan runs to its period's end and then ends
with no charge and no refund for the period; the credit balance is refunded then (M9); a
reminder 3 days before; it can be turned on again before the end; the FAQ's immediate cancel
with a prorated refund (C1) is unchanged. On SQLite and PostgreSQL, with the renewal jobs
(`run_due`, which renews in batches) as the service runs them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for
from tests.subscriptions.test_crash_safety import sandbox_charges, sandbox_refunds

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)
APRIL_26 = datetime(2026, 4, 26, tzinfo=UTC)
MAY_1 = datetime(2026, 5, 1, tzinfo=UTC)


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def _at(client: TestClient, clock: FixedClock, moment: datetime) -> dict[str, str]:
    clock.set(moment)
    return token_for(client, "owner@example.com")


def _auto_renew(client: TestClient, headers: dict[str, str], enabled: bool) -> Any:
    return client.post("/v1/subscription/auto-renew", json={"enabled": enabled}, headers=headers)


def _kinds(client: TestClient, headers: dict[str, str]) -> list[str]:
    items = client.get("/v1/notifications", headers=headers).json()["items"]
    return [item["kind"] for item in items]


def _carded_owner(
    client: TestClient, clock: FixedClock, cameras: int = 1
) -> tuple[dict[str, str], list[str]]:
    """On 1 April 2026: an owner with a sandbox Visa on file and `cameras` KC120s."""
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    return headers, [register_camera(client, headers, "KC120")["id"] for _ in range(cameras)]


def test_issue_14_item_5_the_plan_ends_at_the_period_end_and_the_balance_goes_back(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    headers, ids = _carded_owner(client, clock, cameras=2)
    subscribe(client, headers, ids)  # Plus for 2 cameras: 2 x 399 = 798, Apr 1 to May 1
    headers = _at(client, clock, APRIL_26)
    client.delete(f"/v1/subscription/cameras/{ids[1]}", headers=headers)
    # C2 with 5 of April's 30 days left: credit 798 x 5/30 = 133, charge 399 x 5/30 = 66.5
    # -> 66 (half-even), so 133 - 66 = 67 goes onto the balance.
    assert client.get("/v1/balance", headers=headers).json()["credit"] == usd(67)
    off = _auto_renew(client, headers, False)
    assert off.status_code == 200, off.text
    body = off.json()
    assert (body["auto_renew"], body["ends_at"], body["next_invoice"]) == (
        False,
        "2026-05-01T00:00:00Z",
        None,
    )
    assert body["status"] == "active"  # nothing changes until the period's end
    # The reminder falls due 3 days before the end; nothing else happens before May 1.
    assert run_due(context, MAY_1 - timedelta(seconds=1)) == 1
    headers = _at(client, clock, MAY_1 - timedelta(seconds=1))
    assert _kinds(client, headers)[0] == "subscription_ending"
    assert run_due(context, MAY_1) == 1
    headers = _at(client, clock, MAY_1 + timedelta(hours=1))
    assert client.get("/v1/subscription", headers=headers).status_code == 404
    # No renewal charge: only April's 798 was ever charged (the change's 66 came from the
    # credit). The 67 balance was refunded to that charge (M9); nothing for the used period.
    assert [amount for _, _, amount, _ in sandbox_charges(context)] == [798]
    assert [amount for *_, amount, _ in sandbox_refunds(context)] == [67]
    assert client.get("/v1/balance", headers=headers).json()["credit"] == usd(0)
    ended = client.get("/v1/notifications", headers=headers).json()["items"]
    assert any(
        n["kind"] == "subscription_ended" and n["data"]["reason"] == "not_renewed" for n in ended
    )
    entitlement = client.get(f"/v1/cameras/{ids[0]}", headers=headers).json()["entitlement"]
    assert entitlement["source"] == "free"
    assert run_due(context, MAY_1 + timedelta(days=40)) == 0


def test_issue_14_item_5_turned_on_again_before_the_end_it_renews_as_before(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    headers, cameras = _carded_owner(client, clock)
    subscribe(client, headers, cameras)  # 399
    headers = _at(client, clock, APRIL_26)
    assert _auto_renew(client, headers, False).json()["next_invoice"] is None
    on = _auto_renew(client, headers, True).json()
    assert (on["auto_renew"], on["ends_at"]) == (True, None)
    assert on["next_invoice"] == {"date": "2026-05-01T00:00:00Z", "amount": usd(399)}
    run_due(context, MAY_1)
    headers = _at(client, clock, MAY_1 + timedelta(hours=1))
    live = client.get("/v1/subscription", headers=headers).json()
    assert (live["status"], live["current_period_end"]) == ("active", "2026-06-01T00:00:00Z")
    assert [amount for _, _, amount, _ in sandbox_charges(context)] == [399, 399]
    assert "subscription_ending" not in _kinds(client, headers)


def test_issue_14_item_5_a_trial_without_auto_renew_ends_with_no_charge(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    headers, cameras = _carded_owner(client, clock)
    trial = subscribe(client, headers, cameras, plan="premium", trial=True)
    trial_end = APRIL_1 + timedelta(days=30)
    assert trial["trial_end"] == "2026-05-01T00:00:00Z"
    assert _auto_renew(client, headers, False).json()["ends_at"] == "2026-05-01T00:00:00Z"
    # One reminder (subscription_ending, not trial_ending), then the end: no first charge.
    assert run_due(context, trial_end) == 2
    headers = _at(client, clock, trial_end + timedelta(hours=1))
    assert client.get("/v1/subscription", headers=headers).status_code == 404
    assert sandbox_charges(context) == []
    assert client.get("/v1/invoices", headers=headers).json()["items"] == []
    kinds = _kinds(client, headers)
    assert "subscription_ending" in kinds and "trial_ending" not in kinds
    assert client.get("/v1/trial", headers=headers).json()["eligible"] is False  # T1: used


def test_issue_14_item_5_past_due_or_without_a_plan_is_refused(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    nothing = _auto_renew(client, headers, False)
    assert nothing.status_code == 404
    card_on_file(client, headers, "4000000000000341")  # declines every charge
    camera = register_camera(client, headers, "KC120")["id"]
    subscribe(client, headers, [camera], trial=True)
    run_due(context, APRIL_1 + timedelta(days=30))  # the first charge fails: past_due
    headers = _at(client, clock, APRIL_1 + timedelta(days=30, hours=1))
    refused = _auto_renew(client, headers, False)
    assert (refused.status_code, refused.json()["code"]) == (409, "subscription_past_due")
    assert client.get("/v1/subscription", headers=headers).json()["auto_renew"] is True


def test_issue_14_item_5_the_kasa_care_page_turns_it_off_and_says_when_it_ends(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    from tests.web.conftest import csrf

    headers, cameras = _carded_owner(client, clock)
    subscribe(client, headers, cameras)
    client.base_url = client.base_url.copy_with(scheme="https")
    signin = client.get("/signin")
    client.post(
        "/signin",
        data={
            "email": "owner@example.com",
            "password": "correct horse battery",
            "csrf_token": csrf(signin.text),
        },
    )
    page = client.get("/app/kasa-care")
    assert "Next invoice: <strong>$3.99</strong> on 1 May 2026" in page.text
    turned = client.post(
        "/app/kasa-care/auto-renew", data={"enabled": "0", "csrf_token": csrf(page.text)}
    )
    assert "Auto-renew is off: your plan runs to the end of this period" in turned.text
    assert "your plan ends on <strong>1 May 2026</strong>" in turned.text
    assert "Next invoice" not in turned.text
    assert "Turn auto-renew back on" in turned.text
