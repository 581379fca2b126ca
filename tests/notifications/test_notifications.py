"""The notification outbox (SPEC section 2, "Notifications"), listed at GET /v1/notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from kasacare.context import AppContext
from kasacare.jobs import run_due
from kasacare.kit.clock import FixedClock
from tests.factories import card_on_file, owner, register_camera, subscribe, token_for

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)


def _notes(client: TestClient, clock: FixedClock, at: datetime) -> list[dict[str, Any]]:
    clock.set(at)
    headers = token_for(client, "owner@example.com")
    items: list[dict[str, Any]] = client.get("/v1/notifications", headers=headers).json()["items"]
    return items


def _kinds(items: list[dict[str, Any]]) -> list[str]:
    return sorted(item["kind"] for item in items)


def test_trial_ending_is_sent_once_3_days_before_the_trial_ends(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    subscribe(client, headers, [register_camera(client, headers)["id"]], trial=True)
    # The trial ends 2026-05-01T00:00Z: the reminder is due 2026-04-28T00:00Z.
    assert run_due(context, datetime(2026, 4, 27, 23, 59, 59, tzinfo=UTC)) == 0
    assert run_due(context, datetime(2026, 4, 29, tzinfo=UTC)) == 1
    assert run_due(context, datetime(2026, 4, 30, tzinfo=UTC)) == 0  # sent once
    (note,) = _notes(client, clock, datetime(2026, 4, 30, tzinfo=UTC))
    assert note["kind"] == "trial_ending"
    assert note["created_at"] == "2026-04-28T00:00:00Z"  # at its own due instant
    assert note["data"]["trial_end"] == "2026-05-01T00:00:00Z"


def test_annual_renewal_is_announced_7_days_before(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    subscribe(client, headers, [register_camera(client, headers)["id"]], cycle="annual")
    run_due(context, datetime(2027, 3, 26, tzinfo=UTC))
    items = _notes(client, clock, datetime(2027, 3, 26, tzinfo=UTC))
    # The purchase's receipt (issue 14 item 3), then the reminder.
    assert _kinds(items) == ["annual_renewal", "payment_received"]
    (note,) = [n for n in items if n["kind"] == "annual_renewal"]
    assert (note["kind"], note["created_at"]) == ("annual_renewal", "2027-03-25T00:00:00Z")
    assert note["data"]["renews_at"] == "2027-04-01T00:00:00Z"


def test_card_expiring_30_days_before_while_a_subscription_uses_it(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    # Valid through 2026-05-31: expiring is announced 2026-05-02T00:00Z (30 days before June 1).
    card_on_file(client, headers, exp_month=5, exp_year=2026)
    assert run_due(context, datetime(2026, 5, 3, tzinfo=UTC)) == 0  # no subscription uses it
    subscribe(client, headers, [register_camera(client, headers)["id"]])
    run_due(context, datetime(2026, 5, 3, tzinfo=UTC))
    kinds = {n["kind"]: n for n in _notes(client, clock, datetime(2026, 5, 3, tzinfo=UTC))}
    assert kinds["card_expiring"]["data"]["last4"] == "4242"


def test_cancel_tells_of_the_refund_the_end_and_the_erased_history(
    client: TestClient, clock: FixedClock
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers)
    ids = [register_camera(client, headers, "KC120")["id"] for _ in range(2)]
    subscribe(client, headers, ids)
    clock.advance(timedelta(days=25))
    headers = token_for(client, "owner@example.com")
    client.delete(f"/v1/subscription/cameras/{ids[1]}", headers=headers)
    client.delete("/v1/subscription", headers=headers)
    items = _notes(client, clock, clock.now())
    assert _kinds(items) == [
        "credit_added",
        "history_erased",
        "history_erased",
        "payment_received",  # the purchase's receipt (issue 14 item 3)
        "refund_issued",
        "subscription_ended",
    ]
    refund = next(n for n in items if n["kind"] == "refund_issued")
    # unused 399 x 5/30 = 66.5 -> 66, plus the 67 credit from the removal: 133
    assert refund["data"]["amount"] == {"amount": 133, "currency": "USD"}
    erased = [n["data"]["cameras"][0]["camera_id"] for n in items if n["kind"] == "history_erased"]
    assert sorted(erased) == sorted(ids)


def test_m5_each_failed_charge_is_told_and_the_end_too(
    client: TestClient, clock: FixedClock, context: AppContext
) -> None:
    clock.set(APRIL_1)
    _, headers = owner(client)
    card_on_file(client, headers, "4000000000000002")
    subscribe(client, headers, [register_camera(client, headers, "KC105")["id"]], trial=True)
    run_due(context, APRIL_1 + timedelta(days=40))
    items = _notes(client, clock, APRIL_1 + timedelta(days=40))
    # trial ending, then the first charge and retries at 1, 3, 5 and 7 days all fail.
    assert _kinds(items) == [
        "history_erased",
        "payment_failed",
        "payment_failed",
        "payment_failed",
        "payment_failed",
        "payment_failed",
        "subscription_ended",
        "trial_ending",
    ]
    first = min((n for n in items if n["kind"] == "payment_failed"), key=lambda n: n["created_at"])
    assert first["data"]["next_retry_at"] == "2026-05-02T00:00:00Z"
    ended = next(n for n in items if n["kind"] == "subscription_ended")
    assert ended["data"]["reason"] == "dunning"
