"""Deleting an account (issue 13 item 2, GDPR Art. 17): the quote of what happens, then the
deletion itself in one use case.

The money goes exactly as a cancel: the live subscription through C1 (prorated refund, the
balance back to the card payments, goodwill credit never paid out) and legacy through L4,
each by its own plan and apply. Every camera is unbound (serials freed, clips and
thumbnails erased: the sweeper deletes the bytes right after the commit, `after_commit`).
Then personal data goes: sessions, mailed-link tokens, notifications, pending mail, the card
on file, idempotency answers of the account's sessions, sign-in counts of the address, and
the address itself (replaced by a pseudonym that names no one, so it is free for a new
sign-up). Invoices and credit notes stay for the legal retention period: they hold the
account id, country and amounts, never the address.

One last mail confirms the deletion to a verified address; its outbox row holds the
address until the mail job sends it, then forgets it (`mails`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kasacare.accounts import export, mails, throttle
from kasacare.accounts.models import (
    AccessToken,
    Account,
    AccountMail,
    AccountToken,
    MailKind,
    SignInThrottle,
)
from kasacare.accounts.self_service import confirm_password
from kasacare.billing.charging import Payer
from kasacare.billing.locks import lock_account
from kasacare.billing.models import BillingAddress
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.clips.models import Clip
from kasacare.clips.retention import erase_camera
from kasacare.devices.codes import account_key as claim_account_key
from kasacare.devices.models import ClaimThrottle
from kasacare.kit.idempotency_models import IdempotencyKey
from kasacare.legacy import service as legacy
from kasacare.notifications.models import Notification
from kasacare.payments.models import PaymentMethod
from kasacare.subscriptions.quote import Quote
from kasacare.subscriptions.service import Subscriptions
from kasacare.subscriptions.use_cases.cancel import plan_cancel, plan_cancel_legacy
from kasacare.subscriptions.use_cases.scope import Scope

#: Never a valid argon2 hash: no password signs in to a deleted account.
DELETED_PASSWORD_HASH = "!deleted"  # noqa: S105 (a marker, not a secret)
DELETED_DOMAIN = "deleted.invalid"


@dataclass(frozen=True, slots=True)
class DeletionQuote:
    """What deleting the account does, as the owner confirms it."""

    subscription: Quote | None  # the cancel of the live subscription (C1)
    legacy: Quote | None  # the termination of legacy (L4)
    cameras: int  # unbound
    clips: int  # erased, with their thumbnails


def pseudonym(account: Account) -> str:
    """The address a deleted account keeps: unique, and naming no one."""
    return f"deleted-{account.id.hex}@{DELETED_DOMAIN}"


def quote(session: Session, catalog: Catalog, now: datetime, account: Account) -> DeletionQuote:
    """The preview: the plans of the cancels alone, and what is erased (no lock, no write)."""
    scope = Scope(session, catalog, now, account)
    return DeletionQuote(
        subscription=plan_cancel(scope).quote if scope.repo.live(account.id) else None,
        legacy=plan_cancel_legacy(scope).quote if legacy.live_for(session, account) else None,
        cameras=len(_cameras(session, account)),
        clips=_held_clips(session, account),
    )


def delete_account(
    session: Session,
    catalog: Catalog,
    payer: Payer,
    now: datetime,
    account: Account,
    *,
    password: str,
    authorization: str | None = None,
) -> DeletionQuote:
    """Carry the deletion out (never commits); answers what it did. A wrong password is 403
    `wrong_password` and changes nothing. `authorization`: the caller's header, whose stored
    idempotent answers go too."""
    confirm_password(session, now, account, password, wrong="The password is wrong")
    use_cases = Subscriptions(session, catalog, payer, now, account)  # the account's lock
    subscription = use_cases.cancel().quote if use_cases.repo.live(account.id) else None
    legacy_quote = use_cases.cancel_legacy().quote if legacy.live_for(session, account) else None
    lock_account(session, account.id)
    cameras = _cameras(session, account)
    clips = _held_clips(session, account)
    for camera in cameras:
        camera.unbound_at = now
        erase_camera(session, camera.id, now)
    _forget(session, account, now, authorization)
    return DeletionQuote(subscription, legacy_quote, len(cameras), clips)


def _forget(session: Session, account: Account, now: datetime, authorization: str | None) -> None:
    # Idempotent answers are keyed by the SHA-256 of the whole Authorization header
    # (`kit.idempotency`), which only the caller knows: the caller's own go now; those of
    # other sessions are sealed with a key derived from a token nobody holds any more, and
    # expire with the store's retention.
    if authorization:
        caller = hashlib.sha256(authorization.encode("latin-1")).hexdigest()
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.caller_digest == caller))
    for table in (AccessToken, AccountMail, BillingAddress, Notification, PaymentMethod):
        session.execute(delete(table).where(table.account_id == account.id))
    export.forget(session, account.id, now)  # its zips deleted after the commit
    session.execute(delete(AccountToken).where(AccountToken.account_id == account.id))
    own_keys = [throttle.email_key(account.email), throttle.reauth_key(account.id)]
    session.execute(delete(SignInThrottle).where(SignInThrottle.key.in_(own_keys)))
    session.execute(delete(ClaimThrottle).where(ClaimThrottle.key == claim_account_key(account.id)))
    # Queued after the outbox was emptied: the one mail left is this confirmation.
    if account.email_verified_at is not None:
        mails.queue(session, account.id, MailKind.ACCOUNT_DELETED, account.email, now)
    for camera in _cameras(session, account, unbound=True):
        camera.name = ""
    account.email = pseudonym(account)
    account.email_verified_at = None
    account.password_hash = DELETED_PASSWORD_HASH
    account.time_zone = "UTC"
    session.flush()


def _cameras(session: Session, account: Account, *, unbound: bool = False) -> list[Camera]:
    query = select(Camera).where(Camera.account_id == account.id)
    if not unbound:
        query = query.where(Camera.unbound_at.is_(None))
    return list(session.scalars(query))


def _held_clips(session: Session, account: Account) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Clip)
        .join(Camera, Camera.id == Clip.camera_id)
        .where(
            Camera.account_id == account.id,
            Camera.unbound_at.is_(None),
            Clip.erased_at.is_(None),
            Clip.deleted_at.is_(None),
        )
    )
    return int(count or 0)
