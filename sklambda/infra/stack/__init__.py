"""Deploy and destroy a stage's CloudFormation stack, the way `sam deploy` does.

`sklambda deploy --stage prod` runs, in order:

- `artifacts_bucket_name(account_id, region)`: the per-account, per-region bucket for code and
  templates; `ensure_artifacts_bucket(s3, bucket, region, progress)` creates and locks it down.
- `upload_artifacts(s3, bucket, stack_name, template, files, progress=...)`: uploads each zip
  once per content, rewrites the `CodeUri`/`ContentUri` that name them, uploads the template
  and returns `UploadedArtifacts` (the rewritten template and its `template_url`).
- `deploy_stack(cfn, stack_name=..., template_url=..., parameters=..., tags=..., progress=...)`:
  change set, its changes, execution, live stack events, and a `DeployResult` with the outputs.

`--dry-run` makes no AWS call: `summarize_template(template)` lists what the stack would hold.

`sklambda destroy --stage prod [--delete-data]` runs `destroy_stack(cfn, s3, ...)`, which
deletes the stack, reports the buckets CloudFormation kept (DeletionPolicy Retain) and, only
with `delete_data=True`, deletes them with every object version (`delete_bucket_and_data`).

Every function takes its boto3 clients as arguments (see `chalicelib.storage.AwsClients`) and
reports through `progress`, one line per call; `format_changes`, `format_event` and
`format_outputs` build those lines. Failures raise `StackError` (a `SklambdaError`, so the CLI
prints one line): `StackStateError` when the stack is busy or must be destroyed first,
`StackNotFoundError`, and `StackFailedError`, whose message names the first failed resource
with CloudFormation's reason. AWS refusals surface as `AwsAccessError` naming the action.

One module a concern: `_summary` (dry run), `_artifacts` (the bucket), `_uploads`
(content-addressed uploads), `_deploy` (change sets), `_events` (following a stack, naming
what failed), `_destroy`, and `_errors` (the errors, and AWS failures mapped to them).
"""

from sklambda.infra.progress import Progress
from sklambda.infra.stack._artifacts import (
    ARTIFACT_EXPIRY_DAYS,
    artifacts_bucket_name,
    bucket_exists,
    ensure_artifacts_bucket,
)
from sklambda.infra.stack._deploy import (
    DEFAULT_CAPABILITIES,
    ChangeSetType,
    DeployResult,
    ResourceChange,
    deploy_stack,
    find_stack,
    format_changes,
    format_outputs,
)
from sklambda.infra.stack._destroy import (
    DELETE_BATCH,
    DestroyResult,
    delete_bucket_and_data,
    destroy_stack,
)
from sklambda.infra.stack._errors import (
    StackError,
    StackFailedError,
    StackNotFoundError,
    StackStateError,
)
from sklambda.infra.stack._events import format_event
from sklambda.infra.stack._summary import summarize_template
from sklambda.infra.stack._uploads import MAX_TEMPLATE_BYTES, UploadedArtifacts, upload_artifacts

__all__ = [
    "ARTIFACT_EXPIRY_DAYS",
    "DEFAULT_CAPABILITIES",
    "DELETE_BATCH",
    "MAX_TEMPLATE_BYTES",
    "ChangeSetType",
    "DeployResult",
    "DestroyResult",
    "Progress",
    "ResourceChange",
    "StackError",
    "StackFailedError",
    "StackNotFoundError",
    "StackStateError",
    "UploadedArtifacts",
    "artifacts_bucket_name",
    "bucket_exists",
    "delete_bucket_and_data",
    "deploy_stack",
    "destroy_stack",
    "ensure_artifacts_bucket",
    "find_stack",
    "format_changes",
    "format_event",
    "format_outputs",
    "summarize_template",
    "upload_artifacts",
]
