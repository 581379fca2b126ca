"""What a camera's thumbnail part must look like (issue 11, item 3): a JPEG, told by its first
bytes, of at most `MAX_THUMBNAIL_BYTES`. Pure, no I/O: a byte comparison on the upload's hot
path, nothing like a decode.
"""

from __future__ import annotations

#: A JPEG starts with its SOI marker (FF D8) and then the next marker's FF.
JPEG_MAGIC = b"\xff\xd8\xff"
#: The largest thumbnail a camera may send (the activity grid shows them small).
MAX_THUMBNAIL_BYTES = 256 * 1024


def looks_like_jpeg(data: bytes) -> bool:
    """Whether `data` starts like a JPEG file (SOI, then a marker)."""
    return data[:3] == JPEG_MAGIC
