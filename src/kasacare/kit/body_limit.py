"""A body limit for every route (issue 13, hardening): a request whose `Content-Length` is
over its route's limit is refused before a byte of the body is read, and a body sent without
one (chunked) is counted as it streams and refused the moment it passes the limit. Either
way the answer is 413 `request_too_large` and the application never sees the excess, so a
1 GB body costs no memory.

Pure ASGI (no `BaseHTTPMiddleware`): it must stay in front of everything that reads a body,
the idempotency middleware included, and cost nothing on the hot path but a header look-up.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kasacare.kit.errors import KasaCareError
from kasacare.kit.http import problem

#: The limit of a JSON or form body: far above any body the API takes.
DEFAULT_LIMIT = 1024 * 1024


class RequestTooLarge(KasaCareError):
    code = "request_too_large"
    status = 413
    title = "The request body is too large"


class _Exceeded(Exception):
    """Raised to the application from `receive` once the body passes its limit."""


def _refusal(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"the body of this request may have at most {limit:,} bytes")


class BodyLimitMiddleware:
    """`limit_for(path)` gives a route's limit in bytes (`DEFAULT_LIMIT` for most)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(limit, scope, receive, send)
            return
        received = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _Exceeded
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the application made of the cut body is not sent
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except _Exceeded:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(limit, scope, receive, send)

    @staticmethod
    async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        error = _refusal(limit)
        response = problem(error.status, error.code, error.title, error.detail)
        response.headers["connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)
