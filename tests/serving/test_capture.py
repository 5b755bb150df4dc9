from __future__ import annotations

import io
import json

from chalicelib.serving import Capturer, LogCaptureSink, parse_capture_line


def test_log_sink_writes_one_marked_line_per_record() -> None:
    out = io.StringIO()
    assert Capturer(LogCaptureSink(out)).capture([{"prediction_id": "a"}, {"prediction_id": "b"}])
    lines = out.getvalue().splitlines()
    assert [parse_capture_line(line)["prediction_id"] for line in lines] == ["a", "b"]
    assert all(json.loads(line)["sklambda_capture"] == 1 for line in lines)


def test_other_log_lines_are_not_capture() -> None:
    assert parse_capture_line('{"level": "INFO", "message": "scored"}') is None
    assert parse_capture_line("sklambda_capture but not json") is None


def test_a_failing_sink_is_reported_not_raised() -> None:
    class Broken:
        def send(self, lines):
            raise ConnectionError("firehose unreachable")

    assert Capturer(Broken()).capture([{"prediction_id": "a"}]) is False


def test_non_finite_values_count_as_a_failure_not_a_crash() -> None:
    out = io.StringIO()
    assert Capturer(LogCaptureSink(out)).capture([{"value": float("nan")}]) is False
    assert out.getvalue() == ""


def test_sampling_follows_the_rate() -> None:
    draws = iter([0.05, 0.5, 0.09, 0.95])
    capturer = Capturer(LogCaptureSink(io.StringIO()), draw=lambda: next(draws))
    assert [capturer.sampled(0.1) for _ in range(4)] == [True, False, True, False]
    assert capturer.sampled(1.0) and not capturer.sampled(0.0)
