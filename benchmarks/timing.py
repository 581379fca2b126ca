"""Timing one piece of work, with the harness's own garbage out of the way."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def timed(work: Callable[[], T]) -> tuple[T, float]:
    """Run `work` and return (its result, wall seconds). The seeding data the harness holds
    is frozen out of the garbage collector first, so its collections do not bill the work
    for objects the service would never have (the service's own garbage still counts)."""
    gc.collect()
    gc.freeze()
    try:
        started = time.perf_counter()
        result = work()
        return result, time.perf_counter() - started
    finally:
        gc.unfreeze()
