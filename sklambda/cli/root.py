"""The `sklambda` group and `main`: parse, run one command, exit like the AWS CLI."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from sklambda.cli import (
    aliases,
    batch,
    benchmark,
    catalog,
    configure,
    deploy,
    local,
    models,
    monitoring,
)
from sklambda.cli.command import EXIT_ERROR, RootGroup
from sklambda.cli.params import global_options


@click.group(
    "sklambda",
    cls=RootGroup,
    params=global_options(),
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Run scikit-learn models on AWS serverless: registry, scoring, monitoring.",
)
@click.pass_context
def cli(ctx: click.Context, **_: Any) -> int | None:
    """Without a command: the help, and exit code 2. (Commands read the options themselves.)"""
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        return EXIT_ERROR
    return None


for _module in (models, aliases, configure, benchmark, monitoring, catalog, batch, local, deploy):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code.

    As with argparse before, --help and usage errors end the process while parsing
    (SystemExit with 0 and 2); what a command returns or fails with is the return value.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with cli.make_context("sklambda", args) as ctx:
            return int(cli.invoke(ctx))
    except click.exceptions.Exit as done:  # --help
        raise SystemExit(done.exit_code) from None
    except click.ClickException as exc:  # usage errors, found while parsing or by a command
        print(f"sklambda: error: {error_message(exc)}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR) from None


def error_message(exc: click.ClickException) -> str:
    """Click's message on one line; for a usage error, where to read the usage."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    if not isinstance(exc, click.UsageError):
        return message
    where = exc.ctx.command_path if exc.ctx is not None else "sklambda"
    return f"{message} (see '{where} --help')"
