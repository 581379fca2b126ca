"""What a clip's bytes really hold (issue 11, item 3), read with PyAV (FFmpeg): `inspect` gives
its duration, video codec and resolution (`MediaInfo`) and, when asked, one frame as a JPEG
poster. No database, no storage: bytes or a local path in, values out (`clips.media_job`
does the I/O around it).

The file is opened with the MP4 demuxer only (never FFmpeg's format guessing, which would
open any of its hundreds of formats on a camera's say-so), and at most `MAX_DECODED_FRAMES`
frames are decoded: a poster costs a seek and a few frames, whatever the clip's length.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

#: The poster is the frame at this offset (or the middle of a shorter clip): the first frame
#: of a motion clip is often the still scene before what triggered it.
POSTER_AT_SECONDS = 1.0
#: Posters are at most this wide (the activity grid shows them small); never enlarged.
POSTER_MAX_WIDTH = 320
#: A clip that yields no picture within this many decoded frames after the seek has none.
MAX_DECODED_FRAMES = 120


class MediaUnreadable(ValueError):
    """The bytes are not a video FFmpeg can read (not an MP4, no video stream, no frame)."""


@dataclass(frozen=True, slots=True)
class MediaInfo:
    duration_ms: int | None
    codec: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Inspection:
    info: MediaInfo
    #: A JPEG of one frame, when asked for (`poster=True`).
    poster: bytes | None


def inspect(source: bytes | Path, *, poster: bool) -> Inspection:
    """The clip's media facts and, with `poster`, a JPEG of its frame near
    `POSTER_AT_SECONDS`; raises `MediaUnreadable` for what FFmpeg cannot read."""
    opened = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        with av.open(opened, mode="r", format="mp4") as container:
            if not container.streams.video:
                raise MediaUnreadable("no video stream")
            stream = container.streams.video[0]
            context = stream.codec_context
            if context is None or not context.width or not context.height:  # a cut-off file
                raise MediaUnreadable("the video stream has no decodable codec or size")
            duration_ms = _duration_ms(container, stream)
            info = MediaInfo(duration_ms, context.name, context.width, context.height)
            if not poster:
                return Inspection(info, None)
            frame = _poster_frame(container, stream, duration_ms)
            return Inspection(info, encode_jpeg(frame))
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise MediaUnreadable(str(error) or type(error).__name__) from error


def _duration_ms(container: av.container.InputContainer, stream: av.VideoStream) -> int | None:
    if stream.duration is not None and stream.time_base is not None:
        return round(stream.duration * stream.time_base * 1000)
    if container.duration is not None:  # in AV_TIME_BASE units (microseconds)
        return round(container.duration / 1000)
    return None


def _poster_frame(
    container: av.container.InputContainer, stream: av.VideoStream, duration_ms: int | None
) -> av.VideoFrame:
    at = POSTER_AT_SECONDS
    if duration_ms is not None:
        at = min(at, duration_ms / 2000)
    if at > 0 and stream.time_base is not None:
        try:  # to the keyframe at or before `at`, in the stream's own time base
            container.seek(int(Fraction(at) / stream.time_base), stream=stream)
        except av.error.FFmpegError:
            container.seek(0, stream=stream)
    for decoded, frame in enumerate(container.decode(stream)):
        if decoded >= MAX_DECODED_FRAMES:
            break
        return frame
    raise MediaUnreadable("no frame could be decoded")


def encode_jpeg(frame: av.VideoFrame) -> bytes:
    """`frame` as a baseline JPEG (FFmpeg's own mjpeg encoder), at most `POSTER_MAX_WIDTH`
    wide with its aspect kept."""
    width, height = frame.width, frame.height
    if width > POSTER_MAX_WIDTH:
        width, height = POSTER_MAX_WIDTH, max(2, round(height * POSTER_MAX_WIDTH / width))
    width, height = width - width % 2, height - height % 2  # 4:2:0 wants even sizes
    picture = frame.reformat(width=width, height=height, format="yuvj420p")
    encoder = av.CodecContext.create("mjpeg", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    packets = [*encoder.encode(picture), *encoder.encode(None)]
    return b"".join(bytes(packet) for packet in packets)
