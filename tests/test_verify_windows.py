"""verify checks each call around the ranges it touched; those windows must hold every
VMA the call could have changed, or a divergence would only show at the next full check."""

from __future__ import annotations

import pytest

from vmsim.uapi import MAP_ANONYMOUS, MAP_PRIVATE, MREMAP_FIXED, MREMAP_MAYMOVE, PAGE_SIZE
from vmsim.verify import randops
from vmsim.verify.live import LiveProcess, live_kernel_available
from vmsim.verify.randops import FULL_EVERY, Op, run_sequence, touched

available, reason = live_kernel_available()
live = [pytest.mark.live, pytest.mark.skipif(not available, reason=reason)]

A = 0x7FFFF0000000


def test_windows_cover_whole_pages_and_one_byte_beyond() -> None:
    assert touched(Op("munmap", (A + 10, 3)), ("ok", None), 0, 0) == [(A - 1, A + PAGE_SIZE + 1)]


def test_mmap_window_is_the_result_and_any_hint() -> None:
    # Every address argument is a range, 0 too (munmap(0, n) unmaps what lies above page 0).
    hint_only = touched(Op("mmap", (0, PAGE_SIZE, 3, MAP_PRIVATE | MAP_ANONYMOUS)), ("ok", A), 0, 0)
    assert hint_only == [(0, PAGE_SIZE + 1), (A - 1, A + PAGE_SIZE + 1)]
    failed = touched(Op("mmap", (A, PAGE_SIZE, 3, 0x10)), ("errno", "EINVAL"), 0, 0)
    assert failed == [(A - 1, A + PAGE_SIZE + 1)]


def test_mremap_windows_are_old_target_and_result_merged_when_they_meet() -> None:
    op = Op(
        "mremap", (A, PAGE_SIZE, 2 * PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, A + 16 * PAGE_SIZE)
    )
    assert touched(op, ("ok", A + 16 * PAGE_SIZE), 0, 0) == [
        (A - 1, A + 2 * PAGE_SIZE + 1),
        (A + 16 * PAGE_SIZE - 1, A + 18 * PAGE_SIZE + 1),
    ]
    grown = Op("mremap", (A, PAGE_SIZE, 2 * PAGE_SIZE, 0, 0))
    assert touched(grown, ("ok", A), 0, 0) == [
        (0, 2 * PAGE_SIZE + 1),  # new_address
        (A - 1, A + 2 * PAGE_SIZE + 1),
    ]


def test_brk_window_reaches_from_the_heap_start_to_the_higher_break() -> None:
    heap = 0x555555560000
    shrunk = touched(
        Op("brk", (heap + PAGE_SIZE,)), ("ok", heap + PAGE_SIZE), heap + 8 * PAGE_SIZE, heap
    )
    assert shrunk == [(heap - 1, heap + 8 * PAGE_SIZE + 1)]


def test_windows_stay_below_task_size() -> None:
    huge = touched(Op("madvise", (A, 1 << 60, 4)), ("errno", "EINVAL"), 0, 0)
    assert huge == [(A - 1, randops.TASK_SIZE)]


@pytest.mark.parametrize("mix", ["default", "mremap", "huge", "bad", "bits"])
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.live
@pytest.mark.skipif(not available, reason=reason)
def test_incremental_list_of_the_sequences_vmas_matches_a_recount(
    monkeypatch: pytest.MonkeyPatch, mix: str, seed: int
) -> None:
    note_changes = randops.Generator.note_changes
    checked = []

    def checking(gen: randops.Generator, windows: list[tuple[int, int]] | None) -> None:
        note_changes(gen, windows)
        if gen._ours is not None:
            recount = [
                (v.vm_start, v.vm_end) for v in gen.model.vmas() if gen.safe(v.vm_start, v.vm_end)
            ]
            assert gen._ours == recount, f"after a call that touched {windows}"
            checked.append(windows)

    monkeypatch.setattr(randops.Generator, "note_changes", checking)
    with LiveProcess() as kernel:
        _, divergence, _ = run_sequence(kernel, seed, 300, mix, check=False)
    assert divergence is None
    assert len(checked) > 100


@pytest.mark.live
@pytest.mark.pure_python
@pytest.mark.skipif(not available, reason=reason)
def test_a_missed_merge_is_caught_at_the_call_not_at_the_next_full_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The broken model never merges a changed range (mprotect, madvise) with its neighbours.
    monkeypatch.setattr("vmsim.mm.vma.vma_merge_existing_range", lambda vmg: None)
    with LiveProcess() as kernel:
        _, divergence, _ = run_sequence(kernel, 1, 400, "default", check=False)
    assert divergence is not None
    assert divergence.what == "/proc/pid/maps differ", str(divergence)
    assert (divergence.index + 1) % FULL_EVERY, "found only by the full comparison"


def test_past_the_rss_budget_the_generator_unmaps_its_most_resident_vma(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Long huge-mix runs populate 1 GiB regions; unchecked, they end in the OOM killer."""
    import random

    from vmsim.demo import seed_process
    from vmsim.uapi import MAP_POPULATE, PROT_READ, PROT_WRITE

    p = seed_process()
    reserved = [(v.vm_start, v.vm_end) for v in p.vmas()]
    rw, anon = PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | randops.MAP_FIXED
    resident = p.mmap(randops.SAFE_LO, 4 * PAGE_SIZE, rw, anon | MAP_POPULATE)
    p.mmap(resident + 64 * PAGE_SIZE, 32 * PAGE_SIZE, rw, anon)  # larger, but empty
    rss = p.mm.get_mm_rss()

    def first_call(budget: int) -> Op:
        monkeypatch.setattr(randops, "RSS_BUDGET_PAGES", budget)
        return randops.Generator(random.Random(1), "huge", reserved, p).next()

    assert first_call(rss - 1) == Op("munmap", (resident, 4 * PAGE_SIZE))
    assert first_call(rss) == first_call(1 << 40)  # within the budget, calls are drawn as usual
    # A sealed VMA cannot be unmapped (EPERM): the next most resident one goes instead, and
    # when only sealed VMAs hold pages, calls are drawn as usual.
    second = p.mmap(resident + 8 * PAGE_SIZE, 2 * PAGE_SIZE, rw, anon | MAP_POPULATE)
    p.mseal(resident, 4 * PAGE_SIZE)
    assert first_call(rss - 1) == Op("munmap", (second, 2 * PAGE_SIZE))
    p.munmap(second, 2 * PAGE_SIZE)
    assert first_call(rss - 1) == first_call(1 << 40)
