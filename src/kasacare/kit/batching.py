"""Group commit: requests that arrive together share one run of blocking work.

A `Batcher` collects the items its callers `submit` on one event loop and hands them, as one
list, to a blocking function run in the thread pool; while that run lasts, new items queue
for the next one. Under load a run takes many items at once (one transaction and one commit
for all of them instead of one each); alone, an item runs at once, with no timer to wait for.
The blocking function answers one result per item, an exception standing for that item's
error, so one bad item never fails the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """One per process and event loop (uvicorn runs one loop per worker process)."""

    def __init__(
        self,
        work: Callable[[Sequence[Item]], Sequence[Result | Exception]],
        *,
        max_items: int,
        gather_seconds: float = 0.0,
    ) -> None:
        self._work = work
        self._max_items = max_items
        self._gather_seconds = gather_seconds
        self._last_size = 0
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._runner: asyncio.Task[None] | None = None
        #: Set once `_gather_target` items wait, while a run gathers (`_gather`).
        self._gathered: asyncio.Event | None = None
        self._gather_target = 0

    async def submit(self, item: Item) -> Result:
        """Queue `item`, and wait for its result (or raise its error)."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._gathered is not None and len(self._waiting) >= self._gather_target:
            self._gathered.set()
        if self._runner is None or self._runner.done():
            # A task, not this caller: if the caller goes away (client disconnect), the batch
            # it started still finishes for everyone else in it. One batch at a time: a
            # second one beside it would split the waiting items into smaller batches, and
            # measured (`make bench`) that cost more than it gained.
            self._runner = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._waiting:
            await self._gather()
            batch = self._waiting[: self._max_items]
            del self._waiting[: self._max_items]
            items = [item for item, _ in batch]
            self._last_size = len(items)
            try:
                outcomes = await run_in_threadpool(self._work, items)
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"{len(outcomes)} results for {len(batch)} items")
            except Exception as error:  # handed to every caller of the batch
                outcomes = [error] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # its caller was cancelled
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def _gather(self) -> None:
        """Under concurrent load (the last batch had company), wait until as many items wait
        as the last batch had, for `gather_seconds` at most: its callers are most likely on
        their way back (a camera sends its next clip on the same connection), and a bigger
        batch shares its fixed cost (commit, disk flush) among more. Stopping as soon as they
        are here, not at a fixed timer, measured 5-10% more uploads a second (`make bench`).
        Alone, an item never waits."""
        target = min(self._last_size, self._max_items)
        if not self._gather_seconds or target <= 1 or len(self._waiting) >= target:
            return
        self._gathered, self._gather_target = asyncio.Event(), target
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._gather_seconds):
                    await self._gathered.wait()
        finally:
            self._gathered = None
