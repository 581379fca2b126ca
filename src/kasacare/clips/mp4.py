"""What a clip upload must look like (V1, issue 11): an ISO BMFF (MP4) file, told by its first
box. Pure, no I/O: a byte comparison on the upload's hot path, nothing like a parse.

An ISO BMFF file starts with a box: a 4-byte big-endian size, then a 4-byte type, and the first
box of an MP4 is `ftyp` (the file type: a major brand, a minor version, compatible brands).
"""

from __future__ import annotations

from collections.abc import Callable

#: The smallest plausible MP4 start: a 24-byte `ftyp` box (size 24, `ftyp`, major brand
#: `mp42`, minor version 0, compatible brands `mp42` and `isom`). Fake clips (tests, the
#: simulator, benchmarks) are this header followed by bytes that stand for video.
MINIMAL_MP4_HEADER = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def looks_like_mp4(data: bytes) -> bool:
    """Whether `data` starts with an ISO BMFF `ftyp` box (bytes 4..8 are `ftyp`)."""
    return data[4:8] == b"ftyp"


def mp4_like(size: int, fill: Callable[[int], bytes] = bytes) -> bytes:
    """An MP4-looking payload of `size` bytes (at least the header's 24): `MINIMAL_MP4_HEADER`,
    then `fill(n)` for the other `n` bytes (zeros by default; `os.urandom` for bytes that do
    not compress)."""
    return MINIMAL_MP4_HEADER + fill(max(0, size - len(MINIMAL_MP4_HEADER)))
