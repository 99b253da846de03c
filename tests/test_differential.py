"""Differential runs: random call sequences on the model and the live kernel, compared
after every call (results, errno, maps line for line, Rss, bytes).

Rss is the kernel's count of what is resident, so a run relies on nothing taking pages
from the helper behind its back.  Its anonymous and shared-anonymous pages stay where
there is no swap; the test file, new for every run, is pinned in the page cache as it was
written (see pagecache), so caches dropped, reclaim or a DAMON pageout scheme cannot give
it other folios halfway through; and the model takes its folios from the page cache, so
they need not be the ones the model would predict."""

from __future__ import annotations

import pytest

from pagecache import PinnedFiles
from vmsim.verify.live import LiveProcess, live_kernel_available
from vmsim.verify.randops import MIXES, run_sequence

available, reason = live_kernel_available()
pytestmark = [pytest.mark.live, pytest.mark.skipif(not available, reason=reason)]

OPS_PER_SEED = 400


@pytest.mark.parametrize("mix", [m for m in MIXES if m != "maxmap"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_divergence(mix: str, seed: int, pinned_files: PinnedFiles) -> None:
    with LiveProcess() as kernel:
        count, divergence, ops = run_sequence(kernel, seed, OPS_PER_SEED, mix)
    if divergence is not None:
        tail = "\n".join(f"  {n}: {op}" for n, op in enumerate(ops))
        pytest.fail(
            f"divergence after {count} ops (seed {seed}, mix {mix}):\n{divergence}\n"
            f"sequence:\n{tail}"
        )


def test_no_divergence_near_the_map_count_limit() -> None:
    """~65,500 one-page VMAs first, then random calls hovering at vm.max_map_count."""
    with LiveProcess() as kernel:
        count, divergence, ops = run_sequence(kernel, 1, 65_500 + 600, "maxmap", check=False)
    assert divergence is None, f"divergence after {count} ops:\n{divergence}"
