"""Every mremap path of the model, with the results the reference notes verified on 6.18."""

from __future__ import annotations

import errno

import pytest

from sides import errno_of
from vmsim import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MAP_SHARED,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Process,
)
from vmsim.demo import run_seed_example, seed_file, seed_process

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
K = 1024  # sizes below are written in KiB, as the reference notes write them


@pytest.fixture
def p() -> Process:
    return Process()


@pytest.fixture
def hole(p: Process) -> int:
    """A 1 MiB free area to build layouts in with MAP_FIXED_NOREPLACE."""
    base = p.mmap(0, 1 << 20, PROT_NONE, ANON)
    p.munmap(base, 1 << 20)
    return base


def fill(p: Process, addr: int, length: int, byte: int) -> None:
    p.write(addr, bytes([byte]) * length)


def lines(p: Process) -> list[str]:
    return [line.split()[0] for line in p.maps().splitlines()]


def test_seed_example_matches_kernel_maps() -> None:
    report = run_seed_example()
    assert report.program_output == ["buf[0] 0x11", "buf[4096] 0x12"]
    assert "mremap(0x7ffff7fbf000, 4096, 8192, MREMAP_MAYMOVE) = 0x7ffff7fbd000" in report.strace
    model = [line.split()[0] for line in report.maps_after.splitlines()]
    kernel = [line.split()[0] for line in seed_file("after_maps.txt").splitlines()]
    assert model == kernel
    assert report.trace is not None and "move_vma" in report.trace.names()
    assert report.trace.counters["ptes_moved"] == 1


def test_seed_example_maps_text_is_byte_exact() -> None:
    report = run_seed_example()
    assert report.maps_after == seed_file("after_maps.txt")


