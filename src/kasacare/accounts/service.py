"""Account use cases. They never commit: the caller's transaction does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from kasacare.accounts import throttle, tokens
from kasacare.accounts.emails import checked_email
from kasacare.accounts.models import AccessToken, Account, Purpose, Role
from kasacare.accounts.repository import AccountRepository
from kasacare.catalog.schemas import Catalog
from kasacare.kit.errors import (
    KasaCareError,
    Unauthorized,
    ValidationFailed,
)
from kasacare.kit.security import hash_password, new_token, token_digest, verify_password
from kasacare.kit.throttle_rows import wait_until
from kasacare.kit.zones import DEFAULT_ZONE, is_zone


class EmailTaken(KasaCareError):
    code = "email_taken"
    status = 409
    title = "An account with this email already exists"


class InvalidTimeZone(ValidationFailed):
    code = "invalid_time_zone"
    title = "Unknown time zone"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "Wrong email or password"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_at: datetime
    account: Account


def normalize_email(email: str) -> str:
    return email.strip().lower()


def sign_up(
    session: Session,
    catalog: Catalog,
    now: datetime,
    *,
    email: str,
    password: str,
    country: str,
    time_zone: str = DEFAULT_ZONE,
) -> Account:
    check_time_zone(time_zone)
    currency = catalog.currency_for(country)
    if currency is None:
        raise ValidationFailed(
            f"Kasa Care is not sold in country {country!r}",
            field="country",
            countries=sorted(catalog.countries),
        )
    account = _create(session, now, email, password, Role.OWNER, country.strip().upper(), currency)
    account.time_zone = time_zone
    # Issue 13: the address is proved by a link; until then notification mail waits.
    tokens.mail_link(session, account, Purpose.VERIFY_EMAIL, account.email, now)
    return account


def check_time_zone(name: str) -> str:
    if not is_zone(name):
        raise InvalidTimeZone(
            f"{name!r} is not an IANA time zone (like Europe/London)", field="time_zone"
        )
    return name


def set_time_zone(account: Account, name: str) -> None:
    """The zone the owner's dates are shown in (activity center, mail)."""
    account.time_zone = check_time_zone(name)


def create_support_agent(session: Session, now: datetime, *, email: str, password: str) -> Account:
    return _create(session, now, email, password, Role.SUPPORT, None, None)


def _create(
    session: Session,
    now: datetime,
    email: str,
    password: str,
    role: Role,
    country: str | None,
    currency: str | None,
) -> Account:
    accounts = AccountRepository(session)
    email = checked_email(email)
    if accounts.by_email(email) is not None:
        raise EmailTaken(f"An account with the email {email} already exists")
    return accounts.add(
        Account(
            id=uuid.uuid4(),
            email=email,
            password_hash=hash_password(password),
            role=role,
            country=country,
            currency=currency,
            created_at=now,
            trial_started_at=None,
            legacy_locked_at=None,
            email_verified_at=None,
        )
    )


def sign_in(
    session: Session, now: datetime, *, email: str, password: str, client: str, ttl: timedelta
) -> IssuedToken | None:
    """A new bearer token, or None for a wrong email or password (the failure is counted).

    The caller commits in both cases, so failures count across processes, and answers a
    wrong password and an unknown email the same way. The email's and the client's throttle
    rows stay locked from the check to the commit, so parallel guesses are checked one after
    another against the count the previous ones left (`accounts.throttle`); a try before the
    delay of past failures is over raises TooManyAttempts without checking the password.
    """
    accounts = AccountRepository(session)
    email = normalize_email(email)
    keys = {throttle.email_key(email): throttle.FREE_PER_EMAIL}
    keys[throttle.client_key(client)] = throttle.FREE_PER_CLIENT
    rows = accounts.lock_throttles(keys)
    if (allowed_at := wait_until(rows, keys, now)) is not None:
        raise throttle.wait_error(allowed_at, now, "failed sign-ins")
    account = accounts.by_email(email)
    if not verify_password(account.password_hash if account else None, password) or not account:
        for row in rows.values():
            row.fail(now)
        session.flush()
        accounts.forget_throttles(now - throttle.FORGET_AFTER)
        return None
    accounts.forget_throttles(now - throttle.FORGET_AFTER, [throttle.email_key(email)])
    token = new_token("kc_at")
    expires_at = now + ttl
    accounts.add_token(
        AccessToken(
            digest=token_digest(token), account_id=account.id, created_at=now, expires_at=expires_at
        )
    )
    return IssuedToken(access_token=token, expires_at=expires_at, account=account)


def authenticate(session: Session, now: datetime, token: str) -> Account | None:
    return AccountRepository(session).account_for_token(token_digest(token), now)


def sign_out(session: Session, token: str) -> None:
    AccountRepository(session).revoke_token(token_digest(token))
