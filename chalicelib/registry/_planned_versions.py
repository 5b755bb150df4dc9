"""Loading a version for scoring: from its serving plan when it has one, so nothing is
unpickled and scikit-learn is not imported; from its pipeline otherwise.

The plan's files are read as every load reads: the signed manifest verified first, then each
file checked against it; the files a plan does not read (the artifact, the code bundle) are
checked by size and S3's SHA-256 without downloading them, so a version with any file changed
since signing is refused whole, as the pipeline path refuses it. A plan this runtime cannot
read (a newer plan format) is not an error: the version is scored by its pipeline, with the
same answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.core import logger
from chalicelib.registry._metadata import VersionMetadata
from chalicelib.registry._signed_versions import SignedVersions
from chalicelib.registry._versions import LoadedModel
from chalicelib.scoring import Scorer


@dataclass(frozen=True)
class PlannedModel:
    """A verified version's serving plan and its metadata; nothing in it was unpickled."""

    name: str
    version: int
    plan: Any  # scoring.plans.ServingPlan
    metadata: VersionMetadata


class PlannedVersions(SignedVersions):
    """Plans of versions, and the scorer of a version by its plan or its pipeline."""

    def load_plan(self, name: str, version: int) -> PlannedModel | None:
        """The version's proven plan, verified; None when it has none this runtime reads.
        Cached per process as loaded pipelines are."""

        def load_from_s3() -> PlannedModel | None:
            from chalicelib.scoring.plans import (
                PLAN_ARRAYS_FILE,
                PLAN_SPEC_FILE,
                Unplannable,
                load_plan,
            )

            signed = self.verified_manifest(name, version)
            metadata = json.loads(self._read_signed(signed, name, version, "metadata.json"))
            if metadata.get("plan", {}).get("state") != "planned":
                return None
            files = signed.manifest["files"]
            if PLAN_SPEC_FILE not in files or PLAN_ARRAYS_FILE not in files:
                return None  # signed without its plan: the pipeline is what was vouched for
            for filename, digest in files.items():
                if filename not in (PLAN_SPEC_FILE, PLAN_ARRAYS_FILE, "metadata.json"):
                    self._check_stored(signed, name, version, filename, digest)
            spec = self._read_signed(signed, name, version, PLAN_SPEC_FILE)
            arrays = self._read_signed(signed, name, version, PLAN_ARRAYS_FILE)
            try:
                plan = load_plan(spec, arrays)
            except Unplannable as unknown:
                logger.warning(
                    "scoring with the pipeline: the plan cannot be read here",
                    extra={"model": name, "version": version, "reason": str(unknown)},
                )
                return None
            return PlannedModel(name, version, plan, metadata)

        key = (self._store.bucket, self._prefix, name, version, "plan")
        return self._cache.get_or_load(key, load_from_s3)

    def load_scorer(
        self,
        name: str,
        version: int,
        *,
        load_pipeline: Callable[[], LoadedModel] | None = None,
    ) -> Scorer:
        """The scorer of a version: by its plan when it has one (the pipeline is loaded only
        if a large batch frame needs it), by its pipeline otherwise. `load_pipeline` is how
        the caller loads the pipeline (default: `load`)."""
        if load_pipeline is None:
            load_pipeline = lambda: self.load(name, version)  # noqa: E731 - a default
        planned = self.load_plan(name, version)
        if planned is not None:
            return Scorer.from_plan(
                name,
                version,
                planned.plan,
                planned.metadata,
                lambda: load_pipeline().estimator,
            )
        loaded = load_pipeline()
        return Scorer(name, version, loaded.estimator, loaded.metadata)
