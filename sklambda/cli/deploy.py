"""Deploying to an AWS account: deploy a stage's stack, destroy it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sklambda.cli.command import command
from sklambda.cli.factory import CliFactory
from sklambda.cli.params import GreedyOption, KeyValue, PathType, option


def stage_options[F: Callable[..., Any]](function: F) -> F:
    """--stage, --stack-name and --project-dir, which deploy and destroy share."""
    for decorate in reversed(
        [
            option("--stage", required=True, help="the Chalice stage, e.g. prod"),
            option("--stack-name", default="", help="stack name (default sklambda-STAGE)"),
            option(
                "--project-dir",
                type=PathType(),
                help="the project with app.py and .chalice/ (default: here or a parent)",
            ),
        ]
    ):
        function = decorate(function)
    return function


@command(
    "deploy",
    help="Package the app and create or update its CloudFormation stack in your account.",
)
@stage_options
@option(
    "--dry-run",
    is_flag=True,
    help="build the package and template, print what would be deployed, call no AWS API",
)
@option(
    "--parameter-overrides",
    cls=GreedyOption,
    type=KeyValue(),
    metavar="KEY=VALUE...",
    help="stack parameters, e.g. EncryptionMode=KMS AlarmEmail=ops@example.com",
)
@option(
    "--artifacts-bucket",
    help="bucket for code and templates (default sklambda-artifacts-ACCOUNT-REGION)",
)
@option(
    "--build-dir",
    type=PathType(),
    help="where the package and template are written (default .sklambda-build/STAGE)",
)
def deploy(
    factory: CliFactory,
    stage: str,
    stack_name: str,
    project_dir: Path | None,
    dry_run: bool,
    parameter_overrides: tuple[tuple[str, str], ...],
    artifacts_bucket: str | None,
    build_dir: Path | None,
) -> Any:
    # The packaging and template code loads here, for this command only.
    from sklambda.infra.deploy import DeployRequest
    from sklambda.infra.deploy import deploy as deploy_stack
    from sklambda.infra.deploy import project_dir as find_project_dir

    project = find_project_dir((project_dir or Path.cwd()).resolve())
    request = DeployRequest(
        stage=stage,
        project_dir=project,
        build_dir=build_dir or project / ".sklambda-build" / stage,
        stack_name=stack_name,
        dry_run=dry_run,
        parameters=dict(parameter_overrides),
        artifacts_bucket=artifacts_bucket,
    )
    request.stack  # noqa: B018 - check the stack name before the long build
    return deploy_stack(request, factory.create_clients(), progress)


@command(
    "destroy",
    help="Delete the stage's stack; its buckets and data stay by default.",
)
@stage_options
@option(
    "--delete-data",
    is_flag=True,
    help="also delete the models and data buckets with every object version (asks first)",
)
@option("--yes", is_flag=True, help="do not ask before deleting data")
def destroy(
    factory: CliFactory,
    stage: str,
    stack_name: str,
    project_dir: Path | None,
    delete_data: bool,
    yes: bool,
) -> Any:
    from chalicelib.core import InvalidInputError
    from sklambda.infra.deploy import destroy as destroy_stack
    from sklambda.infra.deploy import stack_name as full_stack_name

    name = full_stack_name(stage, stack_name)
    if delete_data and not yes:
        if not sys.stdin.isatty():
            raise InvalidInputError("--delete-data deletes every model and file: add --yes")
        answer = input(f"Delete stack {name} AND its buckets with all data? Type the stack name: ")
        if answer.strip() != name:
            raise InvalidInputError("not confirmed; nothing was deleted")
    return destroy_stack(
        stage,
        stack_name,
        factory.create_clients(),
        delete_data=delete_data,
        progress=progress,
    )


def progress(line: str) -> None:
    """Deploy progress, one line at a time on stderr (stdout is for the result)."""
    print(line, file=sys.stderr, flush=True)


COMMANDS = [deploy, destroy]
