"""A version measured against another on the same rows (scoring's `measure`), kept in the
registry (benchmark.json), and judged by the policy before it goes to canary or champion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.core import iso, utc_now
from chalicelib.registry import Registry, RetrainPolicy
from chalicelib.rollout._gating import judge_benchmark
from chalicelib.scoring import measure


def run_benchmark(
    registry: Registry,
    name: str,
    version: int,
    against: int,
    records: Sequence[Mapping[str, Any]],
    *,
    rows_from: str,
    singles: int | None = None,
    **limits: int,
) -> dict[str, Any]:
    """Measure `version` against `against` on `records` in one run, keep the figures with
    the version, and return them. `rows_from` says where the rows came from."""
    candidate = registry.load_scorer(name, version)
    baseline = registry.load_scorer(name, against)
    unknown = registry.get_config(name).unknown_categories
    if singles is not None:
        limits["singles"] = singles
    result = measure(candidate, baseline, records, unknown_categories=unknown, **limits)
    figures: dict[str, Any] = result.to_dict(
        version=version, against_version=against, at=iso(utc_now()), rows_from=rows_from
    )
    registry.put_benchmark(name, version, figures)
    return figures


def benchmark_gate(
    registry: Registry,
    policy: RetrainPolicy,
    name: str,
    version: int,
    champion: int,
    records: Sequence[Mapping[str, Any]] | None,
    *,
    rows_from: str,
) -> tuple[bool, str, dict[str, Any] | None]:
    """(passed, reason, figures): the stored benchmark of `version` against `champion`, or
    one measured now on `records`. Without either there is nothing to judge: it passes, and
    the reason says so (the live guardrails still judge a canary)."""
    figures = registry.get_benchmark(name, version, against=champion)
    if figures is None and records:
        figures = run_benchmark(registry, name, version, champion, records, rows_from=rows_from)
    if figures is None:
        return True, f"no benchmark against the champion (version {champion})", None
    passed, reason = judge_benchmark(policy, figures)
    return passed, reason, figures
