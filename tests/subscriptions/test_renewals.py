"""Renewals and dunning as jobs of `now` (SPEC T4, M5, M7, M2)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from kasacare.context import AppContext
from kasacare.jobs import JobTimer, run_due
from kasacare.kit.clock import FixedClock
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for

JAN_31 = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def _at(client: TestClient, clock: FixedClock, moment: datetime) -> dict[str, str]:
    clock.set(moment)
    return token_for(client, "owner@example.com")


def test_t4_m7_trial_end_is_the_first_charge_then_renewals_on_the_anchor_day(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(datetime(2027, 1, 1, 9, 0, tzinfo=UTC))
    _, headers = owner(client)
    card_on_file(client, headers)
    camera = register_camera(client, headers)["id"]
    # The trial starts 2027-01-01T09:00Z and lasts 30 x 24 h: it ends 2027-01-31T09:00Z.
    trial = subscribe(client, headers, [camera], trial=True)
    assert trial["trial_end"] == "2027-01-31T09:00:00Z"
    # Before the trial's end only its reminder (3 days before) is due.
    assert run_due(context, JAN_31 - timedelta(seconds=1)) == 1
    # Trial end, then 11 renewals: Feb 28, Mar 31, Apr 30, ... (clamped to month ends, M7).
    assert run_due(context, datetime(2027, 12, 31, 9, 0, tzinfo=UTC)) == 12
    headers = _at(client, clock, datetime(2027, 12, 31, 10, tzinfo=UTC))
    invoices = client.get("/v1/invoices", headers=headers).json()["items"]
    assert len(invoices) == 12
    assert {i["total"]["amount"] for i in invoices} == {399}
    starts = sorted(i["lines"][0]["period_start"] for i in invoices)
    assert starts[:4] == [
        "2027-01-31T09:00:00Z",
        "2027-02-28T09:00:00Z",
        "2027-03-31T09:00:00Z",
        "2027-04-30T09:00:00Z",
    ]
    live = client.get("/v1/subscription", headers=headers).json()
    assert live["status"] == "active"
    assert (live["current_period_start"], live["current_period_end"]) == (
        "2027-12-31T09:00:00Z",
        "2028-01-31T09:00:00Z",
    )
    # Rerunning the same instant does nothing more: the job is idempotent.
    assert run_due(context, datetime(2027, 12, 31, 9, 0, tzinfo=UTC)) == 0


def test_m9_renewal_is_paid_from_the_balance_first(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    _, headers = owner(client)
    card_on_file(client, headers)
    ids = [register_camera(client, headers)["id"] for _ in range(2)]
    subscribe(client, headers, ids)  # 798
    headers = _at(client, clock, datetime(2026, 4, 26, tzinfo=UTC))
    client.delete(f"/v1/subscription/cameras/{ids[1]}", headers=headers)
    # credit 798 x 5/30 = 133, charge 399 x 5/30 = 66.5 -> 66: 67 on the balance
    run_due(context, datetime(2026, 5, 1, tzinfo=UTC))
    headers = _at(client, clock, datetime(2026, 5, 1, 1, tzinfo=UTC))
    renewal = client.get("/v1/invoices", headers=headers).json()["items"][0]
    assert (renewal["total"], renewal["credit_used"], renewal["charged"]) == (
        usd(399),
        usd(67),
        usd(332),
    )
    assert client.get("/v1/balance", headers=headers).json()["credit"] == usd(0)


def test_m5_failed_first_charge_goes_past_due_retries_then_ends(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    start = datetime(2026, 4, 1, tzinfo=UTC)
    clock.set(start)
    _, headers = owner(client)
    card_on_file(client, headers, "4000000000000341")  # attaches, then declines every charge
    camera = register_camera(client, headers, "KC120")["id"]
    subscribe(client, headers, [camera], plan="premium", trial=True)
    trial_end = start + timedelta(days=30)
    assert run_due(context, trial_end) == 2  # the trial_ending reminder, then the first charge
    headers = _at(client, clock, trial_end)
    live = client.get("/v1/subscription", headers=headers).json()
    assert live["status"] == "past_due"
    entitlement = client.get(f"/v1/cameras/{camera}", headers=headers).json()["entitlement"]
    assert (entitlement["source"], entitlement["history_hours"]) == ("premium", 720)
    (open_invoice,) = client.get("/v1/invoices", headers=headers).json()["items"]
    assert (open_invoice["status"], open_invoice["total"]) == ("open", usd(1099))
    # C3: while past_due, changes are refused; cancel is allowed.
    add = client.post("/v1/subscription/cameras", json={"camera_id": camera}, headers=headers)
    assert add.json()["code"] == "subscription_past_due"
    # Retries 1, 3 and 5 days after the first failure fail; the one at 7 days ends it.
    for days, ran in ((1, 1), (3, 1), (5, 1)):
        assert run_due(context, trial_end + timedelta(days=days)) == ran
        headers = _at(client, clock, trial_end + timedelta(days=days))
        assert client.get("/v1/subscription", headers=headers).json()["status"] == "past_due"
    assert run_due(context, trial_end + timedelta(days=7)) == 1
    headers = _at(client, clock, trial_end + timedelta(days=7))
    assert client.get("/v1/subscription", headers=headers).status_code == 404
    (voided,) = client.get("/v1/invoices", headers=headers).json()["items"]
    assert (voided["status"], voided["number"]) == ("void", open_invoice["number"])
    entitlement = client.get(f"/v1/cameras/{camera}", headers=headers).json()["entitlement"]
    assert (entitlement["source"], entitlement["history_hours"]) == ("free", 48)
    assert run_due(context, trial_end + timedelta(days=30)) == 0


def test_m2_replacing_the_card_pays_a_past_due_invoice_at_once(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    start = datetime(2026, 4, 1, tzinfo=UTC)
    clock.set(start)
    _, headers = owner(client)
    card_on_file(client, headers, "4000000000009995")  # insufficient funds on every charge
    camera = register_camera(client, headers)["id"]
    subscribe(client, headers, [camera], trial=True)
    run_due(context, start + timedelta(days=30))
    headers = _at(client, clock, start + timedelta(days=31, hours=2))
    assert client.get("/v1/subscription", headers=headers).json()["status"] == "past_due"
    card_on_file(client, headers, "5555555555554444")
    live = client.get("/v1/subscription", headers=headers).json()
    assert live["status"] == "active"
    # The anchor is kept: the paid period still runs May 1 -> Jun 1.
    assert (live["current_period_start"], live["current_period_end"]) == (
        "2026-05-01T00:00:00Z",
        "2026-06-01T00:00:00Z",
    )
    (paid,) = client.get("/v1/invoices", headers=headers).json()["items"]
    assert (paid["status"], paid["charged"]) == ("paid", usd(399))


def test_embedded_jobs_run_in_process_on_a_timer(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    start = datetime(2026, 4, 1, tzinfo=UTC)
    clock.set(start)
    _, headers = owner(client)
    card_on_file(client, headers)
    subscribe(client, headers, [register_camera(client, headers)["id"]], trial=True)
    headers = _at(client, clock, start + timedelta(days=30, hours=1))
    timer = JobTimer(context, interval=0.05)
    timer.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if client.get("/v1/invoices", headers=headers).json()["items"]:
                break
            time.sleep(0.05)
    finally:
        timer.stop()
    (first,) = client.get("/v1/invoices", headers=headers).json()["items"]
    assert (first["total"], first["status"]) == (usd(399), "paid")
