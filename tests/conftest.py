"""The "side" fixture of the ported scenarios: the model, then the live kernel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from vmsim.process import Process
from vmsim.verify.live import LiveProcess, live_kernel_available

LIVE_OK, LIVE_WHY = live_kernel_available()


@pytest.fixture(params=["model", "kernel"])
def side(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The model (its invariants checked afterwards) or the live kernel's helper process."""
    if request.param == "model":
        proc = Process()
        yield proc
        proc.check()
        return
    if not LIVE_OK:
        pytest.skip(LIVE_WHY)
    with LiveProcess() as live:
        yield live
        assert live.alive, "the live helper died during the scenario"
