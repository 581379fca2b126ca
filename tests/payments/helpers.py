"""Card numbers and API helpers for the payment tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

VISA = "4242424242424242"
VISA_DEBIT = "4000056655665556"
MASTERCARD = "5555555555554444"
MASTERCARD_DEBIT = "5200828282828210"
AMEX = "378282246310005"
DECLINES = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
DECLINES_AFTER_ATTACH = "4000000000000341"
ACCEPTED = "We accept Visa, Mastercard, Maestro and American Express."


def luhn_complete(prefix: str, length: int = 16) -> str:
    """`prefix` padded with zeros to `length - 1` digits, plus its Luhn check digit."""
    body = prefix.ljust(length - 1, "0")
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:  # doubled once the check digit is appended
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return body + str((10 - total % 10) % 10)


MAESTRO = luhn_complete("6759")
DISCOVER = luhn_complete("6011")


def card_body(
    number: str, *, exp_month: int = 12, exp_year: int = 2030, cvc: str | None = None
) -> dict[str, Any]:
    if cvc is None:
        cvc = "7351" if number.startswith(("34", "37")) else "737"
    return {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc}


def tokenize(client: TestClient, number: str, **fields: Any) -> str:
    response = client.post("/v1/sandbox/tokens", json=card_body(number, **fields))
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def put_card(client: TestClient, headers: dict[str, str], number: str, **fields: Any) -> Any:
    token = tokenize(client, number, **fields)
    return client.put("/v1/payment-method", json={"token": token}, headers=headers)
