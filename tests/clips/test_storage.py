"""Clip storage: one contract suite run on the local disk and on a real S3 endpoint.

The S3 endpoint is moto's standalone server, started (tests/clips/conftest.py) as a subprocess
on a free loopback port (no internet, dummy credentials): our `S3Storage` talks to it over HTTP
through boto3, exactly as it would talk to MinIO or AWS. Signed URLs and URL parsing are pure
and tested without I/O.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kasacare.clips.signing import (
    CLIP_URL_KEYS,
    PLAYBACK_URL_TTL,
    ClipUrlExpired,
    ClipUrlInvalid,
    sign,
    verify,
)
from kasacare.clips.storage import (
    Blob,
    ClipBlobMissing,
    ClipStorage,
    ClipStorageError,
    InvalidClipKey,
    InvalidStorageUrl,
    LocalDiskStorage,
    LocalLocation,
    S3Location,
    parse_storage_url,
    storage_from_url,
    validate_key,
)
from kasacare.clips.storage_s3 import DELETE_BATCH, S3Storage
from kasacare.config import Settings
from kasacare.kit.errors import Forbidden
from kasacare.kit.signing_keys import Keyring, key_id
from tests.clips.conftest import new_bucket, s3_storage

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MASTER = b"clip-url-test-master-0123456789abcdef"
KEYS = Keyring.derived(CLIP_URL_KEYS, [MASTER])
KEY = "550e8400-e29b-41d4-a716-446655440000/7f9c2ba4-e88f-4d3a-8c1b-1f2e3d4c5b6a.mp4"
MP4 = "video/mp4"

BAD_KEYS = [
    "",
    "../escape.mp4",
    "cam/../../etc/passwd",
    "cam/x..mp4",
    "..",
    "/abs/clip.mp4",
    "cam//clip.mp4",
    "cam/",
    "cam/./clip.mp4",
    "cam/.hidden",
    "cam/clip one.mp4",
    "cam\\clip.mp4",
    "cam/clip\x00.mp4",
    "cäm/clip.mp4",
    "cam/clip.mp4?x=1",
    "a" * 1025,
]


# --- the contract, on both backends --------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> ClipStorage:
    if request.param == "local":
        return LocalDiskStorage(tmp_path / "clips")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return s3_storage(endpoint)


def test_put_then_get_returns_the_same_bytes(storage: ClipStorage) -> None:
    data = bytes(range(256)) * 40
    storage.put(KEY, data, MP4)
    assert storage.get(KEY) == data


def test_empty_clip_round_trips(storage: ClipStorage) -> None:
    storage.put("cam/empty.mp4", b"", MP4)
    assert storage.get("cam/empty.mp4") == b""
    assert storage.exists("cam/empty.mp4")


def test_put_overwrites(storage: ClipStorage) -> None:
    storage.put(KEY, b"first version, longer than the second", MP4)
    storage.put(KEY, b"second", MP4)
    assert storage.get(KEY) == b"second"


def test_get_missing_raises_clip_blob_missing(storage: ClipStorage) -> None:
    with pytest.raises(ClipBlobMissing) as caught:
        storage.get("cam/never-written.mp4")
    assert isinstance(caught.value, KeyError)
    assert caught.value.key == "cam/never-written.mp4"
    assert "cam/never-written.mp4" in str(caught.value)


def test_exists(storage: ClipStorage) -> None:
    assert not storage.exists(KEY)
    storage.put(KEY, b"x", MP4)
    assert storage.exists(KEY)
    # A key's prefix is not a clip: "cam" is a folder (local) or nothing (S3).
    assert not storage.exists(KEY.split("/")[0])


def test_keys_are_independent(storage: ClipStorage) -> None:
    storage.put("cam-a/1.mp4", b"a1", MP4)
    storage.put("cam-a/1.mp4.bak", b"a1-bak", MP4)
    storage.put("cam-b/1.mp4", b"b1", MP4)
    assert storage.delete_many(["cam-a/1.mp4"]) == 1
    assert not storage.exists("cam-a/1.mp4")
    assert storage.get("cam-a/1.mp4.bak") == b"a1-bak"
    assert storage.get("cam-b/1.mp4") == b"b1"


def test_v2_delete_many_2500_keys(storage: ClipStorage) -> None:
    keys = [f"cam-{n % 7}/clip-{n:05d}.mp4" for n in range(2500)]
    # Every 50th key stored, including the edges of each batch of 1,000; the rest are
    # already gone, which is no error (idempotent).
    stored = sorted({*keys[::50], keys[999], keys[1000], keys[1999], keys[2000], keys[-1]})
    for key in stored:
        storage.put(key, key.encode(), MP4)
    assert storage.delete_many(keys) == 2500  # distinct keys asked for, not keys found
    assert not any(storage.exists(key) for key in stored)


def test_delete_many_is_idempotent(storage: ClipStorage) -> None:
    storage.put("cam/a.mp4", b"a", MP4)
    storage.put("cam/b.mp4", b"b", MP4)
    assert storage.delete_many(["cam/a.mp4", "cam/b.mp4", "cam/missing.mp4"]) == 3
    assert storage.delete_many(["cam/a.mp4", "cam/b.mp4", "cam/missing.mp4"]) == 3
    assert not storage.exists("cam/a.mp4")
    assert not storage.exists("cam/b.mp4")
    with pytest.raises(ClipBlobMissing):
        storage.get("cam/a.mp4")


def test_delete_many_counts_duplicates_once(storage: ClipStorage) -> None:
    storage.put("cam/a.mp4", b"a", MP4)
    assert storage.delete_many(["cam/a.mp4", "cam/a.mp4"]) == 1


def test_delete_many_of_nothing(storage: ClipStorage) -> None:
    assert storage.delete_many([]) == 0


def test_a_deleted_key_can_be_written_again(storage: ClipStorage) -> None:
    storage.put(KEY, b"old", MP4)
    storage.delete_many([KEY])
    storage.put(KEY, b"new", MP4)
    assert storage.get(KEY) == b"new"


def test_v1_put_many_stores_a_group(storage: ClipStorage) -> None:
    blobs = [Blob(f"cam{i % 3}/{uuid.uuid4()}.mp4", os.urandom(100 + i), MP4) for i in range(40)]
    storage.put_many(blobs)
    assert all(storage.get(blob.key) == blob.data for blob in blobs)


def test_put_many_of_nothing(storage: ClipStorage) -> None:
    storage.put_many([])


@pytest.mark.parametrize("key", BAD_KEYS)
def test_every_method_refuses_a_bad_key(storage: ClipStorage, key: str) -> None:
    with pytest.raises(InvalidClipKey):
        storage.put(key, b"x", MP4)
    with pytest.raises(InvalidClipKey):
        storage.put_many([Blob("cam/fine.mp4", b"x", MP4), Blob(key, b"x", MP4)])
    assert not storage.exists("cam/fine.mp4")  # every key is checked before any write
    with pytest.raises(InvalidClipKey):
        storage.get(key)
    with pytest.raises(InvalidClipKey):
        storage.exists(key)
    with pytest.raises(InvalidClipKey):
        storage.delete_many([key])


def test_delete_many_checks_every_key_before_deleting_any(storage: ClipStorage) -> None:
    storage.put("cam/a.mp4", b"a", MP4)
    with pytest.raises(InvalidClipKey):
        storage.delete_many(["cam/a.mp4", "../b.mp4"])
    assert storage.exists("cam/a.mp4")


# --- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", [KEY, "cam-1/clip_2.mp4", "42/17.mp4", "a/b/c.d-e_f.mp4", "A" * 1024]
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys(key: str) -> None:
    with pytest.raises(InvalidClipKey):
        validate_key(key)


# --- the local disk ------------------------------------------------------------------------


def test_local_layout_and_no_temporary_files_left(tmp_path: Path) -> None:
    storage = LocalDiskStorage(tmp_path / "clips")
    storage.put("cam/a.mp4", b"one", MP4)
    storage.put("cam/a.mp4", b"two", MP4)
    assert (tmp_path / "clips" / "cam" / "a.mp4").read_bytes() == b"two"
    assert sorted(p.name for p in (tmp_path / "clips" / "cam").iterdir()) == ["a.mp4"]


def test_local_failed_write_keeps_the_old_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = LocalDiskStorage(tmp_path)
    storage.put("cam/a.mp4", b"old", MP4)

    def crash(_source: str, _target: Path) -> None:
        raise OSError("disk pulled out")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk pulled out"):
        storage.put("cam/a.mp4", b"new", MP4)
    monkeypatch.undo()
    assert storage.get("cam/a.mp4") == b"old"
    assert [p.name for p in (tmp_path / "cam").iterdir()] == ["a.mp4"]


def test_local_put_many_leaves_no_temporary_files(tmp_path: Path) -> None:
    storage = LocalDiskStorage(tmp_path)
    storage.put_many([Blob("cam/a.mp4", b"a", MP4), Blob("other/b.mp4", b"b", MP4)])
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == [
        "cam/a.mp4",
        "other/b.mp4",
    ]


def test_local_put_many_never_replaces_stored_bytes(tmp_path: Path) -> None:
    """put_many is for fresh keys: a key that holds bytes is an error, not overwritten."""
    storage = LocalDiskStorage(tmp_path)
    storage.put("cam/a.mp4", b"old", MP4)
    with pytest.raises(ClipStorageError):
        storage.put_many([Blob("cam/a.mp4", b"new", MP4)])
    assert storage.get("cam/a.mp4") == b"old"


def test_local_paths_stay_under_the_root(tmp_path: Path) -> None:
    storage = LocalDiskStorage(tmp_path / "root")
    assert storage.path_for("cam/a.mp4") == (tmp_path / "root" / "cam" / "a.mp4").resolve()
    (tmp_path / "outside.mp4").write_bytes(b"secret")
    with pytest.raises(InvalidClipKey):
        storage.get("../outside.mp4")
    with pytest.raises(InvalidClipKey):
        storage.delete_many(["../outside.mp4"])
    assert (tmp_path / "outside.mp4").exists()


def test_local_directory_under_a_key_name_is_not_a_clip(tmp_path: Path) -> None:
    storage = LocalDiskStorage(tmp_path)
    storage.put("cam/sub/a.mp4", b"a", MP4)
    with pytest.raises(ClipBlobMissing):
        storage.get("cam/sub")
    assert storage.delete_many(["cam/sub"]) == 1
    assert storage.get("cam/sub/a.mp4") == b"a"


# --- S3 only -------------------------------------------------------------------------------


def _count_delete_objects(storage: S3Storage) -> list[int]:
    """Batch sizes of the DeleteObjects requests boto3 builds (a botocore event hook)."""
    sizes: list[int] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["Delete"]["Objects"]))

    storage.client.meta.events.register("before-parameter-build.s3.DeleteObjects", record)
    return sizes


def test_v2_deletes_in_batches_of_at_most_1000(s3_endpoint: str) -> None:
    storage = s3_storage(s3_endpoint)
    keys = [f"cam/clip-{n:05d}.mp4" for n in range(2500)]
    for key in (keys[0], keys[1500], keys[-1]):
        storage.put(key, b"x", MP4)
    sizes = _count_delete_objects(storage)
    assert storage.delete_many(keys) == 2500
    assert DELETE_BATCH == 1000
    assert sizes == [1000, 1000, 500]  # 3 DeleteObjects calls for 2,500 keys
    listed = storage.client.list_objects_v2(Bucket=storage.bucket)
    assert listed.get("KeyCount", 0) == 0


def test_s3_delete_of_nothing_sends_no_request(s3_endpoint: str) -> None:
    storage = s3_storage(s3_endpoint)
    sizes = _count_delete_objects(storage)
    assert storage.delete_many([]) == 0
    assert sizes == []


def test_s3_keeps_the_content_type(s3_endpoint: str) -> None:
    storage = s3_storage(s3_endpoint)
    storage.put(KEY, b"x", MP4)
    head = storage.client.head_object(Bucket=storage.bucket, Key=KEY)
    assert head["ContentType"] == MP4


def test_s3_without_create_bucket_a_missing_bucket_is_an_error(s3_endpoint: str) -> None:
    storage = s3_storage(s3_endpoint, create=False)
    with pytest.raises(ClipStorageError):
        storage.put(KEY, b"x", MP4)
    with pytest.raises(ClipStorageError):
        storage.get(KEY)


def test_s3_create_bucket_tolerates_an_existing_bucket(s3_endpoint: str) -> None:
    bucket = new_bucket()
    first = s3_storage(s3_endpoint, bucket)
    first.put(KEY, b"kept", MP4)
    second = s3_storage(s3_endpoint, bucket)
    assert second.get(KEY) == b"kept"
    plain = s3_storage(s3_endpoint, bucket, create=False)
    assert plain.exists(KEY)


def test_s3_create_bucket_outside_us_east_1(s3_endpoint: str) -> None:
    bucket = new_bucket()
    storage = storage_from_url(
        f"s3://{bucket}?endpoint={s3_endpoint}&region=eu-west-1&create_bucket=1"
    )
    assert isinstance(storage, S3Storage)
    storage.put(KEY, b"x", MP4)
    location = storage.client.get_bucket_location(Bucket=bucket)
    assert location.get("LocationConstraint") == "eu-west-1"


# --- KASACARE_STORAGE_URL ------------------------------------------------------------------


def test_file_url_absolute(tmp_path: Path) -> None:
    assert parse_storage_url(f"file://{tmp_path}/clips") == LocalLocation(tmp_path / "clips")
    assert parse_storage_url(f"file://localhost{tmp_path}") == LocalLocation(tmp_path)


def test_file_url_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    here = Path.cwd()
    assert parse_storage_url("file://./var/clips") == LocalLocation(here / "var" / "clips")
    assert parse_storage_url("file://var/clips") == LocalLocation(here / "var" / "clips")


def test_the_default_setting_is_a_relative_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KASACARE_STORAGE_URL", raising=False)
    storage = storage_from_url(Settings().storage_url)
    assert isinstance(storage, LocalDiskStorage)
    assert storage.root == Path.cwd() / "var" / "clips"


def test_s3_url_with_every_parameter() -> None:
    url = "s3://kasa-clips?endpoint=http://127.0.0.1:9000&region=eu-west-1&create_bucket=1"
    assert parse_storage_url(url) == S3Location(
        bucket="kasa-clips",
        endpoint_url="http://127.0.0.1:9000",
        region="eu-west-1",
        create_bucket=True,
    )


def test_s3_url_defaults() -> None:
    assert parse_storage_url("s3://kasa-clips") == S3Location(bucket="kasa-clips")
    assert parse_storage_url("s3://kasa-clips/?create_bucket=0") == S3Location("kasa-clips")


def test_storage_from_an_s3_url(aws_env: None) -> None:
    storage = storage_from_url("s3://kasa-clips?endpoint=http://127.0.0.1:9&region=us-east-1")
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.endpoint_url) == ("kasa-clips", "http://127.0.0.1:9")
    assert storage.client.meta.region_name == "us-east-1"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.test/clips", "expected file:///path or s3://"),
        ("file://", "needs a directory"),
        ("file:///", "needs a directory"),
        ("file:///srv/clips?x=1", "no query"),
        ("s3://", "not an S3 bucket name"),
        ("s3://Bad_Bucket", "not an S3 bucket name"),
        ("s3://kasa-clips/prefix", "names a bucket only"),
        ("s3://kasa-clips?endpoint_url=http://x", "unknown s3:// storage URL parameter"),
        ("s3://kasa-clips?endpoint=ftp://x", "must be an http(s) URL"),
        ("s3://kasa-clips?region=a&region=b", "given twice"),
        ("s3://kasa-clips?create_bucket=maybe", "create_bucket must be 1 or 0"),
    ],
)
def test_bad_storage_urls(url: str, message: str) -> None:
    with pytest.raises(InvalidStorageUrl, match=re.escape(message)):
        storage_from_url(url)


# --- signed URLs (V7) ----------------------------------------------------------------------


def test_v7_signed_urls_valid_300_s() -> None:
    token = sign(KEY, NOW + PLAYBACK_URL_TTL, KEYS)
    assert verify(token, KEYS, NOW) == KEY
    assert verify(token, KEYS, NOW + timedelta(seconds=299, microseconds=999_999)) == KEY
    with pytest.raises(ClipUrlExpired, match="expired"):
        verify(token, KEYS, NOW + timedelta(seconds=300))
    with pytest.raises(ClipUrlExpired):
        verify(token, KEYS, NOW + timedelta(days=400))


def test_v7_signed_url_token_is_url_safe_and_names_its_key() -> None:
    token = sign(KEY, NOW + PLAYBACK_URL_TTL, KEYS)
    assert re.fullmatch(r"[0-9a-f]{8}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    assert token.split(".")[0] == key_id(MASTER)


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def _forged_payload(token: str, payload: str) -> str:
    import base64

    kid, _, mac = token.split(".")
    encoded = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
    return f"{kid}.{encoded}.{mac}"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: _flip(token, 0),  # the key id
        lambda token: _flip(token, 9),  # the payload
        lambda token: _flip(token, len(token) - 3),  # the MAC
        lambda token: token.rpartition(".")[0],  # no MAC
        lambda token: token.partition(".")[2],  # no key id
        lambda token: token + "x",
        lambda token: token + ".x",
        lambda token: token.replace(".", ""),
        lambda token: "",
        lambda token: "not a token at all",
        lambda token: "ünïcode.ünïcode.ünïcode",
        # the expiry pushed a day later, the MAC kept
        lambda token: _forged_payload(token, f"{int(NOW.timestamp()) + 86_400}:{KEY}"),
        # another clip, the MAC kept
        lambda token: _forged_payload(token, f"{int(NOW.timestamp()) + 300}:other/clip.mp4"),
    ],
)
def test_v7_tampered_token_is_refused(tamper: Callable[[str], str]) -> None:
    token = sign(KEY, NOW + PLAYBACK_URL_TTL, KEYS)
    with pytest.raises(ClipUrlInvalid) as caught:
        verify(tamper(token), KEYS, NOW)
    assert not isinstance(caught.value, ClipUrlExpired)


def test_v7_token_signed_with_another_master_is_refused() -> None:
    other = Keyring.derived(CLIP_URL_KEYS, [b"another-master-0123456789abcdef-0123"])
    token = sign(KEY, NOW + PLAYBACK_URL_TTL, other)
    with pytest.raises(ClipUrlInvalid, match="not signed with a key this service accepts"):
        verify(token, KEYS, NOW)


def test_issue_13_item_4_a_rotated_master_still_verifies_until_it_is_dropped() -> None:
    """Rotation: the new master signs, the previous one still verifies what it signed."""
    new_master = b"the-new-master-after-rotation-0123456789"
    rotated = Keyring.derived(CLIP_URL_KEYS, [new_master, MASTER])
    before = sign(KEY, NOW + PLAYBACK_URL_TTL, KEYS)
    after = sign(KEY, NOW + PLAYBACK_URL_TTL, rotated)
    assert after.split(".")[0] == key_id(new_master) != key_id(MASTER)
    assert verify(before, rotated, NOW) == verify(after, rotated, NOW) == KEY
    dropped = Keyring.derived(CLIP_URL_KEYS, [new_master])
    with pytest.raises(ClipUrlInvalid, match="not signed with a key"):
        verify(before, dropped, NOW)
    with pytest.raises(ClipUrlInvalid):  # the old keyring never knew the new master
        verify(after, KEYS, NOW)


def test_issue_13_item_4_keys_of_one_use_do_not_verify_another() -> None:
    """Derived per use: a CSRF key (same master, same key id) does not sign clip URLs."""
    csrf = Keyring.derived("csrf", [MASTER])
    assert csrf.signing[0] == KEYS.signing[0]
    assert csrf.signing[1] != KEYS.signing[1] != MASTER
    with pytest.raises(ClipUrlInvalid, match="signature"):
        verify(sign(KEY, NOW + PLAYBACK_URL_TTL, csrf), KEYS, NOW)


def test_v7_playback_token_does_not_open_a_download() -> None:
    play = sign(KEY, NOW + PLAYBACK_URL_TTL, KEYS)
    download = sign(KEY, NOW + PLAYBACK_URL_TTL, KEYS, purpose="download")
    assert verify(download, KEYS, NOW, purpose="download") == KEY
    with pytest.raises(ClipUrlInvalid):
        verify(play, KEYS, NOW, purpose="download")
    with pytest.raises(ClipUrlInvalid):
        verify(download, KEYS, NOW)


def test_v7_an_expired_tampered_token_reports_tampering_first() -> None:
    token = sign(KEY, NOW + PLAYBACK_URL_TTL, KEYS)
    with pytest.raises(ClipUrlInvalid) as caught:
        verify(_flip(token, 9), KEYS, NOW + timedelta(days=1))
    assert not isinstance(caught.value, ClipUrlExpired)


def test_clip_url_errors_answer_403_forbidden() -> None:
    assert issubclass(ClipUrlExpired, ClipUrlInvalid)
    assert issubclass(ClipUrlInvalid, Forbidden)
    assert (ClipUrlInvalid.status, ClipUrlInvalid.code) == (403, "forbidden")


def test_signing_refuses_weak_masters_naive_times_and_bad_keys() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Keyring.derived(CLIP_URL_KEYS, [b"short"])
    with pytest.raises(ValueError, match="UTC"):
        sign(KEY, datetime(2026, 3, 1, 12, 5), KEYS)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="UTC"):
        verify(sign(KEY, NOW, KEYS), KEYS, datetime(2026, 3, 1, 12, 0))  # noqa: DTZ001
    with pytest.raises(InvalidClipKey):
        sign("../etc/passwd", NOW, KEYS)
