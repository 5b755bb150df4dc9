"""Deploying and destroying a stack: moto for the flows it models, stubbed CloudFormation
for the states it cannot reach (failed resources, rollbacks, busy stacks)."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.storage import AwsClients
from sklambda.infra import stack
from sklambda.infra.stack import (
    StackError,
    StackFailedError,
    StackNotFoundError,
    StackStateError,
    artifacts_bucket_name,
    delete_bucket_and_data,
    deploy_stack,
    destroy_stack,
    ensure_artifacts_bucket,
    summarize_template,
    upload_artifacts,
)
from tests.conftest import REGION

STACK = "sklambda-prod"
ARTIFACTS = artifacts_bucket_name("123456789012", REGION)


def stack_template(*, visibility_timeout: int = 30, with_dead_letters: bool = False) -> dict:
    """A versioned bucket kept on delete, a queue and outputs naming both."""
    template: dict[str, Any] = {
        "Resources": {
            "Data": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
            },
            "Jobs": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"VisibilityTimeout": visibility_timeout},
            },
        },
        "Outputs": {
            "DataBucket": {"Value": {"Ref": "Data"}},
            "JobsQueueUrl": {"Value": {"Ref": "Jobs"}},
        },
    }
    if with_dead_letters:
        template["Resources"]["DeadLetters"] = {"Type": "AWS::SQS::Queue"}
    return template


def sam_template() -> dict:
    """The shape `chalice package` writes: three functions sharing one local zip."""
    functions = {
        name: {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Runtime": "python3.12",
                "Handler": handler,
                "CodeUri": "./deployment.zip",
            },
        }
        for name, handler in [
            ("APIHandler", "app.app"),
            ("ScoreBatch", "app.batch"),
            ("MonitorModels", "app.monitor"),
        ]
    }
    return {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            **functions,
            "Models": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"},
        },
        "Outputs": {"RestAPIId": {"Value": "x"}},
    }


def write_zip(path: Path, content: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("app.py", content)
    return path


@pytest.fixture(autouse=True)
def tls_only_policies_let_https_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto ignores policy conditions, so "deny unless TLS" denies every object request.

    S3 lets HTTPS requests through such a policy, and boto3 always uses HTTPS.
    """
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    get_permission = FakeBucket.get_permission

    def ignoring_tls_condition(self: Any, action: str, resource: str) -> Any:
        if self.policy and b"aws:SecureTransport" in self.policy:
            return PermissionResult.NEUTRAL
        return get_permission(self, action, resource)

    monkeypatch.setattr(FakeBucket, "get_permission", ignoring_tls_condition)


