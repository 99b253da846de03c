"""The "side" fixture of the ported scenarios: the model, then the live kernel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import vmsim
from pagecache import PinnedFiles, pinned_test_files
from vmsim.process import Process
from vmsim.verify.live import LiveProcess, live_kernel_available

LIVE_OK, LIVE_WHY = live_kernel_available()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not vmsim.COMPILED:
        return
    why = "patches a model function compiled code calls directly (VMSIM_PURE=1 runs it)"
    for item in items:
        if item.get_closest_marker("pure_python"):
            item.add_marker(pytest.mark.skip(reason=why))


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


@pytest.fixture
def pinned_files() -> Iterator[PinnedFiles]:
    """verify's test files kept in the page cache as they were written, until the test
    ends, and the folios measured of each (see pagecache)."""
    with pinned_test_files() as pinned:
        yield pinned
