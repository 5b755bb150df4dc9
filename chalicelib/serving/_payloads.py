"""Request bodies of the scoring route, parsed into one dict per record.

Reads JSON (`records`, MLflow's `dataframe_records` / `dataframe_split`, `instances`) and CSV.
Pure and on the hot path: no pandas or numpy, and a one-record body costs a few microseconds.

Two steps: `read_body` needs nothing of the model (content type, byte limit, JSON decoding,
CSV parsing, record count), so a body over the limits is refused before the model is looked
up or loaded; `RequestBody.payload` then shapes the records with the model's feature order
(`instances` given as lists, examples that name the model's features).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.core import InvalidInputError, PayloadTooLargeError, UnsupportedMediaTypeError

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"
ACCEPTED_TYPES = (JSON_TYPE, CSV_TYPE)

# The JSON keys that hold records, in the order the error messages list them.
JSON_KEYS = ("records", "dataframe_records", "dataframe_split", "instances")

# The most bytes a UTF-8 character takes: a str body shorter than max_bytes / 4 characters
# cannot be over the limit, so it is never encoded just to be measured.
_MAX_UTF8_BYTES_PER_CHAR = 4


@dataclass(frozen=True)
class ParsedPayload:
    """Records of a request body, one dict (field name → value) per record."""

    records: list[dict[str, Any]]
    source: str  # records | dataframe_records | dataframe_split | instances | csv
    strings: bool  # values are CSV text: validation parses numbers and booleans


@dataclass(frozen=True)
class RequestBody:
    """A body within the limits, read as far as that needs no model.

    JSON is decoded and CSV parsed; `payload` finishes with what depends on the model.
    """

    empty: bool
    document: Any = None  # the decoded JSON document
    csv: ParsedPayload | None = None  # CSV records are complete without the model

    def payload(self, feature_order: Sequence[str] | None = None) -> ParsedPayload:
        """The records; `feature_order` names the model's features, for `instances` as lists."""
        if self.empty:
            raise InvalidInputError(
                "the request has no body; send the records to score, for example: "
                + _example("records", feature_order)
            )
        if self.csv is not None:
            return self.csv
        return _json_payload(self.document, feature_order)


def read_body(
    body: bytes | str | None, content_type: str | None, *, max_records: int, max_bytes: int
) -> RequestBody:
    """Check a body against the limits without the model; errors say what to change."""
    media_type, params = _split_content_type(content_type)
    _check_media_type(media_type)
    _check_size(body, max_bytes)
    if not body:
        return RequestBody(empty=True)
    if media_type == CSV_TYPE:
        return RequestBody(empty=False, csv=_parse_csv(_decode_csv(body, params), max_records))
    document = _load_json(body)
    count = _json_record_count(document)
    if count is not None:  # a body of another shape is refused by `payload`, with an example
        _check_count(count, max_records)
    return RequestBody(empty=False, document=document)


def parse_payload(
    body: bytes | str | None,
    content_type: str | None,
    *,
    max_records: int,
    max_bytes: int,
    feature_order: Sequence[str] | None = None,
) -> ParsedPayload:
    """Parse a JSON or CSV body into records; errors say what to change in the request.

    `feature_order` names the model's features in order, for `instances` given as lists.
    """
    read = read_body(body, content_type, max_records=max_records, max_bytes=max_bytes)
    return read.payload(feature_order)


# -- content type and limits ----------------------------------------------------------------
def _split_content_type(content_type: str | None) -> tuple[str, str]:
    """The lower-cased media type and the raw parameters; no header at all means JSON."""
    if not content_type:
        return JSON_TYPE, ""
    media_type, _, params = content_type.partition(";")
    return media_type.strip().lower() or JSON_TYPE, params


def _check_media_type(media_type: str) -> None:
    if media_type not in ACCEPTED_TYPES:
        raise UnsupportedMediaTypeError(
            f"content type {media_type!r} is not accepted; send {JSON_TYPE} or {CSV_TYPE} "
            f"and set the header to match (e.g. curl -H 'Content-Type: {JSON_TYPE}')"
        )


