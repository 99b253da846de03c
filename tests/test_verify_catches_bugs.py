"""verify must catch a deliberately broken model and shrink the evidence to a few calls."""

from __future__ import annotations

import subprocess

import pytest

from vmsim.arch.x86.mmap import mm_get_unmapped_area
from vmsim.verify.live import LiveProcess, live_kernel_available
from vmsim.verify.randops import run_sequence
from vmsim.verify.shrink import Reproducer, load_reproducer, replay, shrink, write_reproducer

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
    small = shrink(ops, lambda calls: replay(Reproducer(calls, 1), LiveProcess), budget=200)
    assert 1 <= len(small) <= 4
    case = Reproducer(small, 1)
    found = replay(case, LiveProcess)
    assert found is not None and found.op.kind in ("mmap", "mremap")
    files = write_reproducer(case, found, tmp_path / "thp")
    assert [f.suffix for f in files] == [".json", ".py", ".c"]
    assert load_reproducer(files[0]) == case
    monkeypatch.undo()
    assert replay(case, LiveProcess) is None  # the real model agrees with the kernel


@pytest.mark.pure_python
def test_missing_whole_folio_mapping_is_caught_and_shrunk_with_its_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # The broken model maps only the fault-around window, never a whole large folio.
    monkeypatch.setattr("vmsim.mm.memory.folio_fits", lambda vma, head, nr: False)
    with LiveProcess() as kernel:
        _, divergence, ops = run_sequence(kernel, 1, 1500, "files", check=False)
    assert divergence is not None and divergence.what == "smaps Rss differ"
    small = shrink(
        ops,
        lambda calls: replay(Reproducer(calls, 1), LiveProcess),
        budget=200,
        what=divergence.what,
    )
    assert 1 <= len(small) <= 6
    assert any(op.kind == "mmap" and len(op.args) == 6 for op in small)  # a file mapping
    case = Reproducer(small, 1)
    found = replay(case, LiveProcess)
    assert found is not None
    files = write_reproducer(case, found, tmp_path / "folio")
    assert load_reproducer(files[0]) == case
    # The C program writes the test file as verify does and runs the same calls.
    exe = tmp_path / "folio-repro"
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(files[2])], check=True)
    run = subprocess.run(["setarch", "-R", str(exe)], capture_output=True, text=True, check=True)
    assert run.stdout.count("mmap(") == sum(op.kind == "mmap" for op in small)
    monkeypatch.undo()
    assert replay(case, LiveProcess) is None
