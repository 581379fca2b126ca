"""The one lock order of billing, written down once and enforced here:

    1. the account                      (`lock_account`)
    2. its subscriptions and legacy     (`lock_subscription`, `lock_legacy`; by id when several)
    3. documents                        (payment attempts, card payments, number rows)

Every use case and job that takes row locks goes through these helpers, so two transactions
always wait for each other in the same order and never deadlock (a renewal used to lock its
subscription, then the account, against the owner's account-then-subscription). Taking a
lock of a lower level after a higher one in the same transaction is a programming error: it
raises `LockOrderViolation` at once, in tests and in production alike.

On SQLite a write transaction holds the database's one write lock from its BEGIN IMMEDIATE,
so the row locks are no-ops there; the order is still checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from enum import IntEnum
from typing import Any, TypeVar

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction, selectinload

from kasacare.accounts.models import Account
from kasacare.kit.errors import NotFound
from kasacare.legacy.models import LegacySubscription
from kasacare.subscriptions.models import Subscription

_LEVEL = "kasacare_lock_level"
_ACCOUNTS = "kasacare_locked_accounts"


class Level(IntEnum):
    ACCOUNT = 1
    PLAN = 2
    DOCUMENTS = 3


class LockOrderViolation(AssertionError):
    """A lock taken out of order (see the module docstring)."""


def _take(session: Session, level: Level) -> None:
    session.connection()  # in a transaction, whose end forgets what it held
    held = session.info.get(_LEVEL, 0)
    if held > level:
        raise LockOrderViolation(
            f"lock order: {level.name.lower()} locked after {Level(held).name.lower()}"
        )
    session.info[_LEVEL] = level


@event.listens_for(Session, "after_transaction_end")
def _forget_levels(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction: its locks are gone
        session.info.pop(_LEVEL, None)
        session.info.pop(_ACCOUNTS, None)


def lock_account(session: Session, account_id: uuid.UUID) -> Account:
    """Serialise an account's billing (trial starts, subscribes, changes, renewals). Taking
    again an account this transaction already holds waits for nothing: it is allowed at any
    point."""
    account = _lock_account(session, account_id, skip_locked=False)
    if account is None:
        raise NotFound("No such account")
    return account


def claim_account(session: Session, account_id: uuid.UUID) -> Account | None:
    """`lock_account` for a job: None at once when another transaction holds the account
    (SKIP LOCKED: a worker then takes the next row instead of waiting), or when it is gone."""
    return _lock_account(session, account_id, skip_locked=True)


def _lock_account(session: Session, account_id: uuid.UUID, *, skip_locked: bool) -> Account | None:
    held: set[uuid.UUID] = session.info.setdefault(_ACCOUNTS, set())
    if account_id not in held:
        _take(session, Level.ACCOUNT)
    account = session.scalar(
        select(Account)
        .where(Account.id == account_id)
        .with_for_update(skip_locked=skip_locked)
        # The caller may have read the row before the lock: take what the lock sees.
        .execution_options(populate_existing=True)
    )
    if account is not None:
        held.add(account_id)
    return account


def lock_accounts(
    session: Session, account_ids: Iterable[uuid.UUID], *, skip_locked: bool = False
) -> set[uuid.UUID]:
    """`lock_account` for a batch job, in id order (so two batches never deadlock); with
    `skip_locked`, those another transaction holds are left out. Answers the ids locked."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return set()
    held: set[uuid.UUID] = session.info.setdefault(_ACCOUNTS, set())
    if not held.issuperset(wanted):
        _take(session, Level.ACCOUNT)
    locked = set(
        session.scalars(
            select(Account.id)
            .where(Account.id.in_(wanted))
            .order_by(Account.id)
            .with_for_update(skip_locked=skip_locked)
        )
    )
    held.update(locked)
    return locked


def lock_subscription(session: Session, subscription_id: uuid.UUID) -> Subscription | None:
    return _lock_plan(session, Subscription, Subscription.seats, subscription_id)


def lock_legacy(session: Session, legacy_id: uuid.UUID) -> LegacySubscription | None:
    return _lock_plan(session, LegacySubscription, LegacySubscription.cameras, legacy_id)


Plan = TypeVar("Plan", Subscription, LegacySubscription)


def _lock_plan(
    session: Session, model: type[Plan], covered: Any, plan_id: uuid.UUID
) -> Plan | None:
    """A plan row (and the cameras it covers), locked, as the lock holds it now."""
    _take(session, Level.PLAN)
    return session.scalar(
        select(model)
        .options(selectinload(covered))
        .where(model.id == plan_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_plans(session: Session) -> None:
    """Note that plan rows (subscriptions, legacy) are about to be locked by a query of the
    caller's own (several at once, ordered by id)."""
    _take(session, Level.PLAN)


def lock_documents(session: Session) -> None:
    """Note that document rows (attempts, payments, number rows) are about to be locked."""
    _take(session, Level.DOCUMENTS)
