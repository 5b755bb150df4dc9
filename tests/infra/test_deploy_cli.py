"""`sklambda deploy` and `sklambda destroy` through the CLI, on moto where AWS is needed.

The deploy builds the app without its dependencies here (a copy of the project with an empty
requirements.txt): the template and the code paths are the same, the wheels only make it slow.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.core import logger
from sklambda.cli import main

# The logger's handler is made on import; made under capsys it would keep a closed stream.
assert logger is not None

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The app, its Chalice config and policies, without dependencies to download."""
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(ROOT / "app.py", copy / "app.py")
    shutil.copytree(ROOT / "chalicelib", copy / "chalicelib", ignore=_pycache)
    shutil.copytree(ROOT / ".chalice", copy / ".chalice", ignore=_deployments)
    (copy / "requirements.txt").write_text("")
    return copy


def _pycache(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__"]


def _deployments(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n in ("deployments", "deployed")]


def test_dry_run_builds_and_describes_the_stack_without_calling_aws(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any AWS call would fail: nothing listens here and there are no credentials.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)

    code, out, err = run(
        capsys,
        "deploy",
        "--stage",
        "prod",
        "--dry-run",
        "--project-dir",
        str(project),
        "--parameter-overrides",
        "EncryptionMode=KMS",
        "AlarmEmail=ops@example.com",
    )

    assert code == 0, err
    plan = json.loads(out)
    assert plan["dry_run"] is True and plan["stack"] == "sklambda-prod"
    assert plan["parameters"] == {"EncryptionMode": "KMS", "AlarmEmail": "ops@example.com"}
    assert plan["resources"]["AWS::S3::Bucket"] == 2
    assert plan["resources"]["AWS::CloudWatch::Alarm"] >= 6
    assert plan["resources"]["AWS::Serverless::Function"] == 5
    template = json.loads(Path(plan["template"]).read_text())
    assert template["Resources"]["ScoreBatch"]["Properties"]["Runtime"] == "python3.12"
    assert Path(plan["code"]).is_file() and plan["package"]["lambda_limit_mb"] == 250
    assert "dry run: nothing was uploaded or deployed" in err
    assert "AWS::SQS::Queue" in err  # the resources, listed for review


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deploy", "--stage", "prod", "--stack-name", "Prod_Stack"], "cannot name the buckets"),
        (["deploy", "--stage", "a-very-long-stage-name-for-buckets"], "at most 28"),
        (["deploy", "--stage", "qa", "--dry-run"], "stage 'qa' is not in .chalice/config.json"),
        (["destroy", "--stage", "prod", "--delete-data"], "add --yes"),
    ],
)
def test_deploy_and_destroy_mistakes_exit_2_with_what_to_fix(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv, "--project-dir", str(project))

    assert code == 2
    assert message in err and "Traceback" not in err


@pytest.fixture
def moto_account(monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("s3", region_name=REGION)


def _stack_with_a_kept_bucket(bucket: str) -> None:
    template = {
        "Resources": {
            "DataBucket": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain",
                "Properties": {"BucketName": bucket},
            }
        }
    }
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName="sklambda-prod", TemplateBody=json.dumps(template))


def test_destroy_keeps_the_data_and_a_later_delete_data_removes_it(
    moto_account: Any, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = moto_account
    bucket = f"sklambda-prod-data-{ACCOUNT}-{REGION}"
    _stack_with_a_kept_bucket(bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="batch/incoming/churn/a.csv", Body=b"x\n")
    s3.put_object(Bucket=bucket, Key="batch/incoming/churn/a.csv", Body=b"y\n")

    code, out, err = run(capsys, "destroy", "--stage", "prod", "--project-dir", str(project))

    assert code == 0, err
    assert json.loads(out)["retained_buckets"] == [bucket]
    assert f"Kept bucket {bucket} and its data" in err and "--delete-data" in err
    assert s3.get_object(Bucket=bucket, Key="batch/incoming/churn/a.csv")["Body"].read() == b"y\n"

    # A new deploy would fail on the kept bucket: it says so before building anything.
    code, _, err = run(capsys, "deploy", "--stage", "prod", "--project-dir", str(project))
    assert code == 2 and f"bucket {bucket} already exists" in err

    code, out, err = run(
        capsys,
        "destroy",
        "--stage",
        "prod",
        "--delete-data",
        "--yes",
        "--project-dir",
        str(project),
    )
    assert code == 0, err
    assert json.loads(out)["deleted_buckets"] == [bucket]
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_destroying_a_stage_that_is_not_deployed_says_so(
    moto_account: Any, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "destroy", "--stage", "prod", "--project-dir", str(project))

    assert code == 2
    assert "sklambda-prod does not exist" in err


def test_a_deploy_says_how_to_point_the_cli_at_the_stage_and_who_may_register() -> None:
    from sklambda.infra.deploy import next_steps
    from sklambda.infra.resources import StageConfig, outputs

    deployed = {
        "ModelsBucketName": f"sklambda-prod-models-{ACCOUNT}-{REGION}",
        "DataBucketName": f"sklambda-prod-data-{ACCOUNT}-{REGION}",
        "SigningKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "RegistrarPolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/sklambda-prod-registrar",
        "RetrainQueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/sklambda-prod-retrain",
    }
    assert set(deployed) <= set(outputs(StageConfig(stage="prod")))  # the names the stack uses

    buckets, key, registrar = next_steps(deployed, REGION)

    assert (
        f"export SKLAMBDA_MODELS_BUCKET={deployed['ModelsBucketName']} "
        f"SKLAMBDA_DATA_BUCKET={deployed['DataBucketName']} AWS_REGION={REGION}"
    ) in buckets
    assert buckets.endswith(f"SKLAMBDA_RETRAIN_QUEUE_URL={deployed['RetrainQueueUrl']}")
    assert key.endswith(f"export SKLAMBDA_SIGNING_KEY={deployed['SigningKeyArn']}")
    assert deployed["RegistrarPolicyArn"] in registrar and "data scientists' role" in registrar


def test_a_deploy_says_where_to_query_the_capture() -> None:
    from sklambda.infra.deploy import next_steps
    from sklambda.infra.resources import StageConfig, outputs

    deployed = {"CaptureDatabaseName": "sklambda_prod", "CaptureTableName": "capture"}
    assert set(deployed) <= set(outputs(StageConfig(stage="prod")))

    (athena,) = next_steps(deployed, REGION)

    assert 'FROM "sklambda_prod"."capture" WHERE dt = ' in athena and REGION in athena


def test_a_stack_deployed_before_the_signing_key_gets_the_bucket_exports_alone() -> None:
    from sklambda.infra.deploy import next_steps

    (only,) = next_steps({"ModelsBucketName": "m", "DataBucketName": "d"}, REGION)
    assert "SKLAMBDA_SIGNING_KEY" not in only
