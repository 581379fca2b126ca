"""The sandbox gateway: the real, embedded PaymentGateway (SPEC M3, M4).

It behaves as an outside system that happens to keep its books in a database we run:

- It has its own Engine and commits every operation on its own connection before it
  answers, so a rollback of the service's transaction can never hide a charge.
- Charges and refunds are idempotent by key (see `PaymentGateway`); a decline stores
  nothing; the refunds of a charge never exceed it (the charge row is locked meanwhile).
- A token keeps brand, funding, last 4 digits, expiry and test behaviour: never the card
  number or the CVC, and nothing is logged about a card.

Where its books live: with PostgreSQL, in the service's database (the `sandbox_*` tables of
the migrations), over connections of its own. With SQLite it needs a file of its own
(`sandbox_database_url`): SQLite has one writer at a time and the service's transaction
holds the write lock (BEGIN IMMEDIATE) while it calls the gateway, so a second connection
to the same file could never commit a charge in the middle of a use case.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, Table, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kasacare.kit.db import Base, create_db_engine, table_of
from kasacare.kit.money import Money
from kasacare.payments.cards import inspect_card, is_expired
from kasacare.payments.errors import (
    CardDeclined,
    CardInvalid,
    ChargeNotFound,
    IdempotencyKeyReused,
    RefundExceedsCharge,
)
from kasacare.payments.gateway import (
    CardDetails,
    Charge,
    ChargeRequest,
    Refund,
)
from kasacare.payments.models import SandboxCardCredit, SandboxCharge, SandboxRefund, SandboxToken

SANDBOX_TABLE_NAMES = (
    "sandbox_tokens",
    "sandbox_charges",
    "sandbox_refunds",
    "sandbox_card_credits",
)
#: What the sandbox's tokens look like; anything else is unknown without asking the database.
_TOKEN_SHAPE = re.compile(r"tok_[A-Za-z0-9_-]{1,60}")

_DECLINE_MESSAGES = {
    "generic_decline": "The card was declined",
    "insufficient_funds": "The card was declined: insufficient funds",
    "expired_card": "The card was declined: it has expired",
}


def sandbox_database_url(database_url: str) -> str:
    """Where the sandbox keeps its books for a service database URL: the same PostgreSQL
    database, or for SQLite a sibling file (`kasacare.db` -> `kasacare.sandbox-gateway.db`)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return database_url
    path = Path(url.database)
    sibling = path.with_name(f"{path.stem}.sandbox-gateway{path.suffix}")
    return url.set(database=str(sibling)).render_as_string(hide_password=False)


def sandbox_tables() -> list[Table]:
    return [Base.metadata.tables[name] for name in SANDBOX_TABLE_NAMES]


