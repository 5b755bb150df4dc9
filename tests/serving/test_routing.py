from __future__ import annotations

import pytest

from chalicelib.core import NotFoundError, NotReadyError
from chalicelib.serving import Route, choose_route, entity_share

CHAMPION_ONLY = {"champion": {"version": 3}}
WITH_CANARY = {"champion": {"version": 3}, "canary": {"version": 4, "weight": 0.2}}


def test_champion_answers_by_default() -> None:
    assert choose_route("churn", CHAMPION_ONLY) == Route(version=3, alias="champion")


def test_explicit_version_and_alias_win() -> None:
    assert choose_route("churn", WITH_CANARY, version=1) == Route(version=1, alias=None)
    assert choose_route("churn", WITH_CANARY, alias="canary") == Route(4, "canary")
    # Asking for the champion by name never lands on the canary.
    assert choose_route("churn", WITH_CANARY, alias="champion", draw=lambda: 0.0).version == 3


def test_no_champion_is_not_ready_and_says_how_to_promote() -> None:
    with pytest.raises(NotReadyError, match="sklambda promote churn VERSION"):
        choose_route("churn", {})


def test_unknown_alias_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="no 'blue' alias"):
        choose_route("churn", CHAMPION_ONLY, alias="blue")


def test_canary_gets_its_weight_of_random_traffic() -> None:
    assert choose_route("churn", WITH_CANARY, draw=lambda: 0.19).version == 4
    assert choose_route("churn", WITH_CANARY, draw=lambda: 0.21).version == 3
    import random

    rng = random.Random(1)
    versions = [choose_route("churn", WITH_CANARY, draw=rng.random).version for _ in range(5000)]
    assert versions.count(4) / len(versions) == pytest.approx(0.2, abs=0.02)


def test_canary_is_sticky_per_entity() -> None:
    routes = {
        entity: choose_route("churn", WITH_CANARY, entity_id=entity).version
        for entity in (f"customer-{i}" for i in range(2000))
    }
    again = {e: choose_route("churn", WITH_CANARY, entity_id=e).version for e in routes}
    assert routes == again
    share = sum(v == 4 for v in routes.values()) / len(routes)
    assert share == pytest.approx(0.2, abs=0.03)


def test_entity_share_is_stable_across_processes() -> None:
    # A fixed value: Python's hash() would change per process and break stickiness.
    assert entity_share("churn", "customer-1") == pytest.approx(0.39915, abs=1e-5)


def test_shadow_is_named_but_does_not_answer() -> None:
    aliases = {**CHAMPION_ONLY, "shadow": {"version": 5}}
    assert choose_route("churn", aliases) == Route(3, "champion", shadow_version=5)
    same = {**CHAMPION_ONLY, "shadow": {"version": 3}}
    assert choose_route("churn", same).shadow_version is None