@pytest.fixture
def cfn(aws: AwsClients, monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's CloudFormation, with outputs recomputed when a change set executes.

    moto computes a stack's outputs once, when the change set creates the still empty
    stack, and never again; CloudFormation evaluates them after every execution.
    """
    from moto.cloudformation.models import CloudFormationBackend

    execute = CloudFormationBackend.execute_change_set

    def execute_then_refresh_outputs(self: Any, *args: Any, **kwargs: Any) -> None:
        execute(self, *args, **kwargs)
        for moto_stack in self.stacks.values():
            if moto_stack.template:
                moto_stack._parse_template()
                moto_stack.output_map = moto_stack._create_output_map()

    monkeypatch.setattr(CloudFormationBackend, "execute_change_set", execute_then_refresh_outputs)
    return aws.client("cloudformation")


def deploy(aws: AwsClients, cfn: Any, template: dict, lines: list[str]) -> stack.DeployResult:
    ensure_artifacts_bucket(aws.s3, ARTIFACTS, REGION, lines.append)
    uploaded = upload_artifacts(aws.s3, ARTIFACTS, STACK, template, {}, progress=lines.append)
    return deploy_stack(
        cfn,
        stack_name=STACK,
        template_url=uploaded.template_url,
        tags={"sklambda:stage": "prod"},
        progress=lines.append,
        poll_seconds=0,
    )


def dig(document: dict, path: tuple[str, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


def object_versions(aws: AwsClients, bucket: str) -> int:
    page = aws.s3.list_object_versions(Bucket=bucket)
    return len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))


# --- Dry run -------------------------------------------------------------------------------


def test_dry_run_summary_lists_resources_by_type() -> None:
    lines = summarize_template(sam_template())

    assert lines[0].startswith("4 resources before the AWS::Serverless-2016-10-31 transform")
    assert lines[1].split()[:2] == ["AWS::S3::Bucket", "Models"]
    assert lines[1].endswith("(kept when the stack is deleted)")
    assert [line.split()[1] for line in lines[2:5]] == ["APIHandler", "MonitorModels", "ScoreBatch"]
    assert all("code ./deployment.zip" in line for line in lines[2:5])
    assert lines[-1] == "Outputs: RestAPIId"


# --- Artifacts bucket ----------------------------------------------------------------------


def test_artifacts_bucket_is_created_locked_down_then_reused(aws: AwsClients) -> None:
    lines: list[str] = []

    assert ensure_artifacts_bucket(aws.s3, ARTIFACTS, REGION, lines.append) is True
    assert ensure_artifacts_bucket(aws.s3, ARTIFACTS, REGION, lines.append) is False

    assert lines == [f"Created artifacts bucket {ARTIFACTS}", f"Using artifacts bucket {ARTIFACTS}"]
    block = aws.s3.get_public_access_block(Bucket=ARTIFACTS)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    encryption = aws.s3.get_bucket_encryption(Bucket=ARTIFACTS)
    rule = encryption["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    policy = json.loads(aws.s3.get_bucket_policy(Bucket=ARTIFACTS)["Policy"])
    statement = policy["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    lifecycle = aws.s3.get_bucket_lifecycle_configuration(Bucket=ARTIFACTS)["Rules"][0]
    assert lifecycle["Expiration"] == {"Days": 90}


def test_artifacts_bucket_outside_us_east_1_names_its_region(aws: AwsClients) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    bucket = artifacts_bucket_name("123456789012", "eu-west-1")

    ensure_artifacts_bucket(s3, bucket, "eu-west-1")

    assert bucket == "sklambda-artifacts-123456789012-eu-west-1"
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert f"arn:aws:s3:::{bucket}/*" in policy["Statement"][0]["Resource"]


# --- Uploads -------------------------------------------------------------------------------


def test_upload_rewrites_every_code_uri_and_sends_identical_code_once(
    aws: AwsClients, tmp_path: Path
) -> None:
    ensure_artifacts_bucket(aws.s3, ARTIFACTS, REGION)
    package = write_zip(tmp_path / "deployment.zip", "print('v1')")
    template = sam_template()
    lines: list[str] = []

    first = upload_artifacts(
        aws.s3, ARTIFACTS, STACK, template, {"deployment.zip": package}, progress=lines.append
    )
    again = upload_artifacts(
        aws.s3, ARTIFACTS, STACK, template, {"./deployment.zip": package}, progress=lines.append
    )

    code_uris = {
        r["Properties"]["CodeUri"]
        for r in first.template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    assert len(code_uris) == 1
    (code_uri,) = code_uris
    assert code_uri.startswith(f"s3://{ARTIFACTS}/{STACK}/") and code_uri.endswith(".zip")
    assert template["Resources"]["APIHandler"]["Properties"]["CodeUri"] == "./deployment.zip"
    assert len(first.uploaded) == 2 and first.reused == ()
    assert again.uploaded == () and set(again.reused) == set(first.uploaded)
    assert lines[0].startswith(f"Uploaded deployment.zip -> s3://{ARTIFACTS}/{STACK}/")
    assert lines[1].startswith("Uploaded template (")
    assert lines[2].startswith("Unchanged deployment.zip -> ")
    assert lines[3].startswith("Unchanged template (")
    keys = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=ARTIFACTS)["Contents"]]
    assert sorted(k.rsplit(".", 1)[-1] for k in keys) == ["json", "zip"]
    template_key = first.template_url.split(f"/{ARTIFACTS}/", 1)[1]
    body = aws.s3.get_object(Bucket=ARTIFACTS, Key=template_key)["Body"].read()
    assert json.loads(body) == first.template


def test_changed_code_gets_a_new_key(aws: AwsClients, tmp_path: Path) -> None:
    ensure_artifacts_bucket(aws.s3, ARTIFACTS, REGION)
    package = tmp_path / "deployment.zip"
    files = {"./deployment.zip": package}

    write_zip(package, "print('v1')")
    first = upload_artifacts(aws.s3, ARTIFACTS, STACK, sam_template(), files)
    write_zip(package, "print('v2')")
    second = upload_artifacts(aws.s3, ARTIFACTS, STACK, sam_template(), files)

    uri = "Resources", "ScoreBatch", "Properties", "CodeUri"
    assert dig(first.template, uri) != dig(second.template, uri)
    assert len(second.uploaded) == 2


def test_upload_refuses_a_code_uri_it_has_no_file_for(aws: AwsClients, tmp_path: Path) -> None:
    ensure_artifacts_bucket(aws.s3, ARTIFACTS, REGION)
    other = write_zip(tmp_path / "other.zip", "")

    with pytest.raises(StackError, match=r"CodeUri '\./deployment\.zip' names no file"):
        upload_artifacts(aws.s3, ARTIFACTS, STACK, sam_template(), {"other.zip": other})


def test_upload_of_a_missing_package_says_to_build_it(aws: AwsClients, tmp_path: Path) -> None:
    ensure_artifacts_bucket(aws.s3, ARTIFACTS, REGION)

    with pytest.raises(StackError, match="does not exist: build the deployment package"):
        upload_artifacts(
            aws.s3, ARTIFACTS, STACK, sam_template(), {"deployment.zip": tmp_path / "no.zip"}
        )


# --- Deploy and destroy against moto -------------------------------------------------------


def test_first_deploy_creates_the_stack_and_returns_its_outputs(aws: AwsClients, cfn: Any) -> None:
    lines: list[str] = []

    result = deploy(aws, cfn, stack_template(), lines)

    assert result.changed and result.status == "CREATE_COMPLETE"
    assert set(result.outputs) == {"DataBucket", "JobsQueueUrl"}
    assert aws.s3.head_bucket(Bucket=result.outputs["DataBucket"])
    assert {(c.action, c.logical_id) for c in result.changes} == {("Add", "Data"), ("Add", "Jobs")}
    assert "Changes to stack sklambda-prod (2):" in lines
    assert any(line.split()[:3] == ["+", "Add", "Data"] for line in lines)
    assert any("CREATE_COMPLETE" in line and "AWS::CloudFormation::Stack" in line for line in lines)
    outputs_at = lines.index("Outputs:")
    assert lines[outputs_at + 1].split() == ["DataBucket", "=", result.outputs["DataBucket"]]
    assert lines[-1] == "Stack sklambda-prod is CREATE_COMPLETE"


def test_identical_second_deploy_has_nothing_to_do(aws: AwsClients, cfn: Any) -> None:
    first = deploy(aws, cfn, stack_template(), [])
    lines: list[str] = []

    again = deploy(aws, cfn, stack_template(), lines)

    assert not again.changed and again.changes == ()
    assert again.outputs == first.outputs
    assert f"No changes to deploy: stack {STACK} is up to date" in lines
    assert not any("UPDATE_IN_PROGRESS" in line for line in lines)
    pending = cfn.list_change_sets(StackName=STACK)["Summaries"]
    assert all(s["ExecutionStatus"] == "EXECUTE_COMPLETE" for s in pending)


def test_update_prints_its_changes_and_returns_the_outputs(aws: AwsClients, cfn: Any) -> None:
    first = deploy(aws, cfn, stack_template(), [])
    lines: list[str] = []

    result = deploy(aws, cfn, stack_template(visibility_timeout=60, with_dead_letters=True), lines)

    assert result.status == "UPDATE_COMPLETE" and result.outputs == first.outputs
    assert ("Add", "DeadLetters") in {(c.action, c.logical_id) for c in result.changes}
    assert any(line.split()[:3] == ["~", "Modify", "Jobs"] for line in lines)
    assert any("UPDATE_COMPLETE" in line for line in lines)
    assert lines[-1] == "Stack sklambda-prod is UPDATE_COMPLETE"


def test_destroy_keeps_the_data_bucket_and_its_objects_by_default(
    aws: AwsClients, cfn: Any
) -> None:
    bucket = deploy(aws, cfn, stack_template(), []).outputs["DataBucket"]
    aws.s3.put_object(Bucket=bucket, Key="models/churn.joblib", Body=b"model")
    lines: list[str] = []

    destroyed = destroy_stack(cfn, aws.s3, stack_name=STACK, progress=lines.append, poll_seconds=0)

    assert destroyed.retained_buckets == (bucket,) and destroyed.deleted_buckets == ()
    assert aws.s3.get_object(Bucket=bucket, Key="models/churn.joblib")["Body"].read() == b"model"
    assert any("DELETE_COMPLETE" in line for line in lines)
    assert any(line.startswith(f"Kept bucket {bucket} and its data") for line in lines)
    with pytest.raises(StackNotFoundError, match="does not exist in us-east-1"):
        destroy_stack(cfn, aws.s3, stack_name=STACK, poll_seconds=0)


def test_destroy_with_delete_data_removes_every_version_then_the_bucket(
    aws: AwsClients, cfn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = deploy(aws, cfn, stack_template(), []).outputs["DataBucket"]
    # moto skips the template's VersioningConfiguration; CloudFormation applies it.
    aws.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"v1", b"v2", b"v3"):
        aws.s3.put_object(Bucket=bucket, Key="capture/a.json", Body=body)
    aws.s3.put_object(Bucket=bucket, Key="capture/b.json", Body=b"b")
    aws.s3.delete_object(Bucket=bucket, Key="capture/b.json")  # leaves a delete marker
    assert object_versions(aws, bucket) == 5
    monkeypatch.setattr(stack._destroy, "DELETE_BATCH", 2)  # exercise batching without 1000 objects
    lines: list[str] = []

    destroyed = destroy_stack(
        cfn, aws.s3, stack_name=STACK, delete_data=True, progress=lines.append, poll_seconds=0
    )

    assert destroyed.deleted_buckets == (bucket,) and destroyed.retained_buckets == ()
    assert destroyed.deleted_objects == 5
    assert bucket not in {b["Name"] for b in aws.s3.list_buckets()["Buckets"]}
    counts = [line for line in lines if line.startswith(f"Emptying bucket {bucket}")]
    assert counts[-1].endswith(": 5 object versions deleted") and len(counts) == 3
    assert lines[-1] == f"Deleted bucket {bucket} (5 object versions and delete markers)"


def test_delete_bucket_and_data_handles_an_unversioned_bucket(aws: AwsClients) -> None:
    aws.s3.create_bucket(Bucket="leftover-data")
    aws.s3.put_object(Bucket="leftover-data", Key="a", Body=b"a")

    assert delete_bucket_and_data(aws.s3, "leftover-data") == 1
    assert "leftover-data" not in {b["Name"] for b in aws.s3.list_buckets()["Buckets"]}


# --- Stubbed CloudFormation: states moto cannot produce ------------------------------------

STACK_ID = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{STACK}/6f1c"
CHANGE_SET_ID = f"arn:aws:cloudformation:{REGION}:123456789012:changeSet/sklambda-1/9a2b"
TEMPLATE_URL = f"https://s3.amazonaws.com/{ARTIFACTS}/{STACK}/abc.template.json"
START = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def event(n: int, logical: str, kind: str, status: str, reason: str | None = None) -> dict:
    record = {
        "StackId": STACK_ID,
        "EventId": f"event-{n}",
        "StackName": STACK,
        "Timestamp": START + timedelta(seconds=n),
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "ResourceStatus": status,
    }
    if reason:
        record["ResourceStatusReason"] = reason
    return record


def stack_event(n: int, status: str, reason: str | None = None) -> dict:
    return event(n, STACK, "AWS::CloudFormation::Stack", status, reason)


def described(status: str, **extra: Any) -> dict:
    return {
        "Stacks": [
            {
                "StackName": STACK,
                "StackId": STACK_ID,
                "StackStatus": status,
                "CreationTime": START,
                **extra,
            }
        ]
    }


@pytest.fixture
def stubbed() -> Any:
    client = boto3.client("cloudformation", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def stub_existing(stubber: Stubber, status: str | None) -> None:
    if status is None:
        stubber.add_client_error(
            "describe_stacks",
            service_error_code="ValidationError",
            service_message=f"Stack with id {STACK} does not exist",
            expected_params={"StackName": STACK},
        )
    else:
        stubber.add_response("describe_stacks", described(status), {"StackName": STACK})


def stub_change_set(stubber: Stubber, change_set_type: str) -> None:
    stubber.add_response(
        "create_change_set",
        {"Id": CHANGE_SET_ID, "StackId": STACK_ID},
        {
            "StackName": STACK,
            "ChangeSetName": ANY,
            "ChangeSetType": change_set_type,
            "TemplateURL": TEMPLATE_URL,
            "Parameters": [],
            "Tags": [],
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            "Description": ANY,
        },
    )
    change_set = {"ChangeSetId": CHANGE_SET_ID, "StackId": STACK_ID, "StackName": STACK}
    for status in ("CREATE_IN_PROGRESS", "CREATE_COMPLETE"):
        stubber.add_response(
            "describe_change_set",
            {
                **change_set,
                "Status": status,
                "ExecutionStatus": "AVAILABLE",
                "Changes": [
                    {
                        "Type": "Resource",
                        "ResourceChange": {
                            "Action": "Modify",
                            "LogicalResourceId": "APIHandler",
                            "ResourceType": "AWS::Lambda::Function",
                            "Replacement": "False",
                        },
                    }
                ],
            },
            {"ChangeSetName": CHANGE_SET_ID},
        )


def stub_execution(stubber: Stubber, *event_pages: list[dict], final: dict) -> None:
    """The latest event before execution, then one DescribeStackEvents page per poll."""
    stubber.add_response(
        "describe_stack_events",
        {"StackEvents": [stack_event(0, "REVIEW_IN_PROGRESS", "User Initiated")]},
        {"StackName": STACK_ID},
    )
    stubber.add_response(
        "execute_change_set", {}, {"ChangeSetName": CHANGE_SET_ID, "RetainExceptOnCreate": True}
    )
    for page in event_pages:
        stubber.add_response("describe_stack_events", page, None)
    stubber.add_response("describe_stacks", final, {"StackName": STACK_ID})


@pytest.mark.parametrize(
    ("existing", "change_set_type"),
    [(None, "CREATE"), ("REVIEW_IN_PROGRESS", "CREATE"), ("UPDATE_ROLLBACK_COMPLETE", "UPDATE")],
)
def test_change_set_type_follows_the_stack_state(
    stubbed: Any, existing: str | None, change_set_type: str
) -> None:
    client, stubber = stubbed
    stub_existing(stubber, existing)
    stub_change_set(stubber, change_set_type)
    done = f"{change_set_type}_COMPLETE"
    stub_execution(
        stubber,
        {"StackEvents": [stack_event(1, f"{change_set_type}_IN_PROGRESS"), stack_event(0, "x")]},
        {"StackEvents": [stack_event(2, done), stack_event(1, "x")]},
        final=described(done, Outputs=[{"OutputKey": "ApiUrl", "OutputValue": "https://a"}]),
    )
    lines: list[str] = []

    result = deploy_stack(
        client, stack_name=STACK, template_url=TEMPLATE_URL, progress=lines.append, poll_seconds=0
    )

    assert result.outputs == {"ApiUrl": "https://a"} and result.status == done
    modify = "~ Modify  APIHandler  AWS::Lambda::Function  replacement: False"
    assert f"  {modify}" in lines
    assert "  ApiUrl = https://a" in lines


def test_failed_deploy_names_the_first_failed_resource_and_its_reason(stubbed: Any) -> None:
    client, stubber = stubbed
    stub_existing(stubber, None)
    stub_change_set(stubber, "CREATE")
    already = "sklambda-data-prod already exists"
    history = [
        stack_event(1, "CREATE_IN_PROGRESS", "User Initiated"),
        event(2, "Data", "AWS::S3::Bucket", "CREATE_IN_PROGRESS"),
        event(3, "Jobs", "AWS::SQS::Queue", "CREATE_IN_PROGRESS"),
        event(4, "Jobs", "AWS::SQS::Queue", "CREATE_FAILED", "Resource creation cancelled"),
        event(5, "Data", "AWS::S3::Bucket", "CREATE_FAILED", already),
        stack_event(6, "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create"),
        event(7, "Jobs", "AWS::SQS::Queue", "DELETE_COMPLETE"),
        stack_event(8, "ROLLBACK_COMPLETE"),
    ]
    newest_first = history[::-1]
    stub_execution(
        stubber,
        {"StackEvents": newest_first[5:]},  # events 1-3 ...
        {"StackEvents": newest_first[:3], "NextToken": "older"},  # ... then 8-6 ...
        {"StackEvents": newest_first[3:]},  # ... whose next page ends at the events seen
        final=described("ROLLBACK_COMPLETE", StackStatusReason="failed to create: [Data]"),
    )
    lines: list[str] = []

    with pytest.raises(StackFailedError) as raised:
        deploy_stack(
            client,
            stack_name=STACK,
            template_url=TEMPLATE_URL,
            progress=lines.append,
            poll_seconds=0,
        )

    message = raised.value.message
    assert message.startswith(f"deploy of stack {STACK} failed (ROLLBACK_COMPLETE): Data ")
    assert f"(AWS::S3::Bucket) CREATE_FAILED: {already}" in message
    assert message.endswith("destroy the stack (sklambda destroy) before deploying again")
    assert raised.value.details["resource"] == "Data"
    printed = [line for line in lines if line[:2].isdigit()]
    assert len(printed) == len(history)  # each event once, oldest first
    assert "Resource creation cancelled" in printed[3] and printed[-1].split()[1] == (
        "ROLLBACK_COMPLETE"
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("ROLLBACK_COMPLETE", "must be destroyed first (sklambda destroy)"),
        ("UPDATE_IN_PROGRESS", "is busy (UPDATE_IN_PROGRESS): wait"),
        ("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "is busy"),
        ("DELETE_IN_PROGRESS", "is busy"),
        ("UPDATE_ROLLBACK_FAILED", "continue-update-rollback --stack-name sklambda-prod"),
    ],
)
def test_deploy_refuses_stacks_it_cannot_update(stubbed: Any, status: str, expected: str) -> None:
    client, stubber = stubbed
    stub_existing(stubber, status)

    with pytest.raises(StackStateError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        deploy_stack(client, stack_name=STACK, template_url=TEMPLATE_URL, poll_seconds=0)


def test_rejected_change_set_reports_cloudformation_reason(stubbed: Any) -> None:
    client, stubber = stubbed
    stub_existing(stubber, "CREATE_COMPLETE")
    stubber.add_response("create_change_set", {"Id": CHANGE_SET_ID, "StackId": STACK_ID}, None)
    reason = "Transform AWS::Serverless-2016-10-31 failed: CodeUri is not a valid S3 Uri"
    stubber.add_response(
        "describe_change_set",
        {"ChangeSetId": CHANGE_SET_ID, "Status": "FAILED", "StatusReason": reason},
        None,
    )

    with pytest.raises(StackError, match=f"rejected the change set for stack {STACK}: Transform"):
        deploy_stack(client, stack_name=STACK, template_url=TEMPLATE_URL, poll_seconds=0)


def test_failed_destroy_names_the_resource_that_blocked_it(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("describe_stacks", described("UPDATE_COMPLETE"), {"StackName": STACK})
    stubber.add_response(
        "list_stack_resources",
        {
            "StackResourceSummaries": [
                {
                    "LogicalResourceId": "Scratch",
                    "PhysicalResourceId": "sklambda-prod-scratch",
                    "ResourceType": "AWS::S3::Bucket",
                    "ResourceStatus": "CREATE_COMPLETE",
                    "LastUpdatedTimestamp": START,
                }
            ]
        },
        {"StackName": STACK_ID},
    )
    stubber.add_response(
        "describe_stack_events", {"StackEvents": [stack_event(0, "UPDATE_COMPLETE")]}, None
    )
    stubber.add_response("delete_stack", {}, {"StackName": STACK_ID})
    not_empty = "The bucket you tried to delete is not empty"
    stubber.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                stack_event(3, "DELETE_FAILED", "The following resource(s) failed to delete"),
                event(2, "Scratch", "AWS::S3::Bucket", "DELETE_FAILED", not_empty),
                stack_event(1, "DELETE_IN_PROGRESS", "User Initiated"),
                stack_event(0, "UPDATE_COMPLETE"),
            ]
        },
        None,
    )
    stubber.add_response("describe_stacks", described("DELETE_FAILED"), {"StackName": STACK_ID})

    with pytest.raises(StackFailedError, match=f"Scratch \\(AWS::S3::Bucket\\) .*{not_empty}"):
        destroy_stack(client, boto3.client("s3", region_name=REGION), stack_name=STACK)


def test_destroy_refuses_a_busy_stack(stubbed: Any) -> None:
    client, stubber = stubbed
    stub_existing(stubber, "UPDATE_IN_PROGRESS")

    with pytest.raises(StackStateError, match="busy"):
        destroy_stack(client, boto3.client("s3", region_name=REGION), stack_name=STACK)
