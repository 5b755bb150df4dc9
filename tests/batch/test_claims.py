"""Job claims: one worker at a time per job; a stale claim is taken over."""

from __future__ import annotations

import pytest

from chalicelib.batch._claims import JobClaims, JobInProgress
from chalicelib.storage import AwsClients, ObjectMissing, ObjectStore
from tests.conftest import DATA_BUCKET


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(aws: AwsClients) -> ObjectStore:
    return ObjectStore(aws.s3, DATA_BUCKET)


def test_a_claim_is_held_beaten_and_released(store: ObjectStore) -> None:
    clock = Clock()
    claims = JobClaims(store, "batch/_jobs/", lease_seconds=60, clock=clock)
    with claims.claim("job1") as heartbeat:
        clock.now += 5
        heartbeat({"rows_read": 10})
        held, _ = store.get_json("batch/_jobs/job1.json")
        assert held == {"heartbeat_at": 1005.0, "rows_read": 10}
        with pytest.raises(JobInProgress), claims.claim("job1"):
            pass
        with claims.claim("job2"):  # claims are per job
            pass
    with pytest.raises(ObjectMissing):
        store.get_json("batch/_jobs/job1.json")


def test_a_stale_claim_is_taken_over(store: ObjectStore) -> None:
    clock = Clock()
    claims = JobClaims(store, "batch/_jobs/", lease_seconds=60, clock=clock)
    store.put_json("batch/_jobs/job1.json", {"heartbeat_at": clock.now - 61})
    with claims.claim("job1"):
        held, _ = store.get_json("batch/_jobs/job1.json")
        assert held == {"heartbeat_at": 1000.0}
