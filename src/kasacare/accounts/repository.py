"""Every account query."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from kasacare.accounts.models import (
    AccessToken,
    Account,
    AccountMail,
    AccountToken,
    Purpose,
    SignInThrottle,
)


class AccountRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, account_id: uuid.UUID) -> Account | None:
        return self.session.get(Account, account_id)

    def by_email(self, email: str) -> Account | None:
        return self.session.scalar(select(Account).where(Account.email == email))

    def add(self, account: Account) -> Account:
        self.session.add(account)
        self.session.flush()
        return account

    def add_token(self, token: AccessToken) -> None:
        self.session.add(token)

    def account_for_token(self, digest: str, now: datetime) -> Account | None:
        return self.session.scalar(
            select(Account)
            .join(AccessToken, AccessToken.account_id == Account.id)
            .where(AccessToken.digest == digest, AccessToken.expires_at > now)
        )

    def revoke_token(self, digest: str) -> None:
        self.session.execute(delete(AccessToken).where(AccessToken.digest == digest))

    def lock_throttles(self, keys: Collection[str]) -> dict[str, SignInThrottle]:
        """The throttle rows of `keys` (created when missing), locked until the commit, in
        key order so two sign-ins sharing a key never deadlock."""
        ordered = sorted(set(keys))
        rows = [{"key": key, "failures": 0, "last_failure_at": None} for key in ordered]
        dialect = self.session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        self.session.execute(insert(SignInThrottle).values(rows).on_conflict_do_nothing())
        locked = self.session.scalars(
            select(SignInThrottle)
            .where(SignInThrottle.key.in_(ordered))
            .order_by(SignInThrottle.key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {row.key: row for row in locked}

    def forget_throttles(self, quiet_since: datetime, keys: Collection[str] = ()) -> None:
        """Delete `keys` and a small batch of rows with no failure since `quiet_since`
        (rows another sign-in holds are skipped)."""
        stale = (
            select(SignInThrottle.key)
            .where(
                (SignInThrottle.last_failure_at < quiet_since)
                | SignInThrottle.last_failure_at.is_(None)
            )
            .limit(100)
            .with_for_update(skip_locked=True)
        )
        self.session.execute(delete(SignInThrottle).where(SignInThrottle.key.in_(stale)))
        if keys:
            self.session.execute(delete(SignInThrottle).where(SignInThrottle.key.in_(keys)))

    # --- sessions (access tokens) ------------------------------------------------------

    def sessions(self, account_id: uuid.UUID, now: datetime) -> list[AccessToken]:
        return list(
            self.session.scalars(
                select(AccessToken)
                .where(AccessToken.account_id == account_id, AccessToken.expires_at > now)
                .order_by(AccessToken.created_at.desc(), AccessToken.id)
            )
        )

    def revoke_session(self, account_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        deleted = self.session.execute(
            delete(AccessToken).where(
                AccessToken.account_id == account_id, AccessToken.id == session_id
            )
        )
        return bool(getattr(deleted, "rowcount", 0))

    def revoke_sessions(self, account_id: uuid.UUID, *, keep_digest: str | None = None) -> None:
        statement = delete(AccessToken).where(AccessToken.account_id == account_id)
        if keep_digest is not None:
            statement = statement.where(AccessToken.digest != keep_digest)
        self.session.execute(statement)

    # --- single-use tokens and the account's mail outbox ----------------------------------

    def add_account_token(self, token: AccountToken) -> AccountToken:
        self.session.add(token)
        self.session.flush()
        return token

    def account_token(self, digest: str, purpose: Purpose) -> AccountToken | None:
        """The token row, locked until the commit (a link is redeemed once)."""
        return self.session.scalar(
            select(AccountToken)
            .where(AccountToken.digest == digest, AccountToken.purpose == purpose)
            .with_for_update()
        )

    def live_account_tokens(
        self, account_id: uuid.UUID, purpose: Purpose, now: datetime
    ) -> list[AccountToken]:
        return list(
            self.session.scalars(
                select(AccountToken).where(
                    AccountToken.account_id == account_id,
                    AccountToken.purpose == purpose,
                    AccountToken.used_at.is_(None),
                    AccountToken.expires_at > now,
                )
            )
        )

    def add_mail(self, mail: AccountMail) -> None:
        self.session.add(mail)

    def withdraw_mails(self, token_ids: Collection[uuid.UUID], now: datetime) -> None:
        """Mails still waiting with these tokens' links are not sent: the link is dead."""
        if not token_ids:
            return
        self.session.execute(
            update(AccountMail)
            .where(AccountMail.token_id.in_(token_ids), AccountMail.delivered_at.is_(None))
            .values(link_token=None, send_before=now)
        )

    def pending_mails(self, now: datetime, limit: int, max_attempts: int) -> list[AccountMail]:
        """Mails due for (another) try, oldest first, locked (skipped if another worker
        holds them)."""
        return list(
            self.session.scalars(
                select(AccountMail)
                .where(
                    AccountMail.delivered_at.is_(None),
                    AccountMail.delivery_attempts < max_attempts,
                    or_(AccountMail.send_before.is_(None), AccountMail.send_before > now),
                    or_(AccountMail.next_attempt_at.is_(None), AccountMail.next_attempt_at <= now),
                )
                .order_by(AccountMail.created_at, AccountMail.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
