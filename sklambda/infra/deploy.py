"""`sklambda deploy` and `sklambda destroy`: build, upload, and run the stack, or remove it.

    deploy(request, clients, progress) -> dict      (request.dry_run: build only, no AWS call)
    destroy(stage, stack_name, clients, delete_data=..., progress=...) -> dict

The stack is `sklambda-<stage>` unless named; its buckets are `<stack>-models-<account>-<region>`
and `<stack>-data-...`, so the stack name must fit in a bucket name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.core import ConfigError, InvalidInputError
from sklambda.infra.bundle import LAMBDA_UNZIPPED_LIMIT, measure_zip
from sklambda.infra.progress import Progress

# 63 (bucket name) - len("-models-") - 12 (account) - 14 (longest region) - 1 (hyphen)
MAX_STACK_NAME = 28
_STACK_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")


@dataclass(frozen=True)
class DeployRequest:
    """What `sklambda deploy` was asked to do."""

    stage: str
    project_dir: Path
    build_dir: Path
    stack_name: str = ""
    dry_run: bool = False
    parameters: Mapping[str, str] = field(default_factory=dict)
    artifacts_bucket: str | None = None

    @property
    def stack(self) -> str:
        return stack_name(self.stage, self.stack_name)


def stack_name(stage: str, override: str = "") -> str:
    """The stage's stack name, checked: it becomes part of the bucket names."""
    name = override or f"sklambda-{stage}"
    if len(name) > MAX_STACK_NAME or not _STACK_NAME.match(name) or "--" in name:
        raise InvalidInputError(
            f"stack name {name!r} cannot name the buckets: use at most {MAX_STACK_NAME} "
            "lowercase letters, digits and single hyphens, starting with a letter "
            "(--stack-name, or a shorter --stage)"
        )
    return name


def project_dir(start: Path) -> Path:
    """The Chalice project to deploy: `start` or a parent that has .chalice/config.json."""
    for candidate in (start, *start.parents):
        if (candidate / ".chalice" / "config.json").is_file() and (candidate / "app.py").is_file():
            return candidate
    raise ConfigError(
        f"no Chalice project (app.py and .chalice/config.json) in {start} or its parents: "
        "run sklambda deploy from the project, or pass --project-dir"
    )


def unzipped_bytes(code_zip: Path) -> int:
    """The package's size as Lambda checks it: the sum of its files' sizes."""
    return measure_zip(code_zip).unzipped_bytes


def deploy(request: DeployRequest, clients: Any, progress: Progress) -> dict[str, Any]:
    """Build the stage; unless a dry run, upload it and create or update the stack."""
    from sklambda.infra.build import build
    from sklambda.infra.stack import summarize_template

    name = request.stack
    target: tuple[str, str] | None = None
    if not request.dry_run:  # fail before the long build if the stack cannot be made
        target = _check_account(clients, name, progress)
    result = build(request.project_dir, request.stage, request.build_dir, progress=progress)
    size = unzipped_bytes(result.code_zip)
    package = {
        "zip_mb": round(result.code_zip.stat().st_size / 2**20, 1),
        "unzipped_mb": round(size / 2**20, 1),
        "lambda_limit_mb": LAMBDA_UNZIPPED_LIMIT // 2**20,
    }
    progress(
        f"package: {package['zip_mb']} MB zipped, {package['unzipped_mb']} MB unzipped "
        f"(Lambda's limit: {package['lambda_limit_mb']} MB)"
    )
    if size > LAMBDA_UNZIPPED_LIMIT:
        raise ConfigError(
            f"the package unzips to {size / 2**20:.0f} MB, over Lambda's 250 MB: "
            "drop dependencies from requirements.txt"
        )
    summary = {
        "stack": name,
        "stage": request.stage,
        "template": str(result.template_path),
        "code": str(result.code_zip),
        "package": package,
        "parameters": dict(request.parameters),
    }
    if request.dry_run:
        for line in summarize_template(result.template):
            progress(line)
        region = clients.settings.region or "the default region"
        progress(f"dry run: nothing was uploaded or deployed (stack {name} in {region})")
        return {**summary, "dry_run": True, "resources": _resource_counts(result.template)}
    assert target is not None
    return {**summary, **_deploy_stack(request, result, clients, target, progress)}


def _check_account(clients: Any, name: str, progress: Progress) -> tuple[str, str]:
    """(account, region) to deploy to, after refusing buckets an earlier stack left."""
    cfn = clients.client("cloudformation")
    account = clients.sts.get_caller_identity()["Account"]
    region = cfn.meta.region_name
    _refuse_orphaned_buckets(cfn, clients.s3, name, account, region)
    progress(f"deploying stack {name} to account {account} in {region}")
    return account, region


