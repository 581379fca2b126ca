"""Whether an `Authorization` header names a caller the service knows (issue 13): the
idempotency middleware reserves keys only for known callers, so a made-up credential can
neither fill the key store nor probe it. The routes still authorize as before."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from kasacare.accounts.dependencies import is_operator_token
from kasacare.accounts.service import authenticate
from kasacare.cameras.repository import CameraRepository
from kasacare.context import AppContext
from kasacare.kit.db import READ_ONLY
from kasacare.kit.security import token_digest


def known_caller(context: AppContext) -> Callable[[str], bool]:
    """`check(authorization)`: an owner's or agent's live access token, the operator token, or
    a bound camera's device token. Blocking: call it from a worker thread."""

    def check(authorization: str) -> bool:
        scheme, _, credential = authorization.partition(" ")
        scheme, credential = scheme.lower(), credential.strip()
        if not credential:
            return False
        if scheme == "bearer" and is_operator_token(context.settings, credential):
            return True
        if scheme not in ("bearer", "device"):
            return False
        now = context.clock.now()
        with (
            context.engine.connect().execution_options(**{READ_ONLY: True}) as connection,
            Session(connection) as session,
        ):
            if scheme == "bearer":
                return authenticate(session, now, credential) is not None
            digest = token_digest(credential)
            return CameraRepository(session).by_device_token(digest) is not None

    return check
