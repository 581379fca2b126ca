"""The device token is checked before a clip upload's body is read (issue 13, hardening).

FastAPI parses a route's form before it runs the route's dependencies, so a 50 MB upload
with a made-up token was read (and spooled to disk) before its 401. This gate, in front of
the upload route, answers 401 from the `Authorization` header alone when the token names no
bound camera. Tokens seen valid are remembered for `REMEMBER` so the hot path pays a dict
look-up, not a query; the ingest's own look-up stays the authority (a token revoked since
is refused there, as before).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from kasacare.cameras.models import Camera
from kasacare.kit.db import READ_ONLY
from kasacare.kit.errors import Unauthorized
from kasacare.kit.http import problem
from kasacare.kit.security import token_digest

REMEMBER = 60.0  # seconds
MAX_REMEMBERED = 100_000

_BOUND = select(Camera.id).where(
    Camera.device_token_digest.is_not(None), Camera.unbound_at.is_(None)
)


def bound_camera_lookup(engine: Engine) -> Callable[[str], bool]:
    """`known(digest)`: whether a bound camera has this token digest (blocking)."""

    def known(digest: str) -> bool:
        with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            query = _BOUND.where(Camera.device_token_digest == digest).limit(1)
            return connection.execute(query).first() is not None

    return known


class DeviceGateMiddleware:
    def __init__(self, app: ASGIApp, paths: Collection[str], known: Callable[[str], bool]) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.known = known
        self.remembered: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() == "device" and token and await self._valid(token_digest(token)):
            await self.app(scope, receive, send)
            return
        error = Unauthorized("Send 'Authorization: Device <device token>' of a bound camera")
        response = problem(error.status, error.code, error.title, error.detail)
        response.headers["connection"] = "close"  # the body is never read
        await response(scope, receive, send)

    async def _valid(self, digest: str) -> bool:
        now = time.monotonic()
        seen = self.remembered.get(digest)
        if seen is not None and now - seen < REMEMBER:
            return True
        if not await run_in_threadpool(self.known, digest):
            return False
        if len(self.remembered) >= MAX_REMEMBERED:
            self.remembered.clear()  # rare; the next uploads look their tokens up again
        self.remembered[digest] = now
        return True
