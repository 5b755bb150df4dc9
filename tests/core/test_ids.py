import uuid
from datetime import UTC, datetime

from chalicelib.core import new_prediction_id, predicted_at


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
