"""A text file's bytes in blocks: gzip undone, byte order mark dropped, UTF-8 checked."""

from __future__ import annotations

import gzip
import io
import zlib
from typing import Any, BinaryIO

from chalicelib.core import InvalidInputError

_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"

# Blocks hold about one chunk of rows (estimated from the rows read so far), within bounds
# that keep numpy's per-call overhead low and memory flat.
FIRST_BLOCK = 64 << 10
_MIN_BLOCK = 4 << 10
_MAX_BLOCK = 16 << 20


class Source:
    """A text file's bytes in blocks: gzip undone, BOM dropped, UTF-8 checked."""

    def __init__(self, stream: BinaryIO) -> None:
        first = _read(stream, FIRST_BLOCK)
        if first.startswith(_GZIP_MAGIC):
            # Whether or not the caller unzipped it, a gzipped body is read unzipped.
            stream = gzip.GzipFile(fileobj=_Prefixed(first, stream), mode="rb")  # type: ignore[assignment]
            first = _read(stream, FIRST_BLOCK)
        if first.startswith(_BOM):
            first = first[len(_BOM) :]
            self.offset = len(_BOM)  # file offset of the next byte handed out
        else:
            self.offset = 0
        if not first:
            raise InvalidInputError("file is empty")
        self._stream = stream
        self._pending: bytes | None = first

    def read(self, size: int) -> bytes:
        """Up to `size` bytes (b"" at the end)."""
        if self._pending is not None:
            block, self._pending = self._pending, None
            return block
        return _read(self._stream, size)

    def check_utf8(self, data: bytes, start: int) -> None:
        """Raise unless `data` (at file offset `start`) is valid UTF-8."""
        if data.isascii():
            return
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"file is not UTF-8: byte 0x{data[exc.start]:02x} at offset {start + exc.start} "
                "cannot be decoded; save the file as UTF-8 (Excel: CSV UTF-8)"
            ) from None


class _Prefixed(io.RawIOBase):
    """Bytes already read from a stream, then the rest of it."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            take = len(self._head) if size is None or size < 0 else size
            block, self._head = self._head[:take], self._head[take:]
            return block
        return self._rest.read(size)

    def readinto(self, buffer: Any) -> int:
        block = self.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)


def _read(stream: BinaryIO, size: int) -> bytes:
    try:
        return stream.read(size)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InvalidInputError(f"not a readable gzip file: {exc}") from None


def block_size(chunk_rows: int, bytes_read: int, rows_read: int) -> int:
    """How much to read next: about one chunk of rows at the bytes per row seen so far."""
    per_row = bytes_read / rows_read if rows_read else 256
    return int(min(_MAX_BLOCK, max(_MIN_BLOCK, chunk_rows * per_row)))