def _deploy_stack(
    request: DeployRequest, result: Any, clients: Any, target: tuple[str, str], progress: Progress
) -> Any:
    from sklambda.infra.stack import (
        artifacts_bucket_name,
        deploy_stack,
        ensure_artifacts_bucket,
        upload_artifacts,
    )

    name = request.stack
    cfn, s3 = clients.client("cloudformation"), clients.s3
    account, region = target
    bucket = request.artifacts_bucket or artifacts_bucket_name(account, region)
    ensure_artifacts_bucket(s3, bucket, region, progress)
    uploaded = upload_artifacts(
        s3, bucket, name, result.template, {"./deployment.zip": result.code_zip}, progress=progress
    )
    outcome = deploy_stack(
        cfn,
        stack_name=name,
        template_url=uploaded.template_url,
        parameters=request.parameters,
        tags={"sklambda:stage": request.stage},
        progress=progress,
    )
    outputs = outcome.outputs
    for line in next_steps(outputs, region):
        progress(line)
    return {"dry_run": False, "changed": outcome.changed, "status": outcome.status, **outputs}


def next_steps(outputs: Mapping[str, str], region: str) -> list[str]:
    """What to run after a deploy: the CLI's settings for this stage, who may register, and
    where to query the capture."""
    steps = []
    if "ModelsBucketName" in outputs:
        # With the retrain queue, `sklambda monitor NAME` hands a due retrain to the stage's
        # retraining function, as the scheduled monitor does.
        queue = outputs.get("RetrainQueueUrl")
        steps.append(
            "point the CLI at this stage: "
            f"export SKLAMBDA_MODELS_BUCKET={outputs['ModelsBucketName']} "
            f"SKLAMBDA_DATA_BUCKET={outputs.get('DataBucketName', '')} AWS_REGION={region}"
            + (f" SKLAMBDA_RETRAIN_QUEUE_URL={queue}" if queue else "")
        )
    if "SigningKeyArn" in outputs:
        # The ARN, not the alias: the functions verify against this key and no other.
        steps.append(
            f"sign what you register with the stage's key: "
            f"export SKLAMBDA_SIGNING_KEY={outputs['SigningKeyArn']}"
        )
    if "RegistrarPolicyArn" in outputs:
        steps.append(
            f"attach the registrar policy {outputs['RegistrarPolicyArn']} to the data "
            "scientists' role: it lets them register, promote, roll back and sign models"
        )
    if "CaptureDatabaseName" in outputs and "CaptureTableName" in outputs:
        # The partitions are projected: filtering on them is what keeps a query cheap.
        table = f'"{outputs["CaptureDatabaseName"]}"."{outputs["CaptureTableName"]}"'
        steps.append(
            f"query the captured requests in Athena ({region}): SELECT ... FROM {table} "
            "WHERE dt = 'yyyy/MM/dd' AND hour = 'HH' (UTC; only those hours are read)"
        )
    return steps


def _refuse_orphaned_buckets(cfn: Any, s3: Any, name: str, account: str, region: str) -> None:
    """A first deploy cannot create buckets an earlier, destroyed stack left behind."""
    if _stack_exists(cfn, name):
        return
    for bucket in stack_buckets(name, account, region):
        if _bucket_exists(s3, bucket):
            raise ConfigError(
                f"bucket {bucket} already exists, kept by an earlier destroy of stack {name}; "
                "CloudFormation cannot create it again. Copy out what you need, then remove "
                f"it with `sklambda destroy --stage STAGE --delete-data`, or deploy under "
                "another --stack-name"
            )


def _stack_exists(cfn: Any, name: str) -> bool:
    from sklambda.infra.stack import find_stack

    return find_stack(cfn, name) is not None


def _bucket_exists(s3: Any, bucket: str) -> bool:
    from sklambda.infra.stack import bucket_exists

    return bucket_exists(s3, bucket)


def stack_buckets(name: str, account: str, region: str) -> list[str]:
    """The bucket names the stack gives its models and data buckets."""
    return [f"{name}-{kind}-{account}-{region}" for kind in ("models", "data")]


def _resource_counts(template: Mapping[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for resource in template.get("Resources", {}).values():
        counts[resource["Type"]] = counts.get(resource["Type"], 0) + 1
    return dict(sorted(counts.items()))


def destroy(
    stage: str,
    name: str,
    clients: Any,
    *,
    delete_data: bool,
    progress: Progress,
) -> dict[str, Any]:
    """Delete the stage's stack; its buckets and their data stay unless `delete_data`.

    With `delete_data` and no stack (an earlier destroy kept the buckets), the buckets the
    stack had are deleted with every object version.
    """
    from sklambda.infra.stack import delete_bucket_and_data, destroy_stack

    cfn, s3 = clients.client("cloudformation"), clients.s3
    stack = stack_name(stage, name)
    if delete_data and not _stack_exists(cfn, stack):
        account = clients.sts.get_caller_identity()["Account"]
        left = [
            b for b in stack_buckets(stack, account, cfn.meta.region_name) if _bucket_exists(s3, b)
        ]
        if not left:
            raise InvalidInputError(f"no stack {stack} and none of its buckets: nothing to destroy")
        deleted = sum(delete_bucket_and_data(s3, bucket, progress) for bucket in left)
        return {"stack_name": stack, "deleted_buckets": left, "deleted_objects": deleted}
    outcome = destroy_stack(cfn, s3, stack_name=stack, delete_data=delete_data, progress=progress)
    if outcome.retained_buckets and not delete_data:
        progress(f"`sklambda destroy --stage {stage} --delete-data` deletes them")
    return outcome.as_dict()
