"""Where clip bytes live: the `ClipStorage` contract, the local disk, and `storage_from_url`.

    ClipStorage (Protocol)      put / put_many / get / read_prefix / head / exists / local_file /
                                presigned_get / presigned_put / delete_many, by key
     ├── LocalDiskStorage       files under one root (the embedded default, `file://`)
     └── S3Storage              any S3-compatible object store (`s3://`, storage_s3.py)

Keys look like `<camera_id>/<clip_id>.mp4`: segments of `[A-Za-z0-9._-]` joined by `/`; see
`validate_key` for what is refused. The database says which clips exist and who may see them;
storage only holds bytes and knows nothing of cameras, plans or time. Playback on the local
disk: our own app serves the file behind an HMAC token (`kasacare.clips.signing`), and every
play re-checks erasure (V7). On S3, `GET /v1/clips/{id}` checks erasure and hands out
presigned GET URLs (`presigned_get`, 300 s): S3 serves the bytes and their ranges itself, and
a camera may PUT a clip straight to S3 with a presigned URL (`presigned_put`,
`clips.direct_upload`), which the app then checks with `head` and `read_prefix`.

`KASACARE_STORAGE_URL` forms (`storage_from_url`):

- `file:///abs/path`, `file://localhost/abs/path`: absolute directory.
- `file://./var/clips`, `file://var/clips`: relative to the working directory at start.
- `s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1&create_bucket=1`: every
  query member is optional (see `S3Location`). Credentials come from the standard AWS
  environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
  or whatever else boto3's default chain finds.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, NamedTuple, Protocol, cast
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from kasacare.clips.storage_s3 import S3Storage

#: S3 caps one key at 1,024 bytes; we hold every backend to the same limit.
MAX_KEY_LENGTH = 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
#: A whole key of such segments: one match instead of a split and a match per segment.
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")


class InvalidClipKey(ValueError):
    """A key that is not `segment(/segment)*` of `[A-Za-z0-9._-]`: a bug, never user input."""


class ClipBlobMissing(KeyError):
    """No bytes are stored under this key (never written, or deleted)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:  # KeyError's own str() is the repr of its argument
        return f"no clip bytes stored under {self.key!r}"


class ClipStorageError(RuntimeError):
    """The backend failed (for example, some keys of a batch delete were refused)."""


class InvalidStorageUrl(ValueError):
    """`KASACARE_STORAGE_URL` is not one of the documented forms."""


