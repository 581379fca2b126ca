"""`kasacare serve` as a real process on a free local port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(
    settings: dict[str, str], log_path: Path, workers: int
) -> Iterator[tuple[int, int]]:
    """Start `kasacare serve --workers N` with exactly these KASACARE_* settings; yield its
    port and pid once it answers; stop it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASACARE_")}
    env.update(settings)
    port = free_port()
    command = [
        str(VENV_BIN / "kasacare"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our own executable)
            command, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(port, process, log_path)
            yield port, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start in 120 s:\n{log_path.read_text()}")
