"""How the app serves a clip's bytes from a local file (V7, issue 11): `ClipFileResponse`.

Starlette's `FileResponse` does the work: it streams the file a chunk (64 KiB) at a time and
answers `Range` requests (RFC 9110): `Accept-Ranges: bytes` always; one satisfiable range is
206 with `Content-Range: bytes <first>-<last>/<size>` and only those bytes; a range that starts
at or past the end (or a suffix of 0 bytes) is 416 with `Content-Range: bytes */<size>` and no
body; HEAD answers the same status and headers with no body.

Our one choice on top: a request for several ranges (`bytes=0-9,20-29`), or in a unit other
than bytes, is answered as if it had no `Range`: 200 with the whole clip. RFC 9110 lets a
server ignore `Range`; video players ask for one range at a time, and nothing we serve needs a
`multipart/byteranges` answer.
"""

from __future__ import annotations

from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send


def _honoured(range_header: bytes) -> bool:
    """Whether a `Range` value names a single byte range (which `FileResponse` answers)."""
    unit, _, ranges = range_header.partition(b"=")
    return unit.strip().lower() == b"bytes" and b"," not in ranges


class ClipFileResponse(FileResponse):
    """A `FileResponse` that answers a request for several ranges with the whole file (200)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            kept = [
                (name, value) for name, value in headers if name != b"range" or _honoured(value)
            ]
            if len(kept) != len(headers):
                scope = {**scope, "headers": kept}
        await super().__call__(scope, receive, send)
