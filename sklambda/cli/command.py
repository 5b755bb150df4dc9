"""How every sklambda command runs: it takes the global options after its name too, calls its
function with a CliFactory, prints the result per --output and --query, and turns errors into
one line on stderr and exit code 2. Also the help layout (arguments, option sections).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click
from click.core import ParameterSource

from sklambda.cli.factory import ENV_DEFAULT_OUTPUT, CliFactory, GlobalOptions
from sklambda.cli.params import (
    GLOBAL_NAMES,
    GLOBAL_SECTION,
    OUTPUTS,
    global_options,
    jmespath_problem,
)

EXIT_ERROR = 2


class Command(click.Command):
    """A sklambda command. Its callback gets a CliFactory first, then the parsed parameters,
    and returns what to print (plain data, a Result, or None).

    `exclusive` lists groups of parameter names of which at most one may be given.
    """

    def __init__(self, *args: Any, exclusive: Sequence[Sequence[str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(global_options())
        self.exclusive = exclusive

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse, then refuse two options of an exclusive group."""
        rest = super().parse_args(ctx, args)
        for names in self.exclusive:
            given = [n for n in names if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE]
            if len(given) > 1:
                first, second = (_flag(self, n) for n in given[:2])
                raise click.UsageError(f"{second}: not allowed with {first}", ctx)
        return rest

    def invoke(self, ctx: click.Context) -> int:
        """Run the command; return its exit code."""
        options = resolve_global_options(ctx)
        factory = CliFactory(options)
        callback = self.callback
        assert callback is not None
        return run(lambda: ctx.invoke(callback, factory, **ctx.params), options)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Usage, description, arguments, then options by section, global options last."""
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        write_parameters(self.get_params(ctx), ctx, formatter)
        self.format_epilog(ctx, formatter)


class RootGroup(click.Group):
    """The `sklambda` group: commands listed in the order they were added, in full."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Command names in the order they were added (related commands stay together)."""
        return list(self.commands)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Usage, description, the commands, then the global options."""
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        rows = [
            (name, (command.help or "").split("\n\n")[0])
            for name, command in self.commands.items()
            if not command.hidden
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
        write_parameters(self.get_params(ctx), ctx, formatter)
        formatter.write_paragraph()
        formatter.write_text("Global options go before or after the command.")


def command(name: str, help: str, **attrs: Any) -> Callable[[Callable[..., Any]], Command]:
    """Declare a sklambda command (see Command); `help` is its one-line description."""
    return click.command(name, cls=Command, help=help, **attrs)


def write_parameters(
    params: list[click.Parameter], ctx: click.Context, formatter: click.HelpFormatter
) -> None:
    """Arguments, then options grouped by their section, the global options last."""
    sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
    for param in params:
        if isinstance(param, click.Argument):
            sections["Arguments"].append((param.human_readable_name, getattr(param, "help", "")))
            continue
        record = param.get_help_record(ctx)
        if record is not None:
            # --help works everywhere, so it is listed with the global options.
            is_help = bool(param.opts) and set(param.opts) <= set(ctx.help_option_names)
            default = GLOBAL_SECTION if is_help else "Options"
            section = getattr(param, "section", None) or default
            sections.setdefault(section, []).append(record)
    sections[GLOBAL_SECTION] = sections.pop(GLOBAL_SECTION, [])
    for title, rows in sections.items():
        if rows:
            with formatter.section(title):
                formatter.write_dl(rows)


def resolve_global_options(ctx: click.Context) -> GlobalOptions:
    """The global options, each from after the command if given there, else from before it.

    They leave ctx.params, so the command's function gets only its own parameters.
    """
    before = ctx.parent.params if ctx.parent is not None else {}
    values: dict[str, Any] = {}
    for name in GLOBAL_NAMES:
        after = ctx.params.pop(name, None)
        given_after = ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
        values[name] = after if given_after else before.get(name)
    output = values.pop("output") or os.environ.get(ENV_DEFAULT_OUTPUT) or "json"
    if output not in OUTPUTS:
        raise click.UsageError(
            f"{ENV_DEFAULT_OUTPUT} must be one of {', '.join(OUTPUTS)}, got {output!r}", ctx
        )
    return GlobalOptions(output=output, **{**values, "debug": bool(values["debug"])})


def run(call: Callable[[], Any], options: GlobalOptions) -> int:
    """Call the command, print its result; errors become one line on stderr and exit code 2."""
    from chalicelib.core import SklambdaError

    with logs_to_stderr(verbose=options.debug):
        try:
            result = call()
        except click.ClickException:
            raise  # a usage error the command found: main prints it
        except SklambdaError as exc:
            return fail(exc.message)
        except KeyboardInterrupt:
            return fail("interrupted")
        except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
            if options.debug:
                raise
            return fail(f"unexpected {type(exc).__name__}: {exc} (re-run with --debug for details)")
    if result is None:
        return 0
    from sklambda.cli.output import present

    query_errors: tuple[type[Exception], ...] = ()
    if options.query is not None:
        from jmespath.exceptions import JMESPathError

        query_errors = (JMESPathError,)
    try:
        text = present(result, options.output, options.query)
    except query_errors as exc:  # e.g. a function given a value of the wrong type
        return fail(f"--query: {jmespath_problem(exc)}")
    if text or options.output != "text":  # text prints nothing for nothing, as the AWS CLI
        print(text)
    return 0


def fail(message: str) -> int:
    """Print `message` as the one error line; the exit code to return."""
    print(f"sklambda: error: {message}", file=sys.stderr)
    return EXIT_ERROR


@contextlib.contextmanager
def logs_to_stderr(*, verbose: bool) -> Iterator[None]:
    """The services' structured logs: off the result's stdout, warnings only unless --debug."""
    import logging

    from chalicelib.core import logger

    handlers = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    streams = [h.stream for h in handlers]
    # Assigned rather than setStream(), which flushes the old stream first: the logger may
    # have been created while stdout was something since closed (a test's captured output).
    for handler in handlers:
        handler.stream = sys.stderr
    level = logger.log_level
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
        for handler, stream in zip(handlers, streams, strict=True):
            handler.stream = stream


def _flag(command: click.Command, name: str) -> str:
    param = next(p for p in command.params if p.name == name)
    return param.opts[0] if param.opts else name
