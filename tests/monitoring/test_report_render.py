"""The report's Jinja2 environment and package: autoescaping, built once on first use,
nothing marked safe, and rendering from a plain copy of chalicelib/ as Chalice ships it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

import chalicelib
from chalicelib.monitoring.report import render_report_html
from chalicelib.monitoring.report._render import HERE, PAGE_TEMPLATE, environment
from tests.monitoring.test_report_html import sample_report

SITE_PACKAGES = Path(jinja2.__file__).resolve().parents[1]


def run_python(code: str, path: list[Path], cwd: Path) -> dict[str, object]:
    """Run `code` in a fresh `python -S` that sees only `path` (as a Lambda sees /var/task)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join(map(str, path)),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_environment_escapes_everything_and_refuses_undefined_names() -> None:
    env = environment()
    assert env.autoescape is True
    assert env.undefined is jinja2.StrictUndefined
    assert env.from_string("{{ name }}").render(name="<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"
    with pytest.raises(jinja2.UndefinedError):
        env.get_template(PAGE_TEMPLATE).render(page=object())


def test_the_environment_is_built_once_per_process() -> None:
    assert environment() is environment()
    render_report_html({})
    render_report_html(sample_report(runs=2))
    assert environment.cache_info().currsize == 1


def test_importing_the_monitor_loads_no_template_engine(tmp_path: Path) -> None:
    root = Path(chalicelib.__file__).resolve().parents[1]
    result = run_python(
        "import json, sys\n"
        "import chalicelib.monitoring, chalicelib.monitoring.report\n"
        "from chalicelib.monitoring.report import render_report_html\n"
        "from chalicelib.monitoring.report._render import environment\n"
        "print(json.dumps({'jinja2': 'jinja2' in sys.modules,\n"
        "    'page': 'chalicelib.monitoring.report._page' in sys.modules,\n"
        "    'built': environment.cache_info().currsize}))",
        [root, SITE_PACKAGES],
        tmp_path,
    )
    assert result == {"jinja2": False, "page": False, "built": 0}


def test_a_plain_copy_of_chalicelib_renders_the_report(tmp_path: Path) -> None:
    """No installed metadata: the templates and stylesheet are found beside the modules."""
    shutil.copytree(
        Path(chalicelib.__file__).resolve().parent,
        tmp_path / "chalicelib",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    result = run_python(
        "import json\n"
        "import chalicelib.monitoring.report as report\n"
        "page = report.render_report_html({'model': 'copied'})\n"
        "print(json.dumps({'file': report.__file__, 'page': page}))",
        [tmp_path, SITE_PACKAGES],
        tmp_path,
    )
    assert str(result["file"]).startswith(str(tmp_path))
    assert result["page"] == render_report_html({"model": "copied"})


def test_the_stylesheet_is_inlined_as_is() -> None:
    """report.css is included as template text: Jinja must leave it unchanged."""
    page = render_report_html(sample_report(runs=2))
    style = re.search(r"<style>\n(.*?)</style>", page, re.DOTALL)
    assert style and style.group(1) == (HERE / "report.css").read_text(encoding="utf-8")


def test_nothing_is_marked_safe() -> None:
    """Escaping is never switched off: no |safe, Markup or autoescape block anywhere."""
    sources = [*HERE.glob("templates/*"), *HERE.glob("*.py")]
    assert len(sources) >= 10
    for path in sources:
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"\|\s*safe\b|\bMarkup\b|autoescape\s+false", source), path.name


def test_odd_version_keys_in_the_trend_do_not_break_the_page() -> None:
    report = sample_report(runs=3)
    report["trend"][0]["versions"].update({"--3": {"samples": 1}, "²": {"samples": 2}})
    assert "v--3 (past)" in render_report_html(report)
