"""Group commit (`kit.batching.Batcher`) that clip upload (V1) runs on, on a real event loop
and the real thread pool."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from kasacare.kit.batching import Batcher


class Recorder:
    """The blocking work: records each batch it is given and doubles every item; a negative
    item is that item's own error."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __call__(self, items: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        return [ValueError(f"bad {item}") if item < 0 else item * 2 for item in items]


def test_items_submitted_together_share_one_run() -> None:
    work = Recorder()

    async def main() -> list[int]:
        batcher = Batcher(work, max_items=64)
        return await asyncio.gather(*(batcher.submit(item) for item in range(5)))

    assert asyncio.run(main()) == [0, 2, 4, 6, 8]
    assert work.batches == [[0, 1, 2, 3, 4]]


def test_a_run_takes_at_most_max_items() -> None:
    work = Recorder()

    async def main() -> list[int]:
        batcher = Batcher(work, max_items=2)
        return await asyncio.gather(*(batcher.submit(item) for item in range(5)))

    assert asyncio.run(main()) == [0, 2, 4, 6, 8]
    assert work.batches == [[0, 1], [2, 3], [4]]


def test_one_items_error_reaches_only_its_caller() -> None:
    work = Recorder()

    async def main() -> list[int | BaseException]:
        batcher = Batcher(work, max_items=64)
        items = (1, -2, 3)
        return await asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert (first, third) == (2, 6)
    assert isinstance(second, ValueError) and str(second) == "bad -2"
    assert work.batches == [[1, -2, 3]]


def test_a_failed_run_fails_every_caller_of_that_run_only() -> None:
    calls: list[list[int]] = []

    def work(items: Sequence[int]) -> list[int | Exception]:
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("database down")
        return list(items)

    async def main() -> tuple[list[int | BaseException], int]:
        batcher = Batcher(work, max_items=64)
        failed = await asyncio.gather(*(batcher.submit(i) for i in (1, 2)), return_exceptions=True)
        return failed, await batcher.submit(3)

    failed, later = asyncio.run(main())
    assert [str(error) for error in failed] == ["database down", "database down"]
    assert later == 3


def test_items_that_arrive_during_a_run_wait_for_the_next_one() -> None:
    release = threading.Event()
    started = threading.Event()
    batches: list[list[str]] = []

    def work(items: Sequence[str]) -> list[str | Exception]:
        batches.append(list(items))
        started.set()
        release.wait(10)
        return [item.upper() for item in items]

    async def main() -> list[str]:
        batcher = Batcher(work, max_items=64)
        first = asyncio.create_task(batcher.submit("a"))
        await asyncio.to_thread(started.wait, 10)  # "a" runs alone; "b", "c" come meanwhile
        later = [asyncio.create_task(batcher.submit(item)) for item in ("b", "c")]
        await asyncio.sleep(0.05)
        release.set()
        return [await first, *[await task for task in later]]

    assert asyncio.run(main()) == ["A", "B", "C"]
    assert batches == [["a"], ["b", "c"]]


def test_a_caller_that_goes_away_does_not_stop_the_run_for_the_others() -> None:
    release = threading.Event()
    started = threading.Event()
    done: list[list[int]] = []

    def work(items: Sequence[int]) -> list[int | Exception]:
        started.set()
        release.wait(10)
        done.append(list(items))
        return list(items)

    async def main() -> int:
        batcher = Batcher(work, max_items=64)
        leaving = asyncio.create_task(batcher.submit(1))
        staying = asyncio.create_task(batcher.submit(2))
        await asyncio.to_thread(started.wait, 10)
        leaving.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        return await staying

    assert asyncio.run(main()) == 2
    assert done == [[1, 2]]


def test_under_concurrent_load_a_run_waits_a_moment_for_items_on_their_way() -> None:
    work = Recorder()

    async def late(batcher: Batcher[int, int], item: int) -> int:
        await asyncio.sleep(0.01)  # arrives while the next run gathers
        return await batcher.submit(item)

    async def main() -> None:
        batcher = Batcher(work, max_items=64, gather_seconds=0.2)
        await asyncio.gather(batcher.submit(1), batcher.submit(2))  # no company before: no wait
        await asyncio.gather(batcher.submit(3), late(batcher, 4))

    asyncio.run(main())
    assert work.batches == [[1, 2], [3, 4]]


def test_a_gathering_run_starts_once_as_many_items_wait_as_the_last_run_had() -> None:
    work = Recorder()

    async def late(batcher: Batcher[int, int], item: int) -> int:
        await asyncio.sleep(0.01)
        return await batcher.submit(item)

    async def main() -> None:
        # A gather longer than the test's own time limit: the run must not wait it out.
        batcher = Batcher(work, max_items=64, gather_seconds=600)
        await asyncio.gather(batcher.submit(1), batcher.submit(2))
        await asyncio.gather(batcher.submit(3), late(batcher, 4))

    asyncio.run(asyncio.wait_for(main(), timeout=60))
    assert work.batches == [[1, 2], [3, 4]]


def test_a_gathering_run_goes_with_what_waits_when_the_others_do_not_come() -> None:
    work = Recorder()

    async def main() -> None:
        batcher = Batcher(work, max_items=64, gather_seconds=0.05)
        await asyncio.gather(batcher.submit(1), batcher.submit(2), batcher.submit(3))
        assert await batcher.submit(4) == 8  # one of three came back: it runs alone

    asyncio.run(asyncio.wait_for(main(), timeout=60))
    assert work.batches == [[1, 2, 3], [4]]
