from __future__ import annotations

import pytest

from chalicelib.core import InvalidInputError, NotFoundError
from chalicelib.registry import _aliases as aliases

AT = "2026-01-01T00:00:00.000Z"


def promote(doc, version, alias="champion", weight=None):
    return aliases.promote(
        doc,
        model="churn",
        alias=alias,
        version=version,
        weight=weight,
        actor="alice",
        at=AT,
        reason="r",
    )


def rollback(doc, alias="champion"):
    return aliases.rollback(doc, model="churn", alias=alias, actor="bob", at=AT, reason="bad")


def test_promotions_stack_and_rollbacks_walk_back_through_them() -> None:
    doc = aliases.empty_document()
    for version in (1, 2, 3):
        doc = promote(doc, version)
    assert doc["aliases"]["champion"]["version"] == 3
    assert doc["revision"] == 3
    doc = rollback(doc)
    assert doc["aliases"]["champion"]["version"] == 2
    doc = rollback(doc)
    assert doc["aliases"]["champion"]["version"] == 1
    with pytest.raises(InvalidInputError, match="no earlier version"):
        rollback(doc)


def test_every_change_carries_its_event() -> None:
    doc = promote(promote(aliases.empty_document(), 1), 2)
    assert doc["last_event"] == {
        "action": "promote",
        "alias": "champion",
        "from_version": 1,
        "to_version": 2,
        "actor": "alice",
        "at": AT,
        "reason": "r",
        "revision": 2,
    }
    doc = rollback(doc)
    assert doc["last_event"]["action"] == "rollback"
    assert (doc["last_event"]["from_version"], doc["last_event"]["to_version"]) == (2, 1)
    assert doc["last_event"]["actor"] == "bob"


def test_promoting_the_same_version_again_changes_nothing() -> None:
    doc = promote(aliases.empty_document(), 1)
    assert promote(doc, 1) is None


def test_canary_takes_a_weight_with_a_default() -> None:
    doc = promote(aliases.empty_document(), 2, alias="canary")
    assert doc["aliases"]["canary"]["weight"] == aliases.DEFAULT_CANARY_WEIGHT
    doc = promote(doc, 2, alias="canary", weight=0.25)
    assert doc["aliases"]["canary"]["weight"] == 0.25


@pytest.mark.parametrize("weight", [0, -0.1, 1.5, 10])
def test_canary_weight_outside_0_1_is_refused(weight: float) -> None:
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        promote(aliases.empty_document(), 2, alias="canary", weight=weight)


def test_weight_on_the_champion_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="only the canary"):
        promote(aliases.empty_document(), 2, weight=0.5)


def test_canary_can_be_removed_but_the_champion_cannot() -> None:
    doc = promote(promote(aliases.empty_document(), 1), 2, alias="canary")
    removed = aliases.remove(doc, model="churn", alias="canary", actor="a", at=AT, reason="")
    assert "canary" not in removed["aliases"]
    assert removed["last_event"]["action"] == "remove"
    with pytest.raises(InvalidInputError, match="cannot be removed"):
        aliases.remove(doc, model="churn", alias="champion", actor="a", at=AT, reason="")


def test_rollback_of_an_unset_alias_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="no 'canary' alias"):
        rollback(aliases.empty_document(), alias="canary")


@pytest.mark.parametrize("name", ["Champion", "1", "has space", "a/b", ""])
def test_alias_names_are_checked(name: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid alias"):
        promote(aliases.empty_document(), 1, alias=name)