def validate_key(key: str) -> str:
    """Return `key` if it is a safe storage key, else raise `InvalidClipKey`.

    A key is one or more `/`-separated segments; each segment is non-empty, uses only
    `[A-Za-z0-9._-]` and does not start with `.`. So there is no `..`, no `.` segment, no
    hidden file, no leading `/` (absolute path), no `//`, no trailing `/`, no backslash, no
    NUL, and no key can name a directory above the storage root. At most 1,024 characters.
    """
    if (
        isinstance(key, str)
        and len(key) <= MAX_KEY_LENGTH
        and ".." not in key
        and _KEY.fullmatch(key)
    ):
        return key  # the common case; the checks below say what is wrong with a bad key
    if not isinstance(key, str) or not key:
        raise InvalidClipKey(f"clip key must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidClipKey(f"clip key longer than {MAX_KEY_LENGTH} characters")
    if ".." in key:
        raise InvalidClipKey(f"clip key contains '..': {key!r}")
    if key.startswith("/"):
        raise InvalidClipKey(f"clip key is an absolute path: {key!r}")
    for segment in key.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise InvalidClipKey(
                f"clip key {key!r}: each '/'-separated part must be non-empty, use only "
                "[A-Za-z0-9._-] and not start with '.'"
            )
    return key


def unique_keys(keys: Iterable[str]) -> list[str]:
    """Every key validated (all before any is acted on), duplicates dropped, order kept."""
    return list(dict.fromkeys(validate_key(key) for key in keys))


class Blob(NamedTuple):
    """What `put_many` stores: bytes under a key, with their media type."""

    key: str
    data: bytes
    content_type: str


class BlobHead(NamedTuple):
    """What `head` tells of stored bytes without reading them."""

    size: int
    #: The media type the backend keeps (S3's `Content-Type`); None where it keeps none.
    content_type: str | None


class ClipStorage(Protocol):
    """Bytes by key. Implementations are safe to share between threads.

    Every method validates its keys first (`validate_key`) and raises `InvalidClipKey`
    before touching anything.
    """

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there.

        Atomic: a reader sees either the old bytes or all the new bytes, never a part.
        `content_type` (`video/mp4`) is kept where the backend has metadata (S3) and ignored
        on the local disk; the app serves clips with the type recorded in the database.
        """
        ...

    def put_many(self, items: Sequence[Blob]) -> None:
        """Store each item under its key, a fresh one no reader knows yet (a new clip's, whose
        row is written after); when it returns, all of them are stored durably.

        A backend makes them durable together where it can (one `syncfs` on the local disk
        instead of an `fsync` each; S3 requests side by side). A key that already holds bytes
        is an error on the local disk (`ClipStorageError`), never a silent replacement.
        If any item fails, raises `ClipStorageError` (or `InvalidClipKey` before anything is
        written); the others may or may not be stored, so the caller deletes every key of the
        group with `delete_many`.
        """
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under `key`; raises `ClipBlobMissing` (a `KeyError`) if none."""
        ...

    def read_prefix(self, key: str, length: int) -> bytes:
        """The first `length` bytes stored under `key` (fewer if it holds fewer), read without
        the rest (a ranged GET on S3); raises `ClipBlobMissing` if none."""
        ...

    def head(self, key: str) -> BlobHead:
        """The size and media type of the bytes under `key`, none of them read; raises
        `ClipBlobMissing` if none."""
        ...

    def exists(self, key: str) -> bool:
        """True if bytes are stored under `key`."""
        ...

    def local_file(self, key: str) -> Path | None:
        """The file on this machine that holds `key`, which the app streams (Range requests,
        a chunk at a time, never the whole clip in memory); None where the backend keeps no
        local file (S3, read with `get`). The file may not exist: no I/O is done here."""
        ...

    def presigned_get(self, key: str, seconds: int, attachment: str | None = None) -> str | None:
        """A URL that fetches `key` straight from the backend for `seconds` (Range included),
        the API process passing no byte; with `attachment`, the answer carries
        `Content-Disposition: attachment; filename="<attachment>"`. None where the backend
        has no such URLs (the local disk: the app serves the file behind its own token).
        The caller checks first that the holder may see the clip (erasure, V7)."""
        ...

    def presigned_put(self, key: str, seconds: int, content_type: str, size: int) -> str | None:
        """A URL with which a camera PUTs `size` bytes of `content_type` under `key` straight
        to the backend for `seconds` (a direct upload, `clips.direct_upload`): the signature
        covers `Content-Type` and `Content-Length`, so the PUT sends exactly those headers.
        None where the backend has no such URLs (the local disk: cameras post the clip to
        the app). Whatever the backend enforced, the caller checks the object (`head`)."""
        ...

    def delete_many(self, keys: Sequence[str]) -> int:
        """Delete every key; when it returns, none of them is stored.

        Idempotent: a key that is not stored is not an error. Duplicates count once.
        Returns the number of distinct keys *asked for* (all of which are now absent),
        not how many existed: S3's DeleteObjects does not say which keys existed, and
        asking first would cost a request per key. The caller (the sweeper, erasure)
        already knows from the database which clips it deletes.

        S3 sends DeleteObjects in batches of at most 1,000 keys (V2). If the backend
        refuses some keys, raises `ClipStorageError` after trying every batch; running the
        same call again is safe.
        """
        ...


class LocalDiskStorage:
    """Each key is a file under `root` (`root/<camera_id>/<clip_id>.mp4`).

    Writes go to a temporary file in the target directory, are flushed to disk, then
    `os.replace`d over the key: atomic on POSIX. Temporary files start with `.`, which no
    key can, so they never collide with or show up as clips. Directories are created as
    needed and left in place when emptied (removing them would race a concurrent `put`).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalDiskStorage({str(self.root)!r})"

    def path_for(self, key: str) -> Path:
        """The file that holds `key`: always inside `root`."""
        path = self.root.joinpath(*validate_key(key).split("/"))
        # validate_key already rules out every escape; this is the belt to its braces.
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidClipKey(f"clip key {key!r} escapes the storage root")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".put-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def put_many(self, items: Sequence[Blob]) -> None:
        # Fresh keys only (see the Protocol): each file is created in place, with no
        # temporary file and rename, since nothing reads a key before its clip row exists;
        # then one `syncfs` makes the whole group durable, one journal commit instead of
        # one a file. A crash in between leaves files no row names, never a row without them.
        paths = [self.path_for(item.key) for item in items]
        if not paths:
            return
        try:
            with contextlib.ExitStack() as open_files:
                files = []
                for item, path in zip(items, paths, strict=True):
                    try:
                        file = open(path, "xb")  # noqa: SIM115 (closed by the exit stack)
                    except FileNotFoundError:  # the camera's first clip: its directory
                        path.parent.mkdir(parents=True, exist_ok=True)
                        file = open(path, "xb")  # noqa: SIM115
                    files.append(open_files.enter_context(file))
                    file.write(item.data)
                    file.flush()
                sync_filesystem(self.root, paths)
                for file in files:
                    drop_cached(file.fileno())
        except OSError as error:
            raise ClipStorageError(f"cannot store {len(items)} clips: {error}") from error

    def get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ClipBlobMissing(key) from None

    def read_prefix(self, key: str, length: int) -> bytes:
        try:
            with self.path_for(key).open("rb") as file:
                return file.read(length)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ClipBlobMissing(key) from None

    def head(self, key: str) -> BlobHead:
        try:
            found = self.path_for(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ClipBlobMissing(key) from None
        if not S_ISREG(found.st_mode):  # a directory under a key's name is not a clip
            raise ClipBlobMissing(key)
        return BlobHead(found.st_size, None)  # no metadata on the local disk

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def local_file(self, key: str) -> Path:
        return self.path_for(key)

    def presigned_get(self, key: str, seconds: int, attachment: str | None = None) -> None:
        validate_key(key)
        return None  # the app serves local files itself (`clips.media`)

    def presigned_put(self, key: str, seconds: int, content_type: str, size: int) -> None:
        validate_key(key)
        return None  # cameras post clips to the app (`POST /v1/device/clips`)

    def delete_many(self, keys: Sequence[str]) -> int:
        # Plain strings, not `path_for`: every key is validated first (so none can leave the
        # root), and pathlib's parsing cost more than the unlinks (the sweeper's hot path).
        # A valid key is `/`-separated safe segments, so it joins onto the root as it is
        # (POSIX paths, like the rest of this class).
        root = str(self.root) + "/"
        paths = [root + key for key in unique_keys(keys)]
        for path in paths:
            try:  # noqa: SIM105 (a context manager per key cost more than the unlink's try)
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                pass  # gone already; a directory under a key's name is not a clip: leave it
        return len(paths)


def sync_filesystem(root: Path, paths: Sequence[Path]) -> None:
    """Make everything written under `root` durable: Linux's `syncfs` on its filesystem
    (which also reports write-back errors since Linux 5.8), elsewhere an `fsync` of each
    file and of each directory that gained one."""
    syncfs = _libc_syncfs()
    if syncfs is not None:
        descriptor = os.open(root, os.O_RDONLY)
        try:
            if syncfs(descriptor) != 0:
                error = ctypes.get_errno()
                raise OSError(error, f"syncfs: {os.strerror(error)}")
        finally:
            os.close(descriptor)
        return
    for path in [*paths, *{path.parent for path in paths}]:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def drop_cached(descriptor: int) -> None:
    """Let the kernel drop a durable file's pages from its cache. A new clip is rarely
    played soon, if ever: cached, it would only push out pages worth keeping (the
    database's). On Linux the freed pages also serve the next clips' writes, which measured
    (`make bench`) cheaper than ever more fresh pages for a growing cache."""
    if hasattr(os, "posix_fadvise"):  # not on macOS
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)


@functools.cache
def _libc_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    function = getattr(libc, "syncfs", None)
    if function is None:
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


@dataclass(frozen=True)
class LocalLocation:
    """`file://...`: the directory that holds the clips (absolute once parsed)."""

    root: Path


@dataclass(frozen=True)
class S3Location:
    """`s3://bucket?endpoint=URL&region=NAME&create_bucket=1`.

    - `endpoint`: the S3 API's base URL (MinIO, Ceph, moto...); absent means AWS itself.
    - `region`: the signing region; absent means boto3's default (`AWS_REGION`, ...).
    - `create_bucket=1` (or `true`/`yes`): create the bucket on first use if it does not
      exist. Off by default: in production the bucket, its policy and its lifecycle are
      the operator's, and a typo in the name should fail rather than make a new bucket.
    """

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    create_bucket: bool = False


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_QUERY = frozenset({"endpoint", "region", "create_bucket"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def parse_storage_url(url: str) -> LocalLocation | S3Location:
    """Parse `KASACARE_STORAGE_URL`; raises `InvalidStorageUrl` naming what is wrong.

    No I/O, so configuration can check the URL before anything starts.
    """
    if url.startswith("file://"):
        return _parse_file_url(url)
    if url.startswith("s3://"):
        return _parse_s3_url(url)
    raise InvalidStorageUrl("expected file:///path or s3://bucket?endpoint=URL")


def _parse_file_url(url: str) -> LocalLocation:
    rest = url.removeprefix("file://")
    if "?" in rest or "#" in rest:
        raise InvalidStorageUrl(f"a file:// storage URL takes no query or fragment: {url!r}")
    if rest.startswith("localhost/"):
        rest = rest.removeprefix("localhost")
    path = unquote(rest)
    if not path.strip("/"):
        raise InvalidStorageUrl(f"a file:// storage URL needs a directory other than /: {url!r}")
    # `file:///abs` is absolute; anything else (`file://./var/clips`) is relative to the
    # working directory at start, made absolute now so a later chdir changes nothing.
    return LocalLocation(root=Path(path).resolve())


def _parse_s3_url(url: str) -> S3Location:
    parts = urlsplit(url)
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidStorageUrl(f"not an S3 bucket name: {bucket!r} (in {url!r})")
    if parts.path not in ("", "/") or parts.fragment:
        raise InvalidStorageUrl(f"an s3:// storage URL names a bucket only: {url!r}")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(query) - _S3_QUERY)
    if unknown:
        raise InvalidStorageUrl(
            f"unknown s3:// storage URL parameter(s) {', '.join(unknown)}; "
            f"expected {', '.join(sorted(_S3_QUERY))}"
        )
    for name, values in query.items():
        if len(values) > 1:
            raise InvalidStorageUrl(f"s3:// storage URL parameter {name} given twice")
    endpoint = query.get("endpoint", [None])[0] or None
    if endpoint is not None:
        endpoint_parts = urlsplit(endpoint)
        if endpoint_parts.scheme not in ("http", "https") or not endpoint_parts.netloc:
            raise InvalidStorageUrl(f"s3:// endpoint must be an http(s) URL: {endpoint!r}")
    flag = query.get("create_bucket", [""])[0].lower()
    if flag not in _TRUE | _FALSE:
        raise InvalidStorageUrl(f"s3:// create_bucket must be 1 or 0, got {flag!r}")
    return S3Location(
        bucket=bucket,
        endpoint_url=endpoint,
        region=query.get("region", [None])[0] or None,
        create_bucket=flag in _TRUE,
    )


def storage_from_url(url: str) -> ClipStorage:
    """The storage `KASACARE_STORAGE_URL` names. Connects to nothing yet (S3 is lazy)."""
    location = parse_storage_url(url)
    if isinstance(location, LocalLocation):
        return LocalDiskStorage(location.root)
    return s3_storage(location)


def s3_storage(location: S3Location) -> S3Storage:
    # boto3 is imported only when S3 is configured: the embedded default never loads it.
    from kasacare.clips.storage_s3 import S3Storage

    return S3Storage(
        location.bucket,
        endpoint_url=location.endpoint_url,
        region=location.region,
        create_bucket=location.create_bucket,
    )
