"""Real media for tests: a small H.264 MP4 made with PyAV (its own FFmpeg), no file on disk.

`make_mp4(seconds=3, width=64, height=48)` is a playable clip (libx264, yuv420p, a keyframe
every second so players can seek, `moov` first so a browser starts before the end arrives).
Each frame differs (a moving bar) so a frame grab is a real picture, not a constant.
"""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction

import av

MP4_FPS = 10


def _fill(frame: av.VideoFrame, index: int) -> None:
    """Frame `index` (yuv420p): grey with a bright bar that moves, a tint that changes. Each
    row is padded to the plane's line size (FFmpeg aligns rows)."""
    width = frame.width
    bar = (index * 4) % width
    luma = bytes(235 if bar <= x < bar + max(1, width // 8) else 60 for x in range(width))
    rows = (luma, bytes([128]) * (width // 2), bytes([(index * 7) % 256]) * (width // 2))
    for plane, row in zip(frame.planes, rows, strict=True):
        padded = row + bytes(plane.line_size - len(row))
        plane.update(padded * plane.height)


def make_mp4(seconds: float = 3, width: int = 64, height: int = 48) -> bytes:
    """An H.264 MP4 of `seconds` at 10 frames a second, `width` x `height` (even numbers)."""
    if width % 2 or height % 2:
        raise ValueError("H.264 in yuv420p needs an even width and height")
    descriptor, path = tempfile.mkstemp(prefix="kasacare-", suffix=".mp4")
    os.close(descriptor)
    try:
        # A real file: the `faststart` pass re-reads what it wrote.
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as output:
            stream = output.add_stream("libx264", rate=MP4_FPS)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = Fraction(1, MP4_FPS)
            stream.options = {"g": str(MP4_FPS), "preset": "ultrafast", "tune": "zerolatency"}
            for index in range(round(seconds * MP4_FPS)):
                frame = av.VideoFrame(width, height, "yuv420p")
                _fill(frame, index)
                frame.pts = index
                output.mux(stream.encode(frame))
            output.mux(stream.encode(None))
        with open(path, "rb") as file:
            return file.read()
    finally:
        os.unlink(path)
