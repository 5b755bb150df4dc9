"""Prediction ids: UUIDv7 (RFC 9562), so an id also says when the prediction was made.

The monitor joins ground truth to captured predictions by id. Because the id carries its
millisecond timestamp, the monitor reads only the capture hours where that prediction can
be, instead of every hour since labels could have been predicted.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

_VERSION_7 = 0x7
_VARIANT_RFC = 0b10


def new_prediction_id(now_ms: int | None = None) -> str:
    """A fresh UUIDv7 as 32 hex digits: 48-bit Unix milliseconds, then 74 random bits."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits, 74 used
    value = (ms & ((1 << 48) - 1)) << 80
    value |= _VERSION_7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a: 12 bits
    value |= _VARIANT_RFC << 62
    value |= rand & ((1 << 62) - 1)  # rand_b: 62 bits
    return f"{value:032x}"


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