class SandboxGateway:
    """The embedded payment gateway. Give it an Engine of its own (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=True)

    @classmethod
    def for_service_database(cls, database_url: str) -> SandboxGateway:
        """The gateway that goes with a service database: a new engine on the same
        PostgreSQL database (migrated with the service), or on its own SQLite file, whose
        tables it creates itself."""
        own_url = sandbox_database_url(database_url)
        gateway = cls(create_db_engine(own_url))
        if own_url != database_url:
            gateway.create_tables()
        return gateway

    @property
    def engine(self) -> Engine:
        return self._engine

    def create_tables(self) -> None:
        """Create the sandbox tables in a database of its own (a no-op when they exist)."""
        Base.metadata.create_all(self._engine, tables=sandbox_tables())

    def dispose(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """One operation, one transaction on the gateway's own connection, committed on exit."""
        with self._sessions() as session, session.begin():
            yield session

    # Cards

    def tokenize(
        self, *, number: str, exp_month: int, exp_year: int, cvc: str, now: datetime
    ) -> str:
        card = inspect_card(number, exp_month, exp_year, cvc, now)
        token = f"tok_{secrets.token_urlsafe(30)}"
        with self._transaction() as session:
            session.add(
                SandboxToken(
                    id=token,
                    brand=card.brand,
                    funding=card.funding,
                    last4=card.last4,
                    exp_month=card.exp_month,
                    exp_year=card.exp_year,
                    behaviour=card.behaviour,
                    created_at=now,
                )
            )
        return token

    def attach(self, token: str, *, now: datetime) -> CardDetails:
        details = self.describe(token)
        if is_expired(details.exp_month, details.exp_year, now):
            raise CardInvalid("The card has expired")
        return details

    def describe(self, token: str) -> CardDetails:
        with self._transaction() as session:
            row = _token(session, token)
            return CardDetails(
                brand=row.brand,
                funding=row.funding,
                last4=row.last4,
                exp_month=row.exp_month,
                exp_year=row.exp_year,
            )

    # Money

    def charge(self, *, token: str, amount: Money, idempotency_key: str, now: datetime) -> Charge:
        _require_positive(amount)
        try:
            return self._charge_once(token, amount, idempotency_key, now)
        except IntegrityError:
            # A concurrent call with the same key committed first: answer as a repeat.
            return self._charge_once(token, amount, idempotency_key, now)

    def _charge_once(self, token: str, amount: Money, key: str, now: datetime) -> Charge:
        with self._transaction() as session:
            existing = session.scalar(
                select(SandboxCharge).where(SandboxCharge.idempotency_key == key)
            )
            card = session.get(SandboxToken, token) if _TOKEN_SHAPE.fullmatch(token) else None
            row, new = _decide(existing, card, amount, key, now)
            if new:
                session.add(row)
                session.flush()
            return _charge_value(session, row)

    def charge_many(
        self, requests: Sequence[ChargeRequest], *, now: datetime
    ) -> list[Charge | CardDeclined]:
        """`BatchCharging`: the whole batch in one transaction of the gateway. A key twice in
        the batch is charged once (both answered with that charge); twice with two amounts,
        the whole call is refused before anything is charged."""
        amounts: dict[str, Money] = {}
        for request in requests:
            _require_positive(request.amount)
            if amounts.setdefault(request.idempotency_key, request.amount) != request.amount:
                raise IdempotencyKeyReused(
                    f"Idempotency key {request.idempotency_key!r} is in the batch twice, "
                    "for two amounts"
                )
        try:
            return self._charge_batch(requests, now)
        except IntegrityError:
            # A key committed concurrently between our read and our write: read again, it
            # answers as a repeat (or refuses the whole call). Nothing of this try stayed.
            return self._charge_batch(requests, now)

    def _charge_batch(
        self, requests: Sequence[ChargeRequest], now: datetime
    ) -> list[Charge | CardDeclined]:
        with self._transaction() as session:
            keys = [request.idempotency_key for request in requests]
            existing = {
                row.idempotency_key: row
                for row in session.scalars(
                    select(SandboxCharge).where(SandboxCharge.idempotency_key.in_(keys))
                )
            }
            tokens = {r.token for r in requests if _TOKEN_SHAPE.fullmatch(r.token)}
            cards = {
                row.id: row
                for row in session.scalars(select(SandboxToken).where(SandboxToken.id.in_(tokens)))
            }
            answers: list[SandboxCharge | CardDeclined] = []
            made: set[str] = set()  # new charges: nothing refunded yet, no need to ask
            for request in requests:
                try:
                    row, new = _decide(
                        existing.get(request.idempotency_key),
                        cards.get(request.token),
                        request.amount,
                        request.idempotency_key,
                        now,
                    )
                except CardDeclined as declined:
                    answers.append(declined)
                    continue
                if new:
                    made.add(row.id)
                    existing[request.idempotency_key] = row  # the key again: this charge
                answers.append(row)
            fresh = [row for row in existing.values() if row.id in made]
            if fresh:  # one multi-row INSERT: the batch's point
                session.execute(
                    insert(table_of(SandboxCharge)),
                    [
                        {
                            "id": row.id,
                            "token_id": row.token_id,
                            "amount": row.amount,
                            "currency": row.currency,
                            "idempotency_key": row.idempotency_key,
                            "created_at": row.created_at,
                        }
                        for row in fresh
                    ],
                )
            return [
                answer
                if isinstance(answer, CardDeclined)
                else _charge_value(session, answer, fresh=answer.id in made)
                for answer in answers
            ]

    def refund(
        self, *, charge_id: str, amount: Money, idempotency_key: str, now: datetime
    ) -> Refund:
        _require_positive(amount)
        try:
            return self._refund_once(charge_id, amount, idempotency_key, now)
        except IntegrityError:
            # The key was taken concurrently (by a refund of another charge): say so.
            return self._refund_once(charge_id, amount, idempotency_key, now)

    def _refund_once(self, charge_id: str, amount: Money, key: str, now: datetime) -> Refund:
        with self._transaction() as session:
            # Lock the charge first: refunds of one charge run one at a time, so the key
            # check and the cap below see every earlier refund.
            charge = session.scalar(
                select(SandboxCharge).where(SandboxCharge.id == charge_id).with_for_update()
            )
            existing = session.scalar(
                select(SandboxRefund).where(SandboxRefund.idempotency_key == key)
            )
            if existing is not None:
                if (existing.charge_id, existing.amount, existing.currency) != (
                    charge_id,
                    amount.amount,
                    amount.currency,
                ):
                    raise IdempotencyKeyReused(
                        f"Idempotency key {key!r} was used for another refund"
                    )
                return _refund_value(existing)
            if charge is None:
                raise ChargeNotFound(f"No charge {charge_id!r}")
            if amount.currency != charge.currency:
                raise ValueError(
                    f"charge {charge_id} is in {charge.currency}, not {amount.currency}"
                )
            refundable = charge.amount - _refunded(session, charge.id)
            if amount.amount > refundable:
                raise RefundExceedsCharge(
                    f"Charge {charge_id} has {refundable} {charge.currency} minor units left "
                    f"to refund, less than {amount.amount}",
                    refundable=refundable,
                )
            row = SandboxRefund(
                id=f"re_{uuid.uuid4().hex}",
                charge_id=charge.id,
                amount=amount.amount,
                currency=amount.currency,
                idempotency_key=key,
                created_at=now,
            )
            session.add(row)
            session.flush()
            return _refund_value(row)

    def credit_card(
        self, *, token: str, amount: Money, idempotency_key: str, now: datetime
    ) -> Refund:
        _require_positive(amount)
        with self._transaction() as session:
            existing = session.scalar(
                select(SandboxCardCredit).where(
                    SandboxCardCredit.idempotency_key == idempotency_key
                )
            )
            if existing is not None:
                if (existing.amount, existing.currency) != (amount.amount, amount.currency):
                    raise IdempotencyKeyReused(
                        f"Idempotency key {idempotency_key!r} was used for another card credit"
                    )
                return _credit_value(existing)
            _token(session, token)
            row = SandboxCardCredit(
                id=f"cc_{uuid.uuid4().hex}",
                token=token,
                amount=amount.amount,
                currency=amount.currency,
                idempotency_key=idempotency_key,
                created_at=now,
            )
            session.add(row)
            session.flush()
            return _credit_value(row)

    def get_charge(self, charge_id: str) -> Charge:
        with self._transaction() as session:
            row = session.get(SandboxCharge, charge_id)
            if row is None:
                raise ChargeNotFound(f"No charge {charge_id!r}")
            return _charge_value(session, row)

    def find_charge(self, idempotency_key: str) -> Charge | None:
        with self._transaction() as session:
            row = session.scalar(
                select(SandboxCharge).where(SandboxCharge.idempotency_key == idempotency_key)
            )
            return None if row is None else _charge_value(session, row)


