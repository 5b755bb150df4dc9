"""Plan family _linear: filled in by its own change."""

from __future__ import annotations

from chalicelib.scoring.plans._format import Loader, Planner

PLANNERS: dict[str, Planner] = {}
LOADERS: dict[str, Loader] = {}
