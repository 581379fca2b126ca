"""A small HTTP/1.1 load generator: keep-alive connections on asyncio streams, requests built
as bytes, responses read by Content-Length. Lean on purpose, so the client costs little next
to the server it measures (both share the machine)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

#: Builds the `i`-th request of connection `connection` (the whole request, as bytes).
RequestFactory = Callable[[int, int], bytes]
#: CPU seconds so far of the server's processes, by pid.
CpuSnapshot = Callable[[], dict[int, float]]


@dataclass(slots=True)
class LoadResult:
    seconds: float = 0.0
    ok: int = 0
    failed: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    #: Server CPU seconds between two snapshots, and the answers completed between them.
    cpu_seconds: float = 0.0
    counted: int = 0
    completed: int = 0

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_seconds / self.counted if self.counted else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def multipart_request(
    host: str,
    port: int,
    path: str,
    fields: dict[str, str],
    file_field: str,
    payload: bytes,
    headers: dict[str, str],
) -> bytes:
    boundary = "kasacare-bench-boundary-7f3a"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        'filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n'.encode()
        + payload
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    body = b"".join(parts)
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Type: multipart/form-data; boundary={boundary}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def run_load(
    host: str,
    port: int,
    build: RequestFactory,
    *,
    connections: int,
    seconds: float,
    warmup: float,
    expect: int,
    on_measure: CpuSnapshot | None = None,
) -> LoadResult:
    """Send requests on `connections` keep-alive connections for `warmup` + `seconds`; count
    answers with status `expect` (and their latencies) during the last `seconds` only. With
    `on_measure`, the server's CPU is read when the measurement starts and ends."""
    return asyncio.run(_run(host, port, build, connections, seconds, warmup, expect, on_measure))


async def _run(
    host: str,
    port: int,
    build: RequestFactory,
    connections: int,
    seconds: float,
    warmup: float,
    expect: int,
    on_measure: CpuSnapshot | None,
) -> LoadResult:
    result = LoadResult()
    start = time.perf_counter()
    measure_from = start + warmup
    until = measure_from + seconds
    await asyncio.gather(
        *(
            _connection(host, port, build, index, measure_from, until, expect, result)
            for index in range(connections)
        ),
        _cpu(on_measure, measure_from, until, result),
    )
    result.seconds = seconds
    return result


async def _cpu(
    snapshot: CpuSnapshot | None, measure_from: float, until: float, result: LoadResult
) -> None:
    if snapshot is None:
        return
    await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
    first = await asyncio.to_thread(snapshot)
    completed = result.completed
    await asyncio.sleep(max(0.0, until - time.perf_counter()))
    last = await asyncio.to_thread(snapshot)
    result.counted = result.completed - completed
    result.cpu_seconds = sum(value - first.get(pid, 0.0) for pid, value in last.items())


async def _connection(
    host: str,
    port: int,
    build: RequestFactory,
    index: int,
    measure_from: float,
    until: float,
    expect: int,
    result: LoadResult,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        sent = 0
        while True:
            request = build(index, sent)
            sent += 1
            began = time.perf_counter()
            if began >= until:
                return
            writer.write(request)
            await writer.drain()
            status = await _response(reader)
            ended = time.perf_counter()
            if status == expect:
                result.completed += 1
            if began < measure_from or ended > until:
                continue
            if status == expect:
                result.ok += 1
                result.latencies.append(ended - began)
            else:
                result.failed[status] += 1
    finally:
        writer.close()
        await writer.wait_closed()


async def _response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status
