"""Records checked against a model's signature before scoring.

Every problem in a request is reported at once, each with its record and field, so a caller
fixes them in one round trip. Pure and on the hot path: each feature's checker is built once
per model version, and a valid record is checked in one pass without pandas or numpy.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from chalicelib.core import ConfigError, InvalidInputError
from chalicelib.scoring._values import (
    Check,
    InvalidValue,
    UnseenCategory,
    listed,
    short,
    value_checker,
)

UNKNOWN_CATEGORY_POLICIES = ("accept", "warn", "reject")

MISSING_FIELD = "missing field"

# How many unseen values a warning quotes, and ignored fields the extra-field warning names:
# enough to act on, short enough to read.
UNSEEN_SHOWN = 3
_EXTRA_SHOWN = 10


@dataclass(frozen=True)
class Problem:
    """Why one field of one record cannot be scored."""

    record: int  # 0-based index of the record in the request
    field: str
    problem: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form returned in an error's details."""
        return asdict(self)


@dataclass(frozen=True)
class ValidatedRecords:
    """Records reduced to the model's features, with values normalized for scoring."""

    rows: list[dict[str, Any]]  # feature → float | bool | str | None, in feature order
    warnings: list[str]
    unknown_categories: int  # unseen category values accepted (a metric)


class Validator:
    """Checks records against one model version's features; build once per version."""

    def __init__(
        self,
        features: Sequence[Mapping[str, Any]],
        *,
        unknown_categories: str = "warn",
        max_problems: int = 100,
        expected_extra_fields: Collection[str] = (),
    ) -> None:
        if unknown_categories not in UNKNOWN_CATEGORY_POLICIES:
            raise ConfigError(
                f"unknown_categories must be one of {', '.join(UNKNOWN_CATEGORY_POLICIES)}, "
                f"got {unknown_categories!r}"
            )
        self.features = [dict(f) for f in features]
        self.names = [str(f["name"]) for f in self.features]
        self.unknown_categories = unknown_categories
        self.max_problems = max_problems
        # Fields the caller sends on purpose (e.g. the entity id): not worth a warning.
        self._name_set = frozenset(self.names) | frozenset(expected_extra_fields)
        self._checks = {
            strings: [
                (str(f["name"]), value_checker(f, unknown_categories, strings)) for f in features
            ]
            for strings in (False, True)
        }

    def validate(
        self, records: Sequence[Mapping[str, Any]], *, strings: bool = False
    ) -> ValidatedRecords:
        """Rows of the model's features, normalized; raise InvalidInputError listing problems.

        `strings=True` means values are text (CSV): numbers and booleans are parsed from it.
        """
        checks = self._checks[strings]
        width = len(checks)
        rows: list[dict[str, Any]] = []
        findings: _Findings | None = None  # made on the first record that needs a closer look
        for index, record in enumerate(records):
            try:
                row = {name: check(record[name]) for name, check in checks}
            except (KeyError, InvalidValue, UnseenCategory):
                findings = findings or _Findings()
                row = self._check_each_field(index, record, checks, findings)
            else:
                # Every feature is present, so only a longer record can hold other fields.
                if len(record) > width:
                    findings = findings or _Findings()
                    findings.extra.update(str(k) for k in record if k not in self._name_set)
            rows.append(row)
        if findings is None:
            return ValidatedRecords(rows, [], 0)
        if findings.problems_total:
            raise self._problems_error(findings)
        return ValidatedRecords(rows, self._warnings(findings), findings.unseen_total)

    def _check_each_field(
        self,
        index: int,
        record: Mapping[str, Any],
        checks: list[tuple[str, Check]],
        findings: _Findings,
    ) -> dict[str, Any]:
        """The slow path of a record with a problem or an unseen category: look at each field."""
        row: dict[str, Any] = {}
        problems_before = findings.problems_total
        for name, check in checks:
            if name not in record:
                findings.add_problem(Problem(index, name, MISSING_FIELD), self.max_problems)
                continue
            try:
                row[name] = check(record[name])
            except InvalidValue as exc:
                findings.add_problem(Problem(index, name, exc.problem), self.max_problems)
            except UnseenCategory as exc:
                row[name] = exc.value
                findings.add_unseen(name, exc.value)
        if findings.problems_total > problems_before:
            findings.records_with_problems += 1
        findings.extra.update(str(k) for k in record if k not in self._name_set)
        return row

    def _problems_error(self, findings: _Findings) -> InvalidInputError:
        total = findings.problems_total
        message = (
            f"{_count(total, 'problem')} in {_count(findings.records_with_problems, 'record')}"
        )
        if findings.problems:
            first = findings.problems[0]
            message += f" (first: record {first.record}, field {first.field!r}: {first.problem})"
        message += "; see details"
        hidden = total - len(findings.problems)
        if hidden:
            message += f", which lists the first {len(findings.problems)} ({hidden} more)"
        return InvalidInputError(message, details=[p.to_dict() for p in findings.problems])

    def _warnings(self, findings: _Findings) -> list[str]:
        warnings: list[str] = []
        if findings.extra:
            warnings.append(
                "fields not in the model's schema were ignored: "
                + listed(sorted(findings.extra), _EXTRA_SHOWN)
            )
        if self.unknown_categories == "warn":
            for name in self.names:
                unseen = findings.unseen.get(name)
                if unseen:
                    warnings.append(_unseen_warning(name, *unseen))
        return warnings


@dataclass
class _Findings:
    """What the slow path noticed across one request's records."""

    problems: list[Problem] = field(default_factory=list)
    problems_total: int = 0
    records_with_problems: int = 0
    extra: set[str] = field(default_factory=set)
    # field → (records with an unseen category, distinct values up to UNSEEN_SHOWN + 1)
    unseen: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    unseen_total: int = 0

    def add_problem(self, problem: Problem, limit: int) -> None:
        self.problems_total += 1
        if len(self.problems) < limit:
            self.problems.append(problem)

    def add_unseen(self, name: str, value: Any) -> None:
        self.unseen_total += 1
        value = str(value)
        count, values = self.unseen.get(name, (0, []))
        if value not in values and len(values) <= UNSEEN_SHOWN:
            values.append(value)
        self.unseen[name] = (count + 1, values)


# -- messages -------------------------------------------------------------------------------
def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _unseen_warning(name: str, count: int, values: list[str]) -> str:
    quoted = ", ".join(short(v) for v in values[:UNSEEN_SHOWN])
    if len(values) > UNSEEN_SHOWN:
        quoted += ", ..."
    had = "record had a category" if count == 1 else "records had categories"
    they = "it was" if count == 1 else "they were"
    return f"{name}: {count} {had} never seen in training ({quoted}); {they} scored as unknown"
