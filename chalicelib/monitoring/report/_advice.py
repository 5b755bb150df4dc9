"""What to do next about one version, in one plain sentence, from what the report knows.

The rule is here only, as a pure function of the report's own fields, so the page and its test
agree on it. The first situation that applies wins, most urgent first: drift, accuracy well
below registration, no labels, too few records, and otherwise nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.monitoring.report._format import fmt_count, metric_name
from chalicelib.monitoring.report._registered import SHARE_METRICS, difference_text, gap
from chalicelib.monitoring.report._values import as_dict, dicts, num, text

# Measured this far under registration (0.05 = 5 points of accuracy) counts as "well below":
# less is within what one window of labels can move by chance.
WELL_BELOW = 0.05


@dataclass(frozen=True)
class NextStep:
    """The sentence, and the exact command or route it points to (shown as code), if any."""

    situation: str  # which branch of the rule: the tests name it
    sentence: str
    command: str = ""


def next_step(
    model: str,
    version: dict[str, Any],
    decisions: list[Any],
    thresholds: dict[str, Any],
) -> NextStep:
    """The one thing to do next about `version` of `model`.

    `decisions` are the run's (a retrain requested, or a rollout only watched because no policy
    is set: `applied` false); `thresholds` give the values drift needs per feature.
    """
    runs = dicts(decisions)
    if version.get("drift_detected") or version.get("status") == "drift":
        if any(text(d.get("action")) == "retrain" for d in runs):
            # The retraining function retrains after the run: its outcome is in the history.
            return NextStep(
                "drift_retraining",
                "Drift detected; this run asked for a retrain: the model's history shows "
                "whether the new version passed its gate.",
                f"sklambda history {model}",
            )
        unset = any(d.get("applied") is False for d in runs)
        start = (
            "Drift detected and no retraining policy is set"
            if unset
            else "Drift detected and this run started no retraining"
        )
        return NextStep(
            "drift_no_retraining",
            f"{start}: review the drifted features below, and to retrain on drift set a policy:",
            f"sklambda policy {model} --on-drift",
        )
    worst = _worst_drop(version)
    if version.get("below_accuracy_floor") is True or worst is not None:
        said = (
            f"{metric_name(worst[0])} is {difference_text(worst[0], worst[1])}"
            if worst is not None
            else "Accuracy is below the policy's floor"
        )
        return NextStep(
            "accuracy_below",
            f"{said}: check that the labels sent as feedback are right, then retrain:",
            f"sklambda retrain {model}",
        )
    if not num(as_dict(version.get("quality")).get("labelled")):
        return NextStep(
            "no_labels",
            "No labels yet, so accuracy cannot be measured: send the true outcomes to "
            f"POST /models/{model}/feedback, or as a file under feedback/{model}/.",
        )
    if version.get("status") == "not_enough_data":
        need = num(thresholds.get("min_samples"))
        needed = f" (at least {fmt_count(need)} values per feature)" if need else ""
        return NextStep(
            "not_enough_data",
            f"Too few records yet to judge drift{needed}: wait for more traffic.",
        )
    return NextStep("nothing", "Nothing to do.")


def _worst_drop(version: dict[str, Any]) -> tuple[str, float] | None:
    """The share metric furthest below its registered value, if at least WELL_BELOW below."""
    drops = [
        (metric, difference)
        for metric in as_dict(version.get("registered_metrics"))
        if text(metric) in SHARE_METRICS
        and (difference := gap(version, metric)) is not None
        and difference <= -WELL_BELOW
    ]
    return min(drops, key=lambda pair: pair[1]) if drops else None
