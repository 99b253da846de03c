"""verify must catch a deliberately broken model and shrink the evidence to a reproducer.

What these tests assert of a shrunk reproducer is what the shrinker guarantees, not how
many calls it keeps: it still diverges the way the run did, it is no longer than the run,
and once the shrinker stops with reruns to spare it is 1-minimal (leaving out any one of
its calls loses that divergence).  How many calls that takes follows from where the random
sequence first diverges, which the kernel's state decides -- for a file, the sizes of the
folios its page cache holds -- so a count would move with whatever the machine ran before.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pagecache import PinnedFiles
from vmsim.arch.x86.mmap import mm_get_unmapped_area
from vmsim.uapi import MAP_ANONYMOUS
from vmsim.verify.live import LiveProcess, live_kernel_available
from vmsim.verify.randops import Divergence, Op, run_sequence
from vmsim.verify.shrink import Reproducer, load_reproducer, replay, shrink, write_reproducer

available, reason = live_kernel_available()
pytestmark = [pytest.mark.live, pytest.mark.skipif(not available, reason=reason)]

SEED = 1
BUDGET = 400  # verify's own
ROUNDS = 5


def shrunk(ops: list[Op], found: Divergence, seed: int = SEED) -> list[Op]:
    """``ops`` shrunk as verify shrinks them, then checked for what the shrinker promises.

    Should the shrinker stop for want of reruns (it then guarantees no minimality), it is
    run again on what it left, until it stops on its own.
    """
    original = len(ops)
    for _ in range(ROUNDS):
        runs = 0

        def run(calls: list[Op]) -> Divergence | None:
            nonlocal runs
            runs += 1
            return replay(Reproducer(calls, seed), LiveProcess)

        small = shrink(ops, run, budget=BUDGET, what=found.what)
        if runs < BUDGET:
            break
        ops = small
    else:
        pytest.fail(f"the shrinker did not finish within {ROUNDS} x {BUDGET} reruns")
    assert 1 <= len(small) <= original
    again = replay(Reproducer(small, seed), LiveProcess)
    assert again is not None and again.what == found.what, again
    for i in range(len(small)):
        without = replay(Reproducer(small[:i] + small[i + 1 :], seed), LiveProcess)
        assert without is None or without.what != found.what, (
            f"call {i} ({small[i]}) of the reproducer is not needed:\n{without}"
        )
    return small


def test_missing_thp_alignment_is_caught_and_shrunk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The broken model forgets that 2 MiB-multiple anonymous mappings are THP-aligned.

    Relies on the kernel's THP settings only (anonymous mmap() of a PMD multiple aligned
    by thp_get_unmapped_area), never on memory contents: the calls map no file."""
    monkeypatch.setattr(
        "vmsim.mm.mmap.thp_get_unmapped_area",
        lambda mm, addr, length, pgoff, flags: mm_get_unmapped_area(mm, addr, length, pgoff, flags),
    )
    with LiveProcess() as kernel:
        _, divergence, ops = run_sequence(kernel, SEED, 400, "huge", check=False)
    assert divergence is not None
    small = shrunk(ops, divergence)
    case = Reproducer(small, SEED)
    found = replay(case, LiveProcess)
    assert found is not None and found.op.kind in ("mmap", "mremap")
    files = write_reproducer(case, found, tmp_path / "thp")
    assert [f.suffix for f in files] == [".json", ".py", ".c"]
    assert load_reproducer(files[0]) == case
    monkeypatch.undo()
    assert replay(case, LiveProcess) is None  # the real model agrees with the kernel


@pytest.mark.pure_python
def test_missing_whole_folio_mapping_is_caught_and_shrunk_with_its_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pinned_files: PinnedFiles
) -> None:
    """The broken model maps only the fault-around window, never a whole large folio.

    Relies on the file system keeping a large folio for verify's test file, written in one
    write() (ext4 does): without one the bug cannot show, and the test is skipped.  It
    relies on no page cache's history: the test file is a new file for the run and for
    every replay (and for the C program), pinned in the page cache as it was written for
    as long as the test runs (so caches dropped, reclaim or DAMON meanwhile cannot change
    its folios), and the model takes its folios from the page cache each time.  How many
    calls the reproducer keeps is not asserted: it moves with those folios (a large-folio
    allocation that fell back to smaller ones changes where the run first diverges)."""
    monkeypatch.setattr("vmsim.mm.memory.folio_fits", lambda vma, head, nr: False)
    with LiveProcess() as kernel:
        _, divergence, ops = run_sequence(kernel, SEED, 1500, "files", check=False)
    layout = pinned_files.layouts[0]
    if layout is None:
        pytest.skip("page frames are hidden: reading the test file's folios needs root")
    if divergence is None and not layout:
        pytest.skip("the test file got no large folio: there is nothing to catch")
    assert divergence is not None and divergence.what == "smaps Rss differ", divergence
    small = shrunk(ops, divergence)
    # Only a fault on a file can map a large folio: a mapping of the test file stays.
    assert any(
        op.kind == "mmap" and len(op.args) == 6 and not op.args[3] & MAP_ANONYMOUS for op in small
    )
    case = Reproducer(small, SEED)
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
