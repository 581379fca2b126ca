"""Fuzzing the clip upload's multipart parsing (issue 13 item 5; SPEC V1): whatever body a
camera sends with a valid device token (garbled boundaries, missing or repeated parts, odd
headers, bytes that are not MP4), the answer is a client error or a stored clip, never a
5xx; a body under a made-up token is refused before it is read."""

from __future__ import annotations

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kasacare.clips.mp4 import mp4_like
from kasacare.kit.clock import FixedClock
from tests.clips.test_clips import NOW
from tests.factories import owner, register_camera

BOUNDARY = "fuzzboundary"
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
FIELD_VALUES = {
    "started_at": st.one_of(
        st.just("2026-04-01T11:50:00Z"), st.just("2026-04-01T11:50:00"), HEADER_TEXT
    ),
    "duration_s": st.one_of(st.just("20"), st.integers(-5, 10**6).map(str), HEADER_TEXT),
    "kind": st.one_of(st.sampled_from(["motion", "manual", "person"]), HEADER_TEXT),
}
VIDEO = st.one_of(
    st.just(mp4_like(4096)),
    st.binary(max_size=256),
    st.binary(min_size=8, max_size=64).map(lambda tail: mp4_like(64)[:12] + tail),
)


@st.composite
def _part(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(["started_at", "duration_s", "kind", "video", "thumbnail"]))
    if name in ("video", "thumbnail"):
        content_type = draw(st.sampled_from(["video/mp4", "image/jpeg", "", "text/html"]))
        body = draw(VIDEO if name == "video" else st.binary(max_size=128))
        head = f'Content-Disposition: form-data; name="{name}"; filename="x"\r\n'
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
    else:
        head = f'Content-Disposition: form-data; name="{name}"\r\n'
        body = draw(FIELD_VALUES[name]).encode()
    if draw(st.booleans()):
        head = draw(HEADER_TEXT) + "\r\n" + head  # an odd extra header line
    return f"--{BOUNDARY}\r\n{head}\r\n".encode() + body + b"\r\n"


@st.composite
def _body(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(_part(), max_size=6))
    closing = draw(st.sampled_from([f"--{BOUNDARY}--\r\n", f"--{BOUNDARY}", "", "--other--"]))
    return b"".join(parts) + closing.encode() + draw(st.binary(max_size=16))


_TOKENS: dict[int, str] = {}


def _device_token(client: TestClient, clock: FixedClock) -> str:
    """One camera per test client (hypothesis runs the body many times with one fixture)."""
    if id(client) not in _TOKENS:
        clock.set(NOW)
        _, headers = owner(client)
        _TOKENS[id(client)] = register_camera(client, headers, "KC120")["device_token"]
    return _TOKENS[id(client)]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=_body(), boundary_ok=st.booleans())
def test_v1_any_multipart_body_gets_a_client_error_or_a_clip_never_a_5xx(
    client: TestClient, clock: FixedClock, body: bytes, boundary_ok: bool
) -> None:
    token = _device_token(client, clock)
    content_type = f"multipart/form-data; boundary={BOUNDARY if boundary_ok else 'nope'}"
    response = client.post(
        "/v1/device/clips",
        content=body,
        headers={"Authorization": f"Device {token}", "Content-Type": content_type},
    )
    assert response.status_code in (200, 201, 400, 403, 413, 415, 422), (
        response.status_code,
        response.text,
        body[:200],
    )
    assert response.headers["content-type"].startswith(("application/json", "application/problem"))
