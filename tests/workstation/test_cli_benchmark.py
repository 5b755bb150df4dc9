"""`sklambda benchmark` against moto: figures stored and printed, shown by describe and status;
the load test of an endpoint against a local server, and its bounds."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import joblib
import pytest

from chalicelib.registry import ModelCache
from sklambda.sample_data import FEATURES, TARGET
from tests.models import fitted_logreg, training_frame
from tests.trainers import big_forest
from tests.workstation.test_cli import run


@pytest.fixture
def two_versions(aws, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> Path:
    """churn: version 1 a logistic regression (champion), version 2 a large forest."""
    # The CLI's registries share the process's model cache: other tests loaded other
    # models as churn version 2 in a bucket of the same name.
    monkeypatch.setattr("chalicelib.registry._versions._model_cache", ModelCache())
    frame = training_frame()
    csv = tmp_path / "train.csv"
    frame.to_csv(csv, index=False)
    slow = big_forest(frame[[*FEATURES, TARGET]], TARGET, fitted_logreg())
    for i, model in enumerate((fitted_logreg(), slow), start=1):
        path = tmp_path / f"v{i}.joblib"
        joblib.dump(model, path)
        code, _, err = run(
            capsys, "register", "churn", str(path), "--train", str(csv), "--target", TARGET
        )
        assert code == 0, err
    assert run(capsys, "promote", "churn", "1")[0] == 0
    return csv


def test_benchmark_stores_the_figures_and_prints_them(two_versions: Path, capsys) -> None:
    code, out, err = run(capsys, "benchmark", "churn", "--version", "2", "--rows", "50")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["version"] == 2 and figures["against_version"] == 1
    assert figures["single_records"] == 50 and figures["rows_from"] == "training file train.csv"
    assert figures["ratios"]["p99_ms"] > 1.5  # the forest is slower per record

    code, out, _ = run(capsys, "benchmark", "churn", "--version", "2", "--output", "table")
    assert code == 0
    assert "p99 ms (1 record)" in out and "records/s (batch)" in out and "version 2 vs 1" in out

    code, out, _ = run(capsys, "describe", "churn", "--version", "2")
    assert json.loads(out)["benchmark"]["against_version"] == 1
    code, out, _ = run(capsys, "describe", "churn", "--version", "2", "--output", "table")
    assert "× version 1" in out and "records/s" in out

    assert run(capsys, "promote", "churn", "2", "--alias", "canary", "--weight", "0.1")[0] == 0
    code, out, _ = run(capsys, "status", "churn")
    live = {e["alias"]: e for e in json.loads(out)["live"]}
    assert live["canary"]["benchmark"].startswith("p99 ") and "v1" in live["canary"]["benchmark"]
    assert live["champion"]["benchmark"] is None


def test_rows_from_a_file_and_a_clear_error_without_any(
    two_versions: Path, tmp_path: Path, capsys
) -> None:
    rows = tmp_path / "rows.csv"
    training_frame().head(40)[FEATURES].to_csv(rows, index=False)
    code, out, err = run(
        capsys, "benchmark", "churn", "--version", "2", "--data", str(rows), "--rows", "20"
    )
    assert code == 0, err
    assert json.loads(out)["rows"] == 40 and json.loads(out)["rows_from"] == "--data rows.csv"

    two_versions.unlink()  # the training file is gone, and the registry keeps no holdout
    code, _, err = run(capsys, "benchmark", "churn", "--version", "2")
    assert code == 2 and "keeps no holdout rows" in err and "--data FILE" in err
    code, _, err = run(capsys, "benchmark", "churn", "--version", "1", "--data", str(rows))
    assert code == 2 and "--against another VERSION" in err


@pytest.fixture
def local_stage() -> Iterator[tuple[str, list[str]]]:
    """A stdlib server answering predictions: every fifth request a 503."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            paths.append(self.path)
            status = 503 if len(paths) % 5 == 0 else 200
            answer = json.dumps({"predictions": [0] * len(body["records"])}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", paths
    server.shutdown()
    server.server_close()


def test_load_test_of_an_endpoint_reports_latency_and_errors(
    two_versions: Path, local_stage: tuple[str, list[str]], capsys
) -> None:
    url, paths = local_stage
    code, out, err = run(
        capsys,
        "benchmark",
        "churn",
        "--version",
        "1",
        "--endpoint",
        url,
        "--rps",
        "50",
        "--duration",
        "0.4",
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["requests"] == 20 and result["ok"] == 16 and result["errors"] == 4
    assert result["by_status"] == {"200": 16, "503": 4}
    assert result["p50_ms"] > 0 and result["p99_ms"] >= result["p95_ms"] >= result["p50_ms"]
    assert set(paths) == {"/models/churn/predict?version=1"}


def test_an_unbounded_load_test_is_refused(two_versions: Path, capsys) -> None:
    code, _, err = run(
        capsys,
        "benchmark",
        "churn",
        "--version",
        "1",
        "--endpoint",
        "http://127.0.0.1:9",
        "--rps",
        "500",
        "--duration",
        "60",
    )
    assert code == 2 and "30,000 requests, over the limit of 10,000" in err
    code, _, err = run(
        capsys, "benchmark", "churn", "--version", "1", "--endpoint", "http://127.0.0.1:9"
    )
    assert code == 2 and "--rps R and --duration S" in err
