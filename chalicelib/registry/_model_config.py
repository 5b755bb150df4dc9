"""Per-model serving and monitoring settings, stored beside the model (config.json)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Final

from chalicelib.core import InvalidInputError
from chalicelib.scoring import UNKNOWN_CATEGORY_POLICIES

# Tag names: short, lowercase, safe in a URL and a table ("owner", "team", "cost-center").
_TAG_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
MAX_TAG_VALUE = 256


@dataclass(frozen=True)
class ModelConfig:
    """How a model is served and monitored. Defaults apply until `sklambda configure`."""

    # What to do with a category never seen in training: score it as unknown silently
    # (accept), score it and say so (warn), or refuse the record (reject).
    unknown_categories: str = "warn"
    # Share of requests whose inputs and outputs are captured for monitoring.
    capture_sample_rate: float = 1.0
    # Record field naming the entity (customer, account): canary routing is sticky per value.
    entity_id_field: str | None = None
    # Batch output keeps only these input columns beside the predictions (all when empty).
    id_columns: tuple[str, ...] = ()
    # Drift thresholds that differ from the defaults (see stats.DriftThresholds).
    drift_thresholds: Mapping[str, Any] = field(default_factory=dict)
    # Who answers for the model: {"owner": "alice", "team": "risk"}, shown by the catalog.
    tags: Mapping[str, str] = field(default_factory=dict)
    # Scored batch files carry each feature's contribution (contrib_<feature> columns).
    explain_batch: bool = False

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ModelConfig:
        """A config from its stored form; unknown keys (from newer versions) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in document.items() if k in known}
        if "id_columns" in values:
            values["id_columns"] = tuple(values["id_columns"] or ())
        return cls().with_changes(values)

    def to_dict(self) -> dict[str, Any]:
        """The stored (JSON) form."""
        document = asdict(self)
        document["id_columns"] = list(self.id_columns)
        document["drift_thresholds"] = dict(self.drift_thresholds)
        document["tags"] = dict(self.tags)
        return document

    def with_changes(self, changes: Mapping[str, Any]) -> ModelConfig:
        """A copy with `changes` applied, each checked; errors say which value is wrong."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise InvalidInputError(
                f"unknown model setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        changed = replace(self, **changes)
        if changed.unknown_categories not in UNKNOWN_CATEGORY_POLICIES:
            raise InvalidInputError(
                f"unknown_categories must be one of {', '.join(UNKNOWN_CATEGORY_POLICIES)}, "
                f"got {changed.unknown_categories!r}"
            )
        rate = changed.capture_sample_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise InvalidInputError(
                f"capture_sample_rate must be a share between 0 and 1, got {rate!r}"
            )
        if not isinstance(changed.explain_batch, bool):
            raise InvalidInputError(
                f"explain_batch must be true or false, got {changed.explain_batch!r}"
            )
        if changed.entity_id_field is not None and not str(changed.entity_id_field).strip():
            raise InvalidInputError("entity_id_field must be a field name or unset")
        from chalicelib.stats import DriftThresholds

        # Stored as given (only what differs from the defaults), checked in full here.
        drift = dict(changed.drift_thresholds or {})
        DriftThresholds().with_changes(drift)
        tags = check_tags(changed.tags)
        return replace(changed, capture_sample_rate=float(rate), drift_thresholds=drift, tags=tags)


def check_tags(tags: Any) -> dict[str, str]:
    """The tags as a plain dict, each name and value checked."""
    if not isinstance(tags, Mapping):
        raise InvalidInputError(f"tags must be names and values, got {tags!r}")
    for name, value in tags.items():
        if not isinstance(name, str) or not _TAG_NAME.match(name):
            raise InvalidInputError(
                f"invalid tag name {name!r}: use lowercase letters, digits, '_', '.' and '-', "
                "starting with a letter (e.g. owner, team)"
            )
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_TAG_VALUE:
            raise InvalidInputError(
                f"tag {name!r} needs a value of 1 to {MAX_TAG_VALUE} characters, got {value!r}"
            )
    return {name: tags[name] for name in sorted(tags)}


def merge_tags(current: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    """The stored tags with `changes` applied: a value sets the tag, None removes it."""
    merged = dict(current)
    for name, value in changes.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


class _RestoreDefault:
    """The type of RESTORE_DEFAULT."""

    def __repr__(self) -> str:
        return "RESTORE_DEFAULT"


# A drift override's value that removes the override, so the default applies again.
RESTORE_DEFAULT: Final = _RestoreDefault()


def merge_drift_overrides(
    current: Mapping[str, Any] | None, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """The stored drift overrides (`ModelConfig.drift_thresholds`) with `changes` applied.

    Both have the stored shape, `{"psi": 0.25, "features": {"age": {"js": None}}}`. A value
    replaces the override (None turns that metric off); RESTORE_DEFAULT removes it, and a
    feature left without overrides is dropped.
    """
    merged = dict(current or {})
    features = {name: dict(limits) for name, limits in (merged.get("features") or {}).items()}
    for key, value in changes.items():
        if key == "features":
            for feature, limits in value.items():
                entry = features.setdefault(feature, {})
                for metric, limit in limits.items():
                    if limit is RESTORE_DEFAULT:
                        entry.pop(metric, None)
                    else:
                        entry[metric] = limit
                if not entry:
                    features.pop(feature)
        elif value is RESTORE_DEFAULT:
            merged.pop(key, None)
        else:
            merged[key] = value
    merged.pop("features", None)
    if features:  # only what differs from the defaults is stored
        merged["features"] = features
    return merged
