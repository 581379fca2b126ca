"""Back-off for job rows that failed unexpectedly (isolated jobs, see `kasacare.jobs`)."""

from __future__ import annotations

from datetime import timedelta

FIRST_DELAY = timedelta(minutes=5)
LONGEST_DELAY = timedelta(hours=6)
#: After this many failures in a row a job row is parked: it waits for an operator (the
#: log says which row), instead of failing every few hours for ever.
MAX_JOB_FAILURES = 10


def backoff(failures: int) -> timedelta:
    """How long a row waits after its `failures`-th failure in a row: 5 min, 10, 20, ...,
    at most 6 h."""
    if failures < 1:
        raise ValueError("back-off follows a failure")
    return min(FIRST_DELAY * (1 << min(failures - 1, 20)), LONGEST_DELAY)
