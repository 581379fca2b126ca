"""Back-off for job rows that failed unexpectedly (isolated jobs, see `kasacare.jobs`)."""

from __future__ import annotations

from datetime import timedelta

FIRST_DELAY = timedelta(minutes=5)
#: A row keeps being retried at this pace, however often it failed: a renewal or refund is
#: never given up (each failure is logged as an error with the row's id).
LONGEST_DELAY = timedelta(hours=6)


def backoff(
    failures: int, *, first: timedelta = FIRST_DELAY, longest: timedelta = LONGEST_DELAY
) -> timedelta:
    """How long a row waits after its `failures`-th failure in a row: 5 min, 10, 20, ...,
    at most 6 h (or `first` doubling up to `longest`, for rows that are worth little late:
    device commands, `devices.commands`)."""
    if failures < 1:
        raise ValueError("back-off follows a failure")
    return min(first * (1 << min(failures - 1, 20)), longest)
