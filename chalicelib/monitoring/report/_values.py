"""Reading the report JSON, which is untrusted: any field may be missing, null or of another
type. These coerce instead of failing, so one odd value never costs the whole page.
"""

from __future__ import annotations

import math
from typing import Any


def num(value: Any) -> float | None:
    """A finite number, or None (nulls, NaN, infinities, strings, booleans)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def text(value: Any) -> str:
    """The value as text ('' for None), unescaped: the templates escape it."""
    return "" if value is None else str(value)


def as_dict(value: Any) -> dict[Any, Any]:
    """The value if it is a dict, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """The value if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[dict[str, Any]]:
    """The dicts in a list, skipping anything else."""
    return [item for item in as_list(value) if isinstance(item, dict)]
