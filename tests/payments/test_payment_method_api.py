"""The sandbox tokenizer and the card on file, through the API (SPEC M1-M3)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kasacare.app import create_app
from kasacare.catalog.schemas import CardBrand, Catalog
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from kasacare.payments.models import PaymentMethod
from kasacare.payments.sandbox import SandboxGateway
from tests.factories import owner, token_for
from tests.payments.helpers import (
    ACCEPTED,
    AMEX,
    DECLINES,
    DECLINES_AFTER_ATTACH,
    DISCOVER,
    INSUFFICIENT_FUNDS,
    MAESTRO,
    MASTERCARD,
    MASTERCARD_DEBIT,
    VISA,
    VISA_DEBIT,
    card_body,
    luhn_complete,
    put_card,
    tokenize,
)


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


# POST /v1/sandbox/tokens


def test_m1_tokenizer_needs_no_sign_in(client: TestClient) -> None:
    response = client.post("/v1/sandbox/tokens", json=card_body(VISA))
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"token"}
    assert response.json()["token"].startswith("tok_")


@pytest.mark.parametrize(
    ("number", "name"),
    [
        (DISCOVER, "Discover"),
        (luhn_complete("622126"), "Discover"),
        (luhn_complete("65"), "Discover"),
        (luhn_complete("62"), "UnionPay"),
        (luhn_complete("81"), "UnionPay"),
        (luhn_complete("3528"), "JCB"),
        (luhn_complete("36", 14), "Diners Club"),
    ],
)
def test_m1_tokenizer_refuses_other_brands(client: TestClient, number: str, name: str) -> None:
    problem = _problem(
        client.post("/v1/sandbox/tokens", json=card_body(number)), 422, "card_brand_not_supported"
    )
    assert problem["detail"] == f"{name} cards are not accepted. {ACCEPTED}"
    assert problem["accepted_brands"] == ["visa", "mastercard", "maestro", "amex"]


def test_m1_tokenizer_refuses_unknown_brands(client: TestClient) -> None:
    problem = _problem(
        client.post("/v1/sandbox/tokens", json=card_body(luhn_complete("9"))),
        422,
        "card_brand_not_supported",
    )
    assert problem["detail"] == f"This card brand is not accepted. {ACCEPTED}"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (card_body("4242424242424241"), "The card number is not valid"),
        (card_body("4242-4242-424"), "A card number has 12 to 19 digits"),
        (card_body("4242 4242 4242 424O"),
         "A card number has only digits (spaces and dashes are ignored)"),
        (card_body(VISA, exp_month=2, exp_year=2026), "The card has expired"),
        (card_body(VISA, exp_month=13), "The expiry month is 1 to 12"),
        (card_body(VISA, exp_year=30), "The expiry year has four digits"),
        (card_body(VISA, cvc="12"), "The CVC has 3 digits on this card"),
        (card_body(VISA, cvc="1234"), "The CVC has 3 digits on this card"),
        (card_body(AMEX, cvc="123"), "The CVC has 4 digits on American Express cards"),
    ],
)  # fmt: skip
def test_m1_tokenizer_refuses_invalid_cards(
    client: TestClient, body: dict[str, Any], detail: str
) -> None:
    problem = _problem(client.post("/v1/sandbox/tokens", json=body), 422, "card_invalid")
    assert problem["detail"] == detail


def test_m1_card_valid_through_its_expiry_month(client: TestClient, clock: FixedClock) -> None:
    clock.set(datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC))
    assert client.post("/v1/sandbox/tokens", json=card_body(VISA, exp_month=3, exp_year=2026))
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    response = client.post("/v1/sandbox/tokens", json=card_body(VISA, exp_month=3, exp_year=2026))
    assert _problem(response, 422, "card_invalid")["detail"] == "The card has expired"


def test_m1_malformed_token_request_is_a_validation_error(client: TestClient) -> None:
    response = client.post("/v1/sandbox/tokens", json={"number": VISA, "exp_month": "soon"})
    problem = _problem(response, 422, "validation_error")
    assert VISA not in response.text
    assert problem["detail"].startswith("exp_month")


# PUT and GET /v1/payment-method


@pytest.mark.parametrize(
    ("number", "brand", "funding"),
    [
        (VISA, "visa", "credit"),
        (VISA_DEBIT, "visa", "debit"),
        (MASTERCARD, "mastercard", "credit"),
        (MASTERCARD_DEBIT, "mastercard", "debit"),
        (AMEX, "amex", "credit"),
        (DECLINES, "visa", "credit"),
        (INSUFFICIENT_FUNDS, "visa", "credit"),
        (DECLINES_AFTER_ATTACH, "visa", "credit"),
        (MAESTRO, "maestro", "credit"),
    ],
)
def test_m3_every_valid_test_card_attaches(
    client: TestClient, number: str, brand: str, funding: str
) -> None:
    _, headers = owner(client)
    response = put_card(client, headers, number, exp_month=7, exp_year=2031)
    assert response.status_code == 200, response.text
    expected = {
        "brand": brand,
        "funding": funding,
        "last4": number[-4:],
        "exp_month": 7,
        "exp_year": 2031,
    }
    assert response.json() == expected
    assert client.get("/v1/payment-method", headers=headers).json() == expected


def test_m2_no_card_on_file_is_404(client: TestClient) -> None:
    _, headers = owner(client)
    problem = _problem(client.get("/v1/payment-method", headers=headers), 404, "not_found")
    assert problem["detail"] == "No card on file"


def test_m2_card_is_replaced_never_added(
    client: TestClient, context: AppContext, clock: FixedClock
) -> None:
    account, headers = owner(client)
    assert put_card(client, headers, VISA).status_code == 200
    clock.set(datetime(2026, 3, 5, tzinfo=UTC))
    headers = token_for(client, account["email"])  # the first sign-in has expired
    token = tokenize(client, MASTERCARD_DEBIT, exp_month=1, exp_year=2028)
    response = client.put("/v1/payment-method", json={"token": token}, headers=headers)
    assert response.status_code == 200, response.text
    assert client.get("/v1/payment-method", headers=headers).json() == {
        "brand": "mastercard",
        "funding": "debit",
        "last4": "8210",
        "exp_month": 1,
        "exp_year": 2028,
    }
    with context.sessions() as session:
        rows = session.scalars(select(PaymentMethod)).all()
    assert len(rows) == 1
    (row,) = rows
    assert (str(row.account_id), row.gateway_token) == (account["id"], token)
    assert (row.created_at, row.updated_at) == (
        datetime(2026, 3, 1, 12, tzinfo=UTC),
        datetime(2026, 3, 5, tzinfo=UTC),
    )


def test_m2_one_card_per_account(client: TestClient, context: AppContext) -> None:
    _, alice = owner(client, "alice@example.com")
    _, bob = owner(client, "bob@example.com")
    assert put_card(client, alice, VISA).status_code == 200
    _problem(client.get("/v1/payment-method", headers=bob), 404, "not_found")
    assert put_card(client, bob, AMEX).status_code == 200
    assert client.get("/v1/payment-method", headers=alice).json()["brand"] == "visa"
    assert client.get("/v1/payment-method", headers=bob).json()["brand"] == "amex"
    with context.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PaymentMethod)) == 2


def test_m3_unknown_token_is_card_invalid(client: TestClient) -> None:
    _, headers = owner(client)
    response = client.put("/v1/payment-method", json={"token": "tok_unknown"}, headers=headers)
    assert _problem(response, 422, "card_invalid")["detail"] == "Unknown card token"
    _problem(client.get("/v1/payment-method", headers=headers), 404, "not_found")


def test_m1_card_expired_since_tokenized_is_refused_at_attach(
    client: TestClient, clock: FixedClock
) -> None:
    token = tokenize(client, VISA, exp_month=3, exp_year=2026)
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    _, headers = owner(client)
    response = client.put("/v1/payment-method", json={"token": token}, headers=headers)
    assert _problem(response, 422, "card_invalid")["detail"] == "The card has expired"


@pytest.mark.parametrize("token", ["tok_\x00", "tok unknown", "", "t" * 65])
def test_m3_malformed_token_is_a_validation_error(client: TestClient, token: str) -> None:
    _, headers = owner(client)
    response = client.put("/v1/payment-method", json={"token": token}, headers=headers)
    assert _problem(response, 422, "validation_error")["detail"].startswith("token")


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_payment_method_needs_a_bearer_token(client: TestClient, method: str) -> None:
    response = client.request(method, "/v1/payment-method", json={"token": "tok_x"})
    _problem(response, 401, "unauthorized")


@pytest.fixture
def no_maestro(context: AppContext, catalog: Catalog) -> Iterator[TestClient]:
    """The app with a catalog that accepts every brand but Maestro."""
    narrow = catalog.model_copy(
        update={"card_brands": (CardBrand.VISA, CardBrand.MASTERCARD, CardBrand.AMEX)}
    )
    app = create_app(dataclasses.replace(context, catalog=narrow))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


NO_MAESTRO = "Maestro cards are not accepted. We accept Visa, Mastercard and American Express."


def test_m1_catalog_brands_are_enforced_at_tokenize(no_maestro: TestClient) -> None:
    response = no_maestro.post("/v1/sandbox/tokens", json=card_body(MAESTRO))
    problem = _problem(response, 422, "card_brand_not_supported")
    assert problem["detail"] == NO_MAESTRO
    assert problem["accepted_brands"] == ["visa", "mastercard", "amex"]


def test_m1_catalog_brands_are_enforced_at_attach(
    no_maestro: TestClient, gateway: SandboxGateway, clock: FixedClock
) -> None:
    _, headers = owner(no_maestro)
    # A token made before the catalog dropped Maestro (straight from the gateway).
    token = gateway.tokenize(
        number=MAESTRO, exp_month=12, exp_year=2030, cvc="737", now=clock.now()
    )
    response = no_maestro.put("/v1/payment-method", json={"token": token}, headers=headers)
    assert _problem(response, 422, "card_brand_not_supported")["detail"] == NO_MAESTRO
    _problem(no_maestro.get("/v1/payment-method", headers=headers), 404, "not_found")


def test_payment_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/v1/sandbox/tokens"]) == {"post"}
    assert set(paths["/v1/payment-method"]) == {"get", "put"}
    assert {"401", "404"} <= set(paths["/v1/payment-method"]["get"]["responses"])
