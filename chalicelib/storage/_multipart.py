"""A write-only file over an S3 multipart upload: bounded memory, visible only when complete.

Bytes are buffered up to one part (8 MiB by default; S3's minimum is 5 MiB except for the last
part) and uploaded as they fill. Nothing is visible under the key until `complete()`;
`abort()` throws the parts away.
"""

from __future__ import annotations

import io
from typing import Any

from chalicelib.storage._objects import translate_aws_errors

DEFAULT_PART_SIZE = 8 * 1024 * 1024


class MultipartWriter(io.RawIOBase):
    """`write()` bytes, then `complete()` (or `abort()`)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        content_type: str = "application/octet-stream",
    ) -> None:
        super().__init__()
        self._s3 = s3
        self.bucket = bucket
        self.key = key
        self._part_size = part_size
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self.bytes_written = 0
        with translate_aws_errors(f"start writing {key}", bucket):
            self._upload_id = s3.create_multipart_upload(
                Bucket=bucket, Key=key, ContentType=content_type
            )["UploadId"]

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = bytes(data)
        self._buffer += view
        self.bytes_written += len(view)
        while len(self._buffer) >= self._part_size:
            self._upload(bytes(self._buffer[: self._part_size]))
            del self._buffer[: self._part_size]
        return len(view)

    def _upload(self, body: bytes) -> None:
        number = len(self._parts) + 1
        with translate_aws_errors(f"write part {number} of {self.key}", self.bucket):
            etag = self._s3.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=body,
            )["ETag"]
        self._parts.append({"PartNumber": number, "ETag": etag})

    def complete(self) -> str:
        """Upload what is buffered and make the object visible; returns its ETag."""
        if self._buffer or not self._parts:
            self._upload(bytes(self._buffer))
            self._buffer.clear()
        with translate_aws_errors(f"finish writing {self.key}", self.bucket):
            response = self._s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        super().close()
        return str(response.get("ETag", ""))

    def abort(self) -> None:
        """Discard every uploaded part; the key is left as it was."""
        self._buffer.clear()
        if not self.closed:
            with translate_aws_errors(f"abandon {self.key}", self.bucket):
                self._s3.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self._upload_id
                )
            super().close()

    def close(self) -> None:
        # Closing without complete() must not publish a half-written object.
        if not self.closed:
            self.abort()
