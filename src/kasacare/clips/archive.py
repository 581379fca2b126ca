"""A zip of clips written while it is sent (`Download all` before an erasure).

The archive goes out as it is made: each clip is read from storage a chunk at a time (or, on a
backend without local files, one clip at a time), and only what `zipfile` has written since
the last chunk is held. Entries are stored, not deflated: MP4 is compressed already. The
output is not seekable, so `zipfile` writes each entry's sizes in a data descriptor after its
bytes (and ZIP64 fields, whatever the size); the central directory at the end has them all.

A clip erased while the archive is written has lost its bytes: it is left out, never sent
half. No I/O but the storage's reads; the caller checks who may have the clips.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from kasacare.clips.storage import ClipBlobMissing, ClipStorage

CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True, slots=True)
class Member:
    """One clip in the archive: its name there, its storage key, its local start time."""

    name: str
    key: str
    at: datetime


def safe_name(text: str) -> str:
    """A path segment any unzip tool accepts: no separators, no dots of their own."""
    return _UNSAFE.sub("_", text).strip(" ._") or "clip"


class _Sink:
    """A write-only file for `zipfile` that keeps what was written until it is taken."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _chunks(storage: ClipStorage, key: str) -> Iterator[bytes] | None:
    """The clip's bytes a chunk at a time, or None if they are gone (opened before the entry
    is started, so a missing clip leaves no trace in the archive)."""
    path = storage.local_file(key)
    if path is None:
        try:
            data = storage.get(key)
        except ClipBlobMissing:
            return None
        return iter((data,))
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return None

    def read() -> Iterator[bytes]:
        with file:
            while chunk := file.read(CHUNK):
                yield chunk

    return read()


def zip_clips(storage: ClipStorage, members: Iterable[Member]) -> Iterator[bytes]:
    """The archive's bytes, in pieces, as they are written."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for member in members:
            chunks = _chunks(storage, member.key)
            if chunks is None:
                continue
            info = zipfile.ZipInfo(member.name, date_time=member.at.timetuple()[:6])
            with archive.open(info, "w", force_zip64=True) as entry:
                for chunk in chunks:
                    entry.write(chunk)
                    yield sink.take()
            yield sink.take()
    yield sink.take()
