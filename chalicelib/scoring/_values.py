"""One value of one column, as a JSON body or a CSV cell holds it, read into what the model saw.

A checker per feature, built once per model version from its column description
(`stats.Feature`), turns a value into the canonical Python value of its column (a float, a
bool, a category of its registered type, ISO 8601 text for a time; None for missing) or
raises InvalidValue saying what to send instead. The HTTP validator calls it per value; batch
validation per distinct value. Pure, and on the hot path: no pandas or numpy.

Missing: JSON null, an empty (or blank) CSV cell, and the column's own missing markers. No
other text is missing: "NA" is a category like any other unless the description says it is
a marker.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from chalicelib.stats import BOOLEAN, CATEGORY, DATETIME, NUMBER

NON_FINITE = "non-finite number"

# How many levels a "never seen" problem lists, and how much of a text value a message quotes.
_LEVELS_SHOWN = 10
_TEXT_SHOWN = 40

_TRUE_TEXT = frozenset({"true", "1"})
_FALSE_TEXT = frozenset({"false", "0"})

_isfinite = math.isfinite

Check = Callable[[Any], Any]


class InvalidValue(Exception):
    """A value that cannot be scored; `problem` says why."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class UnseenCategory(Exception):
    """A category never seen in training, under a policy that scores it anyway."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value


def value_checker(feature: Mapping[str, Any], policy: str, strings: bool) -> Check:
    """The checker of one feature; `strings` means values are CSV text. Features of a type
    this version does not know pass through unchanged."""
    kind = feature.get("type")
    check: Check
    if kind == NUMBER:
        check = _number_from_text if strings else _number
        if is_whole_dtype(str(feature.get("dtype", ""))):
            check = _whole(check)
    elif kind == BOOLEAN:
        check = _boolean_from_text if strings else _boolean
    elif kind == CATEGORY:
        check = _category_checker(feature, policy, strings)
    elif kind == DATETIME:
        check = _datetime_checker(feature, strings)
    else:
        return _passthrough
    markers = feature.get("missing_markers")
    return _with_markers(check, frozenset(markers)) if markers else check


def is_whole_dtype(dtype: str) -> bool:
    """Integer dtypes (int64, Int64, uint8, ...): their values must stay whole numbers."""
    return dtype.lower().startswith(("int", "uint"))


def _passthrough(value: Any) -> Any:
    return value


def _with_markers(check: Check, markers: Collection[str]) -> Check:
    def checked(value: Any) -> Any:
        if type(value) is str and value.strip() in markers:
            return None
        return check(value)

    return checked


# -- numbers --------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    if type(value) is float:
        if _isfinite(value):
            return value
        raise InvalidValue(NON_FINITE)
    if type(value) is int:
        return _int_to_float(value)
    if value is None:
        return None
    return _other_number(value)


def _number_from_text(value: Any) -> float | None:
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            raise InvalidValue(f"expected a number, got {short(value)}") from None
        if _isfinite(number):
            return number
        raise InvalidValue(NON_FINITE)
    return _number(value)


def _whole(check: Check) -> Check:
    def whole(value: Any) -> float | None:
        number = check(value)
        if number is None or number.is_integer():
            return number
        raise InvalidValue(
            f"expected a whole number (the column held integers in training), got {number!r}"
        )

    return whole


def _int_to_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        raise InvalidValue("number too large; numbers must fit a 64-bit float") from None


def _other_number(value: Any) -> float:
    """Numbers that are not plain int or float (numpy scalars from batch frames), or errors."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if _isfinite(number):
            return number
        raise InvalidValue(NON_FINITE)
    if type(value) is str and _parses_as_number(value):
        raise InvalidValue(f"expected a number, got string {short(value)}; send it without quotes")
    raise InvalidValue(f"expected a number, got {describe_value(value)}")


def _parses_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- booleans -------------------------------------------------------------------------------
def _boolean(value: Any) -> bool | None:
    if value is True or value is False or value is None:
        return value
    if type(value).__name__ == "bool_":  # numpy's, from a typed batch file
        return bool(value)
    raise InvalidValue(f"expected true or false, got {describe_value(value)}")


def _boolean_from_text(value: Any) -> bool | None:
    if type(value) is str:
        text = value.strip().lower()
        if text in _TRUE_TEXT:
            return True
        if text in _FALSE_TEXT:
            return False
        if not text:
            return None
        raise InvalidValue(f"expected true, false, 1 or 0, got {short(value)}")
    return _boolean(value)


