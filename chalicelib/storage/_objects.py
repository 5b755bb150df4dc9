"""A thin S3 object store: bytes and JSON documents, conditional writes, listing.

AWS failures leave this module as sklambda errors that say what to fix, so no caller ever
shows a botocore traceback to a user.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from chalicelib.core import AwsAccessError

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_s3 import S3Client

_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidToken",
}


JSON = "application/json"


def json_bytes(document: Any) -> bytes:
    """How every JSON document is stored: sorted keys, so equal documents are equal bytes."""
    return json.dumps(document, sort_keys=True, indent=1, default=str).encode()


class StoredObject(NamedTuple):
    """An object's bytes, ETag and S3 version id (None where the bucket keeps no versions)."""

    body: bytes
    etag: str
    version_id: str | None


class ObjectHead(NamedTuple):
    """What S3 says of an object without reading it: size, and SHA-256 when it checked one."""

    size: int
    sha256: str | None


class ObjectMissing(KeyError):
    """The key does not exist (callers decide whether that is an error)."""


class PreconditionFailed(Exception):
    """A conditional write lost: the object exists, or changed since it was read."""


@contextmanager
def translate_aws_errors(action: str, bucket: str | None = None) -> Iterator[None]:
    """Turn botocore failures raised inside the block into AwsAccessError messages."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    where = f" (bucket {bucket!r})" if bucket else ""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise AwsAccessError(
            f"no AWS credentials found to {action}: configure a profile (aws configure), "
            "export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run inside AWS"
        ) from None
    except EndpointConnectionError as exc:
        raise AwsAccessError(
            f"cannot reach AWS at {exc.kwargs.get('endpoint_url', 'the endpoint')} to {action}: "
            "check --endpoint-url / AWS_ENDPOINT_URL and the network"
        ) from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        if code == "NoSuchBucket":
            raise AwsAccessError(
                f"bucket {bucket!r} does not exist: create it, or set the right name with "
                "--models-bucket / SKLAMBDA_MODELS_BUCKET (--data-bucket / SKLAMBDA_DATA_BUCKET)"
            ) from None
        if code in _CREDENTIAL_CODES:
            raise AwsAccessError(
                f"AWS rejected the credentials ({code}) while trying to {action}: "
                "refresh them or pick another profile"
            ) from None
        if code in {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}:
            raise AwsAccessError(
                f"access denied while trying to {action}{where}: "
                "grant the caller's IAM role access to the bucket"
            ) from None
        message = exc.response.get("Error", {}).get("Message", "")
        raise AwsAccessError(
            f"AWS error {code} while trying to {action}{where}: {message}"
        ) from None


class ObjectStore:
    """Objects of one bucket. Every write can be made conditional."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def get_bytes(self, key: str, version_id: str | None = None) -> tuple[bytes, str]:
        """(body, etag) of `key` (of one S3 version, when given); ObjectMissing when absent."""
        stored = self.read(key, version_id)
        return stored.body, stored.etag

    def read(self, key: str, version_id: str | None = None) -> StoredObject:
        """`key` (of one S3 version, when given) with its ETag and version id; ObjectMissing
        when absent."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        with translate_aws_errors(f"read {key}", self.bucket):
            try:
                response = self._s3.get_object(**kwargs)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in {"NoSuchKey", "NoSuchVersion", "404"}:
                    raise ObjectMissing(key) from None
                raise
            body = response["Body"].read()
            return StoredObject(body, response["ETag"], response.get("VersionId"))

    def head(self, key: str, version_id: str | None = None) -> ObjectHead:
        """Size and S3's own SHA-256 of `key` (of one version) without reading it;
        ObjectMissing when absent."""
        import base64

        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if version_id:
            kwargs["VersionId"] = version_id
        with translate_aws_errors(f"look up {key}", self.bucket):
            try:
                response = self._s3.head_object(**kwargs)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in {"NoSuchKey", "NoSuchVersion", "404", "NotFound", "400"}:
                    raise ObjectMissing(key) from None
                raise
        checksum = response.get("ChecksumSHA256")
        # A whole-object checksum is base64 of the digest; a multipart one ends in "-<parts>".
        sha256 = base64.b64decode(checksum).hex() if checksum and "-" not in checksum else None
        return ObjectHead(int(response["ContentLength"]), sha256)

    def get_json(self, key: str) -> tuple[Any, str]:
        """(document, etag) of a JSON object; ObjectMissing when absent."""
        body, etag = self.get_bytes(key)
        return json.loads(body), etag

    def put_bytes(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        if_none_match: bool = False,
        if_match: str | None = None,
        checksum_sha256: bool = False,
    ) -> str:
        """Write `key` and return its ETag; PreconditionFailed when a condition loses.

        `if_none_match` creates only (never overwrites); `if_match` replaces only the
        version whose ETag was read.
        """
        return str(
            self._put(key, body, content_type, if_none_match, if_match, checksum_sha256)["ETag"]
        )

    def create_bytes(
        self, key: str, body: bytes, *, content_type: str = "application/octet-stream"
    ) -> str | None:
        """Create `key` (never overwriting, S3 checking the bytes' SHA-256) and return its S3
        version id, or None when the bucket does not keep versions."""
        response = self._put(key, body, content_type, True, None, True)
        return response.get("VersionId")

    def _put(
        self,
        key: str,
        body: bytes,
        content_type: str,
        if_none_match: bool,
        if_match: str | None,
        checksum_sha256: bool,
    ) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body}
        kwargs["ContentType"] = content_type
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        if checksum_sha256:
            # S3 verifies the bytes it received against this checksum.
            kwargs["ChecksumAlgorithm"] = "SHA256"
        with translate_aws_errors(f"write {key}", self.bucket):
            try:
                return dict(self._s3.put_object(**kwargs))
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in {"PreconditionFailed", "ConditionalRequestConflict", "412"}:
                    raise PreconditionFailed(key) from None
                if code == "NoSuchKey" and if_match is not None:
                    raise PreconditionFailed(key) from None
                raise

    def put_json(self, key: str, document: Any, **conditions: Any) -> str:
        """Write a JSON document (sorted keys, so equal documents are equal bytes)."""
        return self.put_bytes(key, json_bytes(document), content_type=JSON, **conditions)

    def read_json(self, key: str) -> tuple[Any, str | None]:
        """(document, etag) of `key`, or (None, None) when it is absent: the read half of
        `replace_json`."""
        try:
            return self.get_json(key)
        except ObjectMissing:
            return None, None

    def replace_json(self, key: str, document: Any, etag: str | None) -> str:
        """Write `document` only if `key` is as it was read: unchanged since `etag`, or
        still absent when `etag` is None. Its new ETag; PreconditionFailed otherwise."""
        if etag is None:
            return self.put_json(key, document, if_none_match=True)
        return self.put_json(key, document, if_match=etag)

    def exists(self, key: str) -> bool:
        """Whether `key` exists."""
        from botocore.exceptions import ClientError

        with translate_aws_errors(f"look up {key}", self.bucket):
            try:
                self._s3.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                    return False
                raise
            return True

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key under `prefix`, in S3's (lexicographic) order."""
        paginator = self._s3.get_paginator("list_objects_v2")
        with translate_aws_errors(f"list {prefix}", self.bucket):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"]

    def list_objects(self, prefix: str) -> Iterator[tuple[str, datetime, int]]:
        """(key, last modified, size) of every object under `prefix`, in key order."""
        paginator = self._s3.get_paginator("list_objects_v2")
        with translate_aws_errors(f"list {prefix}", self.bucket):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"], item["LastModified"], int(item.get("Size", 0))

    def open_stream(
        self,
        key: str,
        version_id: str | None = None,
        *,
        etag: str | None = None,
        byte_range: tuple[int, int] | None = None,
    ) -> Any:
        """A streaming body of `key`: of one version, or only while its ETag is `etag`;
        `byte_range` is [start, end). ObjectMissing when absent, PreconditionFailed when
        the object changed."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        elif etag:
            kwargs["IfMatch"] = '"' + etag.strip('"') + '"'
        if byte_range is not None:
            kwargs["Range"] = f"bytes={byte_range[0]}-{byte_range[1] - 1}"
        with translate_aws_errors(f"read {key}", self.bucket):
            try:
                return self._s3.get_object(**kwargs)["Body"]
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in {"NoSuchKey", "NoSuchVersion", "404"}:
                    raise ObjectMissing(key) from None
                if code in {"PreconditionFailed", "412"}:
                    raise PreconditionFailed(key) from None
                raise

    def list_folders(self, prefix: str) -> list[str]:
        """The immediate sub-folder names under `prefix` (without the prefix or '/')."""
        paginator = self._s3.get_paginator("list_objects_v2")
        names: list[str] = []
        with translate_aws_errors(f"list {prefix}", self.bucket):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    names.append(common["Prefix"][len(prefix) :].rstrip("/"))
        return names

    def set_tag(self, key: str, tag: str, value: str | None) -> None:
        """Set (or, with None, remove) one S3 tag of `key`'s current version, keeping its
        other tags; ObjectMissing when absent."""
        from botocore.exceptions import ClientError

        with translate_aws_errors(f"tag {key}", self.bucket):
            try:
                found = self._s3.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                    raise ObjectMissing(key) from None
                raise
            wanted: list[Any] = [t for t in found if t["Key"] != tag]
            if value is not None:
                wanted.append({"Key": tag, "Value": value})
            if sorted(map(str, wanted)) == sorted(map(str, found)):
                return
            if wanted:
                self._s3.put_object_tagging(Bucket=self.bucket, Key=key, Tagging={"TagSet": wanted})
            else:  # an empty TagSet is the same, but not every S3 look-alike takes it
                self._s3.delete_object_tagging(Bucket=self.bucket, Key=key)

    def delete(self, key: str) -> None:
        """Delete `key` (no error when it is already gone)."""
        with translate_aws_errors(f"delete {key}", self.bucket):
            self._s3.delete_object(Bucket=self.bucket, Key=key)
