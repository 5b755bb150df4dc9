"""The S3 lease and the conditional JSON replace, on moto: what every claim and lock relies on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from chalicelib.storage import (
    AwsClients,
    LeaseHeld,
    ObjectStore,
    PreconditionFailed,
    take_lease,
)
from tests.conftest import DATA_BUCKET

KEY = "jobs/one.json"


@pytest.fixture
def store(aws: AwsClients) -> ObjectStore:
    return ObjectStore(aws.s3, DATA_BUCKET)


def holder(name: str) -> Any:
    return lambda current: {"holder": name, "runs": int(current.get("runs", 0)) + 1}


def never_live(_: Mapping[str, Any]) -> bool:
    return False


def always_live(_: Mapping[str, Any]) -> bool:
    return True


def test_first_taker_creates_the_lease(store: ObjectStore) -> None:
    lease = take_lease(store, KEY, holder("a"), live=always_live)
    document, etag = store.get_json(KEY)
    assert document == {"holder": "a", "runs": 1} == dict(lease.document)
    assert etag == lease.etag


def test_a_live_holder_keeps_the_lease(store: ObjectStore) -> None:
    take_lease(store, KEY, holder("a"), live=always_live)
    with pytest.raises(LeaseHeld) as held:
        take_lease(store, KEY, holder("b"), live=always_live)
    assert held.value.holder == {"holder": "a", "runs": 1}
    assert store.get_json(KEY)[0]["holder"] == "a"


def test_a_quiet_holder_is_taken_over_and_its_state_carried(store: ObjectStore) -> None:
    take_lease(store, KEY, holder("a"), live=always_live)
    lease = take_lease(store, KEY, holder("b"), live=never_live)
    assert store.get_json(KEY)[0] == {"holder": "b", "runs": 2} == dict(lease.document)


def test_of_two_takers_of_a_stale_lease_one_wins(store: ObjectStore) -> None:
    take_lease(store, KEY, holder("a"), live=always_live)
    raced: list[str] = []

    def live_but_raced(current: Mapping[str, Any]) -> bool:
        # Between our read and our conditional write, someone else takes the lease over.
        if not raced:
            raced.append("c")
            take_lease(store, KEY, holder("c"), live=never_live)
        return False

    with pytest.raises(LeaseHeld):
        take_lease(store, KEY, holder("b"), live=live_but_raced)
    assert store.get_json(KEY)[0]["holder"] == "c"


def test_replace_json_writes_only_over_what_was_read(store: ObjectStore) -> None:
    document, etag = store.read_json(KEY)
    assert (document, etag) == (None, None)
    first = store.replace_json(KEY, {"n": 1}, None)
    with pytest.raises(PreconditionFailed):
        store.replace_json(KEY, {"n": 2}, None)  # read as absent, but it exists now
    store.replace_json(KEY, {"n": 2}, first)
    with pytest.raises(PreconditionFailed):
        store.replace_json(KEY, {"n": 3}, first)  # changed since `first` was read
    assert store.read_json(KEY)[0] == {"n": 2}
