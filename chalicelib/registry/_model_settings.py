"""Per-model documents beside the versions: serving config and retraining policy.

<name>/config.json                  serving and monitoring settings (ModelConfig)
<name>/policy.json                  retraining and rollout policy (RetrainPolicy)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from chalicelib.core import ConflictError
from chalicelib.registry._model_config import ModelConfig
from chalicelib.registry._policy import RetrainPolicy
from chalicelib.registry._versions import VersionStore, check_model_name
from chalicelib.storage import PreconditionFailed

_Document = TypeVar("_Document", ModelConfig, RetrainPolicy)
# Changes, or how to compute them from the document as read: a merge (of drift overrides,
# say) must see the same version the conditional write replaces, or a concurrent change
# made between two reads would be lost.
Changes = Mapping[str, Any] | Callable[[_Document], Mapping[str, Any]]


class ModelSettings(VersionStore):
    """Read and change a model's serving config and retraining policy."""

    def get_config(self, name: str) -> ModelConfig:
        """How `name` is served (defaults until configured)."""
        return self._read_setting(name, "config.json", ModelConfig.from_dict)

    def configure(self, name: str, changes: Changes[ModelConfig]) -> ModelConfig:
        """Apply `changes` to the serving config; ConflictError if it changed meanwhile."""
        return self._change_setting(
            name, "config.json", ModelConfig.from_dict, changes, f"the settings of {name!r} were"
        )

    def get_policy(self, name: str) -> RetrainPolicy:
        """The model's retraining and rollout policy (defaults: never retrain)."""
        return self._read_setting(name, "policy.json", RetrainPolicy.from_dict)

    def policy_is_set(self, name: str) -> bool:
        """Whether someone set a policy (until then the monitor only watches rollouts)."""
        return self._store.exists(self._model_key(name, "policy.json"))

    def set_policy(self, name: str, changes: Changes[RetrainPolicy]) -> RetrainPolicy:
        """Apply `changes` to the policy; ConflictError if it changed meanwhile."""
        return self._change_setting(
            name, "policy.json", RetrainPolicy.from_dict, changes, f"the policy of {name!r} was"
        )

    def _read_setting(
        self, name: str, filename: str, parse: Callable[[Mapping[str, Any]], _Document]
    ) -> _Document:
        check_model_name(name)
        document, _ = self._store.read_json(self._model_key(name, filename))
        return parse(document or {})

    def _change_setting(
        self,
        name: str,
        filename: str,
        parse: Callable[[Mapping[str, Any]], _Document],
        changes: Changes[_Document],
        subject: str,
    ) -> _Document:
        self.list_versions(name)  # unknown model → NotFoundError
        key = self._model_key(name, filename)
        document, etag = self._store.read_json(key)
        current = parse(document or {})
        changed = current.with_changes(changes(current) if callable(changes) else changes)
        try:
            self._store.replace_json(key, changed.to_dict(), etag)
        except PreconditionFailed:
            raise ConflictError(
                f"{subject} changed by someone else meanwhile; nothing was changed, retry"
            ) from None
        return changed
