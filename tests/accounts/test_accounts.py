"""Accounts: sign-up, sign-in and its rate limit (SPEC section 4), me, support agents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.accounts.models import Account
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from tests.factories import PASSWORD, owner, sign_up, token_for


@pytest.mark.parametrize(
    ("country", "currency"),
    [("US", "USD"), ("GB", "GBP"), ("DE", "EUR"), ("CA", "CAD"), ("AU", "AUD")],
)
def test_sign_up_sets_currency_from_country(
    client: TestClient, country: str, currency: str
) -> None:
    account = sign_up(client, f"{country.lower()}@example.com", country=country)
    assert (account["country"], account["currency"], account["role"]) == (
        country,
        currency,
        "owner",
    )


def test_sign_up_normalises_email_and_refuses_duplicates(client: TestClient) -> None:
    account = sign_up(client, "  Mixed.Case@Example.COM ")
    assert account["email"] == "mixed.case@example.com"
    again = client.post(
        "/v1/accounts",
        json={"email": "MIXED.case@example.com", "password": PASSWORD, "country": "US"},
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["code"] == "email_taken"


def test_password_is_stored_as_argon2id(client: TestClient, context: AppContext) -> None:
    sign_up(client, "hash@example.com")
    with context.sessions() as session:
        stored = session.scalars(select(Account.password_hash)).one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "country": "US"}, "email"),
        ({"email": "a@example.com", "password": "short", "country": "US"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD}, "country"),
    ],
)
def test_bad_sign_up_is_a_clear_validation_error(
    client: TestClient, body: dict[str, str], field: str
) -> None:
    response = client.post("/v1/accounts", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert field in problem["detail"]


def test_sign_up_in_an_unsold_country_is_refused(client: TestClient) -> None:
    response = client.post(
        "/v1/accounts", json={"email": "jp@example.com", "password": PASSWORD, "country": "JP"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert "JP" in response.json()["detail"]


def test_me_shows_trial_eligibility_and_legacy_lock(client: TestClient) -> None:
    account, headers = owner(client)
    me = client.get("/v1/me", headers=headers).json()
    assert me["id"] == account["id"]
    assert (me["currency"], me["trial_eligible"], me["legacy_locked"]) == ("USD", True, False)


def test_token_expires(client: TestClient, clock: FixedClock, context: AppContext) -> None:
    _, headers = owner(client)
    clock.advance(timedelta(seconds=context.settings.access_token_ttl_seconds - 1))
    assert client.get("/v1/me", headers=headers).status_code == 200
    clock.advance(timedelta(seconds=1))
    response = client.get("/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_wrong_password_and_unknown_email_answer_the_same(client: TestClient) -> None:
    sign_up(client, "known@example.com")
    wrong = client.post("/v1/auth/token", json={"email": "known@example.com", "password": "nope"})
    unknown = client.post("/v1/auth/token", json={"email": "who@example.com", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "invalid_credentials"


def test_calls_without_a_valid_token_answer_401(client: TestClient) -> None:
    assert client.get("/v1/me").status_code == 401
    response = client.get("/v1/me", headers={"Authorization": "Bearer kc_at_forged"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_operator_creates_support_agents_who_can_sign_in(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    body = {"email": "Agent@Kasa.example", "password": PASSWORD}
    created = client.post("/v1/admin/support-agents", json=body, headers=admin_headers)
    assert created.status_code == 201
    assert (created.json()["role"], created.json()["currency"]) == ("support", None)
    headers = token_for(client, "agent@kasa.example")
    me = client.get("/v1/me", headers=headers).json()
    assert (me["role"], me["trial_eligible"]) == ("support", False)
    # An agent is not an owner: owner calls are forbidden to it.
    assert client.get("/v1/cameras", headers=headers).status_code == 403


def test_only_the_operator_creates_support_agents(client: TestClient) -> None:
    _, headers = owner(client)
    body = {"email": "agent@kasa.example", "password": PASSWORD}
    response = client.post("/v1/admin/support-agents", json=body, headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert client.post("/v1/admin/support-agents", json=body).status_code == 401
