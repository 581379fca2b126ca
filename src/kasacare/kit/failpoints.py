"""Failpoints: named places where a test makes this process die, as a crash would.

`KASACARE_FAILPOINTS=charge.after_gateway` (comma-separated names) makes the process send
itself SIGKILL when it reaches `failpoint("charge.after_gateway")`: no cleanup, no rollback,
exactly a power cut. The fault-injection tests start `kasacare serve` with it. It is honoured
only together with `KASACARE_TEST_CLOCK=1`, which production never sets.

The names: `charge.before_gateway`, `charge.after_gateway`, `charge.before_commit`
(`kasacare.billing.charging`), `commit.after` (a use case's commit, `billing.charging`),
`refund.before_gateway`, `refund.after_gateway` (`kasacare.billing.outbox`).
"""

from __future__ import annotations

import os
import signal

_ARMED = frozenset(
    name.strip()
    for name in os.environ.get("KASACARE_FAILPOINTS", "").split(",")
    if name.strip() and os.environ.get("KASACARE_TEST_CLOCK", "") in ("1", "true", "True")
)


def failpoint(name: str) -> None:
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
