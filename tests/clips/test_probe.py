"""Reading a clip's media with PyAV (issue 11, item 3; `clips.probe`): real H.264 MP4s made in
the test; no database, no storage."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from kasacare.clips.jpeg import looks_like_jpeg
from kasacare.clips.mp4 import mp4_like
from kasacare.clips.probe import POSTER_MAX_WIDTH, MediaInfo, MediaUnreadable, inspect
from tests.media import make_mp4


def _size(jpeg: bytes) -> tuple[int, int]:
    """The picture size of a JPEG, decoded by FFmpeg."""
    with av.open(io.BytesIO(jpeg), mode="r", format="jpeg_pipe") as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


def test_issue_11_item_3_inspect_reads_duration_codec_size_and_makes_a_jpeg(
    tmp_path: Path,
) -> None:
    data = make_mp4(seconds=3, width=64, height=48)
    from_bytes = inspect(data, poster=True)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    from_path = inspect(path, poster=True)
    assert from_bytes.info == from_path.info == MediaInfo(3000, "h264", 64, 48)
    assert from_bytes.poster is not None and looks_like_jpeg(from_bytes.poster)
    assert from_bytes.poster == from_path.poster
    assert _size(from_bytes.poster) == (64, 48)
    assert inspect(data, poster=False).poster is None


def test_issue_11_item_3_a_wide_clip_gets_a_poster_at_most_320_wide_and_a_short_one_too() -> None:
    wide = inspect(make_mp4(seconds=0.4, width=640, height=360), poster=True)
    assert wide.info == MediaInfo(400, "h264", 640, 360)
    assert wide.poster is not None
    assert _size(wide.poster) == (POSTER_MAX_WIDTH, 180)  # the aspect kept


@pytest.mark.parametrize(
    "data",
    [mp4_like(1000), b"not a video at all", make_mp4(seconds=2)[:400], b""],
    ids=["ftyp-only", "text", "truncated", "empty"],
)
def test_issue_11_item_3_what_is_not_a_readable_mp4_is_media_unreadable(data: bytes) -> None:
    with pytest.raises(MediaUnreadable):
        inspect(data, poster=True)