# -- categories -----------------------------------------------------------------------------
def _category_checker(feature: Mapping[str, Any], policy: str, strings: bool) -> Check:
    """A checker of one categorical feature; levels None means any value of its type."""
    value_type = str(feature.get("value_type") or "str")
    parse = _LEVEL_PARSERS.get(value_type, _text_level)
    levels: Sequence[Any] | None = feature.get("levels")
    if levels is None:
        return _blank_is_missing(parse) if strings else parse
    known = frozenset(_known_levels(levels, value_type))
    exact = _LEVEL_CLASSES.get(value_type, str)
    shown = [str(level) for level in levels]
    expected = f"expected one of: {listed(shown, _LEVELS_SHOWN)}" if shown else "it had no values"
    reject = policy == "reject"

    def check(value: Any) -> Any:
        if type(value) is exact and value in known or value is None:
            return value
        if strings and type(value) is str and not value.strip():
            return None
        if exact is str and _is_number(value) and str(value) in known:
            return str(value)  # a JSON number standing for a level written in digits ("3")
        level = parse(value)
        if level in known:
            return level
        if reject:
            raise InvalidValue(
                f"category {short(str(level))} was never seen in training; {expected}"
            )
        raise UnseenCategory(level)

    return check


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _known_levels(levels: Sequence[Any], value_type: str) -> list[Any]:
    parse = _LEVEL_PARSERS.get(value_type, _text_level)
    known = []
    for level in levels:
        try:
            known.append(parse(level))
        except InvalidValue:
            continue  # a level this type cannot hold: it never matches
    return known


def _blank_is_missing(parse: Check) -> Check:
    def check(value: Any) -> Any:
        if type(value) is str and not value.strip():
            return None
        return parse(value)

    return check


def _text_level(value: Any) -> str | None:
    if type(value) is str or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    raise InvalidValue(f"expected a string (category), got {describe_value(value)}")


def _int_level(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise InvalidValue(f"expected a whole number (category), got {describe_value(value)}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and _isfinite(float(value)) and float(value).is_integer():
        return int(float(value))
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise InvalidValue(f"expected a whole number (category), got {describe_value(value)}")


def _float_level(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and _parses_as_number(value):
        return float(value)
    raise InvalidValue(f"expected a number (category), got {describe_value(value)}")


def _bool_level(value: Any) -> bool | None:
    if type(value) is str:
        return _boolean_from_text(value)
    return _boolean(value)


_LEVEL_CLASSES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}
_LEVEL_PARSERS: dict[str, Check] = {
    "str": _text_level,
    "int": _int_level,
    "float": _float_level,
    "bool": _bool_level,
}


# -- dates and times ------------------------------------------------------------------------
def _datetime_checker(feature: Mapping[str, Any], strings: bool) -> Check:
    zone = feature.get("timezone")
    example = "2024-05-01T12:30:00" + ("+00:00" if zone else "")

    def check(value: Any) -> str | None:
        if value is None:
            return None
        if type(value) is not str:
            if hasattr(value, "isoformat") and hasattr(value, "tzinfo"):  # a typed file's
                return _same_zone_kind(value, zone, example).isoformat()
            raise InvalidValue(
                f"expected a date and time as ISO 8601 text (e.g. {example}), "
                f"got {describe_value(value)}"
            )
        text = value.strip()
        if not text and strings:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidValue(
                f"expected a date and time in ISO 8601 (e.g. {example}), got {short(value)}"
            ) from None
        return _same_zone_kind(parsed, zone, example).isoformat()

    return check


def _same_zone_kind(value: Any, zone: str | None, example: str) -> Any:
    """Refuse a time with an offset for a column without a zone, and the other way round."""
    if value.tzinfo is not None and not zone:
        raise InvalidValue(
            "the column's times had no time zone in training: "
            f"send them without an offset (e.g. {example})"
        )
    if value.tzinfo is None and zone:
        raise InvalidValue(
            f"the column's times had a time zone ({zone}) in training: "
            f"send them with an offset (e.g. {example})"
        )
    return value


# -- messages -------------------------------------------------------------------------------
def describe_value(value: Any) -> str:
    """A value as a JSON user would name it: 'string 'abc'', 'number 3', 'boolean true'."""
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        return f"string {short(value)}"
    if isinstance(value, numbers.Number):
        return f"number {value!r}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def short(text: str) -> str:
    """`text` quoted, cut to a readable length."""
    if len(text) > _TEXT_SHOWN:
        return repr(text[:_TEXT_SHOWN]) + "..."
    return repr(text)


def listed(items: Sequence[str], limit: int) -> str:
    """The first `limit` items, comma-separated, saying how many more there are."""
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items) - limit} more)"
