"""Fuzzing the Range answer of clip playback (issue 13 item 5; SPEC V7): whatever `Range`
header a client sends, the local-disk media route answers 200 with the whole clip, 206 with
exactly the bytes its `Content-Range` names, 416 naming the size, or 400 for a malformed
header; never a 5xx, never bytes that do not match."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kasacare.kit.clock import FixedClock
from tests.clips.test_clips import NOW
from tests.clips.test_playback import DATA, SIZE, _clip

CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")

#: What an HTTP header can carry (bytes, read as ISO-8859-1), control characters aside.
LATIN_1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")

_number = st.one_of(
    st.integers(min_value=0, max_value=SIZE + 10).map(str),
    st.integers(min_value=0, max_value=10**30).map(str),
    st.sampled_from(["", "-1", "00", "1e3", " 5", "0x10", "\xb9"]),
)
_spec = st.one_of(
    st.tuples(_number, _number).map(lambda pair: f"{pair[0]}-{pair[1]}"),
    _number.map(lambda n: f"-{n}"),
    _number.map(lambda n: f"{n}-"),
    st.text(alphabet=LATIN_1, max_size=12),
)
RANGES = st.one_of(
    st.builds(
        lambda unit, specs, sep: unit + sep.join(specs),
        st.sampled_from(["bytes=", "BYTES=", "bytes =", "items=", "bytes", "=", ""]),
        st.lists(_spec, min_size=1, max_size=3),
        st.sampled_from([",", ", ", ";"]),
    ),
    st.text(alphabet=LATIN_1, max_size=40),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(range_=RANGES)
def test_v7_any_range_header_gets_a_consistent_answer_and_never_a_5xx(
    client: TestClient, clock: FixedClock, range_: str
) -> None:
    url = _playback_url(client, clock)
    response = client.get(url, headers={"Range": range_.encode("latin-1")})
    status = response.status_code
    assert status in (200, 206, 400, 416), (range_, status)
    if status == 200:
        assert response.content == DATA
    elif status == 206:
        match = CONTENT_RANGE.fullmatch(response.headers["content-range"])
        assert match is not None
        first, last, size = (int(group) for group in match.groups())
        assert size == SIZE and 0 <= first <= last < SIZE
        assert response.content == DATA[first : last + 1]
    elif status == 416:
        assert response.headers["content-range"] == f"bytes */{SIZE}"


_URLS: dict[int, str] = {}


def _playback_url(client: TestClient, clock: FixedClock) -> str:
    """One clip per test client (hypothesis runs the body many times with one fixture)."""
    if id(client) not in _URLS:
        clock.set(NOW)
        clip, _ = _clip(client)
        _URLS[id(client)] = clip["playback_url"]
    return _URLS[id(client)]
