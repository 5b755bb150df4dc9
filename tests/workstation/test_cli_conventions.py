"""The AWS CLI's conventions in sklambda: --output json|table|text, --query, global options
before or after the command, one-line usage errors, and help for every parameter.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from chalicelib.core import logger
from chalicelib.registry import Registry
from sklambda.cli import main
from sklambda.cli.root import cli
from sklambda.sample_data import TARGET
from tests.models import fitted_logreg, training_frame

# The logger's handler is made on import; made under capsys it would keep a closed stream.
assert logger is not None


@pytest.fixture
def two_versions(registry: Registry) -> Registry:
    """churn: version 1 champion, version 2 canary at 25 %."""
    for description in ("first", "second"):
        registry.register(
            "churn", fitted_logreg(), training_frame(), TARGET, description=description
        )
    registry.promote("churn", 1)
    registry.promote("churn", 2, alias="canary", weight=0.25)
    return registry


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_text_output_is_tab_separated_in_the_aws_clis_layout(two_versions, capsys) -> None:
    code, out, _ = run(capsys, "models", "--output", "text")
    # One line per model, its values in the alphabetical order of their keys:
    # canary, champion, latest, name, retired, shadow, versions.
    assert code == 0
    assert out == "2@0.25\t1\t2\tchurn\tNone\tNone\t2\n"

    code, out, _ = run(capsys, "promote", "churn", "2", "--alias", "shadow", "--output", "text")
    lines = [line.split("\t") for line in out.splitlines()]
    assert lines[0] == ["churn", "3"]  # model, revision
    assert [line[:3] for line in lines if line[0] == "ALIASES"] == [
        ["ALIASES", "canary", "None"],  # alias, previous, ...
        ["ALIASES", "champion", "None"],
        ["ALIASES", "shadow", "None"],
    ]
    assert lines[-1][0] == "LAST_EVENT" and "promote" in lines[-1]


def test_query_picks_from_the_result_as_json_shows_it(two_versions, capsys) -> None:
    code, out, _ = run(capsys, "versions", "churn", "--query", "[].version")
    assert code == 0 and json.loads(out) == [1, 2]

    # Before the command too, and with text: a column per field, in the query's order.
    code, out, _ = run(
        capsys, "--query", "[].[version, description]", "--output", "text", "versions", "churn"
    )
    assert out == "1\tfirst\n2\tsecond\n"

    # The query reads the json result, whatever the table shows instead.
    code, out, _ = run(capsys, "describe", "churn", "--query", "aliases", "--output", "table")
    assert code == 0 and out == "champion\n"
    code, out, _ = run(
        capsys, "versions", "churn", "--output", "table", "--query", "[].{v: version, d: aliases}"
    )
    assert out.splitlines() == ["V  D", "1  champion", "2  canary"]

    code, out, _ = run(capsys, "describe", "churn", "--version", "2", "--query", "version")
    assert out == "2\n"


def test_a_query_that_does_not_fit_the_result_is_one_error_line(two_versions, capsys) -> None:
    code, out, err = run(capsys, "models", "--query", "abs([0].name)")

    assert code == 2 and out == ""
    assert err.startswith("sklambda: error: --query: ") and err.count("\n") == 1


def test_global_options_after_the_command_win_over_those_before(two_versions, capsys) -> None:
    _, before, _ = run(capsys, "--output", "table", "models")
    _, after, _ = run(capsys, "models", "--output", "table")
    _, both, _ = run(capsys, "--output", "json", "models", "--output", "table")
    assert before == after == both and before.startswith("NAME")

    code, _, err = run(capsys, "--models-bucket", "not-there", "models")
    assert code == 2 and "bucket 'not-there' does not exist" in err


def test_the_default_output_comes_from_the_environment(two_versions, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SKLAMBDA_DEFAULT_OUTPUT", "text")
    assert run(capsys, "models")[1] == "2@0.25\t1\t2\tchurn\tNone\tNone\t2\n"
    assert run(capsys, "models", "--output", "json")[1].startswith("[")

    monkeypatch.setenv("SKLAMBDA_DEFAULT_OUTPUT", "yaml")
    with pytest.raises(SystemExit) as exited:
        main(["models"])
    assert exited.value.code == 2
    assert "SKLAMBDA_DEFAULT_OUTPUT must be one of json, table, text" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["promote"], "Missing argument 'NAME'"),
        (["promote", "churn", "two"], "'two' is not a valid integer"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["models", "--no-such-option"], "No such option"),
        (["--output", "yaml", "models"], "'yaml' is not one of"),
        (["models", "--query", "[?"], "not a JMESPath expression"),
        (["describe", "churn", "--version", "1", "--alias", "canary"], "not allowed with"),
        (["batch", "churn", "f.csv", "--alias", "canary", "--version", "1"], "not allowed with"),
        (["register", "churn", "m.joblib", "--target", "y"], "Missing option '--train-data'"),
        (["register", "churn", "m", "--train", "t", "--target", "y", "--metrics", "[1]"], "JSON"),
        (["register", "churn", "m", "--train", "t", "--target", "y", "--tag", "x"], "KEY=VALUE"),
        (["policy", "churn", "--every-days", "often"], "expected a number or off"),
        (["policy", "churn", "--max-regression", "rmse"], "METRIC=TOLERANCE"),
        (["deploy", "--stage", "prod", "--parameter-overrides", "A=1", "B"], "got 'B'"),
        (["configure", "churn", "--unknown-categories", "maybe"], "'maybe' is not one of"),
    ],
)
def test_usage_errors_are_one_line_on_stderr_and_exit_2(capsys, argv, message) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)

    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == ""
    assert err.startswith("sklambda: error: ") and err.count("\n") == 1
    assert message in err and "--help" in err


def test_no_command_shows_the_help_and_exits_2(capsys) -> None:
    code, out, _ = run(capsys)
    assert code == 2 and "Commands:" in out and "Global options:" in out


def test_every_argument_and_option_of_every_command_has_help(capsys) -> None:
    root = click.Context(cli, info_name="sklambda")
    commands = {name: cli.get_command(root, name) for name in cli.list_commands(root)}
    assert len(commands) == 24
    for name, command in commands.items():
        assert command is not None and command.help, name
        ctx = click.Context(command, info_name=name, parent=root)
        with pytest.raises(SystemExit) as exited:
            main([name, "-h"])
        assert exited.value.code == 0
        shown = " ".join(capsys.readouterr().out.split())
        for param in command.get_params(ctx):
            assert getattr(param, "help", None), f"{name}: {param.name} has no help"
            if isinstance(param, click.Argument):
                assert f"{param.human_readable_name} {param.help}" in shown, f"{name}: {param}"
            else:
                assert all(flag in shown for flag in param.opts), f"{name}: {param.opts}"
    for param in cli.get_params(root):
        assert getattr(param, "help", None), param.name


def test_global_options_are_one_set_everywhere() -> None:
    root = click.Context(cli, info_name="sklambda")
    expected = {tuple(p.opts) for p in cli.params}
    for name in cli.list_commands(root):
        command = cli.get_command(root, name)
        assert command is not None
        assert expected <= {tuple(p.opts) for p in command.params}, name


def test_the_command_line_starts_without_heavy_imports() -> None:
    # A real process: what `sklambda --help` and every command's parsing pay for.
    program = (
        "import sys\n"
        "from sklambda.cli import main\n"
        "for argv in (['--help'], ['register', '--help'], ['deploy', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('pandas', 'numpy', 'sklearn', 'joblib', 'boto3', 'moto', 'chalice',\n"
        "         'aws_lambda_powertools', 'jmespath', 'sklambda.infra', 'sklambda.local')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stderr.strip() == "[]"
