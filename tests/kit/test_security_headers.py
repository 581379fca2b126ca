"""Security headers (issue 13, hardening) through the real app: nosniff, referrer and frame
policies on every answer, a Content Security Policy on pages, HSTS only over HTTPS (at this
server, or said by a trusted proxy)."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from kasacare.app import create_app, media_origins
from kasacare.config import Settings
from kasacare.context import AppContext

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _common(headers: dict[str, str]) -> tuple[str | None, ...]:
    return (
        headers.get("x-content-type-options"),
        headers.get("referrer-policy"),
        headers.get("x-frame-options"),
    )


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/camera-models", 200), ("GET", "/v1/nothing-here", 404), ("POST", "/v1/me", 405)],
)
def test_every_api_answer_has_nosniff_and_no_framing_but_no_csp_or_hsts(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert _common(dict(response.headers)) == ("nosniff", "same-origin", "DENY")
    assert "content-security-policy" not in response.headers
    assert "strict-transport-security" not in response.headers  # plain HTTP


def test_a_refused_oversized_body_has_the_headers_too(client: TestClient) -> None:
    response = client.post("/v1/accounts", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert _common(dict(response.headers)) == ("nosniff", "same-origin", "DENY")


def test_pages_carry_a_content_security_policy_with_no_inline_script_or_framing(
    client: TestClient,
) -> None:
    page = client.get("/signin")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    assert "onclick=" not in page.text and "<script>" not in page.text


def test_hsts_is_sent_over_https_only(context: AppContext) -> None:
    app = create_app(context)
    with TestClient(app, base_url="https://testserver") as secure:
        assert secure.get("/v1/camera-models").headers["strict-transport-security"] == (
            "max-age=63072000; includeSubDomains"
        )
    with TestClient(app, client=("203.0.113.5", 40000)) as plain:
        # Anyone can send X-Forwarded-Proto: without a trusted proxy it means nothing.
        forged = plain.get("/v1/camera-models", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in forged.headers


def test_hsts_behind_a_trusted_proxy_that_terminated_tls(context: AppContext) -> None:
    settings = context.settings.model_copy(update={"trusted_proxies": "10.0.0.0/8"})
    app = create_app(dataclasses.replace(context, settings=settings))
    with TestClient(app, client=("10.1.2.3", 40000)) as behind_proxy:
        https = behind_proxy.get("/v1/camera-models", headers={"X-Forwarded-Proto": "https"})
        http = behind_proxy.get("/v1/camera-models", headers={"X-Forwarded-Proto": "http"})
    assert "strict-transport-security" in https.headers
    assert "strict-transport-security" not in http.headers


@pytest.mark.parametrize(
    ("storage_url", "origins"),
    [
        ("file:///var/clips", ()),
        ("s3://clips?endpoint=http://127.0.0.1:9000/base", ("http://127.0.0.1:9000",)),
        ("s3://clips?region=eu-west-1", ("https://*.amazonaws.com",)),
    ],
)
def test_pages_may_load_media_from_the_clip_storage_only(
    storage_url: str, origins: tuple[str, ...]
) -> None:
    assert media_origins(Settings(storage_url=storage_url)) == origins
