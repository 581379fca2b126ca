"""Fixtures of the clip tests: moto's S3 server as a real process (test_storage,
test_playback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from kasacare.clips.storage import storage_from_url
from kasacare.clips.storage_s3 import S3Storage

# --- the S3 endpoint -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(process: subprocess.Popen[bytes], port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    """Dummy credentials, and nothing from the host's AWS configuration or metadata."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_SESSION_TOKEN", "testing")
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_REGION", raising=False)
        patch.delenv("AWS_DEFAULT_REGION", raising=False)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        patch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        yield


@pytest.fixture(scope="module")
def s3_endpoint(aws_env: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server as a real process on 127.0.0.1; another port if one is taken."""
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    with log_path.open("wb") as log:
        for _attempt in range(3):
            port = _free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            try:
                if _wait_listening(process, port, time.monotonic() + 30):
                    yield f"http://127.0.0.1:{port}"
                    return
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    pytest.fail(f"moto server did not start: {log_path.read_text(errors='replace')[-2000:]}")


def new_bucket() -> str:
    return f"clips-{uuid.uuid4().hex[:20]}"


def s3_storage(endpoint: str, bucket: str | None = None, *, create: bool = True) -> S3Storage:
    flag = "&create_bucket=1" if create else ""
    storage = storage_from_url(
        f"s3://{bucket or new_bucket()}?endpoint={endpoint}&region=us-east-1{flag}"
    )
    assert isinstance(storage, S3Storage)
    return storage
