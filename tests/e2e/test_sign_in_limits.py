"""Sign-in limits against real server processes (issue 13, hardening): 30 wrong passwords
for one email sent in parallel are checked at most 5 times (the count is taken under a row
lock; before, every one of them was checked on PostgreSQL), and `X-Forwarded-For` names the
client only behind a trusted proxy, an IPv6 client counted by its /64."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env
from tests.factories import PASSWORD


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own: these tests leave failures counted against 127.0.0.1."""
    yield from _server(backend, tmp_path_factory.mktemp(f"signin-{backend}"), "")


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _server("sqlite", tmp_path_factory.mktemp("signin-proxy"), "127.0.0.1")


def _server(backend: str, directory: Path, trusted: str) -> Iterator[str]:
    with fresh_database(backend, directory) as database_url:
        env = {**server_env(database_url, directory), "KASACARE_TRUSTED_PROXIES": trusted}
        with running_server(env, directory / "server.log") as base:
            yield base


def _sign_up(base: str, email: str) -> None:
    body = {"email": email, "password": PASSWORD, "country": "US"}
    assert httpx.post(f"{base}/v1/accounts", json=body).status_code == 201


def _sign_in(base: str, email: str, password: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    body = {"email": email, "password": password}
    return httpx.post(f"{base}/v1/auth/token", json=body, headers=headers, timeout=60).status_code


def test_30_parallel_wrong_passwords_for_one_email_are_checked_5_times(server: str) -> None:
    _sign_up(server, "raced@example.com")
    start = threading.Barrier(30)
    statuses: list[int] = []

    def guess() -> None:
        start.wait()
        statuses.append(_sign_in(server, "raced@example.com", "wrong password"))

    threads = [threading.Thread(target=guess) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The test clock stands still: after the 5 free failures every try waits its delay.
    assert Counter(statuses) == {401: 5, 429: 25}
    assert _sign_in(server, "raced@example.com", PASSWORD) == 429


def test_without_trusted_proxies_x_forwarded_for_is_ignored(server: str) -> None:
    # A new forged address each time must not help: all count against 127.0.0.1, so the
    # 21st failure at the latest (fewer if an earlier test left some) waits.
    statuses = [
        _sign_in(server, f"probe{n}@example.com", "guess", f"198.51.100.{n}") for n in range(21)
    ]
    assert statuses[-1] == 429
    assert set(statuses) == {401, 429}
    assert statuses.index(429) <= 20


def test_behind_a_trusted_proxy_each_client_counts_alone_and_ipv6_by_its_64(
    behind_proxy: str,
) -> None:
    base = behind_proxy
    _sign_up(base, "someone@example.com")
    for n in range(20):
        assert _sign_in(base, f"probe{n}@example.com", "guess", "203.0.113.7") == 401
    assert _sign_in(base, "someone@example.com", PASSWORD, "203.0.113.7") == 429
    # Another client behind the same proxy is not locked out by the first one's failures.
    assert _sign_in(base, "someone@example.com", PASSWORD, "203.0.113.8") == 200
    # IPv6: rotating addresses inside one /64 counts as one client...
    for n in range(20):
        assert _sign_in(base, f"six{n}@example.com", "guess", f"2001:db8:1:2::{n + 1:x}") == 401
    assert _sign_in(base, "someone@example.com", PASSWORD, "2001:db8:1:2:ffff::1") == 429
    # ... and the next /64 is another subscriber.
    assert _sign_in(base, "someone@example.com", PASSWORD, "2001:db8:1:3::1") == 200
