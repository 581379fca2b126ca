"""Sign-in throttling (issue 13, hardening): counted per email and per client under a row
lock, a growing delay after the free failures instead of a hard lock-out, the client found
behind trusted proxies only, IPv6 counted by its /64. The pure rules and the API here; the
raced guesses and the proxy rule against real server processes in tests/e2e."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kasacare.accounts import throttle
from kasacare.accounts.models import SignInThrottle
from kasacare.context import AppContext
from kasacare.kit.clients import UNKNOWN, client_key, parse_networks
from kasacare.kit.clock import FixedClock
from tests.factories import PASSWORD, sign_up, token_for

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_the_first_failures_are_free_then_the_delay_doubles_up_to_15_minutes() -> None:
    delays = [throttle.delay(n, free=5) for n in range(12)]
    seconds = [int(d.total_seconds()) for d in delays]
    # 5 free; then 30 s x 2^(n - 5): 30, 60, 120, 240, 480, then the 15-minute cap.
    assert seconds == [0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]
    assert throttle.delay(10_000, free=5) == timedelta(minutes=15)


def test_the_next_try_waits_the_delay_after_the_last_failure() -> None:
    count = throttle.Count(failures=6, last_failure_at=NOW)
    assert throttle.next_try_at(count, 5, NOW) == NOW + timedelta(seconds=60)
    assert throttle.next_try_at(count, 5, NOW + timedelta(seconds=59)) == NOW + timedelta(
        seconds=60
    )
    assert throttle.next_try_at(count, 5, NOW + timedelta(seconds=60)) is None
    assert throttle.next_try_at(throttle.Count(4, NOW), 5, NOW) is None


def test_failures_are_forgotten_after_an_hour_without_one() -> None:
    count = throttle.Count(failures=9, last_failure_at=NOW)
    assert throttle.live_failures(count, NOW + timedelta(minutes=59)) == 9
    assert throttle.live_failures(count, NOW + timedelta(hours=1)) == 0
    assert throttle.after_failure(count, NOW + timedelta(hours=1)) == throttle.Count(
        1, NOW + timedelta(hours=1)
    )


PROXIES = parse_networks("10.0.0.0/8, 127.0.0.1")


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # No trusted proxy in front: the header is the client's own words, ignored.
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),
        # A trusted proxy: the right-most address it added.
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        # A forged left part is skipped: the first untrusted hop from the right counts.
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.3", "198.51.100.1"),
        # Only trusted hops: the left-most of them is the nearest we know.
        ("10.0.0.2", "10.0.0.7", "10.0.0.7"),
        # A garbled hop ends the walk at the last vouched-for address.
        ("127.0.0.1", "198.51.100.1, junk", "127.0.0.1"),
        # IPv6 counts by its /64; IPv4-mapped counts as IPv4.
        ("2001:db8:1:2:aaaa::1", None, "2001:db8:1:2::/64"),
        ("127.0.0.1", "2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.4", None, "198.51.100.4"),
        ("testclient", None, UNKNOWN),
        (None, None, UNKNOWN),
    ],
)
def test_the_client_is_the_peer_unless_a_trusted_proxy_says_otherwise(
    peer: str | None, forwarded_for: str | None, expected: str
) -> None:
    assert client_key(peer, forwarded_for, PROXIES) == expected


def test_trusted_proxies_parse_addresses_and_networks_and_name_a_bad_entry() -> None:
    assert parse_networks(" 10.0.0.0/8 ,::1,") == (ip_network("10.0.0.0/8"), ip_network("::1"))
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match=r"not an IP address or network: 'proxy\.local'"):
        parse_networks("10.0.0.1, proxy.local")


def _try(client: TestClient, password: str, email: str = "victim@example.com") -> int:
    response = client.post("/v1/auth/token", json={"email": email, "password": password})
    status: int = response.status_code
    return status


def test_after_5_failures_each_try_waits_a_growing_delay_then_the_owner_gets_in(
    client: TestClient, clock: FixedClock
) -> None:
    sign_up(client, "victim@example.com")
    for _ in range(5):
        assert _try(client, "wrong") == 401
    # The 6th try, even with the right password, waits 30 s: the password is not checked.
    limited = client.post(
        "/v1/auth/token", json={"email": "victim@example.com", "password": PASSWORD}
    )
    assert limited.status_code == 429
    assert limited.json()["code"] == "too_many_attempts"
    assert limited.json()["retry_after_seconds"] == 30
    assert limited.headers["Retry-After"] == "30"
    clock.advance(timedelta(seconds=30))
    assert _try(client, "wrong") == 401  # the 6th failure: now 60 s
    clock.advance(timedelta(seconds=59))
    assert _try(client, PASSWORD) == 429
    clock.advance(timedelta(seconds=1))
    assert token_for(client, "victim@example.com")  # no lock-out: the owner is in
    # The success cleared the email's count: 5 free failures again.
    for _ in range(5):
        assert _try(client, "wrong") == 401
    assert _try(client, "wrong") == 429


def test_a_client_gets_20_free_failures_across_emails_then_waits(
    client: TestClient, clock: FixedClock
) -> None:
    sign_up(client, "target@example.com")
    for n in range(20):
        assert _try(client, "guess", f"probe{n}@example.com") == 401
    assert _try(client, PASSWORD, "target@example.com") == 429
    clock.advance(timedelta(seconds=30))
    assert token_for(client, "target@example.com")


def test_an_hour_without_failures_starts_the_count_afresh(
    client: TestClient, clock: FixedClock
) -> None:
    sign_up(client, "victim@example.com")
    for _ in range(5):
        assert _try(client, "wrong") == 401
    clock.advance(timedelta(hours=1))
    for _ in range(5):
        assert _try(client, "wrong") == 401
    assert _try(client, "wrong") == 429


def test_failures_are_counted_under_the_addresss_hash_so_no_row_names_it(
    client: TestClient, context: AppContext
) -> None:
    """Issue 13 item 2: after an account is deleted its address may still be tried; the
    throttle row must not keep it."""
    assert _try(client, "wrong", "gone@example.com") == 401
    with context.engine.connect() as connection:
        keys = list(connection.execute(select(SignInThrottle.key)).scalars())
    digest = hashlib.sha256(b"gone@example.com").hexdigest()
    assert f"email:{digest}" in keys
    assert not any("gone@example.com" in key for key in keys)
