"""`S3Storage`: clip bytes in an S3-compatible object store, through boto3.

Credentials and, unless given, the region come from boto3's default chain: the standard
environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
`AWS_REGION`), then the shared config files, then instance metadata. With a custom endpoint
(MinIO, Ceph, moto) requests use path-style addressing (`http://host:port/bucket/key`), and
checksums only where the API requires them, which every S3-compatible store accepts.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from kasacare.clips.storage import (
    Blob,
    BlobHead,
    ClipBlobMissing,
    ClipStorageError,
    unique_keys,
    validate_key,
)

if TYPE_CHECKING:  # the stubs are a dev dependency; at run time these names are not needed
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

#: DeleteObjects takes at most 1,000 keys per request (S3's limit; V2 "in batches").
DELETE_BATCH = 1000
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_BUCKET_EXISTS_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Storage:
    """Each key is one object in `bucket`. Safe to share between threads (one boto3 client).

    `create_bucket=True` creates the bucket, if missing, before the first operation (the
    URL flag `create_bucket=1`); otherwise a missing bucket is the operator's error and
    surfaces as `ClipStorageError`.
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        *,
        region: str | None = None,
        create_bucket: bool = False,
        connect_timeout: float = 5,
        read_timeout: float = 60,
        max_attempts: int = 5,
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self._create_bucket = create_bucket
        self._ready = not create_bucket
        self._ready_lock = threading.Lock()
        config = Config(
            region_name=region,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            signature_version="s3v4",  # presigned URLs too (SigV2 ones are refused by AWS)
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of its own: boto3's default session is not thread-safe to create from.
        self.client: S3Client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, config=config
        )

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r})"

    def _ensure_bucket(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            region = self.client.meta.region_name
            try:
                if region in (None, "", "us-east-1", "aws-global"):
                    self.client.create_bucket(Bucket=self.bucket)
                else:
                    self.client.create_bucket(
                        Bucket=self.bucket,
                        # The stubs list AWS's regions; other S3 stores name their own.
                        CreateBucketConfiguration={
                            "LocationConstraint": cast("BucketLocationConstraintType", region)
                        },
                    )
            except ClientError as error:
                if _error_code(error) not in _BUCKET_EXISTS_CODES:
                    raise ClipStorageError(
                        f"cannot create bucket {self.bucket!r}: {error}"
                    ) from error
            except BotoCoreError as error:
                raise ClipStorageError(f"cannot create bucket {self.bucket!r}: {error}") from error
            self._ready = True

    def put(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        self._ensure_bucket()
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as error:
            raise ClipStorageError(f"cannot store {key!r}: {error}") from error

    def put_many(self, items: Sequence[Blob]) -> None:
        # One request per object (S3 has no multi-object put), sent side by side.
        for item in items:
            validate_key(item.key)
        self._ensure_bucket()
        with ThreadPoolExecutor(max_workers=min(len(items), 16) or 1) as pool:
            for future in [
                pool.submit(self.put, item.key, item.data, item.content_type) for item in items
            ]:
                future.result()

    def get(self, key: str) -> bytes:
        validate_key(key)
        self._ensure_bucket()
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            with response["Body"] as body:
                return body.read()
        except ClientError as error:
            if _error_code(error) in _MISSING_CODES:
                raise ClipBlobMissing(key) from None
            raise ClipStorageError(f"cannot read {key!r}: {error}") from error
        except BotoCoreError as error:
            raise ClipStorageError(f"cannot read {key!r}: {error}") from error

    def read_prefix(self, key: str, length: int) -> bytes:
        validate_key(key)
        self._ensure_bucket()
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes=0-{max(length, 1) - 1}"
            )
            with response["Body"] as body:
                return body.read()[:length]
        except ClientError as error:
            code = _error_code(error)
            if code in _MISSING_CODES:
                raise ClipBlobMissing(key) from None
            if code == "InvalidRange":  # an empty object: no byte 0
                return b""
            raise ClipStorageError(f"cannot read {key!r}: {error}") from error
        except BotoCoreError as error:
            raise ClipStorageError(f"cannot read {key!r}: {error}") from error

    def head(self, key: str) -> BlobHead:
        validate_key(key)
        self._ensure_bucket()
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _MISSING_CODES:
                raise ClipBlobMissing(key) from None
            raise ClipStorageError(f"cannot look up {key!r}: {error}") from error
        except BotoCoreError as error:
            raise ClipStorageError(f"cannot look up {key!r}: {error}") from error
        return BlobHead(response["ContentLength"], response.get("ContentType"))

    def exists(self, key: str) -> bool:
        validate_key(key)
        self._ensure_bucket()
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _MISSING_CODES:
                return False
            raise ClipStorageError(f"cannot look up {key!r}: {error}") from error
        except BotoCoreError as error:
            raise ClipStorageError(f"cannot look up {key!r}: {error}") from error
        return True

    def local_file(self, key: str) -> None:
        validate_key(key)
        return None  # no file on this machine: the bytes are read with `get`

    def presigned_get(self, key: str, seconds: int, attachment: str | None = None) -> str:
        # Signed locally (no request); S3 checks the signature and its life, and answers
        # Range itself. `response-content-disposition` makes S3 send the download header.
        params: dict[str, str] = {"Bucket": self.bucket, "Key": validate_key(key)}
        if attachment is not None:
            params["ResponseContentDisposition"] = f'attachment; filename="{attachment}"'
        try:
            return self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=seconds
            )
        except (ClientError, BotoCoreError) as error:
            raise ClipStorageError(f"cannot sign a URL for {key!r}: {error}") from error

    def presigned_put(self, key: str, seconds: int, content_type: str, size: int) -> str:
        # Content-Type and Content-Length become signed headers: S3 refuses a PUT of another
        # type or size, and one after `seconds`.
        params = {
            "Bucket": self.bucket,
            "Key": validate_key(key),
            "ContentType": content_type,
            "ContentLength": size,
        }
        self._ensure_bucket()  # the camera's PUT needs the bucket
        try:
            return self.client.generate_presigned_url(
                "put_object", Params=params, ExpiresIn=seconds
            )
        except (ClientError, BotoCoreError) as error:
            raise ClipStorageError(f"cannot sign an upload URL for {key!r}: {error}") from error

    def delete_many(self, keys: Sequence[str]) -> int:
        wanted = unique_keys(keys)
        if not wanted:
            return 0
        self._ensure_bucket()
        failures: list[str] = []
        for start in range(0, len(wanted), DELETE_BATCH):
            batch = wanted[start : start + DELETE_BATCH]
            objects: list[ObjectIdentifierTypeDef] = [{"Key": key} for key in batch]
            try:
                # Quiet: the answer lists only the keys that failed. A missing key is a
                # success in S3, so deleting twice is fine.
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
            except (ClientError, BotoCoreError) as error:
                failures.extend(f"{key}: {error}" for key in batch)
                continue
            for failure in response.get("Errors", []):
                code, message = failure.get("Code", "?"), failure.get("Message", "")
                failures.append(f"{failure.get('Key', '?')}: {code} {message}")
        if failures:
            shown = "; ".join(failures[:5])
            raise ClipStorageError(
                f"{len(failures)} of {len(wanted)} keys not deleted from {self.bucket!r}: {shown}"
            )
        return len(wanted)
