"""Card rules, pure (SPEC M1, M3): Luhn, brand by IIN, expiry, CVC, the published test cards."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest

from kasacare.catalog.schemas import CardBrand
from kasacare.payments.cards import (
    PUBLISHED_TEST_CARDS,
    ChargeBehaviour,
    Funding,
    InspectedCard,
    Network,
    card_digits,
    check_expiry,
    inspect_card,
    is_expired,
    luhn_valid,
    network_of,
    valid_until,
)
from kasacare.payments.errors import CardBrandNotSupported, CardInvalid, accepted_brands_text
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
    luhn_complete,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _inspect(
    number: str,
    *,
    exp_month: int = 12,
    exp_year: int = 2030,
    cvc: str | None = None,
    accepted: Collection[CardBrand] = tuple(CardBrand),
) -> InspectedCard:
    if cvc is None:
        cvc = "7351" if number.startswith(("34", "37")) else "737"
    return inspect_card(number, exp_month, exp_year, cvc, NOW, accepted)


# Luhn and number format


@pytest.mark.parametrize(
    "number",
    [VISA, VISA_DEBIT, MASTERCARD, MASTERCARD_DEBIT, AMEX, DECLINES, INSUFFICIENT_FUNDS,
     DECLINES_AFTER_ATTACH, "4111111111111111", "6011111111111117", "79927398713"],
)  # fmt: skip
def test_m1_luhn_accepts_valid_numbers(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize(
    "number", ["4242424242424241", "4242424242424243", "79927398710", "378282246310006", "", "42a2"]
)
def test_m1_luhn_refuses_invalid_numbers(number: str) -> None:
    assert not luhn_valid(number)


def test_m1_luhn_catches_every_single_digit_change() -> None:
    for position in range(len(VISA)):
        for digit in "0123456789":
            changed = VISA[:position] + digit + VISA[position + 1 :]
            assert luhn_valid(changed) == (changed == VISA)


def test_m1_luhn_test_helper_completes_valid_numbers() -> None:
    for prefix in ("4", "6011", "622126", "3528", "50", "2720"):
        for length in (12, 15, 16, 19):
            number = luhn_complete(prefix, length)
            assert len(number) == length and luhn_valid(number)


def test_m1_card_digits_ignore_spaces_and_dashes() -> None:
    assert card_digits("4242 4242-4242 4242") == VISA


@pytest.mark.parametrize(
    ("number", "detail"),
    [
        ("4242 4242 4242 424x", "A card number has only digits (spaces and dashes are ignored)"),
        (
            "".join(chr(0xFF10 + int(d)) for d in VISA),  # full-width digits
            "A card number has only digits (spaces and dashes are ignored)",
        ),
        ("42424242424", "A card number has 12 to 19 digits"),
        ("42424242424242424242", "A card number has 12 to 19 digits"),
        ("", "A card number has only digits (spaces and dashes are ignored)"),
    ],
)
def test_m1_malformed_number_is_card_invalid(number: str, detail: str) -> None:
    with pytest.raises(CardInvalid) as raised:
        card_digits(number)
    assert raised.value.detail == detail
    assert (raised.value.code, raised.value.status) == ("card_invalid", 422)


def test_m1_luhn_failure_is_card_invalid() -> None:
    with pytest.raises(CardInvalid, match=r"^The card number is not valid$"):
        _inspect("4242424242424241")


# Brand by IIN: every range boundary


@pytest.mark.parametrize(
    ("prefix", "network"),
    [
        # Discover 6011, 622126-622925, 644-649, 65
        ("6010", Network.MAESTRO), ("6011", Network.DISCOVER), ("6012", Network.MAESTRO),
        ("622125", Network.UNIONPAY), ("622126", Network.DISCOVER),
        ("622925", Network.DISCOVER), ("622926", Network.UNIONPAY),
        ("643", Network.MAESTRO), ("644", Network.DISCOVER), ("649", Network.DISCOVER),
        ("65", Network.DISCOVER), ("6599", Network.DISCOVER),
        # UnionPay 62, 81
        ("62", Network.UNIONPAY), ("6299", Network.UNIONPAY),
        ("80", Network.UNKNOWN), ("81", Network.UNIONPAY), ("82", Network.UNKNOWN),
        # JCB 3528-3589
        ("3527", Network.UNKNOWN), ("3528", Network.JCB), ("3589", Network.JCB),
        ("3590", Network.UNKNOWN),
        # Diners 300-305, 36, 38, 39
        ("299", Network.UNKNOWN), ("300", Network.DINERS), ("305", Network.DINERS),
        ("306", Network.UNKNOWN), ("35", Network.UNKNOWN), ("36", Network.DINERS),
        ("38", Network.DINERS), ("39", Network.DINERS),
        # Visa 4
        ("3999", Network.DINERS), ("4", Network.VISA), ("4999", Network.VISA),
        # Mastercard 51-55, 2221-2720
        ("50", Network.MAESTRO), ("51", Network.MASTERCARD), ("55", Network.MASTERCARD),
        ("56", Network.MAESTRO), ("2220", Network.UNKNOWN), ("2221", Network.MASTERCARD),
        ("2720", Network.MASTERCARD), ("2721", Network.UNKNOWN),
        # American Express 34, 37
        ("33", Network.UNKNOWN), ("34", Network.AMEX), ("37", Network.AMEX),
        # Maestro 50, 56-69, what is left of them
        ("49", Network.VISA), ("57", Network.MAESTRO), ("60", Network.MAESTRO),
        ("61", Network.MAESTRO), ("63", Network.MAESTRO), ("640", Network.MAESTRO),
        ("66", Network.MAESTRO), ("67", Network.MAESTRO), ("69", Network.MAESTRO),
        ("70", Network.UNKNOWN),
        # Nobody's
        ("0", Network.UNKNOWN), ("1", Network.UNKNOWN), ("9", Network.UNKNOWN),
    ],
)  # fmt: skip
def test_m1_brand_by_iin_range_boundaries(prefix: str, network: Network) -> None:
    assert network_of(prefix.ljust(16, "0")) is network
    assert network_of(prefix.ljust(16, "9")) is network


@pytest.mark.parametrize(
    ("prefix", "specific", "general"),
    [
        ("6011", Network.DISCOVER, "Maestro 60"),
        ("622126", Network.DISCOVER, "UnionPay 62 and Maestro 62"),
        ("622500", Network.DISCOVER, "UnionPay 62 and Maestro 62"),
        ("645", Network.DISCOVER, "Maestro 64"),
        ("65", Network.DISCOVER, "Maestro 56-69 (same length, a single prefix beats a range)"),
        ("62", Network.UNIONPAY, "Maestro 56-69 (same length, a single prefix beats a range)"),
    ],
)
def test_m1_more_specific_prefix_wins(prefix: str, specific: Network, general: str) -> None:
    assert network_of(prefix.ljust(16, "0")) is specific, f"{prefix} should beat {general}"


@pytest.mark.parametrize(
    ("prefix", "name"),
    [
        ("6011", "Discover"),
        ("622126", "Discover"),
        ("644", "Discover"),
        ("65", "Discover"),
        ("62", "UnionPay"),
        ("81", "UnionPay"),
        ("3528", "JCB"),
        ("300", "Diners Club"),
        ("36", "Diners Club"),
        ("38", "Diners Club"),
        ("39", "Diners Club"),
    ],
)
def test_m1_other_brands_are_refused_naming_the_accepted_ones(prefix: str, name: str) -> None:
    with pytest.raises(CardBrandNotSupported) as raised:
        _inspect(luhn_complete(prefix))
    error = raised.value
    assert (error.code, error.status) == ("card_brand_not_supported", 422)
    assert error.detail == f"{name} cards are not accepted. {ACCEPTED}"
    assert error.extra == {"accepted_brands": ["visa", "mastercard", "maestro", "amex"]}


@pytest.mark.parametrize("prefix", ["1", "70", "9", "2220", "3590"])
def test_m1_unknown_brands_are_refused(prefix: str) -> None:
    with pytest.raises(CardBrandNotSupported) as raised:
        _inspect(luhn_complete(prefix))
    assert raised.value.detail == f"This card brand is not accepted. {ACCEPTED}"


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        (luhn_complete("4"), CardBrand.VISA),
        (luhn_complete("4", 13), CardBrand.VISA),
        (luhn_complete("51"), CardBrand.MASTERCARD),
        (luhn_complete("2221"), CardBrand.MASTERCARD),
        (luhn_complete("50", 19), CardBrand.MAESTRO),
        (luhn_complete("6304", 12), CardBrand.MAESTRO),
        (luhn_complete("34", 15), CardBrand.AMEX),
    ],
)
def test_m1_accepted_brands(number: str, brand: CardBrand) -> None:
    card = _inspect(number)
    assert card.brand is brand


def test_m1_brand_outside_the_accepted_list_is_refused() -> None:
    with pytest.raises(CardBrandNotSupported) as raised:
        _inspect(MAESTRO, accepted=(CardBrand.AMEX, CardBrand.VISA, CardBrand.MASTERCARD))
    assert raised.value.detail == (
        "Maestro cards are not accepted. We accept Visa, Mastercard and American Express."
    )


def test_m1_accepted_brands_text() -> None:
    assert accepted_brands_text(list(CardBrand)) == "Visa, Mastercard, Maestro and American Express"
    assert accepted_brands_text([CardBrand.VISA, CardBrand.AMEX]) == "Visa and American Express"
    assert accepted_brands_text([CardBrand.VISA]) == "Visa"


def test_m1_luhn_is_checked_before_the_brand() -> None:
    with pytest.raises(CardInvalid):
        _inspect(DISCOVER[:-1] + str((int(DISCOVER[-1]) + 1) % 10))


# Expiry: valid through the last instant of the expiry month, UTC


def test_m1_card_is_valid_through_the_last_instant_of_its_month() -> None:
    end = valid_until(3, 2026)
    assert end == datetime(2026, 4, 1, tzinfo=UTC)
    assert not is_expired(3, 2026, end - timedelta(microseconds=1))
    assert is_expired(3, 2026, end)


def test_m1_december_expiry_rolls_into_january() -> None:
    assert valid_until(12, 2026) == datetime(2027, 1, 1, tzinfo=UTC)
    assert not is_expired(12, 2026, datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert is_expired(12, 2026, datetime(2027, 1, 1, tzinfo=UTC))


def test_m1_expiry_this_month_is_still_valid() -> None:
    check_expiry(3, 2026, NOW)  # NOW is 2026-03-01: valid through March


@pytest.mark.parametrize(
    ("exp_month", "exp_year", "detail"),
    [
        (2, 2026, "The card has expired"),
        (12, 2025, "The card has expired"),
        (0, 2030, "The expiry month is 1 to 12"),
        (13, 2030, "The expiry month is 1 to 12"),
        (12, 30, "The expiry year has four digits"),
        (12, 10000, "The expiry year has four digits"),
        (12, 2077, "The expiry year is too far in the future"),
    ],
)
def test_m1_bad_expiry_is_card_invalid(exp_month: int, exp_year: int, detail: str) -> None:
    with pytest.raises(CardInvalid) as raised:
        _inspect(VISA, exp_month=exp_month, exp_year=exp_year)
    assert raised.value.detail == detail


def test_m1_expiry_needs_an_aware_utc_now() -> None:
    with pytest.raises(ValueError, match="UTC"):
        is_expired(3, 2026, datetime(2026, 3, 1))  # noqa: DTZ001


# CVC: 3 digits, 4 on American Express


@pytest.mark.parametrize(
    ("number", "cvc", "detail"),
    [
        (VISA, "73", "The CVC has 3 digits on this card"),
        (VISA, "7351", "The CVC has 3 digits on this card"),
        (VISA, "7a7", "The CVC has 3 digits on this card"),
        (MASTERCARD, "", "The CVC has 3 digits on this card"),
        (AMEX, "737", "The CVC has 4 digits on American Express cards"),
        (AMEX, "73511", "The CVC has 4 digits on American Express cards"),
    ],
)
def test_m1_bad_cvc_is_card_invalid(number: str, cvc: str, detail: str) -> None:
    with pytest.raises(CardInvalid) as raised:
        _inspect(number, cvc=cvc)
    assert raised.value.detail == detail


# The published test cards (M3)


@pytest.mark.parametrize(
    ("number", "brand", "funding", "behaviour", "decline_code"),
    [
        (VISA, CardBrand.VISA, Funding.CREDIT, ChargeBehaviour.SUCCEED, None),
        (VISA_DEBIT, CardBrand.VISA, Funding.DEBIT, ChargeBehaviour.SUCCEED, None),
        (MASTERCARD, CardBrand.MASTERCARD, Funding.CREDIT, ChargeBehaviour.SUCCEED, None),
        (MASTERCARD_DEBIT, CardBrand.MASTERCARD, Funding.DEBIT, ChargeBehaviour.SUCCEED, None),
        (AMEX, CardBrand.AMEX, Funding.CREDIT, ChargeBehaviour.SUCCEED, None),
        (DECLINES, CardBrand.VISA, Funding.CREDIT, ChargeBehaviour.DECLINE, "generic_decline"),
        (INSUFFICIENT_FUNDS, CardBrand.VISA, Funding.CREDIT, ChargeBehaviour.INSUFFICIENT_FUNDS,
         "insufficient_funds"),
        (DECLINES_AFTER_ATTACH, CardBrand.VISA, Funding.CREDIT,
         ChargeBehaviour.DECLINE_AFTER_ATTACH, "generic_decline"),
    ],
)  # fmt: skip
def test_m3_published_test_cards(
    number: str,
    brand: CardBrand,
    funding: Funding,
    behaviour: ChargeBehaviour,
    decline_code: str | None,
) -> None:
    card = inspect_card(number, 12, 2030, "7351" if brand is CardBrand.AMEX else "737", NOW)
    assert (card.brand, card.funding, card.behaviour) == (brand, funding, behaviour)
    assert card.behaviour.decline_code == decline_code
    assert (card.last4, card.exp_month, card.exp_year) == (number[-4:], 12, 2030)


def test_m3_the_published_list_is_exactly_the_specs() -> None:
    assert set(PUBLISHED_TEST_CARDS) == {
        VISA, VISA_DEBIT, MASTERCARD, MASTERCARD_DEBIT, AMEX, DECLINES, INSUFFICIENT_FUNDS,
        DECLINES_AFTER_ATTACH,
    }  # fmt: skip


@pytest.mark.parametrize("number", ["4111111111111111", "4111 1111 1111 1111", MAESTRO])
def test_m3_any_other_valid_number_is_credit_and_succeeds(number: str) -> None:
    card = inspect_card(number, 12, 2030, "737", NOW)
    assert (card.funding, card.behaviour) == (Funding.CREDIT, ChargeBehaviour.SUCCEED)
    assert card.last4 == number[-4:]


def test_m3_inspected_card_keeps_no_number_or_cvc() -> None:
    card = inspect_card(VISA, 12, 2030, "737", NOW)
    assert {field.name for field in fields(card)} == {
        "brand", "funding", "behaviour", "last4", "exp_month", "exp_year",
    }  # fmt: skip
    assert VISA not in repr(card) and "737" not in repr(card)
