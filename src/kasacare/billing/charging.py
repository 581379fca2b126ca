"""Card charges that cannot be lost (M4): the payment attempt is committed before the
gateway is called, and the invoice it pays is issued in the transaction that records the
attempt's success.

    plan     step(session, Planning())        the use case runs; a charge raises ChargeNeeded
                                              and everything is rolled back
    attempt  a pending PaymentAttempt commits, its gateway key derived from it
    charge   gateway.charge(key)              a decline commits `declined`
    apply    step(session, Paying(...))       the same use case again, under the same locks:
                                              documents + attempt `succeeded`; the caller
                                              commits (one transaction)

A use case that moves no card money runs once, in one transaction, as before. If the apply
step fails after the charge, the charge is reversed at once (refunded, attempt `reversed`);
if the process dies anywhere between the attempt's commit and the caller's, the attempt stays
`pending` and the reconciler (`kasacare.billing.reconciler`) refunds whatever the gateway
took under its key. So every gateway charge maps to one attempt, and a charge is either
recorded with its invoice or refunded, never left.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing.locks import lock_account, lock_documents
from kasacare.billing.models import AttemptPurpose, AttemptStatus, Invoice, PaymentAttempt
from kasacare.kit.errors import KasaCareError
from kasacare.kit.failpoints import failpoint
from kasacare.kit.money import Money
from kasacare.payments.errors import CardDeclined
from kasacare.payments.gateway import Charge, PaymentGateway
from kasacare.payments.service import require_payment_method

log = logging.getLogger("kasacare.billing.charging")

T = TypeVar("T")


class BillingChanged(KasaCareError):
    """The amount to charge changed between the plan and the apply (a concurrent change on
    the account): the charge was refunded, nothing else happened."""

    code = "billing_changed"
    status = 409
    title = "Billing changed meanwhile"


@dataclass(frozen=True, slots=True)
class Pays:
    """What a charge pays: a renewal period of a subscription (new plan or legacy), or an
    owner's purchase (`subscription_id` is informative then)."""

    purpose: AttemptPurpose
    subscription_id: uuid.UUID | None = None
    period_start: datetime | None = None

    @classmethod
    def renewal(cls, subscription_id: uuid.UUID, period_start: datetime) -> Pays:
        return cls(AttemptPurpose.RENEWAL, subscription_id, period_start)

    @classmethod
    def purchase(cls, subscription_id: uuid.UUID | None = None) -> Pays:
        return cls(AttemptPurpose.PURCHASE, subscription_id)


class ChargeNeeded(Exception):
    """Raised by the plan step where the card would be charged."""

    def __init__(self, account_id: uuid.UUID, amount: Money, token: str, pays: Pays) -> None:
        super().__init__(f"charge {amount} for {pays.purpose.value}")
        self.account_id = account_id
        self.amount = amount
        self.token = token
        self.pays = pays


class Payer(Protocol):
    """How a use case's invoice gets its card money (`kasacare.billing.service`)."""

    def charge(self, session: Session, account: Account, amount: Money, pays: Pays) -> Charge:
        """The charge paying `amount` (> 0) for `pays`, or an exception."""
        ...

    def paid(self, session: Session, invoice: Invoice) -> None:
        """The invoice that the charge just returned pays (same transaction)."""
        ...


class Planning:
    """The plan step: no money moves; where a charge is needed, the step stops."""

    def charge(self, session: Session, account: Account, amount: Money, pays: Pays) -> Charge:
        method = require_payment_method(session, account)  # 402 before any attempt
        raise ChargeNeeded(account.id, amount, method.gateway_token, pays)

    def paid(self, session: Session, invoice: Invoice) -> None:
        raise AssertionError("the plan step never pays")


