"""metadata.json of a version: what was registered, from what, by whom, under which libraries.

Written once at registration (last, so a version exists once it does) and never changed; the
API's describe route, scoring, batch, the monitor and retraining all read it.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from chalicelib.stats import Signature

METADATA_FORMAT = 1


class ArtifactInfo(TypedDict):
    """The model file: its name, serialization, sha256 and size."""

    file: str
    format: str
    sha256: str
    size_bytes: int


# Functional form: the keys are not identifiers ("scikit-learn", "class").
RuntimeVersions = TypedDict(
    "RuntimeVersions", {"python": str, "scikit-learn": str, "numpy": str, "joblib": str}
)
# matrix_order: how the pipeline hands its final estimator the transformed rows, "C" or "F"
# (memory order of a dense matrix) or "sparse"; the compiled path copies it (absent: "C").
EstimatorInfo = TypedDict(
    "EstimatorInfo",
    {"class": str, "final_estimator": str, "matrix_order": NotRequired[str]},
)


class CodeInfo(TypedDict):
    """The user's own modules shipped with a version (code.zip): what the pickle imports."""

    file: str
    sha256: str
    size_bytes: int
    modules: list[str]  # top-level module names, as the pickle imports them
    files: dict[str, str]  # archive path -> sha256 of the file, for review and diffs


class PlanInfo(TypedDict):
    """The version's serving plan: kept (proven on how many rows) or not, and why not."""

    state: str  # "planned" | "not planned"
    reason: NotRequired[str]
    rows_checked: NotRequired[int]
    sha256: NotRequired[dict[str, str]]  # of each plan file, so `sklambda sign` can check it


class TrainingData(TypedDict):
    """Where the training data came from and its content hash."""

    uri: str | None
    sha256: str
    rows: int


class ExplanationInfo(TypedDict):
    """Whether the version's predictions can be explained exactly, and if so the global
    importance of each input feature: its mean absolute contribution on the reference
    sample (mean over the outputs too, for a multiclass model)."""

    state: str  # "available" | "unavailable"
    reason: NotRequired[str]
    scale: NotRequired[str]  # what is explained: "log-odds", "probability", "value", ...
    outputs: NotRequired[list[Any]]  # the classes explained; [None] for one value
    importance: NotRequired[dict[str, float]]
    rows: NotRequired[int]  # reference rows the importance was measured on


class VersionMetadata(Signature):
    """One registered version (the signature's fields are at the top level too)."""

    format: int
    name: str
    version: int
    artifact: ArtifactInfo
    runtime: RuntimeVersions
    estimator: EstimatorInfo
    metrics: dict[str, float]
    training_data: TrainingData
    created_at: str
    created_by: str
    parent_version: int | None
    description: str
    tags: dict[str, str]
    retraining: NotRequired[dict[str, Any]]  # versions made by retraining: trigger, gate, ...
    code: NotRequired[CodeInfo]  # only versions registered with their own code
    plan: NotRequired[PlanInfo]  # versions registered since serving plans: planned or why not
    explanations: NotRequired[ExplanationInfo]  # versions registered since explanations
