"""The sklambda CLI end to end against moto: output, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import pytest

from chalicelib.storage import AwsClients
from sklambda.cli import main
from sklambda.sample_data import TARGET
from tests.conftest import MODELS_BUCKET
from tests.models import fitted_logreg, training_frame


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    model = tmp_path / "model.joblib"
    joblib.dump(fitted_logreg(), model)
    csv = tmp_path / "train.csv"
    training_frame().to_csv(csv, index=False)
    parquet = tmp_path / "train.parquet"
    training_frame().to_parquet(parquet)
    return {"model": model, "csv": csv, "parquet": parquet, "dir": tmp_path}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def register(capsys, files, *extra: str) -> tuple[int, str, str]:
    return run(
        capsys,
        "register",
        "churn",
        str(files["model"]),
        "--train-data",
        str(files["csv"]),
        "--target",
        TARGET,
        *extra,
    )


def test_register_promote_rollback_history_through_the_cli(aws, files, capsys) -> None:
    code, out, _ = register(
        capsys,
        files,
        "--metrics",
        '{"auc": 0.8}',
        "--tag",
        "team=growth",
        "--description",
        "baseline",
    )
    assert code == 0
    metadata = json.loads(out)
    assert metadata["version"] == 1 and metadata["metrics"] == {"auc": 0.8}
    assert metadata["training_data"]["uri"] == files["csv"].resolve().as_uri()
    code, out, _ = run(
        capsys,
        "register",
        "churn",
        str(files["model"]),
        "--train",
        str(files["parquet"]),
        "--target",
        TARGET,
        "--parent",
        "1",
    )
    assert code == 0 and json.loads(out)["parent_version"] == 1

    assert run(capsys, "promote", "churn", "1", "--reason", "launch")[0] == 0
    code, out, _ = run(capsys, "promote", "churn", "2", "--output", "table")
    assert code == 0 and "champion" in out and "[1]" in out

    code, out, _ = run(capsys, "rollback", "churn", "--reason", "latency")
    assert code == 0
    assert json.loads(out)["aliases"][0]["version"] == 1

    code, out, _ = run(capsys, "--output", "table", "history", "churn")
    lines = out.splitlines()
    assert lines[0].split()[:6] == [
        "REVISION",
        "AT",
        "ACTION",
        "ALIAS",
        "FROM_VERSION",
        "TO_VERSION",
    ]
    assert [line.split()[2] for line in lines[1:]] == ["promote", "promote", "rollback"]
    assert "latency" in lines[-1]


def test_models_versions_and_describe_tables(aws, files, capsys) -> None:
    register(capsys, files)
    register(capsys, files)
    run(capsys, "promote", "churn", "1")
    run(capsys, "promote", "churn", "2", "--alias", "canary", "--weight", "0.25")

    code, out, _ = run(capsys, "models", "--output", "table")
    assert code == 0
    assert out.splitlines()[1].split() == ["churn", "2", "2", "1", "2@0.25", "-", "-"]

    code, out, _ = run(capsys, "versions", "churn", "--output", "table")
    rows = out.splitlines()[1:]
    assert rows[0].split()[:2] == ["1", "champion"] and rows[1].split()[:2] == ["2", "canary"]

    code, out, _ = run(capsys, "describe", "churn")
    described = json.loads(out)
    assert described["version"] == 1 and described["aliases"] == ["champion"]
    code, out, _ = run(capsys, "describe", "churn", "--alias", "canary", "--output", "table")
    assert code == 0 and "inputs" in out and "contract:category" in out
    assert "planned (proven on" in out  # served from its plan, without scikit-learn
    assert described["plan"]["state"] == "planned"
    # Explained exactly, with the features that matter most named, largest first.
    importance = described["explanations"]["importance"]
    top = max(importance, key=importance.__getitem__)
    assert f"exact, on the log-odds scale; importance: {top} " in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["describe", "nope"], "no model named 'nope'"),
        (["promote", "churn", "9"], "no version 9"),
        (["rollback", "churn"], "no earlier version"),
        (["promote", "churn", "1", "--alias", "canary", "--weight", "20"], "use 0.2"),
    ],
)
def test_user_errors_exit_2_with_one_line(aws, files, capsys, argv, message) -> None:
    register(capsys, files)
    run(capsys, "promote", "churn", "1")
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("sklambda: error: ")
    assert message in err


def test_bad_files_are_refused_and_nothing_is_written(aws: AwsClients, files, capsys) -> None:
    not_joblib = files["dir"] / "notes.joblib"
    not_joblib.write_text("hello")
    unfitted = files["dir"] / "unfitted.joblib"
    from sklearn.linear_model import LogisticRegression

    joblib.dump(LogisticRegression(), unfitted)
    cases = [
        (
            [str(not_joblib), "--train-data", str(files["csv"]), "--target", TARGET],
            "is not a joblib file",
        ),
        ([str(unfitted), "--train-data", str(files["csv"]), "--target", TARGET], "not fitted"),
        (
            [str(files["model"]), "--train-data", str(files["csv"]), "--target", "oops"],
            "target column 'oops'",
        ),
        (
            [
                str(files["model"]),
                "--train-data",
                str(files["dir"] / "missing.csv"),
                "--target",
                TARGET,
            ],
            "does not exist",
        ),
        (
            [str(files["model"]), "--train-data", str(files["model"]), "--target", TARGET],
            "training data must be",
        ),
    ]
    for argv, message in cases:
        code, _, err = run(capsys, "register", "churn", *argv)
        assert code == 2, argv
        assert message in err and err.count("\n") == 1
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=MODELS_BUCKET)


def test_missing_bucket_exits_2_and_says_what_to_do(aws, files, capsys) -> None:
    code, _, err = register(capsys, files, "--models-bucket", "not-there")
    assert code == 2
    assert "bucket 'not-there' does not exist" in err


def test_unreachable_endpoint_is_a_one_line_error() -> None:
    # A real process, so the installed console entry point and its exit code are what a user sees.
    env = {
        "PATH": "",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SKLAMBDA_MODELS_BUCKET": "b",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "sklambda.cli", "models", "--endpoint-url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("sklambda: error: cannot reach AWS at http://127.0.0.1:9")
    assert result.stderr.count("\n") == 1


def test_wrong_credentials_exit_2_and_say_to_refresh_them(capsys) -> None:
    from moto import mock_aws
    from moto.core import set_initial_no_auth_action_count

    @set_initial_no_auth_action_count(0)  # moto checks the access key like AWS does
    @mock_aws
    def list_models_with_unknown_key() -> tuple[int, str, str]:
        return run(capsys, "models")

    code, _, err = list_models_with_unknown_key()
    assert code == 2
    assert "AWS rejected the credentials (InvalidAccessKeyId)" in err
    assert err.count("\n") == 1


def test_help_lists_the_commands(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name in ("register", "models", "versions", "describe", "promote", "rollback", "history"):
        assert name in out


# -- training files: what is missing ----------------------------------------------------------
def region_model(frame):
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore"),
    )
    numbers = SimpleImputer()
    columns = make_column_transformer((encode, ["region"]), (numbers, ["age"]))
    return make_pipeline(columns, LogisticRegression()).fit(frame[["region", "age"]], frame["y"])


def test_na_is_a_value_unless_a_marker_names_it(aws, tmp_path, capsys) -> None:
    import pandas as pd

    csv = tmp_path / "train.csv"
    rows = ["region,age,y"] + [
        f"{['NA', 'EU', ''][i % 3]},{['NA', str(20 + i), ''][i % 4 % 3]},{i % 2}" for i in range(60)
    ]
    csv.write_text("\n".join(rows) + "\n")
    # Fitted on the file read as the README says: NA in region is North America; in age,
    # as R wrote it, a missing number.
    frame = pd.read_csv(csv, keep_default_na=False, na_values={"region": [""], "age": ["", "NA"]})
    model = tmp_path / "model.joblib"
    joblib.dump(region_model(frame), model)
    argv = ["register", "regions", str(model), "--train", str(csv), "--target", "y"]
    code, out, err = run(capsys, *argv, "--missing-marker", "age=NA")
    assert code == 0, err
    features = {f["name"]: f for f in json.loads(out)["features"]}
    assert features["region"]["levels"] == ["EU", "NA"]  # North America, not missing
    assert "missing_markers" not in features["region"]
    assert features["age"]["type"] == "number" and features["age"]["missing_markers"] == ["NA"]
    assert features["age"]["dtype"] == "float64"
    assert "column 'region' holds 'NA', registered as a value" in err
    assert "--missing-marker region=NA" in err

    code, out, err = run(
        capsys, *argv, "--missing-marker", "age=NA", "--missing-marker", "region=NA"
    )
    assert code == 0, err
    features = {f["name"]: f for f in json.loads(out)["features"]}
    assert features["region"]["levels"] == ["EU"]
    assert features["region"]["missing_markers"] == ["NA"]
    assert "holds 'NA'" not in err


def test_a_marker_for_a_column_the_file_lacks_is_one_line(aws, files, capsys) -> None:
    code, _, err = register(capsys, files, "--missing-marker", "nope=NA")
    assert code == 2
    assert err == (
        "sklambda: error: missing-value markers name columns 'train.csv' does not have: nope\n"
    )
