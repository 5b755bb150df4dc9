"""`sklambda prediction NAME ID [--explain]`: a past prediction read back from the capture."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.registry import Registry
from chalicelib.serving import Capturer, LogCaptureSink, ModelServer, RequestInfo
from chalicelib.storage import AwsClients, ObjectStore
from sklambda.cli import main
from sklambda.sample_data import TARGET
from tests.app.test_api import records
from tests.conftest import DATA_BUCKET
from tests.models import fitted_logreg, training_frame


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def scored(aws: AwsClients, registry: Registry) -> dict[str, Any]:
    """Two requests to churn's champion, one with ?explain=true, their capture delivered to
    the data bucket as Firehose names its objects."""
    registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.promote("churn", 1)
    lines = io.StringIO()
    server = ModelServer(registry, Capturer(LogCaptureSink(lines)), ttl_seconds=0)
    body = json.dumps({"records": records(1)})
    plain, explained = (
        server.predict("churn", body, "application/json", query, RequestInfo(f"r{i}", "tests"))
        for i, query in enumerate(({}, {"explain": "true"}))
    )
    now = datetime.now(UTC)
    key = f"capture/{now:%Y/%m/%d/%H}/sklambda-capture-1-{now:%Y-%m-%d-%H-%M-%S}-abc"
    ObjectStore(aws.s3, DATA_BUCKET).put_bytes(key, lines.getvalue().encode())
    return {"plain": plain, "explained": explained}


def test_shows_a_captured_prediction_and_recomputes_its_explanation_when_asked(
    scored, capsys
) -> None:
    pid = scored["plain"]["prediction_ids"][0]

    code, out, _ = run(capsys, "prediction", "churn", pid)
    assert code == 0
    shown = json.loads(out)
    assert shown["prediction"] == scored["plain"]["predictions"][0]
    assert shown["explanation"] is None

    code, out, _ = run(capsys, "prediction", "churn", pid, "--explain")
    assert code == 0
    shown = json.loads(out)
    assert shown["explanation_source"] == "recomputed"
    assert shown["explanation"] == scored["explained"]["explanations"][0]


def test_the_table_shows_inputs_and_contributions_largest_first(scored, capsys) -> None:
    pid = scored["explained"]["prediction_ids"][0]
    code, out, _ = run(capsys, "prediction", "churn", pid, "--output", "table")
    assert code == 0
    assert "explanation    captured" in out and "contract" in out
    contributions = scored["explained"]["explanations"][0]["contributions"]
    largest = max(contributions, key=lambda f: abs(contributions[f]))
    title, header, first = out.split("\ncontributions", 1)[1].splitlines()[:3]
    assert "(log-odds): base" in title and header.split() == ["FEATURE", "CONTRIBUTION"]
    assert first.split()[0] == largest


@pytest.mark.parametrize(
    ("pid", "message"),
    [("12345", "UUIDv7"), ("0190f5a2c3d47e8f9a0b1c2d3e4f5a6b", "not found in the capture")],
)
def test_a_bad_or_unknown_id_is_one_line(scored, capsys, pid, message) -> None:
    code, out, err = run(capsys, "prediction", "churn", pid)
    assert code == 2 and out == ""
    assert err.startswith("sklambda: error: ") and err.count("\n") == 1 and message in err
