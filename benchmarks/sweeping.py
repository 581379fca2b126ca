"""Benchmarks 2 and 3: the sweeper against a raw DELETE + unlink of the same rows and files,
and sweeping 1% expired out of N clips against sweeping all N."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, Engine, case, delete, func, select, text, update

from benchmarks.seed import (
    SeedClip,
    api,
    cameras,
    count_files,
    insert_clips,
    owner,
    service,
    spread,
    write_files,
)
from benchmarks.timing import timed
from kasacare.clips.models import Clip, SweepProgress
from kasacare.clips.sweeper import SweepResult, sweep
from kasacare.kit.clock import FixedClock

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
WINDOW = timedelta(hours=48)  # KC120's free plan
CAMERAS = 100


@dataclass(frozen=True, slots=True)
class SweepFigures:
    #: Benchmark 2: the sweeper against raw statements over the same `clips` rows and files.
    clips: int
    raw_seconds: float
    raw_update_seconds: float
    sweep_seconds: float
    #: Benchmark 3: sweeping `expired_share` of `partial_clips` against sweeping them all.
    expired_share: float
    partial_clips: int
    all_seconds: float
    partial_seconds: float

    @property
    def raw_rate(self) -> float:
        return self.clips / self.raw_seconds

    @property
    def sweep_rate(self) -> float:
        return self.clips / self.sweep_seconds

    @property
    def raw_update_rate(self) -> float:
        return self.clips / self.raw_update_seconds

    @property
    def all_rate(self) -> float:
        return self.partial_clips / self.all_seconds

    @property
    def speed_ratio(self) -> float:
        """The sweeper's deletes per second as a share of the raw DELETE + unlink's."""
        return self.raw_seconds / self.sweep_seconds

    @property
    def update_ratio(self) -> float:
        """The same against a raw UPDATE (the row stays listed, V3a) + unlink."""
        return self.raw_update_seconds / self.sweep_seconds

    @property
    def partial_ratio(self) -> float:
        """Sweeping `expired_share` of the clips, as a share of the time to sweep them all."""
        return self.partial_seconds / self.all_seconds


def run(
    database_url: str, root: Path, rate_clips: int, clips: int, log: Callable[[str], None]
) -> SweepFigures:
    with service(database_url, root, NOW - timedelta(days=10)) as context:
        clock = context.clock
        assert isinstance(clock, FixedClock)
        with api(context) as client:
            camera_ids = cameras(
                client, owner(client, "sweeper@bench.example.com"), "KC120", CAMERAS
            )
        clock.set(NOW)
        engine = context.engine

        def sweep_now() -> SweepResult:
            return sweep(context.sessions, context.storage, context.catalog, NOW)

        # 2. Every clip expired (started 2 to 4 days ago, kept 48 h): the same rows and files
        # deleted by raw statements, then marked by a raw UPDATE, then swept (the sweeper
        # moves its watermark and leaves the rows as they are, V3a).
        expired = spread(camera_ids, rate_clips, NOW - 2 * WINDOW, NOW - WINDOW, WINDOW)
        log(f"2. seeding {rate_clips:,} expired clips and their files")
        _seed(engine, root, expired)
        _, raw_seconds = timed(lambda: _raw_delete(engine, root))
        _check(engine, root, rows=0, files=0)
        log(f"raw DELETE + unlink: {raw_seconds:.2f} s; seeding the same clips again")
        _seed(engine, root, expired)
        _, raw_update_seconds = timed(lambda: _raw_update(engine, root))
        _check(engine, root, rows=rate_clips, files=0)
        log(f"raw UPDATE + unlink: {raw_update_seconds:.2f} s; the same clips undeleted again")
        with engine.begin() as connection:
            connection.execute(update(Clip).values(deleted_at=None))
        _reset_watermark(engine)
        write_files(root, expired)
        analyze(engine)
        result, sweep_seconds = timed(sweep_now)
        assert result.deleted == rate_clips and result.mismatches == 0, result
        _check(engine, root, rows=rate_clips, files=0)
        log(f"sweeper: {sweep_seconds:.2f} s")
        with engine.begin() as connection:
            connection.execute(delete(Clip))
        del expired

        # 3. N clips all expired, swept; then the same N with 1% expired, swept.
        log(f"3. seeding {clips:,} expired clips and their files")
        expired = spread(camera_ids, clips, NOW - 2 * WINDOW, NOW - WINDOW, WINDOW)
        _reset_watermark(engine)  # benchmark 2's clips had the same times
        _seed(engine, root, expired)
        result, all_seconds = timed(sweep_now)
        assert result.deleted == clips and result.mismatches == 0, result
        share = 0.01
        stale = expired[: int(clips * share)]  # the earliest 1%: `spread` is in time order
        log(f"sweeper, all {clips:,} expired: {all_seconds:.2f} s; now 1% of them expired")
        with engine.begin() as connection:
            # Back to held, and 99% of them inside their window again.
            connection.execute(
                update(Clip).values(
                    deleted_at=None,
                    expires_at=case(
                        (Clip.started_at <= stale[-1].started_at, Clip.expires_at),
                        else_=NOW + timedelta(days=1),
                    ),
                )
            )
        _reset_watermark(engine)  # the stale 1% are behind where the full sweep left it
        write_files(root, stale)
        del expired
        analyze(engine)
        result, partial_seconds = timed(sweep_now)
        assert result.deleted == len(stale) and result.mismatches == 0, result
        log(f"sweeper, 1% expired: {partial_seconds:.3f} s")
    return SweepFigures(
        clips=rate_clips,
        raw_seconds=raw_seconds,
        raw_update_seconds=raw_update_seconds,
        sweep_seconds=sweep_seconds,
        expired_share=share,
        partial_clips=clips,
        all_seconds=all_seconds,
        partial_seconds=partial_seconds,
    )


def _reset_watermark(engine: Engine) -> None:
    """The sweeper starts from the beginning again (no progress row: nothing swept)."""
    with engine.begin() as connection:
        connection.execute(delete(SweepProgress))


def _seed(engine: Engine, root: Path, clips: list[SeedClip]) -> None:
    insert_clips(engine, clips, NOW - WINDOW)
    write_files(root, clips)
    analyze(engine)


def analyze(engine: Engine) -> None:
    """Fresh planner statistics, and on PostgreSQL no dead rows left by the previous phase."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE clips"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE clips"))


def raw_delete(engine: Engine, root: Path, *criteria: ColumnElement[bool]) -> int:
    """The raw cost: one SELECT of the keys, one unlink per file, one DELETE of the rows."""
    with engine.begin() as connection:
        keys = connection.execute(select(Clip.storage_key).where(*criteria)).scalars().all()
        for key in keys:
            os.unlink(root / key)
        connection.execute(delete(Clip).where(*criteria))
    return len(keys)


def _raw_delete(engine: Engine, root: Path) -> int:
    return raw_delete(engine, root, Clip.deleted_at.is_(None), Clip.expires_at <= NOW)


def _raw_update(engine: Engine, root: Path) -> int:
    """The raw cost of what the sweeper does to a row: mark it deleted (it stays listed)."""
    criteria = (Clip.deleted_at.is_(None), Clip.expires_at <= NOW)
    with engine.begin() as connection:
        keys = connection.execute(select(Clip.storage_key).where(*criteria)).scalars().all()
        for key in keys:
            os.unlink(root / key)
        connection.execute(update(Clip).where(*criteria).values(deleted_at=NOW))
    return len(keys)


def _check(engine: Engine, root: Path, *, rows: int, files: int) -> None:
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(Clip)).scalar_one()
    assert count == rows, (count, rows)
    assert count_files(root) == files
