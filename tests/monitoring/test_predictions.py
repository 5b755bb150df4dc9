"""How far the lookup of one past prediction reads: the capture objects delivered in the
hours around the prediction (`capture_hours`: also the previous hour when it was made early
in its own), less those Firehose named too long before it was made."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core import InvalidInputError, new_prediction_id
from chalicelib.monitoring import MonitorSources, PredictionLookup
from chalicelib.monitoring._predictions import delivered_at
from chalicelib.storage import AwsClients, ObjectStore
from tests.conftest import DATA_BUCKET

MADE = datetime(2026, 12, 2, 10, 20, tzinfo=UTC)
PID = new_prediction_id(int(MADE.timestamp() * 1000))


def firehose_key(at: datetime, stream: str = "sklambda-prod-capture") -> str:
    """A key as Firehose names a delivery whose oldest record arrived `at`."""
    return f"capture/{at:%Y/%m/%d/%H}/{stream}-1-{at:%Y-%m-%d-%H-%M-%S}-0a1b2c3d-4e5f-6a7b-8c9d"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (firehose_key(MADE), MADE),
        (firehose_key(MADE, stream="s-2026-01-01-00-00-00-x"), MADE),  # a name like a time
        (firehose_key(MADE) + ".gz", MADE),
        ("capture/2026/12/02/10/sklambda-capture-1", None),  # no time in the name
        ("capture/2026/12/02/11/s-1-2026-12-02-10-20-00-abc", None),  # not the folder's hour
        ("capture/2026/12/02/10/s-1-2026-13-02-10-20-00-abc", None),  # no such month
        ("elsewhere/2026/12/02/10/s-1-2026-12-02-10-20-00-abc", None),
    ],
)
def test_the_delivery_time_is_read_from_firehose_s_object_names(key, expected) -> None:
    assert delivered_at("capture/", key) == expected


class Counted(MonitorSources):
    """MonitorSources that remembers which hours it listed and which objects it read."""

    listed: list[datetime]
    read: list[str]

    def capture_objects(self, hour):
        self.listed.append(hour)
        return super().capture_objects(hour)

    def object_records(self, key):
        self.read.append(key)
        return super().object_records(key)


@pytest.fixture
def sources(aws: AwsClients) -> Counted:
    store = ObjectStore(aws.s3, DATA_BUCKET)
    counted = Counted(
        store, capture_prefix="capture/", feedback_prefix="feedback/", scored_prefix="scored/"
    )
    counted.listed, counted.read = [], []
    return counted


def deliver(sources: MonitorSources, key: str, *records: dict) -> None:
    lines = [json.dumps({"sklambda_capture": 1, **r}) for r in records]
    sources.store.put_bytes(key, "\n".join(lines).encode())


def record(pid: str = PID, **fields) -> dict:
    return {"model": "churn", "version": 1, "role": "primary", "prediction_id": pid, **fields}


def test_objects_named_well_before_the_prediction_are_not_read(sources) -> None:
    too_early = firehose_key(MADE - timedelta(minutes=17))  # 10:03, in the same hour
    in_buffer = firehose_key(MADE - timedelta(minutes=10))  # could hold it: 10:10
    unnamed = "capture/2026/12/02/10/delivered-by-hand"
    next_hour = firehose_key(MADE + timedelta(minutes=45))
    before = firehose_key(MADE - timedelta(hours=1))
    for key in (too_early, in_buffer, unnamed, next_hour, before):
        deliver(sources, key, record(new_prediction_id()))
    lookup = PredictionLookup(sources, clock=lambda: MADE + timedelta(hours=3))

    assert lookup.find("churn", PID) is None

    assert sources.listed == [MADE.replace(minute=0), MADE.replace(hour=11, minute=0)]
    assert sorted(sources.read) == sorted([in_buffer, unnamed, next_hour])


def test_the_next_hour_is_not_listed_before_it_has_begun(sources) -> None:
    lookup = PredictionLookup(sources, clock=lambda: MADE + timedelta(minutes=5))
    assert lookup.find("churn", PID) is None
    assert sources.listed == [MADE.replace(minute=0)]


def test_the_first_primary_record_of_the_model_is_the_one_found(sources) -> None:
    key = firehose_key(MADE + timedelta(minutes=2))
    deliver(
        sources,
        key,
        record(role="shadow", version=2, prediction="shadow's"),
        record(model="other", prediction="other's"),
        record(prediction=1),
    )
    lookup = PredictionLookup(sources, clock=lambda: MADE + timedelta(hours=3))

    found = lookup.find("churn", PID)
    assert found is not None and found["prediction"] == 1
    # An id as a UUID with dashes, or in capitals, names the same prediction.
    dashed = f"{PID[:8]}-{PID[8:12]}-{PID[12:16]}-{PID[16:20]}-{PID[20:]}".upper()
    assert lookup.find("churn", dashed) == found


@pytest.mark.parametrize("bad", ["", "42", "0" * 32, PID[:12] + "4" + PID[13:]])
def test_what_is_no_uuid7_is_refused_before_anything_is_read(sources, bad) -> None:
    lookup = PredictionLookup(sources)
    with pytest.raises(InvalidInputError, match="UUIDv7"):
        lookup.find("churn", bad)
    assert sources.listed == []


def test_a_prediction_early_in_its_hour_is_found_in_an_object_named_the_hour_before(
    sources,
) -> None:
    """Firehose names an object after its oldest record: one opened at 09:55 holds a record
    that arrived at 10:05, under the 09 folder."""
    made = datetime(2026, 12, 2, 10, 5, tzinfo=UTC)
    pid = new_prediction_id(int(made.timestamp() * 1000))
    key = firehose_key(made - timedelta(minutes=10))
    deliver(sources, key, record(pid, prediction=1))
    lookup = PredictionLookup(sources, clock=lambda: made + timedelta(hours=3))

    found = lookup.find("churn", pid)

    assert found is not None and found["prediction"] == 1
    assert sources.listed == [made.replace(hour=9, minute=0)]  # found there, first
