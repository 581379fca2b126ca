"""Card rules, pure (SPEC M1, M3): number format, Luhn, expiry, CVC, brand by IIN, and the
behaviour of the published sandbox test cards. No I/O; `now` is always a parameter.

Brand by IIN: every network owns prefixes (a single prefix like `65` or a range of equally
long prefixes like `622126`-`622925`). A number belongs to the most specific prefix it
starts with: the longer prefix wins, and between prefixes of the same length a single
prefix beats a wider range. So Maestro `56`-`69` keeps only what Discover (`6011`,
`622126`-`622925`, `644`-`649`, `65`) and UnionPay (`62`) leave of it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from kasacare.catalog.schemas import CardBrand
from kasacare.kit.calendar import add_months, require_utc
from kasacare.payments.errors import BRAND_NAMES, CardBrandNotSupported, CardInvalid

MIN_DIGITS = 12
MAX_DIGITS = 19
#: An expiry further out than this is a typo, not a card.
MAX_YEARS_AHEAD = 50
_SEPARATORS = " -"


class Network(StrEnum):
    """Every card network the sandbox recognises; only some are accepted brands."""

    VISA = "visa"
    MASTERCARD = "mastercard"
    MAESTRO = "maestro"
    AMEX = "amex"
    DISCOVER = "discover"
    UNIONPAY = "unionpay"
    JCB = "jcb"
    DINERS = "diners"
    UNKNOWN = "unknown"

    @property
    def brand(self) -> CardBrand | None:
        """The brand this network is sold as, or None for networks we never accept."""
        try:
            return CardBrand(self.value)
        except ValueError:
            return None

    @property
    def display_name(self) -> str | None:
        brand = self.brand
        if brand is not None:
            return BRAND_NAMES[brand]
        return _OTHER_NAMES.get(self)


_OTHER_NAMES: Final[dict[Network, str]] = {
    Network.DISCOVER: "Discover",
    Network.UNIONPAY: "UnionPay",
    Network.JCB: "JCB",
    Network.DINERS: "Diners Club",
}


class Funding(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"


class ChargeBehaviour(StrEnum):
    """What the sandbox does when a card is charged (SPEC M3). Every valid card attaches."""

    SUCCEED = "succeed"
    DECLINE = "decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    DECLINE_AFTER_ATTACH = "decline_after_attach"

    @property
    def decline_code(self) -> str | None:
        """None when charges succeed, else the decline code every charge fails with."""
        return _DECLINE_CODES.get(self)


_DECLINE_CODES: Final[dict[ChargeBehaviour, str]] = {
    ChargeBehaviour.DECLINE: "generic_decline",
    ChargeBehaviour.INSUFFICIENT_FUNDS: "insufficient_funds",
    ChargeBehaviour.DECLINE_AFTER_ATTACH: "generic_decline",
}


@dataclass(frozen=True, slots=True)
class PublishedCard:
    funding: Funding
    behaviour: ChargeBehaviour


#: The published sandbox test numbers (SPEC M3). Any other valid number: credit, succeeds.
PUBLISHED_TEST_CARDS: Final[Mapping[str, PublishedCard]] = {
    "4242424242424242": PublishedCard(Funding.CREDIT, ChargeBehaviour.SUCCEED),
    "4000056655665556": PublishedCard(Funding.DEBIT, ChargeBehaviour.SUCCEED),
    "5555555555554444": PublishedCard(Funding.CREDIT, ChargeBehaviour.SUCCEED),
    "5200828282828210": PublishedCard(Funding.DEBIT, ChargeBehaviour.SUCCEED),
    "378282246310005": PublishedCard(Funding.CREDIT, ChargeBehaviour.SUCCEED),
    "4000000000000002": PublishedCard(Funding.CREDIT, ChargeBehaviour.DECLINE),
    "4000000000009995": PublishedCard(Funding.CREDIT, ChargeBehaviour.INSUFFICIENT_FUNDS),
    "4000000000000341": PublishedCard(Funding.CREDIT, ChargeBehaviour.DECLINE_AFTER_ATTACH),
}
_ANY_OTHER_CARD: Final = PublishedCard(Funding.CREDIT, ChargeBehaviour.SUCCEED)


@dataclass(frozen=True, slots=True)
class _Prefixes:
    low: str
    high: str
    network: Network

    def matches(self, digits: str) -> bool:
        return self.low <= digits[: len(self.low)] <= self.high

    @property
    def specificity(self) -> tuple[int, int]:
        """Longer prefixes first; at equal length, a narrower range first."""
        return len(self.low), -(int(self.high) - int(self.low))


def _prefixes(network: Network, *ranges: str) -> list[_Prefixes]:
    result = []
    for item in ranges:
        low, _, high = item.partition("-")
        result.append(_Prefixes(low, high or low, network))
    return result


#: SPEC M1, as written there.
IIN_TABLE: Final[tuple[_Prefixes, ...]] = (
    *_prefixes(Network.DISCOVER, "6011", "622126-622925", "644-649", "65"),
    *_prefixes(Network.UNIONPAY, "62", "81"),
    *_prefixes(Network.JCB, "3528-3589"),
    *_prefixes(Network.DINERS, "300-305", "36", "38", "39"),
    *_prefixes(Network.VISA, "4"),
    *_prefixes(Network.MASTERCARD, "51-55", "2221-2720"),
    *_prefixes(Network.AMEX, "34", "37"),
    *_prefixes(Network.MAESTRO, "50", "56-69"),
)


def card_digits(number: str) -> str:
    """The digits of a card number typed with optional spaces or dashes (12 to 19 digits)."""
    digits = "".join(char for char in number if char not in _SEPARATORS)
    if not (digits.isascii() and digits.isdigit()):
        raise CardInvalid("A card number has only digits (spaces and dashes are ignored)")
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise CardInvalid(f"A card number has {MIN_DIGITS} to {MAX_DIGITS} digits")
    return digits


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of digits."""
    if not digits or not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def network_of(digits: str) -> Network:
    """The network by IIN, the most specific prefix winning (see the module docstring)."""
    matching = [entry for entry in IIN_TABLE if entry.matches(digits)]
    if not matching:
        return Network.UNKNOWN
    return max(matching, key=lambda entry: entry.specificity).network


