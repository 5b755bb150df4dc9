"""How the deploy tooling reports what it does: one line a step, to a callable."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


def quiet(line: str) -> None:
    """The default `progress`: say nothing."""