def test_shrink_unmaps_tail_across_vmas_and_gaps(p: Process, hole: int) -> None:
    a = p.mmap(hole, 16 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    p.mmap(hole + 20 * K, 8 * K, PROT_READ, ANON | MAP_FIXED_NOREPLACE)
    assert p.mremap(a, 56 * K, 8 * K, 0) == a
    assert lines(p)[0] == f"{a:x}-{a + 8 * K:x}"
    p.check()


def test_shrink_rounds_lengths(p: Process, hole: int) -> None:
    a = p.mmap(hole, 16 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    assert p.mremap(a, 16 * K, 8 * K, 0) == a
    assert p.mremap(a, 8 * K, 4097, 0) == a
    assert lines(p)[0] == f"{a:x}-{a + 8 * K:x}"
    assert p.mremap(a, 8 * K, 1, 0) == a
    assert lines(p)[0] == f"{a:x}-{a + 4 * K:x}"


def test_grow_in_place_and_merge_with_next(p: Process, hole: int) -> None:
    a = p.mmap(hole, 8 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    p.mmap(hole + 12 * K, 8 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    with p.trace() as t:
        assert p.mremap(a, 8 * K, 12 * K, 0) == a
    assert "vma_merge_extend" in t.names()
    assert lines(p)[0] == f"{a:x}-{a + 20 * K:x}"
    p.check()


def test_grow_in_place_keeps_two_faulted_vmas_apart(p: Process, hole: int) -> None:
    a = p.mmap(hole, 8 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    b = p.mmap(hole + 12 * K, 8 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    p.write(a, b"x")
    p.write(b, b"y")
    assert p.mremap(a, 8 * K, 12 * K, 0) == a
    assert lines(p)[:2] == [f"{a:x}-{a + 12 * K:x}", f"{b:x}-{b + 8 * K:x}"]


def test_grow_blocked_without_maymove_is_enomem(p: Process, hole: int) -> None:
    a = p.mmap(hole + 512 * K, 8 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    p.mmap(hole + 520 * K, K, PROT_READ, ANON | MAP_FIXED_NOREPLACE)
    assert errno_of(p.mremap, a, 8 * K, 16 * K, 0) == errno.ENOMEM


def test_move_keeps_bytes_and_frees_old_range(p: Process, hole: int) -> None:
    a = p.mmap(hole + 512 * K, 8 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    p.mmap(hole + 520 * K, K, PROT_READ, ANON | MAP_FIXED_NOREPLACE)
    fill(p, a, 8 * K, 0x5A)
    b = p.mremap(a, 8 * K, 16 * K, MREMAP_MAYMOVE)
    assert b != a
    assert p.read(b, 8 * K) == b"\x5a" * 8 * K
    assert p.read(b + 8 * K, 8 * K) == bytes(8 * K)
    assert p.vmas()[0].vm_start != a or p.vmas()[0].vm_end <= a
    p.check()


def test_growing_only_the_head_of_a_vma_moves_it(p: Process, hole: int) -> None:
    a = p.mmap(hole, 16 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    assert errno_of(p.mremap, a, 4 * K, 8 * K, 0) == errno.ENOMEM
    b = p.mremap(a, 4 * K, 8 * K, MREMAP_MAYMOVE)
    assert b != a
    assert f"{a + 4 * K:x}-{a + 16 * K:x}" in lines(p)


def test_move_to_2mib_multiple_is_thp_aligned(p: Process, hole: int) -> None:
    a = p.mmap(hole, 4 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    p.mmap(hole + 4 * K, 4 * K, PROT_READ, ANON | MAP_FIXED_NOREPLACE)
    for size in (2 << 20, 4 << 20):
        a = p.mremap(a, 4 * K if size == 2 << 20 else 2 << 20, size, MREMAP_MAYMOVE)
        assert a % (2 << 20) == 0


def test_fixed_overlap_is_einval(p: Process, hole: int) -> None:
    a = p.mmap(hole, 16 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    for dst in (a + 8 * K, a - 8 * K, a):
        assert errno_of(p.mremap, a, 16 * K, 16 * K, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == (
            errno.EINVAL
        )
    assert errno_of(p.mremap, a, 16 * K, 16 * K, MREMAP_FIXED, a + 64 * K) == errno.EINVAL


def test_fixed_adjacent_move_within_same_vma(p: Process, hole: int) -> None:
    a = p.mmap(hole, 16 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    fill(p, a, 8 * K, 1)
    fill(p, a + 8 * K, 8 * K, 2)
    assert p.mremap(a, 8 * K, 8 * K, MREMAP_MAYMOVE | MREMAP_FIXED, a + 8 * K) == a + 8 * K
    assert p.read(a + 8 * K, 8 * K) == b"\x01" * 8 * K
    assert lines(p)[0] == f"{a + 8 * K:x}-{a + 16 * K:x}"


def test_dontunmap_keeps_old_vma_with_zero_pages(p: Process, hole: int) -> None:
    a = p.mmap(hole, 16 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    fill(p, a, 16 * K, 0x5A)
    before = p.maps()
    b = p.mremap(a, 16 * K, 16 * K, MREMAP_MAYMOVE | MREMAP_DONTUNMAP)
    assert b != a
    assert before.splitlines()[0] in p.maps()
    assert p.read(a, 1) == b"\0" and p.read(a + 12 * K, 1) == b"\0"
    assert p.read(b, 16 * K) == b"\x5a" * 16 * K
    flags = [v.vm_flags for v in p.vmas()]
    assert flags[0] == flags[1]  # VM_ACCOUNT kept on the old VMA (6.18)
    p.check()


def test_dontunmap_partial_does_not_split(p: Process, hole: int) -> None:
    a = p.mmap(hole, 32 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    fill(p, a, 32 * K, 7)
    p.mremap(a + 8 * K, 8 * K, 8 * K, MREMAP_MAYMOVE | MREMAP_DONTUNMAP)
    assert f"{a:x}-{a + 32 * K:x}" in lines(p)
    assert p.read(a + 8 * K, 8 * K) == bytes(8 * K)
    assert p.read(a, 8 * K) == b"\x07" * 8 * K


def test_multi_vma_fixed_move_reproduces_gaps(p: Process, hole: int) -> None:
    a = p.mmap(hole, 16 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    p.mmap(hole + 16 * K, 16 * K, PROT_READ, ANON | MAP_FIXED_NOREPLACE)
    fill(p, a, 16 * K, 3)
    dst = hole + 512 * K
    assert errno_of(p.mremap, a, 32 * K, 64 * K, MREMAP_MAYMOVE) == errno.EFAULT
    assert p.mremap(a, 32 * K, 32 * K, MREMAP_MAYMOVE) == a
    assert p.mremap(a, 32 * K, 32 * K, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == dst
    maps = p.maps().splitlines()
    assert maps[0].startswith(f"{dst:x}-{dst + 16 * K:x} rw-p")
    assert maps[1].startswith(f"{dst + 16 * K:x}-{dst + 32 * K:x} r--p")
    assert p.read(dst, 16 * K) == b"\x03" * 16 * K


def test_multi_vma_move_starting_in_gap_is_efault(p: Process, hole: int) -> None:
    p.mmap(hole + 8 * K, 8 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    flags = MREMAP_MAYMOVE | MREMAP_FIXED
    assert errno_of(p.mremap, hole, 16 * K, 16 * K, flags, hole + 512 * K) == errno.EFAULT


def test_old_len_zero_duplicates_shared_and_rejects_private(p: Process) -> None:
    s = p.mmap(0, 16 * K, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.write(s, b"shared")
    d = p.mremap(s, 0, 16 * K, MREMAP_MAYMOVE)
    assert d != s and p.read(d, 6) == b"shared"
    p.write(d + 100, b"back")
    assert p.read(s + 100, 4) == b"back"
    assert errno_of(p.mremap, s, 0, 16 * K, 0) == errno.ENOMEM
    q = p.mmap(0, 16 * K, RW, ANON)
    assert errno_of(p.mremap, q, 0, 16 * K, MREMAP_MAYMOVE) == errno.EINVAL


@pytest.mark.parametrize(
    ("args", "err"),
    [
        ((0x10000, K, K, 8, 0), errno.EINVAL),  # unknown flag
        ((0x10001, K, K, 0, 0), errno.EINVAL),  # unaligned addr
        ((0x10000, K, 0, 0, 0), errno.EINVAL),  # new_len 0
        ((0x10000, K, (1 << 64) - 1, 0, 0), errno.EINVAL),  # new_len wraps to 0
        ((0x10000, K, 1 << 47, 0, 0), errno.EINVAL),  # new_len > TASK_SIZE
        ((0x10000, K, K, 0, 0), errno.EFAULT),  # nothing mapped
        ((0x10000, K, K, MREMAP_FIXED, 0x20000), errno.EINVAL),  # FIXED without MAYMOVE
        ((0x10000, 4 * K, 8 * K, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0), errno.EINVAL),
        ((0x10000, K, K, MREMAP_MAYMOVE | MREMAP_FIXED, 0x20001), errno.EINVAL),
        ((0x10000, K, K, MREMAP_MAYMOVE | MREMAP_FIXED, 0x7FFFFFFFF000), errno.EINVAL),
        ((0x10000, 8 * K, 8 * K, MREMAP_MAYMOVE | MREMAP_FIXED, 0xF000), errno.EINVAL),
    ],
)
def test_parameter_errno(p: Process, args: tuple[int, ...], err: int) -> None:
    assert errno_of(p.mremap, *args) == err


def test_new_addr_ignored_without_fixed_or_dontunmap(p: Process) -> None:
    a = p.mmap(0, K, RW, ANON)
    assert p.mremap(a, K, K, MREMAP_MAYMOVE, 0x1234) == a


def test_sealed_vma_refuses_every_remap(p: Process, hole: int) -> None:
    a = p.mmap(hole, 16 * K, RW, ANON | MAP_FIXED_NOREPLACE)
    p.mseal(a, 16 * K)
    for args in ((a, 16 * K, 16 * K, 0), (a, 16 * K, 8 * K, 0), (a, 16 * K, 32 * K, 0)):
        assert errno_of(p.mremap, *args) == errno.EPERM
    assert errno_of(p.mremap, a + 1, 16 * K, 8 * K, 0) == errno.EINVAL
    flags = MREMAP_MAYMOVE | MREMAP_FIXED
    assert errno_of(p.mremap, a, 16 * K, 16 * K, flags, hole + 512 * K) == errno.EPERM


def test_special_mappings_in_a_real_layout() -> None:
    p = seed_process()
    vdso = next(v for v in p.vmas() if v.special == "[vdso]")
    size = vdso.vm_end - vdso.vm_start
    assert errno_of(p.mremap, vdso.vm_start, size, 2 * size, MREMAP_MAYMOVE) == errno.EFAULT
    assert errno_of(p.mremap, vdso.vm_start, size, K, 0) == errno.EINVAL
    dontunmap = MREMAP_MAYMOVE | MREMAP_DONTUNMAP
    assert errno_of(p.mremap, vdso.vm_start, size, size, dontunmap) == errno.EINVAL
    new = p.mremap(vdso.vm_start, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, 0x10000000)
    assert new == 0x10000000 and "[vdso]" in p.maps().splitlines()[0]


def test_pud_and_pmd_aligned_moves_move_whole_entries(p: Process) -> None:
    gib = 1 << 30
    src = p.mmap(0x100000000000, gib, RW, ANON | MAP_FIXED)
    for off in range(0, gib, 2 << 20):
        p.write(src + off, b"\x01")
    with p.trace() as t:
        p.mremap(src, gib, gib, MREMAP_MAYMOVE | MREMAP_FIXED, 0x200000000000)
    assert t.counters["pud_entries_moved"] == 1 and t.counters["ptes_moved"] == 0
    with p.trace() as t:
        p.mremap(0x200000000000, gib, gib, MREMAP_MAYMOVE | MREMAP_FIXED, 0x300000200000)
    assert t.counters["pmd_entries_moved"] == 512 and t.counters["pud_entries_moved"] == 0
    with p.trace() as t:
        p.mremap(0x300000200000, gib, gib, MREMAP_MAYMOVE | MREMAP_FIXED, 0x400000001000)
    assert t.counters["ptes_moved"] == 512
    assert p.read(0x400000001000 + (4 << 20), 1) == b"\x01"
    p.check()


def test_mlocked_growth_is_populated(p: Process, hole: int) -> None:
    from vmsim import MAP_LOCKED

    a = p.mmap(hole, 8 * K, RW, ANON | MAP_LOCKED | MAP_FIXED_NOREPLACE)
    p.mremap(a, 8 * K, 64 * K, MREMAP_MAYMOVE)
    smaps = p.smaps()
    assert "Rss:                  64 kB" in smaps
    assert "Locked:               64 kB" in smaps


def test_map_count_thresholds_per_kind_of_call() -> None:
    """mremap-semantics §6-12: the headroom each kind of call needs near vm.max_map_count."""
    p = Process()
    base = 0x100000000000
    page = 4 * K
    a = p.mmap(base - 64 * page, 4 * page, RW, ANON | MAP_FIXED)
    p.mmap(a + 4 * page, page, PROT_READ, ANON | MAP_FIXED)  # blocks growth in place
    n = 0
    while p.mm.map_count < 65524:
        p.mmap(base + n * 2 * page, page, RW, ANON | MAP_FIXED)
        n += 1

    def at(count: int) -> None:
        nonlocal n
        while p.mm.map_count < count:
            p.mmap(base + n * 2 * page, page, RW, ANON | MAP_FIXED)
            n += 1
        assert p.mm.map_count == count

    fixed = MREMAP_MAYMOVE | MREMAP_FIXED
    dst = base - 32 * page
    at(65524)
    b = p.mremap(a, 4 * page, 4 * page, fixed, dst)  # FIXED move still fits
    p.mremap(b, 4 * page, 4 * page, fixed, a)
    at(65525)
    assert errno_of(p.mremap, a, 4 * page, 4 * page, fixed, dst) == errno.ENOMEM
    assert errno_of(p.mremap, a, 4 * page, 4 * page, MREMAP_MAYMOVE | MREMAP_DONTUNMAP) == (
        errno.ENOMEM
    )
    at(65526)
    moved = p.mremap(a, 4 * page, 8 * page, MREMAP_MAYMOVE)  # growth that must move
    p.munmap(moved, 8 * page)
    a = p.mmap(base - 64 * page, 4 * page, RW, ANON | MAP_FIXED)
    at(65527)
    assert errno_of(p.mremap, a, 4 * page, 8 * page, MREMAP_MAYMOVE) == errno.ENOMEM
    at(65531)
    assert p.mremap(a, 4 * page, 4 * page, 0) == a  # same size
    assert p.mremap(a, 4 * page, 2 * page, 0) == a  # shrink
    p.check()
