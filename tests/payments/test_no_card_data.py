"""M3: no full card number or CVC is ever stored or logged, on either backend.

Several owners put cards on file through the API (and some cards are refused or invalid),
cards are charged and refunded; then every row of every table of every database the
service and its sandbox gateway use is dumped and searched, and so is every captured log
record, SQL statements and their parameters included.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, text

from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from kasacare.kit.money import Money
from kasacare.payments.sandbox import SandboxGateway
from tests.factories import owner
from tests.payments.helpers import (
    AMEX,
    DECLINES_AFTER_ATTACH,
    DISCOVER,
    MAESTRO,
    MASTERCARD_DEBIT,
    VISA,
    VISA_DEBIT,
    card_body,
)

# (number, CVC) pairs. The CVCs avoid every other value a row holds (amounts, months, years).
CARDS = [
    (VISA, "737"),
    (VISA_DEBIT, "481"),
    (MASTERCARD_DEBIT, "926"),
    (AMEX, "7351"),
    (MAESTRO, "583"),
    (DECLINES_AFTER_ATTACH, "614"),
]
REFUSED = [(DISCOVER, "872"), ("4242424242424241", "357")]  # wrong brand, fails Luhn
ALL_NUMBERS = [number for number, _ in CARDS + REFUSED]
ALL_CVCS = [cvc for _, cvc in CARDS + REFUSED]


def _dump(engine: Engine) -> list[tuple[str, str, Any]]:
    """(table, column, value) for every cell of every table."""
    cells: list[tuple[str, str, Any]] = []
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            result = connection.execute(text(f'SELECT * FROM "{table}"'))
            columns = list(result.keys())
            for row in result:
                cells.extend(
                    (table, column, value) for column, value in zip(columns, row, strict=True)
                )
    return cells


_TIMING = re.compile(r"\[(?:cached since|generated in) [0-9.e+-]+s(?: ago)?\]")


def _leaks(text_value: str) -> list[str]:
    found = [number for number in ALL_NUMBERS if number in text_value]
    digits_only = re.sub(r"\D", "", text_value)
    found += [number for number in ALL_NUMBERS if number in digits_only]
    found += [
        cvc for cvc in ALL_CVCS if re.search(rf"(?<![0-9A-Za-z]){cvc}(?![0-9A-Za-z])", text_value)
    ]
    return found


def test_m3_no_card_number_or_cvc_is_stored_or_logged(
    client: TestClient,
    context: AppContext,
    gateway: SandboxGateway,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy holds its loggers at WARN: open them, for statements, parameters and rows.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    for index, (number, cvc) in enumerate(CARDS):
        _, headers = owner(client, f"owner{index}@example.com")
        spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        for typed in (number, spaced):
            response = client.post("/v1/sandbox/tokens", json=card_body(number=typed, cvc=cvc))
            assert response.status_code == 201, response.text
            token = response.json()["token"]
            response = client.put("/v1/payment-method", json={"token": token}, headers=headers)
            assert response.status_code == 200, response.text
            assert number not in response.text and cvc not in response.text
        if number != DECLINES_AFTER_ATTACH:
            charge = gateway.charge(
                token=token, amount=Money(1099, "USD"), idempotency_key=f"k{index}", now=clock.now()
            )
            gateway.refund(
                charge_id=charge.id,
                amount=Money(50, "USD"),
                idempotency_key=f"r{index}",
                now=clock.now(),
            )
    for number, cvc in REFUSED:
        response = client.post("/v1/sandbox/tokens", json=card_body(number, cvc=cvc))
        assert response.status_code == 422
        assert number not in response.text and cvc not in response.text

    engines = {context.engine.url.render_as_string(): context.engine}
    engines.setdefault(gateway.engine.url.render_as_string(), gateway.engine)
    tables_seen = set()
    for engine in engines.values():
        for table, column, value in _dump(engine):
            tables_seen.add(table)
            assert not _leaks(str(value)), f"{table}.{column} holds card data: {value!r}"
    assert {
        "payment_methods",
        "sandbox_tokens",
        "sandbox_charges",
        "sandbox_refunds",
    } <= tables_seen

    # SQLAlchemy's statement timings ("[cached since 357.9s ago]") are the clock's, not data:
    # left in, a timing that reads like a test CVC would count as a leak.
    messages = [_TIMING.sub("", record.getMessage()) for record in caplog.records]
    assert any("sandbox_tokens" in message for message in messages), "SQL was not captured"
    for message in messages:
        assert not _leaks(message), f"a log record holds card data: {message!r}"
    assert not _leaks(_TIMING.sub("", caplog.text))
