"""verify must catch a deliberately broken model and shrink the evidence to a few calls."""

from __future__ import annotations

import pytest

from vmsim.arch.x86.mmap import mm_get_unmapped_area
from vmsim.verify.live import LiveProcess, live_kernel_available
from vmsim.verify.randops import run_sequence
from vmsim.verify.shrink import load_ops, replay, shrink, write_reproducer

available, reason = live_kernel_available()
pytestmark = [pytest.mark.live, pytest.mark.skipif(not available, reason=reason)]


def test_missing_thp_alignment_is_caught_and_shrunk(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # The broken model forgets that 2 MiB-multiple anonymous mappings are THP-aligned.
    monkeypatch.setattr(
        "vmsim.mm.mmap.thp_get_unmapped_area",
        lambda mm, addr, length, pgoff, flags: mm_get_unmapped_area(mm, addr, length, pgoff, flags),
    )
    with LiveProcess() as kernel:
        _, divergence, ops = run_sequence(kernel, 1, 400, "huge", check=False)
    assert divergence is not None
    small = shrink(ops, lambda calls: replay(calls, LiveProcess), budget=200)
    assert 1 <= len(small) <= 4
    found = replay(small, LiveProcess)
    assert found is not None and found.op.kind in ("mmap", "mremap")
    files = write_reproducer(small, found, tmp_path / "thp")
    assert [f.suffix for f in files] == [".json", ".py", ".c"]
    assert load_ops(files[0]) == small
    monkeypatch.undo()
    assert replay(small, LiveProcess) is None  # the real model agrees with the kernel
