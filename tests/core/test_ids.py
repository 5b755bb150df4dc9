import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core import new_prediction_id, new_prediction_ids, predicted_at


def test_ids_are_rfc_uuid7_and_carry_their_time():
    moment = datetime(2026, 11, 23, 10, 30, 15, 123000, tzinfo=UTC)
    pid = new_prediction_id(int(moment.timestamp() * 1000))

    parsed = uuid.UUID(hex=pid)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert predicted_at(pid) == moment
    assert predicted_at(str(parsed)) == moment  # the dashed form is accepted too


def test_ids_are_unique_and_time_ordered():
    ids = [new_prediction_id(1_700_000_000_000 + i) for i in range(1000)]
    assert len(set(ids)) == 1000
    assert ids == sorted(ids)


def test_other_ids_have_no_time():
    assert predicted_at(uuid.uuid4().hex) is None
    assert predicted_at("order-42") is None
    assert predicted_at("z" * 32) is None


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(0, 3000),
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_bulk_ids_parse_are_unique_ascend_and_carry_their_time(
    count: int, moment: datetime
) -> None:
    ms = int(moment.timestamp() * 1000)
    ids = [i.decode("ascii") for i in new_prediction_ids(count, ms).tolist()]

    assert len(ids) == count
    assert len(set(ids)) == count
    assert ids == sorted(ids)  # a file's ids sort as its rows do
    for pid in ids:
        parsed = uuid.UUID(hex=pid)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert pid == parsed.hex  # 32 lowercase hex digits, as new_prediction_id writes them
        assert predicted_at(pid) == datetime.fromtimestamp(ms / 1000, tz=UTC)


def test_bulk_ids_are_made_now_and_look_like_single_ones() -> None:
    before = datetime.now(UTC)
    ids = new_prediction_ids(50_000)
    after = datetime.now(UTC)
    single = new_prediction_id()
    assert ids.dtype == np.dtype("S32")
    made = predicted_at(ids[0].decode())
    assert made is not None and before - timedelta(milliseconds=1) <= made <= after
    assert len(set(ids.tolist())) == 50_000
    # Same layout: version and variant digits where the single generator puts them.
    assert {i[12:13] for i in ids.tolist()} == {single[12].encode()}
    assert {i[16:17] for i in ids.tolist()} <= {b"8", b"9", b"a", b"b"}
