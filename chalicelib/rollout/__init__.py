"""Safe rollout: the gate a retrained challenger must pass, the guardrails a canary or shadow
is judged by, retraining itself, the retrain requests the monitor sends the retraining
function, and the actions the monitor takes.
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.rollout._actions import Rollout
    from chalicelib.rollout._benchmarks import benchmark_gate, run_benchmark
    from chalicelib.rollout._gating import VersionStats, gate, judge_benchmark, judge_rollout
    from chalicelib.rollout._requests import (
        RetrainRequest,
        RetrainRequests,
        handle_retrain_event,
        retrain_once,
    )
    from chalicelib.rollout._retraining import Retrainer

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
