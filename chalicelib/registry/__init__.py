"""The model registry in S3: immutable numbered versions, verified artifacts (and the code
they ship with), aliases and their history, and the per-model serving config and retraining
policy.
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.registry._aliases import (
        CANARY,
        CHAMPION,
        SHADOW,
        AliasEntry,
        AliasesDocument,
        AliasEvent,
        RetiredState,
        Retirement,
        empty_document,
    )
    from chalicelib.registry._artifacts import ModelCache
    from chalicelib.registry._code_bundle import CodeArchive, build_code_archive
    from chalicelib.registry._code_check import main_module_message
    from chalicelib.registry._manifest import SignatureStatus, VersionManifest
    from chalicelib.registry._metadata import VersionMetadata
    from chalicelib.registry._model_config import (
        RESTORE_DEFAULT,
        ModelConfig,
        merge_drift_overrides,
        merge_tags,
    )
    from chalicelib.registry._policy import RetrainPolicy, better, merge_max_regression
    from chalicelib.registry._registry import Registry, open_registry
    from chalicelib.registry._retirement import (
        ARCHIVED_FILES,
        RETIRED_TAG_KEY,
        RETIRED_TAG_VALUE,
        gone,
        model_retirement,
        retired_versions,
        version_retirement,
    )
    from chalicelib.registry._user_code import UserCode, code_activated
    from chalicelib.registry._versions import LoadedModel, check_model_name

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