def _check_size(body: bytes | str | None, max_bytes: int) -> None:
    if body is None:
        return
    size = len(body)
    if isinstance(body, str) and size <= max_bytes < size * _MAX_UTF8_BYTES_PER_CHAR:
        size = len(body.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise PayloadTooLargeError(
            f"the request body is over the limit of {max_bytes} bytes; split the records "
            "over several requests"
        )


def _check_count(count: int, max_records: int) -> None:
    if count == 0:
        raise InvalidInputError("the request has no records; send at least one record to score")
    if count > max_records:
        raise PayloadTooLargeError(
            f"the request has {count} records, more than the limit of {max_records} per "
            f"request; split it into requests of at most {max_records} records"
        )


# -- JSON -----------------------------------------------------------------------------------
def _json_record_count(document: Any) -> int | None:
    """How many records a JSON body holds; None when its shape is wrong (`payload` says how)."""
    if type(document) is not dict:
        return None
    present = [key for key in JSON_KEYS if key in document]
    if len(present) != 1:
        return None
    value = document[present[0]]
    if present[0] == "dataframe_split" and type(value) is dict:
        value = value.get("data")
    return len(value) if type(value) is list else None


def _json_payload(document: Any, feature_order: Sequence[str] | None) -> ParsedPayload:
    """The records of a decoded JSON body whose count `read_body` has checked."""
    if type(document) is not dict:
        raise _shape_error(
            f"the JSON body must be an object, got {_json_kind(document)}", feature_order
        )
    present = [key for key in JSON_KEYS if key in document]
    if len(present) != 1:
        raise _key_error(document, present, feature_order)
    key = present[0]
    value = document[key]
    if key == "dataframe_split":
        return ParsedPayload(_split_records(value, feature_order), key, False)
    if type(value) is not list:
        raise _shape_error(f"{key!r} must be a list, got {_json_kind(value)}", feature_order)
    if key == "instances" and value and type(value[0]) is list:
        return ParsedPayload(_positional_records(value, feature_order), key, False)
    for index, record in enumerate(value):
        if type(record) is not dict:
            raise _shape_error(
                f"{key}[{index}] must be an object of field: value, got {_json_kind(record)}",
                feature_order,
            )
    return ParsedPayload(value, key, False)


def _load_json(body: bytes | str) -> Any:
    if isinstance(body, str) and body.startswith("\ufeff"):
        body = body[1:]  # json.loads reads a BOM in bytes but refuses it in a str
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            f"(character {exc.pos}); check the quoting and commas there, or send CSV with "
            f"Content-Type: {CSV_TYPE}"
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"the JSON body is not valid UTF-8 (byte {exc.start}); encode it as UTF-8"
        ) from None
    except RecursionError:
        raise InvalidInputError(
            "the JSON body is nested too deeply; records are flat objects of field: value"
        ) from None


def _key_error(
    document: dict[str, Any], present: list[str], feature_order: Sequence[str] | None
) -> InvalidInputError:
    if present:
        return _shape_error(
            f"the body has {' and '.join(map(repr, present))}; send exactly one of them",
            feature_order,
        )
    keys = ", ".join(repr(k) for k in sorted(document)[:10]) or "none"
    return _shape_error(
        f"the JSON body needs one of the keys {', '.join(JSON_KEYS)} (its keys: {keys})",
        feature_order,
    )


def _split_records(value: Any, feature_order: Sequence[str] | None) -> list[dict[str, Any]]:
    """MLflow's dataframe_split: {"columns": [...], "data": [[...], ...]}; `index` is ignored."""

    def wrong(what: str) -> InvalidInputError:
        return _shape_error(f"dataframe_split {what}", feature_order, "dataframe_split")

    if type(value) is not dict:
        raise wrong(f"must be an object with columns and data, got {_json_kind(value)}")
    columns = value.get("columns")
    data = value.get("data")
    if type(columns) is not list or not all(type(c) is str for c in columns):
        raise wrong("needs 'columns', a list of column names (strings)")
    if len(set(columns)) != len(columns):
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        raise wrong(f"names a column more than once: {', '.join(map(repr, repeated))}")
    if type(data) is not list:
        raise wrong("needs 'data', a list of rows (each a list of values in column order)")
    width = len(columns)
    for index, row in enumerate(data):
        if type(row) is not list:
            raise wrong(f"data[{index}] must be a list of values, got {_json_kind(row)}")
        if len(row) != width:
            raise wrong(f"data[{index}] has {len(row)} values but there are {width} columns")
    return [dict(zip(columns, row, strict=True)) for row in data]


