"""Body limits (issue 13, hardening) against a real `kasacare serve` process: a 1 GB body,
declared or streamed in chunks, is refused with 413 `request_too_large` while the server's
peak memory stays under 200 MB (before the limit a 300 MB JSON body was read whole)."""

from __future__ import annotations

import json
import select
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env
from tests.factories import PASSWORD

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="peak memory is read in /proc")

GIB = 1024**3
MIB = 1024**2
CHUNK = b"x" * MIB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, str]]:
    """(host:port, pid, a bound camera's device token) of a server on SQLite (the limits are
    the same on every backend)."""
    directory = tmp_path_factory.mktemp("body-limits")
    with fresh_database("sqlite", directory) as database_url:
        env = server_env(database_url, directory)
        with running_server(env, directory / "server.log") as base:
            address = urlsplit(base).netloc
            pid = _pid_listening_on(int(address.rsplit(":", 1)[1]))
            yield address, pid, _camera_token(base)


def _camera_token(base: str) -> str:
    account = {"email": "limits@example.com", "password": PASSWORD, "country": "US"}
    assert httpx.post(f"{base}/v1/accounts", json=account).status_code == 201
    signed_in = httpx.post(f"{base}/v1/auth/token", json=account).json()
    owner = {"Authorization": f"Bearer {signed_in['access_token']}"}
    camera = {"model": "KC120", "serial": "LIMITS-1", "name": "Porch"}
    token: str = httpx.post(f"{base}/v1/cameras", json=camera, headers=owner).json()["device_token"]
    return token


def _pid_listening_on(port: int) -> int:
    wanted = f"--port\0{port}\0".encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if wanted in cmdline.read_bytes() + b"\0":
                return int(cmdline.parent.name)
        except OSError:
            continue
    raise LookupError(f"no server process on port {port}")


def _reset_peak_rss(pid: int) -> None:
    """Start the peak (VmHWM) again from the process's RSS now (Linux `clear_refs` 5), so the
    peak measures this request alone: the sign-up before it hashed a password with argon2,
    whose 64 MiB working memory would count otherwise."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise LookupError("VmHWM")


def _send_gigabyte(
    address: str,
    path: str,
    headers: dict[str, str],
    start: bytes,
    chunked: bool,
    total: int = GIB,
) -> bytes:
    """Send a request with a 1 GB body (`start`, then filler) until the server answers (or
    stops reading); return what it answered."""
    host, port = address.rsplit(":", 1)
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(total)}
    head = "".join(
        f"{name}: {value}\r\n" for name, value in {"Host": address, **headers, **framing}.items()
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode())
        sent = 0
        pending = start
        try:
            while sent < total:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break  # the server answered before the body ended
                data, pending = pending + CHUNK[len(pending) :], b""
                piece = f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data
                sock.sendall(piece)
                sent += len(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # it answered and closed: read the answer below
        answer = _read_answer(sock)
    assert sent < total, "the server read the whole body"
    return answer


def _read_answer(sock: socket.socket) -> bytes:
    """One HTTP answer with a Content-Length (the server may keep the connection open)."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _problem(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


# The start of a well-formed upload: the multipart parser streams its file part to disk
# (not memory) until the limit stops it.
VIDEO_PART = (
    b"--x\r\n"
    b'Content-Disposition: form-data; name="video"; filename="clip.mp4"\r\n'
    b"Content-Type: video/mp4\r\n\r\n"
)


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
@pytest.mark.parametrize(
    ("path", "headers", "start", "limit"),
    [
        ("/v1/accounts", {"Content-Type": "application/json"}, b'{"email": "', MIB),
        (
            "/v1/device/clips",
            {
                "Authorization": "Device {token}",
                "Content-Type": "multipart/form-data; boundary=x",
            },
            VIDEO_PART,
            50 * MIB + 320 * 1024,  # KASACARE_CLIP_MAX_BYTES (default) + the form's allowance
        ),
        (
            "/v1/accounts",
            {"Content-Type": "application/json", "Idempotency-Key": "k1", "Authorization": "x"},
            b'{"email": "',
            MIB,
        ),
    ],
    ids=["json", "upload", "idempotent"],
)
def test_a_gigabyte_body_is_refused_413_and_memory_stays_under_200_mb(
    server: tuple[str, int, str],
    path: str,
    headers: dict[str, str],
    start: bytes,
    limit: int,
    chunked: bool,
) -> None:
    address, pid, token = server
    headers = {name: value.format(token=token) for name, value in headers.items()}
    _reset_peak_rss(pid)
    answer = _send_gigabyte(address, path, headers, start, chunked)
    status, body = _problem(answer)
    assert status == 413
    assert body["code"] == "request_too_large"
    assert body["detail"] == f"the body of this request may have at most {limit:,} bytes"
    assert _peak_rss_mb(pid) < 200, _peak_rss_mb(pid)


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
@pytest.mark.parametrize(
    "authorization", ["Device not-a-device-token", "Bearer not-a-device-token", None]
)
def test_an_upload_with_an_unknown_device_token_is_refused_before_its_body_is_read(
    server: tuple[str, int, str], authorization: str | None, chunked: bool
) -> None:
    """Issue 13: the token is checked from the headers alone (`clips.device_gate`), so a
    made-up token costs the server neither memory nor disk; 40 MB, under the size limit."""
    address, pid, _ = server
    headers = {"Content-Type": "multipart/form-data; boundary=x"}
    if authorization:
        headers["Authorization"] = authorization
    _reset_peak_rss(pid)
    answer = _send_gigabyte(address, "/v1/device/clips", headers, VIDEO_PART, chunked, 40 * MIB)
    status, body = _problem(answer)
    assert (status, body["code"]) == (401, "unauthorized")
    assert _peak_rss_mb(pid) < 200, _peak_rss_mb(pid)
