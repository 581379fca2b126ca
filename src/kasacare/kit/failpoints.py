"""Failpoints: named places where a test makes this process die, as a crash would.

An armed failpoint sends the process SIGKILL when it is reached: no cleanup, no rollback,
exactly a power cut. The fault-injection tests arm one in a running `kasacare serve` through
`PUT /v1/admin/failpoints/{name}`, a route that exists only with `KASACARE_TEST_CLOCK=1`
(never in production), then make the call that reaches it.

The names: `charge.before_gateway`, `charge.after_gateway`, `charge.before_commit`
(`kasacare.billing.charging`: a charge's attempt is committed, the gateway charged, the use
case applied but not committed), `commit.after` (a billing change or job step committed, the
work that follows not done), `refund.before_gateway`, `refund.after_gateway`
(`kasacare.billing.outbox`).
"""

from __future__ import annotations

import os
import signal
import threading

NAMES = frozenset(
    {
        "charge.before_gateway",
        "charge.after_gateway",
        "charge.before_commit",
        "commit.after",
        "refund.before_gateway",
        "refund.after_gateway",
    }
)

_armed: set[str] = set()
_lock = threading.Lock()


def arm(name: str) -> None:
    """Make the next `failpoint(name)` of this process kill it. ValueError if unknown."""
    if name not in NAMES:
        raise ValueError(f"unknown failpoint {name!r}")
    with _lock:
        _armed.add(name)


def failpoint(name: str) -> None:
    assert name in NAMES, name
    if _armed and name in _armed:
        os.kill(os.getpid(), signal.SIGKILL)
