"""Prediction ids: UUIDv7 (RFC 9562), so an id also says when the prediction was made.

The monitor joins ground truth to captured predictions by id. Because the id carries its
millisecond timestamp, the monitor reads only the capture hours (and the batch files) where
that prediction can be, instead of everything since labels could have been predicted.

One layout, two generators: `new_prediction_id` for one HTTP prediction, and
`new_prediction_ids` for the rows of a batch chunk, in bulk (one os.urandom call and a few
numpy operations per chunk; a Python call per row would cost seconds on a file of millions).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

_VERSION_7 = 0x7
_VARIANT_RFC = 0b10
_RANDOM_BYTES = 10  # 80 bits drawn per id, 74 used (rand_a: 12, rand_b: 62)


def new_prediction_id(now_ms: int | None = None) -> str:
    """A fresh UUIDv7 as 32 hex digits: 48-bit Unix milliseconds, then 74 random bits."""
    ms = _now_ms() if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(_RANDOM_BYTES), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= _VERSION_7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a: 12 bits
    value |= _VARIANT_RFC << 62
    value |= rand & ((1 << 62) - 1)  # rand_b: 62 bits
    return f"{value:032x}"


def new_prediction_ids(count: int, now_ms: int | None = None) -> np.ndarray:
    """`count` fresh UUIDv7 ids of one millisecond, as `new_prediction_id` writes them (32
    lowercase hex digits), in a numpy array of 32-byte ASCII strings (dtype S32).

    They ascend in row order, so a scored file's ids sort as its rows do. Bytes, not str: the
    batch writers put them into CSV and JSON Lines as they are, with no per-row conversion.
    """
    import numpy as np

    ms = _now_ms() if now_ms is None else now_ms
    raw = np.empty((count, 16), dtype=np.uint8)
    raw[:, :6] = np.frombuffer((ms & ((1 << 48) - 1)).to_bytes(6, "big"), dtype=np.uint8)
    drawn = os.urandom(_RANDOM_BYTES * count)
    rand = np.frombuffer(drawn, dtype=np.uint8).reshape(count, _RANDOM_BYTES)
    # The same bit positions as new_prediction_id: version nibble, then rand_a's 12 bits;
    # variant bits, then rand_b's 62.
    raw[:, 6] = (_VERSION_7 << 4) | (rand[:, 0] & 0x0F)
    raw[:, 7] = rand[:, 1]
    raw[:, 8] = (_VARIANT_RFC << 6) | (rand[:, 2] & 0x3F)
    raw[:, 9:] = rand[:, 3:]
    # Random bits do not ascend: sort the ids by their first 58 random bits (the timestamp is
    # shared; a tie among 58 random bits is too rare to matter and only swaps its two ids).
    order = np.argsort(np.ascontiguousarray(raw[:, 6:14]).view(">u8").ravel())
    digits = _hex_table()[raw[order]]  # two ASCII digits per byte
    return digits.view("S32").reshape(count)


def predicted_at(prediction_id: str) -> datetime | None:
    """When a UUIDv7 prediction id was made; None for ids of any other form."""
    text = prediction_id.replace("-", "").lower()
    if len(text) != 32 or text[12] != "7":
        return None
    try:
        value = int(text, 16)
    except ValueError:
        return None
    if (value >> 62) & 0b11 != _VARIANT_RFC:
        return None
    return datetime.fromtimestamp((value >> 80) / 1000.0, tz=UTC)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


_hex_digits: np.ndarray | None = None


def _hex_table() -> np.ndarray:
    """The two ASCII hex digits of each byte value, one 16-bit cell each (so a lookup
    writes both at once), built on first use: importing numpy is left to the callers."""
    global _hex_digits
    if _hex_digits is None:
        import numpy as np

        table = "".join(f"{i:02x}" for i in range(256)).encode("ascii")
        _hex_digits = np.frombuffer(table, dtype="<u2").copy()
    return _hex_digits
