"""The model registry in S3: immutable numbered versions, aliases and their history, each
model's serving config and retraining policy, and its retrain lock.

One class for callers, composed of one part per document family (scikit-learn's mixin
habit): `VersionStore` (versions/), `AliasBook` (aliases.json, history/, decisions/),
`ModelSettings` (config.json, policy.json), `RetrainLock` (retrain.json),
`SignedVersions` (each version's signature.json as describe and `sklambda sign` see it) and
`PlannedVersions` (a version's scorer, from its serving plan when it has one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.registry._alias_book import AliasBook
from chalicelib.registry._model_settings import ModelSettings
from chalicelib.registry._planned_versions import PlannedVersions
from chalicelib.registry._retrain_lock import RetrainLock
from chalicelib.storage import ObjectStore

if TYPE_CHECKING:
    from chalicelib.registry._manifest import VersionManifest
    from chalicelib.storage import AwsClients


class Registry(AliasBook, ModelSettings, RetrainLock, PlannedVersions):
    """Versions, aliases and history of every model in one bucket and prefix."""

    def sign_version(
        self, name: str, version: int, *, replace: bool = False
    ) -> tuple[VersionManifest, bool]:
        """SignedVersions.sign_version, kept in the model's history with who did it."""
        manifest, signed = super().sign_version(name, version, replace=replace)
        if signed:
            self.record_decision(
                name,
                {
                    "action": "sign",
                    "version": version,
                    "reason": "signed after registration; its files matched the sha256 "
                    "recorded when it was registered",
                },
            )
        return manifest, signed


def open_registry(clients: AwsClients) -> Registry:
    """The registry of the configured models bucket, with the caller's identity resolved once."""
    from functools import cache

    from chalicelib.registry._signing import SigningKey
    from chalicelib.storage import caller_identity

    settings = clients.settings
    store = ObjectStore(clients.s3, settings.require_models_bucket())
    key = SigningKey(lambda: clients.client("kms"), settings.signing_key)
    return Registry(
        store,
        settings.models_prefix,
        identity=cache(lambda: caller_identity(clients)),
        signing_key=key if settings.signing_key else None,
    )
