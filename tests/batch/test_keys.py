"""The batch key layout."""

from __future__ import annotations

import pytest

from chalicelib.batch import BatchLayout
from chalicelib.core import ConfigError, Settings


def test_outputs_under_the_incoming_prefix_are_refused() -> None:
    layout = BatchLayout(
        incoming="batch/", scored="batch/scored/", errors="batch/errors/", jobs="batch/_jobs/"
    )
    with pytest.raises(ConfigError, match="overlaps the incoming prefix"):
        layout.check()
    BatchLayout.from_settings(Settings())  # the defaults are fine
