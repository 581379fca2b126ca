"""`make bench`: every benchmark on SQLite and on PostgreSQL, each against the raw cost of the
same work measured in the same run, printed as one table (and saved as JSON).

    .venv/bin/python -m benchmarks [--backends sqlite,postgresql] [--clips 1000000]
        [--rate-clips 200000] [--only ingest,sweeper,erasure,renewals]
        [--ingest-seconds 10] [--ingest-rounds 2] [--ingest-connections 64,8]
        [--ingest-large-connections 16] [--renewals 400] [--clips-dir DIR]
        [--json var/bench.json]

The ingest part alone (`--only ingest`, wrk against a real server) takes about 6 minutes with
the defaults: per backend, 3 points x 2 endpoints x 2 rounds of `--ingest-seconds`, plus
warm-ups and seeding.

PostgreSQL is the server at KASACARE_BENCH_POSTGRES_URL (default: 127.0.0.1:5432, user
postgres); each run creates its own database with a unique name and drops it. Without a
reachable server the PostgreSQL half is skipped with a message. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import erasure, ingest, renewals, sweeping
from benchmarks.databases import (
    fresh_database,
    machine,
    postgres_unavailable,
    postgres_version,
)

CLIPS_PER_CAMERA_DAY = 100
WORKERS_TEXT = f"{ingest.WORKERS} workers"
DAY = 86400


PARTS = ("ingest", "sweeper", "erasure", "renewals")


@dataclass(slots=True)
class BackendRun:
    """A backend's figures; a part left out with `--only` is None."""

    backend: str
    #: One per `--ingest-connections`, in that order; the first is the node under load.
    ingest: list[ingest.IngestFigures] | None
    sweep: sweeping.SweepFigures | None
    erasure: erasure.ErasureFigures | None
    load: list[tuple[float, float, float]] = field(default_factory=list)
    renewals: renewals.RenewalFigures | None = None

    @property
    def seconds_per_clip(self) -> float:
        """Node time one clip costs over its life: its upload (the node's whole ingest
        capacity) plus its sweep (counted as if the sweeper had the node to itself)."""
        assert self.ingest and self.sweep is not None
        return 1 / self.ingest[0].service.rate + 1 / self.sweep.sweep_rate

    @property
    def cameras(self) -> float:
        return DAY / (CLIPS_PER_CAMERA_DAY * self.seconds_per_clip)


def main(argv: list[str] | None = None) -> None:
    options = _options(argv)
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)  # a log file: the whole table, unwrapped
    started = time.perf_counter()
    info = machine()
    backends = [b.strip() for b in options.backends.split(",") if b.strip()]
    skipped: dict[str, str] = {}
    if "postgresql" in backends:
        reason = postgres_unavailable()
        if reason is None:
            info["postgresql"] = postgres_version()
        else:
            skipped["postgresql"] = reason
            backends.remove("postgresql")
            console.print(
                f"[yellow]PostgreSQL is not reachable ({reason}); its half is skipped. Start "
                "it or set KASACARE_BENCH_POSTGRES_URL.[/yellow]"
            )
    console.print(
        "machine: "
        + ", ".join(f"{name} {value}" for name, value in info.items())
        + f"; load average {_load()}"
    )
    clips_parent = Path(options.clips_dir) if options.clips_dir else _default_clips_parent()
    runs = []
    # The uploads' clips stay until the whole run is over: on an ext4 without a journal (as
    # on our CI machines), a new file's inode is searched for past every inode freed in the
    # last minutes, so deleting one backend's clips would slow the next backend's uploads.
    with tempfile.TemporaryDirectory(prefix="kasacare-bench-ingest-") as ingest_clips:
        for backend in backends:
            runs.append(_run_backend(backend, options, clips_parent, Path(ingest_clips), console))
    console.print(_table(runs, options))
    for run in runs:
        if run.ingest and run.sweep is not None and run.erasure is not None:
            console.print(_details(run) + _capacity_line(run))
    total = time.perf_counter() - started
    console.print(f"benchmarks took {total:.0f} s; clip files for the sweeper under {clips_parent}")
    if options.json:
        path = Path(options.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_json(runs, info, skipped, options, total), indent=2) + "\n")
        console.print(f"results written to {path}")


