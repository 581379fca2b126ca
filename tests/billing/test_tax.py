"""Tax rules, pure (issue 14 item 1; M6 rounding): the split of a line's gross into net and
tax, prices under each country's tax, the reverse charge and the VAT number formats, against
the fixed test catalog's tax table."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kasacare.billing.rules import LineDraft, parted, tax_total, total
from kasacare.billing.tax import (
    REVERSE_CHARGE_MENTION,
    TaxTreatment,
    gross_price,
    normalize_vat_number,
    split,
    treatment_for,
    vat_number_valid,
)
from kasacare.catalog.loader import CatalogError, load_catalog, parse_catalog
from kasacare.kit.money import Money
from kasacare.subscriptions.rules import SeatState, change_lines

CATALOG = load_catalog(Path(__file__).parents[1] / "catalog.toml")
TABLE = CATALOG.tax
APRIL_1, APRIL_11, MAY_1 = (
    datetime(2026, 4, 1, tzinfo=UTC),
    datetime(2026, 4, 11, tzinfo=UTC),
    datetime(2026, 5, 1, tzinfo=UTC),
)


def amounts(parts: object) -> tuple[int, int, int]:
    net, tax, gross = (getattr(parts, name).amount for name in ("net", "tax", "gross"))
    return net, tax, gross


def test_issue14_gb_vat_is_included_in_the_price() -> None:
    gb = treatment_for(TABLE, "GB", None, None)
    assert (gb.name, gb.rate, gb.inclusive) == ("VAT", "20", True)
    price = gross_price(Money(349, "GBP"), gb)  # Plus monthly, £3.49: VAT included
    # 349 / 1.20 = 290.83 -> net 291; VAT 349 - 291 = 58
    assert amounts(split(price, gb)) == (291, 58, 349)


def test_issue14_de_vat_is_included_in_the_price() -> None:
    de = treatment_for(TABLE, "DE", None, None)
    assert (de.rate, de.inclusive, de.reverse_charge) == ("19", True, False)
    # 399 / 1.19 = 335.29 -> net 335; VAT 399 - 335 = 64
    assert amounts(split(gross_price(Money(399, "EUR"), de), de)) == (335, 64, 399)


def test_issue14_au_gst_is_included_in_the_price() -> None:
    au = treatment_for(TABLE, "AU", None, None)
    assert (au.name, au.rate) == ("GST", "10")
    # 549 / 1.10 = 499.09 -> net 499; GST 549 - 499 = 50
    assert amounts(split(gross_price(Money(549, "AUD"), au), au)) == (499, 50, 549)


def test_issue14_us_ca_sales_tax_is_added_to_the_price() -> None:
    us_ca = treatment_for(TABLE, "US", "CA", None)
    assert (us_ca.name, us_ca.rate, us_ca.inclusive, us_ca.jurisdiction) == (
        "sales tax",
        "7.25",
        False,
        "US-CA",
    )
    price = gross_price(Money(399, "USD"), us_ca)
    # 399 x 0.0725 = 28.93 -> tax 29; gross 399 + 29 = 428; split back: 428 / 1.0725 =
    # 399.07 -> net 399, tax 29: the catalog price is the net
    assert price == Money(428, "USD")
    assert amounts(split(price, us_ca)) == (399, 29, 428)


def test_issue14_ca_on_hst_is_added_to_the_price() -> None:
    ca_on = treatment_for(TABLE, "CA", "ON", None)
    assert (ca_on.rate, ca_on.inclusive, ca_on.jurisdiction) == ("13", False, "CA-ON")
    price = gross_price(Money(499, "CAD"), ca_on)
    # 499 x 0.13 = 64.87 -> tax 65; gross 564; 564 / 1.13 = 499.12 -> net 499
    assert price == Money(564, "CAD")
    assert amounts(split(price, ca_on)) == (499, 65, 564)


def test_issue14_an_exclusive_country_without_a_region_adds_nothing() -> None:
    us = treatment_for(TABLE, "US", None, None)
    assert (us.rate, us.jurisdiction) == ("0", "US")
    assert gross_price(Money(399, "USD"), us) == Money(399, "USD")
    assert amounts(split(Money(399, "USD"), us)) == (399, 0, 399)


def test_issue14_reverse_charge_for_a_vat_number_of_another_member_state() -> None:
    # The seller is established in IE (test catalog); a DE business gives its VAT number.
    de_b2b = treatment_for(TABLE, "DE", None, "DE123456789")
    assert (de_b2b.rate, de_b2b.reverse_charge, de_b2b.price_includes) == ("0", True, "19")
    assert de_b2b.mention == REVERSE_CHARGE_MENTION
    assert "Art. 196 Council Directive 2006/112/EC" in REVERSE_CHARGE_MENTION
    # The business pays the price without the German VAT it includes: 399 / 1.19 = 335.29
    # -> 335, and no VAT on top: net 335, VAT 0, gross 335.
    price = gross_price(Money(399, "EUR"), de_b2b)
    assert price == Money(335, "EUR")
    assert amounts(split(price, de_b2b)) == (335, 0, 335)


def test_issue14_no_reverse_charge_in_the_sellers_own_member_state() -> None:
    ie_b2b = treatment_for(TABLE, "IE", None, "IE1234567T")
    assert (ie_b2b.rate, ie_b2b.reverse_charge) == ("23", False)
    # 399 / 1.23 = 324.39 -> net 324; VAT 75
    assert amounts(split(gross_price(Money(399, "EUR"), ie_b2b), ie_b2b)) == (324, 75, 399)


def test_issue14_no_reverse_charge_outside_the_eu_or_for_a_malformed_number() -> None:
    assert not treatment_for(TABLE, "GB", None, "GB123456789").reverse_charge
    assert not treatment_for(TABLE, "DE", None, "DE12345").reverse_charge
    assert not treatment_for(TABLE, "FR", None, "DE123456789").reverse_charge


@pytest.mark.parametrize(
    ("text", "country", "valid"),
    [
        ("DE 123 456 789", "DE", True),
        ("de-123.456.789", "DE", True),
        ("DE12345678", "DE", False),
        ("FR12345678901", "FR", True),
        ("FRIO345678901", "FR", False),  # no I or O in the key
        ("ATU12345678", "AT", True),
        ("AT12345678", "AT", False),
        ("EL123456789", "GR", True),  # Greece's prefix is EL
        ("GR123456789", "GR", False),
        ("NL123456789B01", "NL", True),
        ("IE1234567T", "IE", True),
        ("IE1234567TW", "IE", True),
        ("GB123456789", "GB", True),
        ("123456789", "DE", False),
        ("DE123456789", "US", False),
    ],
)
def test_issue14_vat_number_formats(text: str, country: str, valid: bool) -> None:
    assert vat_number_valid(normalize_vat_number(text), country) is valid


def test_m6_issue14_the_net_is_rounded_half_even() -> None:
    gb = TaxTreatment("VAT", "20", True, "GB", "20")
    # 3 / 1.2 = 2.5 -> 2 (even): VAT 1;  9 / 1.2 = 7.5 -> 8 (even): VAT 1
    assert amounts(split(Money(3, "GBP"), gb)) == (2, 1, 3)
    assert amounts(split(Money(9, "GBP"), gb)) == (8, 1, 9)
    # A credit line splits as its charge, negated: -9 -> net -8, VAT -1
    assert amounts(split(Money(-9, "GBP"), gb)) == (-8, -1, -9)


def test_m6_issue14_a_line_in_two_keeps_its_tax_exactly() -> None:
    gb = TaxTreatment("VAT", "20", True, "GB", "20")
    whole = LineDraft("Unused time", Money(100, "GBP"), APRIL_11, MAY_1, gb)
    # whole: 100 / 1.2 = 83.33 -> net 83, VAT 17
    part, rest = parted(whole, Money(50, "GBP"), "Unused time refunded")
    # part: 50 / 1.2 = 41.67 -> net 42, VAT 8; rest: net 83 - 42 = 41, VAT 50 - 41 = 9
    # (split on its own the rest would be net 42, VAT 8: 16 in all, not the line's 17)
    assert amounts(part.split) == (42, 8, 50)
    assert amounts(rest.split) == (41, 9, 50)
    assert tax_total([part, rest], "GBP") == whole.split.tax


def test_c2_m6_issue14_prorated_downgrade_splits_each_prorated_gross() -> None:
    """C2 with tax: Premium to one Plus camera 10 days into a 30-day April, in GB."""
    gb = treatment_for(TABLE, "GB", None, None)
    premium = SeatState(CATALOG.plans["premium"], 1, Money(999, "GBP"))
    plus = SeatState(CATALOG.plans["plus"], 1, Money(349, "GBP"))
    credit, charge = change_lines(premium, plus, APRIL_1, MAY_1, APRIL_11, gb)
    # credit: 999 x 20/30 = 666 (prorated gross); 666 / 1.2 = 555 net, VAT 111
    assert amounts(credit.split) == (-555, -111, -666)
    # charge: 349 x 20/30 = 232.67 -> 233; 233 / 1.2 = 194.17 -> net 194, VAT 39
    assert amounts(charge.split) == (194, 39, 233)
    # the document: total -433 = the sum of the lines; VAT -111 + 39 = -72; net -361
    assert total([credit, charge], "GBP") == Money(-433, "GBP")
    assert tax_total([credit, charge], "GBP") == Money(-72, "GBP")


def test_issue14_the_catalog_needs_a_tax_row_for_every_country_it_sells_in() -> None:
    raw = tomllib.loads((Path(__file__).parents[1] / "catalog.toml").read_text())
    del raw["tax"]["countries"]["AU"]
    with pytest.raises(CatalogError, match=r"tax\.countries: no row for AU"):
        parse_catalog(raw)
    raw = tomllib.loads((Path(__file__).parents[1] / "catalog.toml").read_text())
    raw["tax"]["countries"]["US"]["regions"]["CA"] = 7.25  # a float: refused
    with pytest.raises(CatalogError, match=r"tax\.countries\.US\.regions\.CA"):
        parse_catalog(raw)
    raw = tomllib.loads((Path(__file__).parents[1] / "catalog.toml").read_text())
    raw["tax"]["seller_country"] = "GB"  # not an EU member
    with pytest.raises(CatalogError, match="seller_country"):
        parse_catalog(raw)
