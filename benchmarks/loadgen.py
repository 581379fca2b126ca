"""The load generator of the ingest benchmark: wrk (Debian's `wrk`, C, one event loop a thread)
driven by a Lua script (benchmarks/wrk/). A load generator in C costs the shared machine far
less CPU than the server it measures, where a Python client took CPU from the server (the
bare endpoint, the cheaper one, then lost the most: issue 11 measured 55% with a Python
client for 41% with wrk). `make bench` installs wrk where it is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).parent / "wrk"
THREADS = 2

#: CPU seconds so far of the server's processes, by pid (`benchmarks.cpu.snapshot`).
CpuSnapshot = Callable[[], dict[int, float]]


@dataclass(frozen=True, slots=True)
class WrkResult:
    """One wrk run: answers counted over its duration, with the server's CPU meanwhile."""

    requests: int
    seconds: float
    #: Bytes of request bodies sent (requests x body size), for MB/s.
    body_bytes: int
    p50: float
    p99: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.body_bytes / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_seconds / self.requests if self.requests else 0.0


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError(
            "wrk is missing: `make bench` installs it as root (apt-get install -y wrk)"
        )
    return path


def run_wrk(
    url: str,
    script: str,
    arguments: list[str],
    *,
    connections: int,
    seconds: float,
    body_bytes: int,
    cpu: CpuSnapshot | None = None,
) -> WrkResult:
    """Run wrk against `url` for `seconds` with `connections` keep-alive connections on
    `THREADS` threads; raise if any answer was not the one the script expects (its `done`
    prints one JSON line, see benchmarks/wrk/ingest.lua) or any socket error happened."""
    command = [
        wrk_path(),
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(SCRIPTS / script),
        url,
        "--",
        *arguments,
    ]
    before = cpu() if cpu else {}
    finished = subprocess.run(  # noqa: S603 (wrk, found on PATH, our own arguments)
        command, capture_output=True, text=True, check=False
    )
    after = cpu() if cpu else {}
    lines = [line for line in finished.stdout.splitlines() if line.startswith("{")]
    if finished.returncode != 0 or not lines:
        raise RuntimeError(
            f"wrk failed ({finished.returncode}):\n{finished.stdout}\n{finished.stderr}"
        )
    figures = json.loads(lines[-1])
    socket_errors = {
        name: figures[name] for name in ("connect", "read", "write", "timeout") if figures[name]
    }
    if figures["unexpected"] or figures["non_2xx"] or socket_errors:
        raise RuntimeError(
            f"wrk {url}: {figures['unexpected']} unexpected answers ({figures['samples']}), "
            f"socket errors {socket_errors}"
        )
    requests = int(figures["requests"])
    return WrkResult(
        requests=requests,
        seconds=figures["duration_us"] / 1e6,
        body_bytes=requests * body_bytes,
        p50=figures["p50_us"] / 1e6,
        p99=figures["p99_us"] / 1e6,
        cpu_seconds=sum(value - before.get(pid, 0.0) for pid, value in after.items()),
    )