def _options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--clips",
        type=int,
        default=1_000_000,
        help="N of benchmark 3 (sweep 1%% of N expired against all N)",
    )
    parser.add_argument(
        "--rate-clips",
        type=int,
        default=200_000,
        help="clips of benchmark 2 (the sweeper against raw statements, same rows)",
    )
    parser.add_argument(
        "--renewals",
        type=int,
        default=400,
        help="monthly subscribers all due at once in benchmark 5",
    )
    parser.add_argument(
        "--ingest-seconds", type=float, default=10.0, help="one wrk run (whole seconds)"
    )
    parser.add_argument("--ingest-rounds", type=int, default=2)
    parser.add_argument(
        "--ingest-connections",
        default=",".join(map(str, ingest.CONNECTIONS)),
        help="wrk connections of the 64 KiB points of benchmark 1 (goal 50%% at the first, "
        "30%% at the others)",
    )
    parser.add_argument(
        "--ingest-large-connections",
        type=int,
        default=ingest.LARGE_CONNECTIONS,
        help="wrk connections of the 2 MiB point (MB/s, goal 50%%); 0 leaves it out",
    )
    parser.add_argument(
        "--clips-dir",
        default="",
        help="where the sweeper benchmarks put clip files (default: /dev/shm if present)",
    )
    parser.add_argument("--json", default="var/bench-results.json")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=(
            "which benchmarks to run: ingest (1), sweeper (2-3), erasure (4), renewals (6); "
            "comma-separated"
        ),
    )
    options = parser.parse_args(argv)
    options.parts = {part.strip() for part in options.only.split(",") if part.strip()}
    if not options.parts or options.parts - set(PARTS):
        parser.error(f"--only takes some of {', '.join(PARTS)}")
    try:
        options.connections = [int(part) for part in options.ingest_connections.split(",")]
    except ValueError:
        options.connections = []
    if not options.connections or min(options.connections) < 1:
        parser.error("--ingest-connections takes positive whole numbers, comma-separated")
    return options


def _default_clips_parent() -> Path:
    """tmpfs when there is one: seeding hundreds of thousands of files on a slow virtual disk
    would take longer than the benchmark; both sides of each comparison unlink the same files
    in the same place, so the ratios hold either way (see docs/benchmarks.md)."""
    shm = Path("/dev/shm")  # noqa: S108 (a directory of our own is made inside it)
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def _run_backend(
    backend: str,
    options: argparse.Namespace,
    clips_parent: Path,
    ingest_clips: Path,
    console: Console,
) -> BackendRun:
    def log(message: str) -> None:
        console.print(f"  [dim]{backend}[/dim] {message}")

    console.rule(f"[bold]{backend}")
    load = [os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="kasacare-bench-") as work:
        directory = Path(work)
        ingest_figures = sweep_figures = erasure_figures = None
        if "ingest" in options.parts:
            log("1. clip ingest over HTTP (kasacare serve --workers 2, wrk)")
            with fresh_database(backend, directory) as url:
                ingest_figures = ingest.run(
                    url,
                    directory,
                    ingest_clips / backend,
                    log,
                    seconds=options.ingest_seconds,
                    rounds=options.ingest_rounds,
                    chosen=ingest.points(options.connections, options.ingest_large_connections),
                )
            load.append(os.getloadavg())
        if "sweeper" in options.parts:
            log("2-3. the sweeper")
            with (
                fresh_database(backend, directory) as url,
                tempfile.TemporaryDirectory(prefix="kasacare-bench-", dir=clips_parent) as clips,
            ):
                sweep_figures = sweeping.run(
                    url, Path(clips), options.rate_clips, options.clips, log
                )
            load.append(os.getloadavg())
        if "erasure" in options.parts:
            log("4. erasure of a 30-day, 10-camera Premium history on cancel")
            with (
                fresh_database(backend, directory) as url,
                tempfile.TemporaryDirectory(prefix="kasacare-bench-", dir=clips_parent) as clips,
            ):
                erasure_figures = erasure.run(url, Path(clips), log)
            load.append(os.getloadavg())
        renewal_figures = None
        if "renewals" in options.parts:
            log(f"6. renewals: {options.renewals:,} monthly subscribers due at once")
            with fresh_database(backend, directory) as url:
                renewal_figures = renewals.run(url, directory, options.renewals, log)
            load.append(os.getloadavg())
    return BackendRun(
        backend, ingest_figures, sweep_figures, erasure_figures, load, renewal_figures
    )


Row = tuple[str, str, str, str, str, bool | None]


def _table(runs: list[BackendRun], options: argparse.Namespace) -> Table:
    table = Table(title="Kasa Care benchmarks", title_justify="left")
    for column in ("backend", "benchmark", "service", "raw, same run"):
        table.add_column(column)
    table.add_column("ratio", justify="right")
    table.add_column("goal")
    table.add_column("met")
    for run in runs:
        rows = [
            *(_ingest_rows(run.ingest) if run.ingest else []),
            *(_sweep_rows(run.sweep) if run.sweep else []),
            *(_erasure_rows(run.erasure) if run.erasure else []),
            *(_renewal_rows(run.renewals) if run.renewals else []),
            *(_capacity_rows(run) if run.ingest and run.sweep else []),
        ]
        for index, (name, service, raw, ratio, goal, met) in enumerate(rows):
            table.add_row(
                run.backend if index == 0 else "",
                name,
                service,
                raw,
                ratio,
                goal,
                "" if met is None else ("[green]yes[/green]" if met else "[red]no[/red]"),
                end_section=index == len(rows) - 1,
            )
    return table


