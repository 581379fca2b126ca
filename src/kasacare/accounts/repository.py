"""Every account query."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from kasacare.accounts.models import (
    AccessToken,
    Account,
    AccountMail,
    AccountToken,
    Purpose,
    SignInThrottle,
)
from kasacare.kit.throttle_rows import forget_rows, lock_rows


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
        return lock_rows(self.session, SignInThrottle, keys)

    def forget_throttles(self, quiet_since: datetime, keys: Collection[str] = ()) -> None:
        forget_rows(self.session, SignInThrottle, quiet_since, keys)

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

    def links_mailed(self, email: str, purpose: Purpose, since: datetime) -> list[datetime]:
        """When links of `purpose` were mailed to `email` since `since`, oldest first (any
        account's: a change of email names another person's address)."""
        return list(
            self.session.scalars(
                select(AccountToken.created_at)
                .where(
                    AccountToken.email == email,
                    AccountToken.created_at > since,
                    AccountToken.purpose == purpose,
                )
                .order_by(AccountToken.created_at)
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
