"""`sklambda retire` and `restore` end to end against moto: what promote, monitor, status,
versions, describe and history say about a retired model or version."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pytest

from sklambda.cli import main
from sklambda.sample_data import TARGET
from tests.models import fitted_logreg, training_frame


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def churn(aws, tmp_path: Path, capsys) -> None:
    """churn versions 1 and 2, version 1 the champion."""
    model = tmp_path / "model.joblib"
    joblib.dump(fitted_logreg(), model)
    csv = tmp_path / "train.csv"
    training_frame().to_csv(csv, index=False)
    for _ in range(2):
        argv = ["register", "churn", str(model), "--train-data", str(csv), "--target", TARGET]
        assert run(capsys, *argv)[0] == 0
    assert run(capsys, "promote", "churn", "1")[0] == 0


def test_retire_a_version_refuse_its_promotion_restore_it(churn, capsys) -> None:
    code, out, _ = run(capsys, "retire", "churn", "--version", "2", "--reason", "superseded")
    assert code == 0
    result = json.loads(out)
    assert result["retired"][0]["retired"] == "version 2"
    assert result["retired"][0]["reason"] == "superseded"

    code, _, err = run(capsys, "promote", "churn", "2", "--alias", "canary")
    assert code == 2
    assert "version 2 of 'churn' is retired" in err
    assert "`sklambda restore churn --version 2`" in err
    assert len(err.strip().splitlines()) == 1

    code, out, _ = run(capsys, "versions", "churn", "--output", "table")
    rows = out.splitlines()
    assert "RETIRED" in rows[0] and "retired: superseded" in rows[2]
    code, out, _ = run(capsys, "describe", "churn", "--version", "2")
    assert json.loads(out)["retired"]["reason"] == "superseded"
    code, out, _ = run(capsys, "models", "--output", "table")
    assert out.splitlines()[1].split()[-2:] == ["versions", "2"]

    assert run(capsys, "restore", "churn", "--version", "2", "--reason", "comparison")[0] == 0
    assert run(capsys, "promote", "churn", "2", "--alias", "canary")[0] == 0

    code, out, _ = run(capsys, "history", "churn")
    steps = [e for e in json.loads(out) if e["action"] in {"retire", "restore"}]
    assert [(e["action"], e["to_version"], e["reason"]) for e in steps] == [
        ("retire", 2, "superseded"),
        ("restore", 2, "comparison"),
    ]
    assert all(e["actor"].startswith("arn:") for e in steps)


def test_retire_needs_a_reason(churn, capsys) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["retire", "churn", "--version", "2"])
    assert usage.value.code == 2 and "Missing option '--reason'" in capsys.readouterr().err


def test_retire_refuses_what_holds_an_alias_then_retires_the_model(churn, capsys) -> None:
    code, _, err = run(capsys, "retire", "churn", "--version", "1", "--reason", "old")
    assert code == 2 and "it is the champion" in err

    assert run(capsys, "promote", "churn", "2", "--alias", "shadow")[0] == 0
    code, _, err = run(capsys, "retire", "churn", "--reason", "closed")
    assert code == 2
    assert "its shadow is version 2" in err and "`sklambda demote churn --alias shadow`" in err

    assert run(capsys, "demote", "churn", "--alias", "shadow")[0] == 0
    assert run(capsys, "retire", "churn", "--reason", "closed")[0] == 0

    code, _, err = run(capsys, "monitor", "churn")
    assert code == 2
    assert "model 'churn' is retired" in err and "so it is not monitored" in err
    assert "`sklambda restore churn`" in err

    code, out, _ = run(capsys, "status", "churn")
    assert json.loads(out)["retired"]["model"]["reason"] == "closed"
    code, out, _ = run(capsys, "status", "churn", "--output", "table")
    assert "RETIRED" in out and "closed" in out

    assert run(capsys, "restore", "churn")[0] == 0
    code, out, _ = run(capsys, "status", "churn")
    assert json.loads(out)["retired"]["model"] is None


def test_a_canary_cannot_be_the_champions_version(churn, capsys) -> None:
    code, _, err = run(capsys, "promote", "churn", "1", "--alias", "canary")
    assert code == 2
    assert "version 1 is already the champion of 'churn'; a canary must be another version" in err
