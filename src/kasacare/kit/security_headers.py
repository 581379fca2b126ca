"""Security headers on every answer (issue 13, hardening).

- Every answer: `X-Content-Type-Options: nosniff` (a clip or a JSON body is never sniffed
  into HTML), `Referrer-Policy: same-origin` (signed media paths never leave in a Referer),
  `X-Frame-Options: DENY`.
- HTML pages: a Content Security Policy that allows only our own scripts, styles, forms and
  fetches, media and images from us or the clip storage's origin (presigned S3 URLs), and no
  framing (`frame-ancestors 'none'`, against clickjacking).
- Over HTTPS only (TLS at this server, or `X-Forwarded-Proto: https` from a trusted proxy):
  `Strict-Transport-Security`, which over plain HTTP would be ignored or, on a development
  host, pin a browser to HTTPS it does not serve.

Pure ASGI: headers are added to `http.response.start`, so streamed answers stay streamed.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kasacare.kit.clients import Network, is_trusted_proxy

HSTS = "max-age=63072000; includeSubDomains"


def content_security_policy(media_origins: Sequence[str]) -> str:
    media = " ".join(("'self'", *media_origins))
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {media} data:",
            f"media-src {media}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeadersMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        media_origins: Sequence[str] = (),
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self.app = app
        self.csp = content_security_policy(media_origins)
        self.trusted_proxies = tuple(trusted_proxies)

    def _https(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        proto = Headers(scope=scope).get("x-forwarded-proto", "").split(",")[-1].strip()
        peer = scope["client"][0] if scope.get("client") else None
        return proto == "https" and is_trusted_proxy(peer, self.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self._https(scope)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "same-origin")
                headers.setdefault("x-frame-options", "DENY")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("content-security-policy", self.csp)
                if https:
                    headers.setdefault("strict-transport-security", HSTS)
            await send(message)

        await self.app(scope, receive, with_headers)