def _ingest_rows(figures: list[ingest.IngestFigures]) -> list[Row]:
    rows: list[Row] = []
    for index, i in enumerate(figures):
        cpu = f"; CPU {_ms(i.service.cpu_per_request)}/clip" if i.service.cpu_per_request else ""
        bare_cpu = f"; CPU {_ms(i.bare.cpu_per_request)}/req" if i.bare.cpu_per_request else ""
        size = f"{i.payload_bytes // 1024} KiB"
        if i.payload_bytes >= 1024 * 1024:
            size = f"{i.payload_bytes // (1024 * 1024)} MiB"
        name = (
            f"1. ingest over HTTP ({WORKERS_TEXT}, wrk, {i.connections} connections, {size})"
            if index == 0
            else f"1{chr(ord('a') + index)}. the same, {i.connections} connections, {size}"
        )
        service, bare = f"{i.service.rate:,.0f} clips/s", f"{i.bare.rate:,.0f} req/s"
        if i.payload_bytes >= 1024 * 1024:  # the bytes' throughput is what counts here
            service = f"{i.service.megabytes_per_second:,.0f} MB/s ({service})"
            bare = f"{i.bare.megabytes_per_second:,.0f} MB/s ({bare})"
        rows.append(
            (
                name,
                service + cpu,
                f"{bare} bare endpoint{bare_cpu}",
                _pct(i.ratio) + (f" (CPU {_pct(i.cpu_ratio)})" if i.cpu_ratio else ""),
                f"≥ {i.point.goal:.0%}",
                i.met,
            )
        )
    return rows


def _sweep_rows(s: sweeping.SweepFigures) -> list[Row]:
    return [
        (
            f"2. sweeper deletes, {s.clips:,} expired clips",
            f"{s.sweep_rate:,.0f} clips/s",
            f"{s.raw_rate:,.0f}/s DELETE + unlink",
            _pct(s.speed_ratio),
            "≥ 70%",
            s.speed_ratio >= 0.7,
        ),
        (
            "2b. the same, raw UPDATE (rows stay listed, V3a)",
            f"{s.sweep_rate:,.0f} clips/s",
            f"{s.raw_update_rate:,.0f}/s UPDATE + unlink",
            _pct(s.update_ratio),
            "yardstick",
            None,
        ),
        (
            f"3. sweep {s.expired_share:.0%} expired of {s.partial_clips:,} vs all",
            _ms(s.partial_seconds),
            f"{_ms(s.all_seconds)} all ({s.all_rate:,.0f} clips/s)",
            _pct(s.partial_ratio),
            "≤ 5%",
            s.partial_ratio <= 0.05,
        ),
    ]


def _renewal_rows(r: renewals.RenewalFigures) -> list[Row]:
    return [
        (
            f"6. renewals, {r.subscribers:,} due at once ({r.workers} workers)",
            f"{r.rate:,.0f} renewals/s",
            f"{r.raw_batch_rate:,.0f}/s INSERT x3 + UPDATE, 100 a transaction "
            f"({r.raw_rate:,.0f}/s one a transaction)",
            _pct(r.ratio),
            "≥ 1,000/s",
            r.rate >= 1000,
        )
    ]


def _erasure_rows(e: erasure.ErasureFigures) -> list[Row]:
    return [
        (
            f"4. erasure on Premium cancel, {e.erased:,} of {e.clips:,} clips",
            f"{_ms(e.erasure_seconds)} ({_ms(e.mark_seconds)} mark, {_ms(e.bytes_seconds)} bytes)",
            f"{_ms(e.raw_seconds)} ({_ms(e.raw_mark_seconds)} UPDATE, "
            f"{_ms(e.raw_delete_seconds)} DELETE + unlink)",
            _pct(e.ratio),
            "none set",
            None,
        )
    ]


def _capacity_rows(run: BackendRun) -> list[Row]:
    return [
        (
            f"5. cameras at {CLIPS_PER_CAMERA_DAY} clips/day, one node",
            f"{run.cameras:,.0f} ({run.cameras / 2:,.0f} at 50% load)",
            f"{run.seconds_per_clip * 1000:.2f} ms node time/clip",
            "",
            "",
            None,
        )
    ]


