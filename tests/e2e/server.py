"""A real `kasacare serve` process on a free local port, for end-to-end tests."""

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

from tests.conftest import ADMIN_TOKEN, DEVICE_CLAIMS, TEST_CATALOG

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kasacare_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASACARE_")}
    env.update(overrides)
    return env


def server_env(database_url: str, directory: Path) -> dict[str, str]:
    """A server under test: this database, clips under `directory`, the operator token, the
    test clock, the test catalog and the tests' claim setting (`DEVICE_CLAIMS`)."""
    return kasacare_env(
        KASACARE_DATABASE_URL=database_url,
        KASACARE_STORAGE_URL=f"file://{directory / 'clips'}",
        KASACARE_ADMIN_TOKEN=ADMIN_TOKEN,
        KASACARE_TEST_CLOCK="1",
        KASACARE_CATALOG_PATH=str(TEST_CATALOG),
        KASACARE_DEVICE_CLAIMS=DEVICE_CLAIMS.value,
    )


@contextmanager
def running_server(env: dict[str, str], log_path: Path, workers: int = 1) -> Iterator[str]:
    """Start the server, wait until it answers, yield its base URL, stop it."""
    port = free_port()
    command = [str(VENV_BIN / "kasacare"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, process, log_path)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start in 60 s:\n{log_path.read_text()}")
