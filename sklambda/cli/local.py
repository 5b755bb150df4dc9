"""The local stack: run everything on this machine (up), and tour it (demo)."""

from __future__ import annotations

import click

from sklambda.cli.command import command
from sklambda.cli.factory import CliFactory
from sklambda.cli.params import option


@command("up", help="Run everything locally: embedded AWS, HTTP API, batch worker.")
@option("--api-port", type=int, default=8000, help="HTTP API port (8000)")
@option("--aws-port", type=int, default=4566, help="embedded AWS port (4566)")
@option("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
@option(
    "--monitor-every",
    default="60s",
    metavar="INTERVAL",
    help="how often scheduled functions fire: 90, 60s, 5m, 1h (60s)",
)
@option("--no-demo", is_flag=True, help="do not register the demo model")
@option(
    "--env",
    "print_env",
    is_flag=True,
    help='print the export lines for a stack on --aws-port and exit: eval "$(sklambda up --env)"',
)
def up(
    factory: CliFactory,
    api_port: int,
    aws_port: int,
    host: str,
    monitor_every: str,
    no_demo: bool,
    print_env: bool,
) -> None:
    from chalicelib.core import InvalidInputError
    from sklambda.local.events import parse_interval

    if print_env:
        from sklambda.local.stack import shell_environment

        click.echo(shell_environment(aws_port))
        return

    # moto, Chalice's local server and the app load here, for this command only.
    from sklambda.local.stack import run_local_stack

    try:
        every = parse_interval(monitor_every)
    except ValueError as exc:
        raise InvalidInputError(f"--monitor-every: {exc}") from None
    run_local_stack(
        api_port=api_port,
        aws_port=aws_port,
        host=host,
        with_demo=not no_demo,
        monitor_every=every,
    )


@command("demo", help="Tour: train, register, promote, score over HTTP and in batch, send drift.")
@option("--api-port", type=int, default=8000, help="local stack's API port")
@option("--aws-port", type=int, default=4566, help="local stack's AWS port")
def demo(factory: CliFactory, api_port: int, aws_port: int) -> None:
    # scikit-learn and pandas load here, for this command only.
    from sklambda.demo import run_demo

    run_demo(f"http://127.0.0.1:{api_port}", api_port, aws_port)


COMMANDS = [demo, up]