def _decide(
    existing: SandboxCharge | None,
    card: SandboxToken | None,
    amount: Money,
    key: str,
    now: datetime,
) -> tuple[SandboxCharge, bool]:
    """What a charge request answers: the first charge made under its key (False), or a new
    one to store (True). Raises IdempotencyKeyReused, CardInvalid or CardDeclined (a decline
    stores nothing, so the key stays free)."""
    if existing is not None:
        if (existing.amount, existing.currency) != (amount.amount, amount.currency):
            raise IdempotencyKeyReused(
                f"Idempotency key {key!r} was used for a charge of another amount"
            )
        return existing, False
    if card is None:
        raise CardInvalid("Unknown card token")
    decline_code = (
        "expired_card"
        if is_expired(card.exp_month, card.exp_year, now)
        else card.behaviour.decline_code
    )
    if decline_code is not None:
        raise CardDeclined(_DECLINE_MESSAGES[decline_code], decline_code=decline_code)
    row = SandboxCharge(
        id=f"ch_{uuid.uuid4().hex}",
        token_id=card.id,
        amount=amount.amount,
        currency=amount.currency,
        idempotency_key=key,
        created_at=now,
    )
    return row, True


def _require_positive(amount: Money) -> None:
    if amount.amount <= 0:
        raise ValueError(f"a gateway amount is positive, got {amount}")


def _token(session: Session, token: str) -> SandboxToken:
    row = session.get(SandboxToken, token) if _TOKEN_SHAPE.fullmatch(token) else None
    if row is None:
        raise CardInvalid("Unknown card token")
    return row


def _refunded(session: Session, charge_id: str) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(SandboxRefund.amount), 0)).where(
            SandboxRefund.charge_id == charge_id
        )
    )
    return int(total or 0)


def _charge_value(session: Session, row: SandboxCharge, *, fresh: bool = False) -> Charge:
    """The charge as it stands; a `fresh` one (made in this transaction) has no refunds."""
    refunded = 0 if fresh else _refunded(session, row.id)
    return Charge(
        id=row.id,
        token=row.token_id,
        amount=Money(row.amount, row.currency),
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
        amount_refunded=Money(refunded, row.currency),
    )


def _credit_value(row: SandboxCardCredit) -> Refund:
    return Refund(
        id=row.id,
        charge_id=None,
        amount=Money(row.amount, row.currency),
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
    )


def _refund_value(row: SandboxRefund) -> Refund:
    return Refund(
        id=row.id,
        charge_id=row.charge_id,
        amount=Money(row.amount, row.currency),
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
    )