@dataclass(slots=True)
class Paying:
    """The apply step after a successful charge: hands out that charge, once, for the same
    amount and purpose, while its attempt is still pending."""

    attempt_id: uuid.UUID
    gateway_charge: Charge
    used: bool = False

    def charge(self, session: Session, account: Account, amount: Money, pays: Pays) -> Charge:
        attempt = _lock_attempt(session, self.attempt_id)
        if (
            self.used
            or attempt.status is not AttemptStatus.PENDING
            or (attempt.amount, attempt.currency) != (amount.amount, amount.currency)
            or attempt.purpose is not pays.purpose
        ):
            raise BillingChanged(
                "Your billing changed while this was being processed; the charge was "
                "refunded. Review the change and try again."
            )
        self.used = True
        return self.gateway_charge

    def paid(self, session: Session, invoice: Invoice) -> None:
        attempt = _lock_attempt(session, self.attempt_id)
        attempt.status = AttemptStatus.SUCCEEDED
        attempt.invoice_id = invoice.id
        attempt.gateway_charge_id = self.gateway_charge.id
        attempt.settled_at = invoice.created_at


@dataclass(frozen=True, slots=True)
class Declined:
    """The apply step after a decline: the charge raises the gateway's CardDeclined, which a
    renewal turns into dunning (M5) and an owner's call into 402."""

    error: CardDeclined

    def charge(self, session: Session, account: Account, amount: Money, pays: Pays) -> Charge:
        raise self.error

    def paid(self, session: Session, invoice: Invoice) -> None:
        raise AssertionError("a declined charge pays nothing")


def run_charged(
    session: Session,
    gateway: PaymentGateway,
    now: datetime,
    step: Callable[[Session, Payer], T],
    *,
    recorded_at: datetime | None = None,
) -> T:
    """Run `step` (one use case, which never commits) so that a card charge it makes can
    never be lost; see the module docstring. The caller commits the returned state.

    `recorded_at`: when the attempt is made by the clock, if not `now` (a job runs a step
    at its due instant, maybe long past: the reconciler must measure the attempt's age from
    when it was really made, or it would take an attempt still in flight for a lost one)."""
    try:
        return step(session, Planning())
    except ChargeNeeded as need:
        session.rollback()
        plan = need
    attempt_id, key = _commit_attempt(session, recorded_at or now, plan)
    failpoint("charge.before_gateway")
    try:
        charge = gateway.charge(token=plan.token, amount=plan.amount, idempotency_key=key, now=now)
    except CardDeclined as declined:
        _settle(session, attempt_id, now, AttemptStatus.DECLINED, decline=declined.decline_code)
        return step(session, Declined(declined))
    failpoint("charge.after_gateway")
    payer = Paying(attempt_id, charge)
    try:
        result = step(session, payer)
        if not payer.used:
            raise BillingChanged("The change no longer needs a charge; the charge was refunded")
        failpoint("charge.before_commit")
        return result
    except BaseException:
        session.rollback()
        reverse(session, gateway, now, attempt_id, charge)
        raise


def reverse(
    session: Session,
    gateway: PaymentGateway,
    now: datetime,
    attempt_id: uuid.UUID,
    charge: Charge | None,
) -> None:
    """Refund a charge that paid nothing (key `reversal:<attempt>`) and record it. With
    `charge=None` the gateway is asked what it took under the attempt's key; nothing taken
    makes the attempt `abandoned`. Commits; safe to repeat."""
    attempt = _lock_attempt(session, attempt_id)
    settled = (AttemptStatus.SUCCEEDED, AttemptStatus.REVERSED)
    unsettled = (AttemptStatus.PENDING, AttemptStatus.REVERSING)
    if attempt.status in settled or (charge is None and attempt.status not in unsettled):
        session.rollback()
        return
    if charge is None:
        charge = gateway.find_charge(attempt.idempotency_key)
    if charge is None:
        attempt.status = AttemptStatus.ABANDONED
        attempt.settled_at = now
        session.commit()
        return
    attempt.status = AttemptStatus.REVERSING
    attempt.gateway_charge_id = charge.id
    session.commit()
    refund = gateway.refund(
        charge_id=charge.id,
        amount=charge.amount,
        idempotency_key=f"reversal:{attempt_id}",
        now=now,
    )
    attempt = _lock_attempt(session, attempt_id)
    attempt.status = AttemptStatus.REVERSED
    attempt.gateway_refund_id = refund.id
    attempt.settled_at = now
    session.commit()
    log.warning("payment attempt %s: charge %s reversed (it paid nothing)", attempt_id, charge.id)


