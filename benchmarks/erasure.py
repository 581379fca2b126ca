"""Benchmark 4: the erasure of a 30-day, 10-camera Premium history when the owner cancels,
against the raw UPDATE that marks the same clips erased; then the deletion of their bytes by
the sweeper against a raw DELETE + unlink of the same rows and files."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select, text, update

from benchmarks.seed import (
    api,
    cameras,
    card_on_file,
    count_files,
    expect,
    insert_clips,
    owner,
    service,
    sign_in,
    spread,
    write_files,
)
from benchmarks.sweeping import analyze, raw_delete
from benchmarks.timing import timed
from kasacare import jobs as post_commit_jobs
from kasacare.clips.models import Clip
from kasacare.clips.sweeper import SweepResult
from kasacare.kit.clock import FixedClock

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
HISTORY = timedelta(days=30)  # Premium
FREE_WINDOW = timedelta(hours=48)  # KC120's free plan, what the cameras fall back to
CAMERAS = 10
CLIPS_PER_DAY = 100


@dataclass(frozen=True, slots=True)
class ErasureFigures:
    clips: int
    erased: int
    cancel_seconds: float
    cancel_without_clips_seconds: float
    #: Of `cancel_seconds`: the sweep after the commit that deletes the erased clips' bytes.
    bytes_seconds: float
    raw_mark_seconds: float
    raw_delete_seconds: float

    @property
    def erasure_seconds(self) -> float:
        """What the history adds to the cancel: marking (in its transaction) and deleting the
        bytes (after its commit)."""
        return max(self.cancel_seconds - self.cancel_without_clips_seconds, 1e-9)

    @property
    def mark_seconds(self) -> float:
        return max(self.erasure_seconds - self.bytes_seconds, 1e-9)

    @property
    def raw_seconds(self) -> float:
        return self.raw_mark_seconds + self.raw_delete_seconds

    @property
    def ratio(self) -> float:
        return self.raw_seconds / self.erasure_seconds

    @property
    def mark_ratio(self) -> float:
        return self.raw_mark_seconds / self.mark_seconds

    @property
    def delete_ratio(self) -> float:
        return self.raw_delete_seconds / self.bytes_seconds


def run(database_url: str, root: Path, log: Callable[[str], None]) -> ErasureFigures:
    with service(database_url, root, NOW - timedelta(days=70)) as context:
        clock = context.clock
        assert isinstance(clock, FixedClock)
        engine = context.engine
        with api(context) as client:
            owners = []
            for name in ("premium", "premium-without-clips"):
                email = f"{name}@bench.example.com"
                headers = owner(client, email)
                card_on_file(client, headers, NOW.year + 3)
                owners.append((email, cameras(client, headers, "KC120", CAMERAS)))
            clock.set(NOW - timedelta(days=60))
            for email, camera_ids in owners:
                expect(
                    client.post(
                        "/v1/subscription",
                        json={
                            "plan": "premium",
                            "cycle": "annual",
                            "camera_ids": [str(c) for c in camera_ids],
                        },
                        headers=sign_in(client, email),
                    ),
                    201,
                )
            (with_clips, camera_ids), (without_clips, _) = owners
            count = CAMERAS * CLIPS_PER_DAY * HISTORY.days
            history = spread(camera_ids, count, NOW - HISTORY + timedelta(minutes=1), NOW, HISTORY)
            log(f"seeding a 30-day Premium history: {count:,} clips of {CAMERAS} cameras")
            insert_clips(engine, history, NOW - timedelta(days=1))
            write_files(root, history)
            analyze(engine)
            clock.set(NOW)
            sweeps: list[float] = []
            with _timing_sweeps(sweeps):
                cancel_seconds = _cancel(client, sign_in(client, with_clips))
                bytes_seconds = sum(sweeps)
                cancel_without_clips_seconds = _cancel(client, sign_in(client, without_clips))
        erased = _erased(engine)
        assert count_files(root) == count - erased, "the cancel deletes the erased bytes"
        log(
            f"cancel: {cancel_seconds:.3f} s with the history ({erased:,} clips erased, "
            f"{bytes_seconds:.3f} s of it deleting their bytes), "
            f"{cancel_without_clips_seconds:.3f} s without"
        )

        # The same history again, for the raw statements.
        with engine.begin() as connection:
            connection.execute(delete(Clip))
        insert_clips(engine, history, NOW - timedelta(days=1))
        write_files(root, [clip for clip in history if NOW - clip.started_at >= FREE_WINDOW])
        analyze(engine)
        marked, raw_mark_seconds = timed(lambda: _raw_mark(engine, camera_ids))
        assert marked == erased, (marked, erased)
        _, raw_delete_seconds = timed(lambda: raw_delete(engine, root, Clip.erased_at == NOW))
        log(f"raw UPDATE: {raw_mark_seconds:.3f} s; raw DELETE + unlink {raw_delete_seconds:.3f} s")
    return ErasureFigures(
        clips=count,
        erased=erased,
        cancel_seconds=cancel_seconds,
        cancel_without_clips_seconds=cancel_without_clips_seconds,
        bytes_seconds=bytes_seconds,
        raw_mark_seconds=raw_mark_seconds,
        raw_delete_seconds=raw_delete_seconds,
    )


@contextmanager
def _timing_sweeps(seconds: list[float]) -> Iterator[None]:
    """Time the sweep that `jobs.after_commit` runs after a change's commit (instrumentation of
    the benchmark only: the jobs module's `sweep` is wrapped for the duration)."""
    original = post_commit_jobs.sweep  # type: ignore[attr-defined]

    def timed_sweep(*args: Any, **kwargs: Any) -> SweepResult:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - started)

    post_commit_jobs.sweep = timed_sweep  # type: ignore[attr-defined]
    try:
        yield
    finally:
        post_commit_jobs.sweep = original  # type: ignore[attr-defined]


def _cancel(client: TestClient, headers: dict[str, str]) -> float:
    _, seconds = timed(lambda: expect(client.delete("/v1/subscription", headers=headers), 200))
    return seconds


def _erased(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(Clip).where(Clip.erased_at.is_not(None))
            ).scalar_one()
        )


def _raw_mark(engine: Engine, camera_ids: list[uuid.UUID]) -> int:
    """The raw statements of the same erasure: mark what falls outside the 48 h window, give
    the clips still held their 48 h expiry."""
    held = (
        Clip.camera_id.in_(camera_ids),
        Clip.erased_at.is_(None),
        Clip.deleted_at.is_(None),
        Clip.expires_at > NOW,
    )
    if engine.dialect.name == "postgresql":
        new_expiry = text("started_at + interval '48 hours'")
    else:
        new_expiry = text("strftime('%Y-%m-%d %H:%M:%f', started_at, '+48 hours')")
    with engine.begin() as connection:
        marked = connection.execute(
            update(Clip).where(*held, Clip.started_at <= NOW - FREE_WINDOW).values(erased_at=NOW)
        ).rowcount
        connection.execute(
            update(Clip)
            .where(*held, Clip.started_at > NOW - FREE_WINDOW)
            .values(expires_at=new_expiry)
        )
    return int(marked)
