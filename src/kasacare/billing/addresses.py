"""The account's billing address and VAT number (issue 14 item 1), and the tax they give:
`treatment` is what every invoice and credit note of the account is taxed at when issued.
Services never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing.models import BillingAddress
from kasacare.billing.repository import BillingRepository
from kasacare.billing.tax import (
    TaxTreatment,
    normalize_vat_number,
    takes_vat_number,
    treatment_for,
    vat_number_valid,
)
from kasacare.catalog.schemas import Catalog
from kasacare.kit.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class AddressInput:
    name: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str
    country: str
    vat_number: str | None


def address(session: Session, account: Account) -> BillingAddress | None:
    return BillingRepository(session).address(account.id)


def save_address(
    session: Session, catalog: Catalog, now: datetime, account: Account, given: AddressInput
) -> BillingAddress:
    """Set (or replace) the billing address. Its country must sell in the account's
    currency (which never changes); a US or CA address names a state or province of the tax
    table; a VAT number must have its country's format (EU and GB only). Tax follows it
    from the next document; a period already invoiced keeps its tax (README, Tax)."""
    country = given.country.strip().upper()
    if catalog.currency_for(country) != account.currency:
        raise ValidationFailed(
            f"The billing country must be one where Kasa Care sells in {account.currency}",
            field="country",
        )
    row_tax = catalog.tax.countries[country]
    region = (given.region or "").strip() or None
    if not row_tax.inclusive:
        region = (region or "").upper()
        if region not in row_tax.regions:
            raise ValidationFailed(
                "Choose the state or province of the billing address",
                field="region",
                regions=sorted(row_tax.regions),
            )
    vat_number = normalize_vat_number(given.vat_number or "") or None
    if vat_number is not None:
        _text(vat_number, "vat_number", 20)
        if not takes_vat_number(country):
            raise ValidationFailed(
                "A VAT number applies to EU and UK billing addresses", field="vat_number"
            )
        if not vat_number_valid(vat_number, country):
            raise ValidationFailed(
                f"Not the format of a VAT number of {country} (it starts with its "
                "country prefix, e.g. DE123456789)",
                field="vat_number",
            )
    fields = {
        "name": _text(given.name, "name", 200),
        "line1": _text(given.line1, "line1", 200),
        "line2": _text(given.line2, "line2", 200, required=False),
        "city": _text(given.city, "city", 100),
        "region": _text(region, "region", 100, required=False),
        "postal_code": _text(given.postal_code, "postal_code", 20),
        "country": country,
        "vat_number": vat_number,
        "updated_at": now,
    }
    row = address(session, account)
    if row is None:
        row = BillingAddress(account_id=account.id, **fields)
        session.add(row)
    else:
        for name, value in fields.items():
            setattr(row, name, value)
    session.flush()
    return row


def _text(text: str | None, field: str, longest: int, *, required: bool = True) -> str | None:
    """One line of printable text of at most `longest` characters (the web form and the API
    both come here: PostgreSQL refuses NUL and over-long values)."""
    value = (text or "").strip()
    if not value:
        if required:
            raise ValidationFailed(f"{field} is required", field=field)
        return None
    if len(value) > longest or any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValidationFailed(f"{field}: one line of at most {longest} characters", field=field)
    return value


def treatment(session: Session, catalog: Catalog, account: Account) -> TaxTreatment:
    """The tax of the account's next document (see `treatment_of`)."""
    assert account.country is not None, "only owner accounts have money"
    return treatment_of(catalog, account.country, address(session, account))


def treatment_of(catalog: Catalog, country: str, row: BillingAddress | None) -> TaxTreatment:
    """The tax of the billing address; with none yet, the account's `country` (a US or CA
    account without an address has no region: 0% until it gives one)."""
    if row is None:
        return treatment_for(catalog.tax, country, None, None)
    return treatment_for(catalog.tax, row.country, row.region, row.vat_number)
