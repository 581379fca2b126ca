"""Every account query."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from kasacare.accounts.models import AccessToken, Account, SignInThrottle


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
