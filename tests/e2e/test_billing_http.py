"""End to end over HTTP with the test clock (SPEC T4, M5-M9, C1-C3, notifications):
trial -> first charge -> eleven renewals -> downgrade -> camera removed -> cancel, checking
each invoice, credit note, notification and the balance against arithmetic done here."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import httpx
import pytest

from kasacare.kit.calendar import add_months
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


class Owner:
    def __init__(self, http: httpx.Client, admin: dict[str, str]) -> None:
        self.http, self.admin = http, admin
        self.email = f"{uuid.uuid4().hex[:10]}@example.com"
        body = {"email": self.email, "password": PASSWORD, "country": "US"}
        assert http.post("/v1/accounts", json=body).status_code == 201
        self.headers: dict[str, str] = {}
        self.sign_in()

    def sign_in(self) -> None:
        body = {"email": self.email, "password": PASSWORD}
        token = self.http.post("/v1/auth/token", json=body).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> Any:
        response = self.http.get(path, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.http.request(method, path, json=body, headers=self.headers)
        assert response.status_code == expect, response.text
        return response.json()

    def now(self) -> datetime:
        return _at(self.http.get("/v1/admin/clock", headers=self.admin).json()["now"])

    def advance_to(self, moment: datetime) -> None:
        seconds = int((moment - self.now()).total_seconds())
        assert seconds > 0
        moved = self.http.post(
            "/v1/admin/clock/advance", json={"seconds": seconds}, headers=self.admin
        )
        assert moved.status_code == 200, moved.text
        self.sign_in()  # tokens last 12 h

    def kinds(self) -> list[str]:
        return sorted(n["kind"] for n in self.get("/v1/notifications")["items"])


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _unused(start: str, end: str, at: datetime) -> Fraction:
    s, e, us = _at(start), _at(end), timedelta(microseconds=1)
    return Fraction((e - at) // us, (e - s) // us)


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def test_trial_renewals_downgrade_removal_and_cancel_over_http(
    http: httpx.Client, admin: dict[str, str]
) -> None:
    owner = Owner(http, admin)
    exp_year = owner.now().year + 5
    token = http.post(
        "/v1/sandbox/tokens",
        json={"number": "4242424242424242", "exp_month": 12, "exp_year": exp_year, "cvc": "123"},
    ).json()["token"]
    owner.call("PUT", "/v1/payment-method", {"token": token})
    cameras = [
        owner.call(
            "POST",
            "/v1/cameras",
            {"model": "KC120", "serial": f"HTTP{uuid.uuid4().hex[:10].upper()}"},
            expect=201,
        )["id"]
        for _ in range(2)
    ]
    trial = owner.call(
        "POST",
        "/v1/subscription",
        {"plan": "premium", "cycle": "monthly", "camera_ids": cameras, "trial": True},
        expect=201,
    )
    trial_end = _at(trial["trial_end"])

    # T4: reminded 3 days before; the first charge at trial_end.
    owner.advance_to(trial_end - timedelta(days=3))
    assert owner.kinds() == ["trial_ending"]
    owner.advance_to(trial_end)
    live = owner.get("/v1/subscription")
    assert (live["status"], live["current_period_start"]) == ("active", trial["trial_end"])
    assert [i["total"] for i in owner.get("/v1/invoices")["items"]] == [usd(1099)]

    # Eleven renewals on the anchor's calendar (M7), each 1099.
    for k in range(1, 12):
        owner.advance_to(add_months(trial_end, k))
        invoices = owner.get("/v1/invoices")["items"]
        assert len(invoices) == k + 1
        assert invoices[0]["total"] == usd(1099)
        assert invoices[0]["lines"][0]["period_start"] == _iso(add_months(trial_end, k))
    numbers = [i["number"] for i in owner.get("/v1/invoices")["items"]]
    assert len(set(numbers)) == 12

    # Downgrade Premium -> Plus for both cameras, 10 days into the 12th period (C2).
    live = owner.get("/v1/subscription")
    owner.advance_to(_at(live["current_period_start"]) + timedelta(days=10))
    at = owner.now()
    unused = _unused(live["current_period_start"], live["current_period_end"], at)
    credit, charge = round(1099 * unused), round(798 * unused)
    changed = owner.call(
        "POST",
        "/v1/subscription/change",
        {"plan": "plus", "cycle": "monthly", "camera_ids": cameras},
    )
    assert changed["last_change"]["credit_added"] == usd(credit - charge)
    balance = credit - charge
    assert owner.get("/v1/balance")["credit"] == usd(balance)

    # Remove one Plus camera a day later (C3): credit 798 x f, charge 399 x f.
    owner.advance_to(at + timedelta(days=1))
    at = owner.now()
    unused = _unused(live["current_period_start"], live["current_period_end"], at)
    removed_credit = round(798 * unused) - round(399 * unused)
    owner.call("DELETE", f"/v1/subscription/cameras/{cameras[1]}")
    balance += removed_credit
    assert owner.get("/v1/balance")["credit"] == usd(balance)
    credit_notes = owner.get("/v1/credit-notes")["items"]
    assert [(n["kind"], n["total"]) for n in credit_notes] == [
        ("credit", usd(removed_credit)),
        ("credit", usd(credit - charge)),
    ]

    # Cancel a day later (C1, M9): the unused 399 x f plus the whole balance back to the card.
    owner.advance_to(at + timedelta(days=1))
    at = owner.now()
    unused = _unused(live["current_period_start"], live["current_period_end"], at)
    refund = round(399 * unused) + balance
    cancelled = owner.call("DELETE", "/v1/subscription")
    assert cancelled["refund_now"] == usd(refund)
    assert cancelled["balance_after"] == usd(0)
    assert owner.get("/v1/balance")["credit"] == usd(0)
    newest = owner.get("/v1/credit-notes")["items"][0]
    assert (newest["kind"], newest["total"]) == ("refund", usd(refund))
    assert owner.call("GET", "/v1/subscription", expect=404)["code"] == "not_found"
    kinds = owner.kinds()
    assert kinds.count("credit_added") == 2
    assert kinds.count("refund_issued") == 1
    assert kinds.count("subscription_ended") == 1
    assert kinds.count("history_erased") == 2  # the removed camera, then the last one
    for camera in cameras:
        entitlement = owner.get(f"/v1/cameras/{camera}")["entitlement"]
        assert entitlement["source"] in ("free", "none")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
