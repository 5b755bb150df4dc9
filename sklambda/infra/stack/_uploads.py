"""Content-addressed uploads: each file once per content, and the template that names them.

Keys are `<stack>/<sha256><suffix>`: unchanged code is never sent twice, and a key already
there has its lifecycle clock restarted instead. The template's local CodeUri/ContentUri are
rewritten in a copy to the uploaded keys, and that copy is uploaded the same way.
"""

from __future__ import annotations

import copy
import hashlib
import json
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sklambda.infra.progress import Progress, quiet
from sklambda.infra.stack._errors import StackError, aws_call, is_not_found

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MAX_TEMPLATE_BYTES = 1024 * 1024  # TemplateURL's limit; inline TemplateBody stops at 51,200
# The properties that name a function's or a layer's local code.
CODE_URI_KEYS = ("CodeUri", "ContentUri")


@dataclass(frozen=True)
class UploadedArtifacts:
    """What `upload_artifacts` put in S3, and the template that points at it."""

    template: dict[str, Any]
    template_url: str
    uploaded: tuple[str, ...]
    reused: tuple[str, ...]


def upload_artifacts(
    s3: S3Client,
    bucket: str,
    stack_name: str,
    template: Mapping[str, Any],
    files: Mapping[str, Path],
    *,
    progress: Progress = quiet,
) -> UploadedArtifacts:
    """Upload `files` and the template they make deployable; the input template is untouched.

    `files` maps each `CodeUri`/`ContentUri` as written in the template (`./deployment.zip`)
    to the local file. Keys are `<stack>/<sha256><suffix>`, so unchanged code is uploaded once.
    """
    locations: dict[str, str] = {}
    uploaded: list[str] = []
    reused: list[str] = []
    for uri, path in files.items():
        key = f"{stack_name}/{_file_sha256(path)}{path.suffix}"
        sent = _put_file_once(s3, bucket, key, path)
        (uploaded if sent else reused).append(key)
        progress(f"{'Uploaded' if sent else 'Unchanged'} {path.name} -> s3://{bucket}/{key}")
        locations[posixpath.normpath(uri)] = f"s3://{bucket}/{key}"

    rewritten = _with_code_locations(template, locations)
    body = json.dumps(rewritten, indent=1, sort_keys=True).encode()
    if len(body) > MAX_TEMPLATE_BYTES:
        raise StackError(
            f"the template is {len(body):,} bytes; CloudFormation accepts at most "
            f"{MAX_TEMPLATE_BYTES:,}: split the stack or trim the dashboard"
        )
    template_key = f"{stack_name}/{hashlib.sha256(body).hexdigest()}.template.json"
    sent = _put_bytes_once(s3, bucket, template_key, body)
    (uploaded if sent else reused).append(template_key)
    verb = "Uploaded" if sent else "Unchanged"
    progress(f"{verb} template ({len(body):,} bytes) -> s3://{bucket}/{template_key}")
    return UploadedArtifacts(
        template=rewritten,
        template_url=_https_url(s3, bucket, template_key),
        uploaded=tuple(uploaded),
        reused=tuple(reused),
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1024 * 1024), b""):
                digest.update(chunk)
    except FileNotFoundError:
        raise StackError(f"{path} does not exist: build the deployment package first") from None
    return digest.hexdigest()


def _put_file_once(s3: S3Client, bucket: str, key: str, path: Path) -> bool:
    """Upload unless the key exists; True when bytes were sent."""
    if _refresh_if_present(s3, bucket, key):
        return False
    with aws_call(f"upload {path.name}", bucket):
        s3.upload_file(str(path), bucket, key)  # multipart for large zips
    return True


def _put_bytes_once(s3: S3Client, bucket: str, key: str, body: bytes) -> bool:
    if _refresh_if_present(s3, bucket, key):
        return False
    with aws_call(f"upload {key}", bucket):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return True


def _refresh_if_present(s3: S3Client, bucket: str, key: str) -> bool:
    """True when `key` exists, after restarting its lifecycle clock.

    Objects expire ARTIFACT_EXPIRY_DAYS after they were written. Code deployed unchanged for
    longer must survive: rolling back a failed update redeploys it from this very key.
    """
    from botocore.exceptions import ClientError

    with aws_call(f"check {key}", bucket):
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                return False
            raise
        # Copying an object onto itself is allowed only when its metadata is "replaced".
        s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            MetadataDirective="REPLACE",
            ContentType=head.get("ContentType", "application/octet-stream"),
            Metadata=head.get("Metadata", {}),
        )
    return True


def _with_code_locations(template: Mapping[str, Any], locations: Mapping[str, str]) -> dict:
    """A deep copy of `template` whose local CodeUri/ContentUri point at the uploaded keys."""
    rewritten = copy.deepcopy(dict(template))
    for owner, key in _code_uri_fields(rewritten):
        value = owner[key]
        if value.startswith("s3://"):
            continue
        location = locations.get(posixpath.normpath(value))
        if location is None:
            raise StackError(
                f"the template's {key} {value!r} names no file given to upload "
                f"(files: {', '.join(sorted(locations)) or 'none'})"
            )
        owner[key] = location
    return rewritten


def _code_uri_fields(node: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Every (dict, key) holding a string CodeUri/ContentUri: in resources and in Globals."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in CODE_URI_KEYS and isinstance(value, str):
                yield node, key
            else:
                yield from _code_uri_fields(value)
    elif isinstance(node, list):
        for item in node:
            yield from _code_uri_fields(item)


def _https_url(s3: S3Client, bucket: str, key: str) -> str:
    # Path style on the client's own endpoint, as `aws cloudformation package` builds it: it
    # names the bucket's region and also works against a local endpoint.
    return f"{s3.meta.endpoint_url}/{bucket}/{key}"
