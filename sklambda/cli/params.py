"""The parameters of sklambda commands: options and arguments that carry their help and help
section, the global options every command accepts, and the value types the commands parse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

OUTPUTS = ("json", "table", "text")
GLOBAL_SECTION = "Global options"


class Option(click.Option):
    """An option listed under `section` in --help ("Options" when none is given)."""

    def __init__(self, *args: Any, section: str | None = None, **attrs: Any) -> None:
        super().__init__(*args, **attrs)
        self.section = section


class Argument(click.Argument):
    """A positional argument with help text, shown under "Arguments" in --help."""

    def __init__(self, *args: Any, help: str, **attrs: Any) -> None:
        # Set after click's own init: click added `help` to arguments only in 8.5.
        super().__init__(*args, **attrs)
        self.help = help


class GreedyOption(Option):
    """A repeatable option that also takes the values after it up to the next option, like
    argparse's nargs="+": `--parameter-overrides A=1 B=2` is `--parameter-overrides A=1
    --parameter-overrides B=2`.
    """

    def __init__(self, *args: Any, **attrs: Any) -> None:
        super().__init__(*args, multiple=True, **attrs)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        """Register with the parser, then make each of our flags take the following values."""
        super().add_to_parser(parser, ctx)
        # Click options take a fixed number of values; the parser's option table is where
        # one can take more (the same table from click 8.1 to 8.5).
        for flag in self.opts:
            parsed = parser._long_opt.get(flag) or parser._short_opt.get(flag)
            parsed.process = _greedy(parsed.process)


def _greedy(take: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    def process(value: Any, state: Any) -> None:
        take(value, state)
        while state.rargs and not state.rargs[0].startswith("-"):
            take(state.rargs.pop(0), state)

    return process


def option(*decls: str, **attrs: Any) -> Callable[[F], F]:
    """`click.option` with a help section (`section=`) and sklambda's option class."""
    attrs.setdefault("cls", Option)
    return click.option(*decls, **attrs)


def argument(name: str, *, help: str, **attrs: Any) -> Callable[[F], F]:
    """`click.argument` with help text."""
    return click.argument(name, cls=Argument, help=help, **attrs)


def global_options() -> list[click.Parameter]:
    """Fresh instances of the global options, for the root group and for each command."""

    def glob(*decls: str, **attrs: Any) -> Option:
        return Option(list(decls), section=GLOBAL_SECTION, **attrs)

    return [
        glob(
            "--output",
            type=click.Choice(OUTPUTS),
            help="result format: json, table or tab-separated text "
            "(default json, or SKLAMBDA_DEFAULT_OUTPUT)",
        ),
        glob(
            "--query",
            type=JmesPath(),
            metavar="JMESPATH",
            help="a JMESPath expression applied to the result (as json shows it) before it "
            "is printed, e.g. '[].name'",
        ),
        glob(
            "--endpoint-url",
            metavar="URL",
            help="send every AWS call here (e.g. the local stack); AWS_ENDPOINT_URL",
        ),
        glob("--region", metavar="REGION", help="AWS region"),
        glob("--profile", metavar="NAME", help="AWS named profile"),
        glob("--models-bucket", metavar="BUCKET", help="models bucket (SKLAMBDA_MODELS_BUCKET)"),
        glob("--data-bucket", metavar="BUCKET", help="data bucket (SKLAMBDA_DATA_BUCKET)"),
        glob(
            "--signing-key",
            metavar="KEY",
            help="the KMS key that signs and verifies versions: ARN, id or alias "
            "(SKLAMBDA_SIGNING_KEY)",
        ),
        glob("--debug", is_flag=True, default=False, help="show tracebacks"),
    ]


# -- value types -----------------------------------------------------------------------------
class PathType(click.ParamType):
    """A local path, unchecked: the command says what is wrong with it, with its context."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The value as a Path."""
        return value if isinstance(value, Path) else Path(value)


class JsonObject(click.ParamType):
    """A JSON object, e.g. '{"auc": 0.91}'."""

    name = "json"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The parsed object."""
        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            self.fail(f"not valid JSON ({exc.msg}): {value!r}", param, ctx)
        if not isinstance(parsed, dict):
            self.fail(f'expected a JSON object like {{"auc": 0.9}}, got {value!r}', param, ctx)
        return parsed


class KeyValue(click.ParamType):
    """KEY=VALUE, as a (key, value) pair."""

    name = "key=value"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The (key, value) pair."""
        if isinstance(value, tuple):
            return value
        key, sep, text = value.partition("=")
        if not sep or not key:
            self.fail(f"expected KEY=VALUE, got {value!r}", param, ctx)
        return key, text


# A value of OffOrNumber: the user unsets the setting (off, all, none or '').
OFF: Final = "off"


class OffOrNumber(click.ParamType):
    """A number, or OFF for 'off', 'all', 'none' or ''."""

    name = "number|off"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The number as a float, or OFF."""
        if isinstance(value, float) or value is OFF:
            return value
        if value.strip().lower() in ("off", "all", "none", ""):
            return OFF
        try:
            return float(value)
        except ValueError:
            self.fail(f"expected a number or off, got {value!r}", param, ctx)


class MetricTolerance(click.ParamType):
    """METRIC=TOLERANCE or METRIC=off, as (metric, tolerance or None)."""

    name = "metric=tol"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The (metric, tolerance) pair; None when the tolerance is off."""
        if isinstance(value, tuple):
            return value
        metric, sep, text = value.partition("=")
        if not sep or not metric:
            self.fail(f"expected METRIC=TOLERANCE, got {value!r}", param, ctx)
        if text.strip().lower() == "off":
            return metric, None
        try:
            return metric, float(text)
        except ValueError:
            self.fail(f"{value!r}: the tolerance must be a number", param, ctx)


DRIFT_METRICS = ("psi", "js", "wasserstein")


class DriftThreshold(click.ParamType):
    """[FEATURE:]METRIC=VALUE, as (feature or '', metric, limit); VALUE 'off' is None and
    'default' is RESTORE_DEFAULT.
    """

    name = "[feature:]metric=value"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The (feature, metric, limit) triple."""
        if isinstance(value, tuple):
            return value
        target, sep, text = value.partition("=")
        feature, _, metric = target.rpartition(":")
        if not sep or metric not in DRIFT_METRICS:
            self.fail(
                f"expected [FEATURE:]METRIC=VALUE with METRIC psi, js or wasserstein, "
                f"got {value!r}",
                param,
                ctx,
            )
        if text == "off":
            return feature, metric, None
        if text == "default":
            from chalicelib.registry import RESTORE_DEFAULT

            return feature, metric, RESTORE_DEFAULT
        try:
            return feature, metric, float(text)
        except ValueError:
            self.fail(f"{value!r}: VALUE must be a number, 'off' or 'default'", param, ctx)


class JmesPath(click.ParamType):
    """A JMESPath expression, compiled, so a typo fails before the command runs."""

    name = "jmespath"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The compiled expression."""
        if not isinstance(value, str):
            return value
        import jmespath  # only when --query is given
        from jmespath.exceptions import JMESPathError

        try:
            return jmespath.compile(value)
        except JMESPathError as exc:
            self.fail(f"not a JMESPath expression ({jmespath_problem(exc)}): {value!r}", param, ctx)


def jmespath_problem(exc: Exception) -> str:
    """A JMESPath error on one line, without the expression it repeats."""
    line = str(exc).split("\n")[0].removesuffix(", for expression:").rstrip(":")
    for prefix in ("invalid jmespath expression: ", "bad jmespath expression: "):
        if line.lower().startswith(prefix):
            line = line[len(prefix) :]
    return line or type(exc).__name__


GLOBAL_NAMES: Final = tuple(str(p.name) for p in global_options())