def _commit_attempt(session: Session, now: datetime, plan: ChargeNeeded) -> tuple[uuid.UUID, str]:
    """Commit the pending attempt for `plan` and answer its id and gateway key. A renewal
    reuses its period's pending attempt of the same amount (a rerun after a crash: the same
    key answers the first charge); one of another amount is set to be reversed."""
    lock_account(session, plan.account_id)
    attempt: PaymentAttempt | None = None
    key = ""
    if plan.pays.purpose is AttemptPurpose.RENEWAL:
        lock_documents(session)
        earlier = list(
            session.scalars(
                select(PaymentAttempt)
                .where(
                    PaymentAttempt.subscription_id == plan.pays.subscription_id,
                    PaymentAttempt.period_start == plan.pays.period_start,
                    PaymentAttempt.status == AttemptStatus.PENDING,
                )
                .with_for_update()
            )
        )
        if session.scalar(
            select(PaymentAttempt.id).where(
                PaymentAttempt.subscription_id == plan.pays.subscription_id,
                PaymentAttempt.period_start == plan.pays.period_start,
                PaymentAttempt.status == AttemptStatus.SUCCEEDED,
            )
        ):
            session.rollback()
            raise BillingChanged("This period was paid meanwhile (by another worker)")
        for pending in earlier:
            if (pending.amount, pending.currency) == (plan.amount.amount, plan.amount.currency):
                attempt = pending
            else:
                pending.status = AttemptStatus.REVERSING  # the reconciler looks it up
        if attempt is None:
            key = _renewal_key(session, plan.pays)
    if attempt is None:
        attempt_id = uuid.uuid4()
        attempt = PaymentAttempt(
            id=attempt_id,
            account_id=plan.account_id,
            purpose=plan.pays.purpose,
            subscription_id=plan.pays.subscription_id,
            period_start=plan.pays.period_start,
            amount=plan.amount.amount,
            currency=plan.amount.currency,
            idempotency_key=key or f"charge:{attempt_id}",
            status=AttemptStatus.PENDING,
            created_at=now,
        )
        session.add(attempt)
    result = attempt.id, attempt.idempotency_key
    session.commit()
    return result


def _renewal_key(session: Session, pays: Pays) -> str:
    """`renewal:<subscription>:<period_start>` (M4), then `:2`, `:3`... for the later
    attempts of the same period (dunning retries, or a rerun after a reversed one)."""
    assert pays.subscription_id is not None and pays.period_start is not None
    base = f"renewal:{pays.subscription_id}:{pays.period_start.isoformat()}"
    earlier = session.scalar(
        select(func.count()).where(
            PaymentAttempt.subscription_id == pays.subscription_id,
            PaymentAttempt.period_start == pays.period_start,
        )
    )
    return base if not earlier else f"{base}:{int(earlier) + 1}"


def _settle(
    session: Session,
    attempt_id: uuid.UUID,
    now: datetime,
    status: AttemptStatus,
    *,
    decline: str | None = None,
) -> None:
    attempt = _lock_attempt(session, attempt_id)
    attempt.status = status
    attempt.decline_code = decline
    attempt.settled_at = now
    session.commit()


def _lock_attempt(session: Session, attempt_id: uuid.UUID) -> PaymentAttempt:
    lock_documents(session)
    attempt = session.get(PaymentAttempt, attempt_id, with_for_update=True, populate_existing=True)
    assert attempt is not None
    return attempt