def _details(run: BackendRun) -> str:
    assert run.ingest and run.erasure is not None
    i, e = run.ingest[0], run.erasure
    return (
        f"{run.backend}: ingest latency p50 {_ms(i.service.p50)}, p99 "
        f"{_ms(i.service.p99)} (bare p50 {_ms(i.bare.p50)}, p99 "
        f"{_ms(i.bare.p99)}); the cancel took {_ms(e.cancel_seconds)} with the "
        f"history, {_ms(e.cancel_without_clips_seconds)} without; "
    )


def _capacity_line(run: BackendRun) -> str:
    assert run.ingest and run.sweep is not None
    return (
        f"one clip costs {1000 / run.ingest[0].service.rate:.2f} ms of node time "
        f"to ingest and {1000 / run.sweep.sweep_rate:.3f} ms to sweep; at "
        f"{CLIPS_PER_CAMERA_DAY} clips a camera a day that is {run.cameras:,.0f} cameras; "
        f"load average during the run {', '.join(f'{one:.1f}' for one, _, _ in run.load)}"
    )


def _json(
    runs: list[BackendRun],
    info: dict[str, str],
    skipped: dict[str, str],
    options: argparse.Namespace,
    total: float,
) -> dict[str, Any]:
    return {
        "machine": info,
        "skipped": skipped,
        "options": {k: sorted(v) if isinstance(v, set) else v for k, v in vars(options).items()},
        "seconds": total,
        "backends": {run.backend: _json_run(run) for run in runs},
    }


def _json_run(run: BackendRun) -> dict[str, Any]:
    figures: dict[str, Any] = {"load_average": run.load}
    if run.ingest is not None:
        figures["ingest"] = [_json_ingest(i) for i in run.ingest]
    if run.sweep is not None:
        s = run.sweep
        figures["sweep"] = {
            "clips": s.clips,
            "sweep_seconds": s.sweep_seconds,
            "raw_delete_seconds": s.raw_seconds,
            "raw_update_seconds": s.raw_update_seconds,
            "ratio_vs_delete": s.speed_ratio,
            "ratio_vs_update": s.update_ratio,
            "sweep_rate": s.sweep_rate,
            "raw_delete_rate": s.raw_rate,
            "raw_update_rate": s.raw_update_rate,
            "partial_clips": s.partial_clips,
            "all_seconds": s.all_seconds,
            "all_rate": s.all_rate,
            "partial_seconds": s.partial_seconds,
            "partial_ratio": s.partial_ratio,
        }
    if run.erasure is not None:
        e = run.erasure
        figures["erasure"] = {
            "clips": e.clips,
            "erased": e.erased,
            "cancel_seconds": e.cancel_seconds,
            "cancel_without_clips_seconds": e.cancel_without_clips_seconds,
            "bytes_seconds": e.bytes_seconds,
            "mark_seconds": e.mark_seconds,
            "raw_mark_seconds": e.raw_mark_seconds,
            "raw_delete_seconds": e.raw_delete_seconds,
            "ratio": e.ratio,
        }
    if run.renewals is not None:
        r = run.renewals
        figures["renewals"] = {
            "subscribers": r.subscribers,
            "workers": r.workers,
            "seconds": r.seconds,
            "raw_seconds": r.raw_seconds,
            "raw_batch_seconds": r.raw_batch_seconds,
            "rate": r.rate,
            "raw_rate": r.raw_rate,
            "raw_batch_rate": r.raw_batch_rate,
            "ratio": r.ratio,
        }
    if run.ingest and run.sweep is not None:
        figures["seconds_per_clip"] = run.seconds_per_clip
        figures["cameras"] = run.cameras
    return figures


def _json_ingest(i: ingest.IngestFigures) -> dict[str, Any]:
    return {
        "connections": i.connections,
        "payload_bytes": i.payload_bytes,
        "goal": i.point.goal,
        "service_rate": i.service.rate,
        "service_mb_per_s": i.service.megabytes_per_second,
        "service_p50_ms": i.service.p50 * 1000,
        "service_p99_ms": i.service.p99 * 1000,
        "service_cpu_ms": i.service.cpu_per_request * 1000,
        "bare_rate": i.bare.rate,
        "bare_mb_per_s": i.bare.megabytes_per_second,
        "bare_p50_ms": i.bare.p50 * 1000,
        "bare_p99_ms": i.bare.p99 * 1000,
        "bare_cpu_ms": i.bare.cpu_per_request * 1000,
        "ratio": i.ratio,
        "cpu_ratio": i.cpu_ratio,
        "met": i.met,
    }


def _pct(ratio: float) -> str:
    return f"{ratio:.0%}" if ratio >= 0.1 else f"{ratio:.1%}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())