def _positional_records(
    rows: list[Any], feature_order: Sequence[str] | None
) -> list[dict[str, Any]]:
    """`instances` as lists of values, in the order of the model's features."""
    if feature_order is None:
        raise _shape_error(
            "instances given as lists need the model's feature order, which is not known here; "
            "send each instance as an object of field: value",
            None,
        )
    width = len(feature_order)
    for index, row in enumerate(rows):
        if type(row) is not list:
            raise _shape_error(
                f"instances[{index}] is {_json_kind(row)} but instances[0] is a list; "
                "send all instances as lists or all as objects",
                feature_order,
                "instances",
            )
        if len(row) != width:
            raise _shape_error(
                f"instances[{index}] has {len(row)} values but the model has {width} features "
                f"({_names(feature_order)})",
                feature_order,
                "instances",
            )
    names = list(feature_order)
    return [dict(zip(names, row, strict=True)) for row in rows]


# -- CSV ------------------------------------------------------------------------------------
def _decode_csv(body: bytes | str, params: str) -> str:
    """CSV text: UTF-8 unless the content type names another charset; a BOM is dropped."""
    if isinstance(body, str):
        return body[1:] if body.startswith("\ufeff") else body
    charset = _charset(params)
    try:
        encoding = codecs.lookup(charset).name
    except LookupError:
        raise UnsupportedMediaTypeError(
            f"charset {charset!r} is not known; send the CSV as UTF-8 (text/csv; charset=utf-8)"
        ) from None
    if encoding == "utf-8":
        encoding = "utf-8-sig"  # strips the BOM spreadsheet programs write
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"the CSV body is not valid {charset} (byte {exc.start}); save the file as UTF-8, "
            "or name its encoding in the content type (text/csv; charset=...)"
        ) from None


def _charset(params: str) -> str:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or "utf-8"
    return "utf-8"


def _parse_csv(text: str, max_records: int) -> ParsedPayload:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidInputError("the CSV body is empty; send a header row, then the records")
        names = _csv_header(header)
        width = len(names)
        records: list[dict[str, Any]] = []
        count = 0
        for row in reader:
            if len(row) != width:
                if not row:
                    continue  # blank lines (often one at the end) are not records
                raise InvalidInputError(
                    f"line {reader.line_num} of the CSV has {len(row)} values but the header "
                    f"has {width} columns; quote values that contain commas"
                )
            count += 1
            if count <= max_records:  # past the limit only count, to say how many there were
                # An empty cell is a missing value; everything else stays text for validation.
                records.append({name: cell or None for name, cell in zip(names, row, strict=True)})
    except csv.Error as exc:
        raise InvalidInputError(
            f"line {reader.line_num} of the CSV cannot be read: {exc}"
        ) from None
    _check_count(count, max_records)
    return ParsedPayload(records, "csv", True)


def _csv_header(header: list[str]) -> list[str]:
    # Spaces around names are accidents of hand-written files, never part of a feature name.
    names = [name.strip() for name in header]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInputError(
            f"the CSV header names a column more than once: {', '.join(map(repr, repeated))}; "
            "each column needs its own name (pandas: to_csv(index=False))"
        )
    return names


# -- messages -------------------------------------------------------------------------------
def _shape_error(
    problem: str, feature_order: Sequence[str] | None, shape: str = "records"
) -> InvalidInputError:
    return InvalidInputError(f"{problem}; for example: {_example(shape, feature_order)}")


def _example(shape: str, feature_order: Sequence[str] | None) -> str:
    """An example body of `shape`, with the model's first feature names when known."""
    names = [json.dumps(str(n)) for n in (feature_order or ("feature_a", "feature_b"))[:2]]
    values = ", ".join("<value>" for _ in names)
    if shape == "dataframe_split":
        return f'{{"dataframe_split": {{"columns": [{", ".join(names)}], "data": [[{values}]]}}}}'
    if shape == "instances":
        return f'{{"instances": [[{values}]]}}'
    fields = ", ".join(f"{name}: <value>" for name in names)
    return f'{{"records": [{{{fields}}}]}}'


def _json_kind(value: Any) -> str:
    """The JSON name of a value's type, as a user wrote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _names(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names) - limit} more)"
