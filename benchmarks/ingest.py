"""Benchmark 1: clip ingest over HTTP. The service runs as `kasacare serve --workers 2` with
the bare endpoint wired (`KASACARE_BENCH_BARE_ENDPOINT=1`); the same multipart bodies go to
`POST /v1/device/clips` (device token, entitlement, window check, durable write to the clip
storage, clip row) and to `POST /v1/bench/bare-clips` (parse the same body, read the video,
answer 201), alternately, and the throughputs are compared.

It runs at several concurrencies (keep-alive connections, one camera each): the goal is
measured at `CONNECTIONS[0]`, a node's load, where many cameras upload at once; the lower
one shows what group commit shares when few do (each worker's group then holds only the
few uploads that came together). The setup's own writes (database, migrations, cameras) are
flushed to disk before the first round, so that no round pays for them, and each level's
first round warms up for `FIRST_WARMUP` seconds instead of `WARMUP`: on a fresh SQLite
database the first seconds of uploads cost about a third more CPU a clip than every later
round (measured over 4 rounds), a start-up effect, not the steady state measured here."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from benchmarks import cpu
from benchmarks.load import LoadResult, multipart_request, run_load
from benchmarks.server import running_server
from kasacare.bench_routes import BARE_CLIPS_PATH
from kasacare.clips.mp4 import mp4_like

UPLOAD_PATH = "/v1/device/clips"
#: Concurrent uploads (one keep-alive connection per camera): the goal's, then a low one.
CONNECTIONS = (64, 16)
PAYLOAD_BYTES = 64 * 1024
WARMUP, FIRST_WARMUP = 1.0, 5.0
WORKERS = 2


@dataclass(frozen=True, slots=True)
class IngestFigures:
    service: LoadResult
    bare: LoadResult
    payload_bytes: int
    connections: int

    @property
    def ratio(self) -> float:
        return self.service.rate / self.bare.rate if self.bare.rate else 0.0

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
    connections: Sequence[int] = CONNECTIONS,
) -> list[IngestFigures]:
    """One `IngestFigures` per entry of `connections`, in that order, on one server."""
    settings = {
        "KASACARE_DATABASE_URL": database_url,
        "KASACARE_STORAGE_URL": f"file://{clips_root}",
        "KASACARE_BENCH_BARE_ENDPOINT": "1",
        "KASACARE_JOBS_INTERVAL_SECONDS": "0",  # nothing else runs beside the uploads
    }
    with running_server(settings, directory / "ingest-server.log", WORKERS) as (port, pid):
        tokens = _fleet(port, max(connections))
        os.sync()
        payload = mp4_like(PAYLOAD_BYTES, os.urandom)
        # Distinct `started_at` per camera and request (a repeat would be a replay, answered
        # 200 without a write), all inside KC120's 48 h free window.
        base = datetime.now(UTC) - timedelta(minutes=10)
        counters = [0] * len(tokens)

        def build(path: str) -> Callable[[int, int], bytes]:
            def request(connection: int, _: int) -> bytes:
                counters[connection] += 1
                started = base - timedelta(milliseconds=counters[connection])
                return multipart_request(
                    "127.0.0.1",
                    port,
                    path,
                    {
                        "started_at": started.isoformat().replace("+00:00", "Z"),
                        "duration_s": "20",
                        "kind": "motion",
                    },
                    "video",
                    payload,
                    {"Authorization": f"Device {tokens[connection]}"},
                )

            return request

        figures = []
        for count in connections:
            service, bare = LoadResult(), LoadResult()
            for round_ in range(rounds):
                for name, path, total in (
                    ("bare endpoint", BARE_CLIPS_PATH, bare),
                    ("device upload", UPLOAD_PATH, service),
                ):
                    result = run_load(
                        "127.0.0.1",
                        port,
                        build(path),
                        connections=count,
                        seconds=seconds,
                        warmup=FIRST_WARMUP if round_ == 0 else WARMUP,
                        expect=201,
                        on_measure=lambda: cpu.snapshot(pid, database_url),
                    )
                    if result.failed:
                        raise RuntimeError(f"{name}: unexpected answers {dict(result.failed)}")
                    log(
                        f"{count} connections, round {round_ + 1}: {name} "
                        f"{result.rate:,.0f} clips/s, server CPU "
                        f"{result.cpu_per_request * 1000:.2f} ms a request"
                    )
                    total.seconds += result.seconds
                    total.ok += result.ok
                    total.latencies.extend(result.latencies)
                    total.cpu_seconds += result.cpu_seconds
                    total.counted += result.counted
            figures.append(IngestFigures(service, bare, PAYLOAD_BYTES, count))
    return figures


def _fleet(port: int, cameras: int) -> list[str]:
    """An owner with `cameras` KC120 cameras (free plan: cloud recording, 48 h)."""
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
