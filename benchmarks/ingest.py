"""Benchmark 1: clip ingest over HTTP, driven by wrk (`benchmarks.loadgen`, a C load generator
with the Lua script benchmarks/wrk/ingest.lua). The service runs as `kasacare serve --workers
2` with the bare endpoint wired (`KASACARE_BENCH_BARE_ENDPOINT=1`); the same multipart bodies
go to `POST /v1/device/clips` (device token, entitlement, window check, durable write to the
clip storage, clip row) and to `POST /v1/bench/bare-clips` (the same multipart parsing, the
video read, 201), alternately, round after round, and the throughputs of the same run are
compared.

Every request has its own `started_at` (a repeat would be a retry, answered 200 with nothing
written) and the device token of the next of `CAMERAS` cameras, seeded first through the API.
Three points (`Point`): 64 KiB clips at a node's load (64 connections: many cameras upload at
once, goal 50% of bare) and at a low one (8: each worker's group holds only the few uploads
that came together, goal 30%), and 2 MiB clips (MB/s, goal 50%), where the bytes' cost
(multipart parsing, the durable write) outweighs the rows'. The setup's own writes are flushed
to disk first, and each point starts with a warm-up of each endpoint (not counted): the first
seconds on a fresh database cost more a clip than the steady state measured here."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from benchmarks import cpu
from benchmarks.loadgen import THREADS, WrkResult, run_wrk
from benchmarks.server import running_server
from kasacare.bench_routes import BARE_CLIPS_PATH
from kasacare.clips.mp4 import mp4_like

UPLOAD_PATH = "/v1/device/clips"
#: Connections of the 64 KiB points: a node's load (the goal's), then a low one.
CONNECTIONS = (64, 8)
PAYLOAD_BYTES = 64 * 1024
LARGE_BYTES = 2 * 1024 * 1024
LARGE_CONNECTIONS = 16
CAMERAS = 128
WORKERS = 2
WARMUP, FIRST_WARMUP = 2.0, 5.0
#: How far apart the `started_at` ranges of two wrk runs lie (far more than a run's requests
#: take at 1 ms each), all of them inside KC120's 48 h free window.
SLOT = timedelta(minutes=20)


@dataclass(frozen=True, slots=True)
class Point:
    connections: int
    payload_bytes: int
    #: Upload throughput as a share of the bare endpoint's, same run.
    goal: float


def points(connections: Sequence[int], large_connections: int) -> list[Point]:
    chosen = [
        Point(count, PAYLOAD_BYTES, 0.5 if i == 0 else 0.3) for i, count in enumerate(connections)
    ]
    if large_connections:
        chosen.append(Point(large_connections, LARGE_BYTES, 0.5))
    return chosen


@dataclass(slots=True)
class Measured:
    """The rounds of one endpoint at one point, summed."""

    requests: int = 0
    seconds: float = 0.0
    body_bytes: int = 0
    cpu_seconds: float = 0.0
    p50s: list[float] = field(default_factory=list)
    p99s: list[float] = field(default_factory=list)

    def add(self, result: WrkResult) -> None:
        self.requests += result.requests
        self.seconds += result.seconds
        self.body_bytes += result.body_bytes
        self.cpu_seconds += result.cpu_seconds
        self.p50s.append(result.p50)
        self.p99s.append(result.p99)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.body_bytes / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_seconds / self.requests if self.requests else 0.0

    @property
    def p50(self) -> float:
        return sum(self.p50s) / len(self.p50s) if self.p50s else 0.0

    @property
    def p99(self) -> float:
        return max(self.p99s, default=0.0)


@dataclass(frozen=True, slots=True)
class IngestFigures:
    service: Measured
    bare: Measured
    point: Point

    @property
    def connections(self) -> int:
        return self.point.connections

    @property
    def payload_bytes(self) -> int:
        return self.point.payload_bytes

    @property
    def ratio(self) -> float:
        """Uploads (or, the same, their MB/s) as a share of the bare endpoint's."""
        return self.service.rate / self.bare.rate if self.bare.rate else 0.0

    @property
    def met(self) -> bool:
        return self.ratio >= self.point.goal

    @property
    def cpu_ratio(self) -> float:
        """The bare endpoint's server CPU per request as a share of the upload's."""
        service = self.service.cpu_per_request
        return self.bare.cpu_per_request / service if service else 0.0