def valid_until(exp_month: int, exp_year: int) -> datetime:
    """The first instant (UTC) at which a card expiring in this month no longer works:
    a card is valid through the last instant of its expiry month."""
    return add_months(datetime(exp_year, exp_month, 1, tzinfo=UTC), 1)


def is_expired(exp_month: int, exp_year: int, now: datetime) -> bool:
    return require_utc(now) >= valid_until(exp_month, exp_year)


def check_expiry(exp_month: int, exp_year: int, now: datetime) -> None:
    """Refuse an impossible or past expiry (CardInvalid)."""
    if not 1 <= exp_month <= 12:
        raise CardInvalid("The expiry month is 1 to 12")
    if not 1000 <= exp_year <= 9999:
        raise CardInvalid("The expiry year has four digits")
    if exp_year > now.year + MAX_YEARS_AHEAD:
        raise CardInvalid("The expiry year is too far in the future")
    if is_expired(exp_month, exp_year, now):
        raise CardInvalid("The card has expired")


def check_cvc(cvc: str, network: Network) -> None:
    """A CVC is 3 digits, or 4 on American Express. It is checked, then forgotten."""
    length = 4 if network is Network.AMEX else 3
    if len(cvc) != length or not (cvc.isascii() and cvc.isdigit()):
        on = "American Express cards" if network is Network.AMEX else "this card"
        raise CardInvalid(f"The CVC has {length} digits on {on}")


@dataclass(frozen=True, slots=True)
class InspectedCard:
    """What may be kept of a card: never its number or CVC."""

    brand: CardBrand
    funding: Funding
    behaviour: ChargeBehaviour
    last4: str
    exp_month: int
    exp_year: int


def inspect_card(
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str,
    now: datetime,
    accepted: Collection[CardBrand] = tuple(CardBrand),
) -> InspectedCard:
    """Check a card as typed and describe it, in this order: number format and Luhn
    (CardInvalid), brand (CardBrandNotSupported unless in `accepted`), expiry, CVC
    (CardInvalid)."""
    digits = card_digits(number)
    if not luhn_valid(digits):
        raise CardInvalid("The card number is not valid")
    network = network_of(digits)
    brand = network.brand
    if brand is None or brand not in accepted:
        raise CardBrandNotSupported.refusing(network.display_name, accepted)
    check_expiry(exp_month, exp_year, now)
    check_cvc(cvc, network)
    published = PUBLISHED_TEST_CARDS.get(digits, _ANY_OTHER_CARD)
    return InspectedCard(
        brand=brand,
        funding=published.funding,
        behaviour=published.behaviour,
        last4=digits[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
    )
