"""Fixtures of the app tests: `box`, production in a sandbox (tests/app/production.py)."""

from tests.app.production import box

__all__ = ["box"]
