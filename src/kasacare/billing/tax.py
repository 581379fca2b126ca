"""Tax rules (issue 14 item 1), pure: which tax a billing address pays, and how a line's
gross amount splits into net and tax.

The gross is what is charged: every document line's `amount`, every proration and every
refund works on it (M6). A line's tax is split out of its gross once, at issue: net =
gross / (1 + rate), rounded half-even (`kit.money`), tax = gross - net, so net + tax is the
gross exactly and nothing is rounded twice; a prorated line is prorated on its gross first.

Prices: in an inclusive country (VAT, GST) the catalog price is the gross; in an exclusive
one (US and CA sales tax) it is the net, and the gross is net + net x rate (rounded once).
An EU business customer with a VAT number of another member state than the seller's pays
no VAT (reverse charge): it pays the catalog price less the VAT of its own country that the
price includes. Only the number's format is checked: no VIES lookup is made here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from kasacare.catalog.schemas import TaxTable
from kasacare.kit.money import Money, round_half_even

#: The mention a reverse-charged document carries (Art. 226(11a) of the VAT Directive).
REVERSE_CHARGE_MENTION = (
    "Reverse charge: VAT to be accounted for by the recipient, "
    "Art. 196 Council Directive 2006/112/EC"
)

#: VAT number formats (prefix + body) of the countries that take one, after normalizing
#: (upper case, no spaces, dots or hyphens). Greece's prefix is EL. Format only.
_VAT_FORMATS: dict[str, tuple[str, str]] = {
    "AT": ("AT", r"U\d{8}"),
    "BE": ("BE", r"[01]\d{9}"),
    "CY": ("CY", r"\d{8}[A-Z]"),
    "DE": ("DE", r"\d{9}"),
    "EE": ("EE", r"\d{9}"),
    "ES": ("ES", r"[A-Z0-9]\d{7}[A-Z0-9]"),
    "FI": ("FI", r"\d{8}"),
    "FR": ("FR", r"[A-HJ-NP-Z0-9]{2}\d{9}"),
    "GR": ("EL", r"\d{9}"),
    "HR": ("HR", r"\d{11}"),
    "IE": ("IE", r"\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W]"),
    "IT": ("IT", r"\d{11}"),
    "LT": ("LT", r"\d{9}|\d{12}"),
    "LU": ("LU", r"\d{8}"),
    "LV": ("LV", r"\d{11}"),
    "MT": ("MT", r"\d{8}"),
    "NL": ("NL", r"\d{9}B\d{2}"),
    "PT": ("PT", r"\d{9}"),
    "SI": ("SI", r"\d{8}"),
    "SK": ("SK", r"\d{10}"),
    "GB": ("GB", r"\d{9}|\d{12}|GD\d{3}|HA\d{3}"),
}


def normalize_vat_number(text: str) -> str:
    return re.sub(r"[\s.\-]", "", text).upper()


def vat_number_valid(number: str, country: str) -> bool:
    """Whether `number` (normalized) has the format of a VAT number of `country`."""
    form = _VAT_FORMATS.get(country)
    if form is None:
        return False
    prefix, body = form
    return number.startswith(prefix) and re.fullmatch(body, number[len(prefix) :]) is not None


def takes_vat_number(country: str) -> bool:
    return country in _VAT_FORMATS


def percent(text: str) -> Fraction:
    """A rate written as a percent string ("20", "7.25") as an exact ratio (0.0725)."""
    return Fraction(Decimal(text)) / 100


@dataclass(frozen=True, slots=True)
class TaxTreatment:
    """The tax a document's lines pay: `rate` (percent string, exact), whether catalog
    prices include it, the rate the catalog price includes (`price_includes`, percent), where
    it applies (`GB`, `DE`, `US-CA`) and whether it is a reverse charge."""

    name: str
    rate: str
    inclusive: bool
    jurisdiction: str
    price_includes: str = "0"
    reverse_charge: bool = False

    @property
    def ratio(self) -> Fraction:
        return percent(self.rate)

    @property
    def mention(self) -> str | None:
        return REVERSE_CHARGE_MENTION if self.reverse_charge else None

    def label(self) -> str:
        """`VAT 20%`, `sales tax 7.25%`, `VAT 0% (reverse charge)`."""
        text = f"{self.name} {self.rate}%"
        return f"{text} (reverse charge)" if self.reverse_charge else text

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rate": self.rate,
            "inclusive": self.inclusive,
            "jurisdiction": self.jurisdiction,
            "price_includes": self.price_includes,
            "reverse_charge": self.reverse_charge,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaxTreatment:
        return cls(
            name=str(data["name"]),
            rate=str(data["rate"]),
            inclusive=bool(data["inclusive"]),
            jurisdiction=str(data["jurisdiction"]),
            price_includes=str(data.get("price_includes", "0")),
            reverse_charge=bool(data.get("reverse_charge", False)),
        )


@dataclass(frozen=True, slots=True)
class TaxSplit:
    """A line's amounts: net + tax = gross, exactly."""

    net: Money
    tax: Money
    gross: Money


def split(gross: Money, treatment: TaxTreatment | None) -> TaxSplit:
    """The net and tax of a line's gross (see the module docstring). None: the line is
    outside the scope of tax (a credit balance paid out, goodwill credit): all net."""
    if treatment is None or treatment.ratio == 0:
        return TaxSplit(gross, Money.zero(gross.currency), gross)
    net = Money(round_half_even(gross.amount / (1 + treatment.ratio)), gross.currency)
    return TaxSplit(net, gross - net, gross)


def gross_price(price: Money, treatment: TaxTreatment) -> Money:
    """What a catalog price costs under `treatment`: itself where it includes the tax; the
    net plus the tax where tax is added (exclusive), rounded once; for a reverse charge, the
    price less the tax it includes (rounded once), with none added."""
    included = percent(treatment.price_includes)
    if included == treatment.ratio:
        return price
    net = price
    if included:
        net = Money(round_half_even(price.amount / (1 + included)), price.currency)
    return net + net.times(treatment.ratio)


def treatment_for(
    table: TaxTable,
    country: str,
    region: str | None,
    vat_number: str | None,
) -> TaxTreatment:
    """The tax of a billing address. Exclusive countries tax at the region's rate; a region
    missing from the table (or no region yet) taxes at 0 (said on the document). An EU VAT
    number of another member state than the seller's is a reverse charge (0%)."""
    row = table.countries[country]
    if not row.inclusive:
        rate = row.regions.get(region or "", row.rate or "0")
        where = f"{country}-{region}" if region and region in row.regions else country
        return TaxTreatment(row.name, rate, False, where)
    assert row.rate is not None, "an inclusive country has its rate"
    if (
        row.eu
        and vat_number is not None
        and country != table.seller_country
        and vat_number_valid(vat_number, country)
    ):
        return TaxTreatment(row.name, "0", True, country, row.rate, reverse_charge=True)
    return TaxTreatment(row.name, row.rate, True, country, row.rate)