def run(
    database_url: str,
    directory: Path,
    clips_root: Path,
    log: Callable[[str], None],
    *,
    seconds: float,
    rounds: int,
    chosen: Sequence[Point],
) -> list[IngestFigures]:
    """One `IngestFigures` per point, in that order, on one server."""
    settings = {
        "KASACARE_DATABASE_URL": database_url,
        "KASACARE_STORAGE_URL": f"file://{clips_root}",
        "KASACARE_BENCH_BARE_ENDPOINT": "1",
        "KASACARE_JOBS_INTERVAL_SECONDS": "0",  # nothing else runs beside the uploads
        "KASACARE_MEDIA_INTERVAL_SECONDS": "0",  # (the fake clips are not video)
        "KASACARE_DEVICE_CLAIMS": "off",  # the fleet is bound by serial, not provisioned
    }
    with (
        running_server(settings, directory / "ingest-server.log", WORKERS) as (port, pid),
        tempfile.TemporaryDirectory(prefix="kasacare-bench-wrk-") as scratch,
    ):
        tokens = "\n".join(_fleet(port, CAMERAS)) + "\n"
        os.sync()
        newest = datetime.now(UTC) - timedelta(minutes=10)
        runs = 0

        def measure(path: str, point: Point, inputs: Path, length: float) -> WrkResult:
            nonlocal runs
            base = newest - SLOT * runs
            runs += 1
            return run_wrk(
                f"http://127.0.0.1:{port}{path}",
                "ingest.lua",
                [str(inputs), str(int(base.timestamp() * 1000)), "201", str(THREADS)],
                connections=point.connections,
                seconds=length,
                body_bytes=point.payload_bytes,
                cpu=lambda: cpu.snapshot(pid, database_url),
            )

        figures = []
        for index, point in enumerate(chosen):
            inputs = Path(scratch) / f"point-{index}"
            inputs.mkdir()
            (inputs / "tokens").write_text(tokens)
            (inputs / "payload").write_bytes(mp4_like(point.payload_bytes, os.urandom))
            endpoints = (("bare endpoint", BARE_CLIPS_PATH), ("device upload", UPLOAD_PATH))
            for _, path in endpoints:
                measure(path, point, inputs, FIRST_WARMUP if index == 0 else WARMUP)
            service, bare = Measured(), Measured()
            for round_ in range(rounds):
                for (name, path), total in zip(endpoints, (bare, service), strict=True):
                    result = measure(path, point, inputs, seconds)
                    total.add(result)
                    log(
                        f"{point.connections} connections, {point.payload_bytes // 1024} KiB, "
                        f"round {round_ + 1}: {name} {result.rate:,.0f}/s "
                        f"({result.megabytes_per_second:,.0f} MB/s), server CPU "
                        f"{result.cpu_per_request * 1000:.2f} ms a request"
                    )
            figures.append(IngestFigures(service, bare, point))
    return figures


def _fleet(port: int, cameras: int) -> list[str]:
    """The device tokens of an owner's `cameras` KC120 cameras (free plan: cloud recording,
    48 h)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        email, password = f"ingest-{uuid.uuid4().hex[:8]}@bench.example.com", uuid.uuid4().hex
        account = {"email": email, "password": password, "country": "US"}
        client.post("/v1/accounts", json=account).raise_for_status()
        token = client.post("/v1/auth/token", json={"email": email, "password": password})
        headers = {"Authorization": f"Bearer {token.raise_for_status().json()['access_token']}"}
        tokens = []
        for index in range(cameras):
            camera = client.post(
                "/v1/cameras",
                json={
                    "model": "KC120",
                    "serial": f"ING{uuid.uuid4().hex[:16]}",
                    "name": f"{index}",
                },
                headers=headers,
            )
            tokens.append(camera.raise_for_status().json()["device_token"])
        return tokens
