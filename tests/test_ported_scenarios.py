"""The ported scenario suites (vmsim.verify.suites), on the model and on the live kernel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vmsim.demo import seed_process
from vmsim.verify.live import LiveProcess, live_kernel_available
from vmsim.verify.suites import SUITES

available, reason = live_kernel_available()
SCENARIOS = [(suite, fn) for suite, fns in SUITES.items() for fn in fns]


@pytest.fixture(params=["model", "kernel"])
def side(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "model":
        p = seed_process()
        yield p
        p.check()
        return
    if not available:
        pytest.skip(reason)
    with LiveProcess() as kernel:
        yield kernel


@pytest.mark.parametrize(
    "scenario", [fn for _, fn in SCENARIOS], ids=[f"{s}-{fn.__name__}" for s, fn in SCENARIOS]
)
def test_scenario(side: Any, scenario: Callable[[Any], None]) -> None:
    scenario(side)
