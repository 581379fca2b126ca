"""Every account query."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kasacare.accounts.models import AccessToken, Account, SignInFailure


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

    def failures_since(
        self, *, email: str | None = None, client: str | None = None, since: datetime
    ) -> int:
        query = select(func.count()).select_from(SignInFailure).where(SignInFailure.at > since)
        if email is not None:
            query = query.where(SignInFailure.email == email)
        if client is not None:
            query = query.where(SignInFailure.client == client)
        return self.session.scalar(query) or 0

    def record_failure(self, failure: SignInFailure) -> None:
        self.session.add(failure)

    def forget_failures_before(self, moment: datetime) -> None:
        self.session.execute(delete(SignInFailure).where(SignInFailure.at <= moment))
