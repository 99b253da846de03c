"""Scenarios ported from other projects' suites, run on the model and on the live kernel.

Each scenario builds its layout inside an area it reserved itself, so it runs the same on
both sides, and asserts what the original test asserts (or, where Linux 6.18 behaves
differently from an older expectation, what 6.18 does; the docstring says so).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vmsim import (
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_NORESERVE,
    MAP_PRIVATE,
    MAP_SHARED,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    SegmentationFault,
)
from vmsim.demo import seed_process
from vmsim.verify.live import LiveProcess, live_kernel_available

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
PAGE = 4096
MIB = 1 << 20
available, reason = live_kernel_available()


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


def reserve(side: Any, size: int = 64 * MIB, align: int = 2 * MIB) -> int:
    """A private area to build layouts in: reserved, aligned, then released."""
    base = side.mmap(0, size + align, PROT_NONE, ANON | MAP_NORESERVE)
    side.munmap(base, size + align)
    return (base + align - 1) & ~(align - 1)


def errno_of(fn: Callable[..., Any], *args: int) -> int:
    with pytest.raises(OSError) as info:
        fn(*args)
    return info.value.errno or 0


def vma_lines(side: Any, lo: int, hi: int) -> list[str]:
    out = []
    for line in side.maps().splitlines():
        start, end = (int(x, 16) for x in line.split()[0].split("-"))
        if start < hi and end > lo:
            out.append(f"{start - lo:#x}-{end - lo:#x} {line.split()[1]}")
    return out


def test_ltp_mremap01_grow_with_maymove_keeps_data(side: Any) -> None:
    """LTP mremap01: grow a mapping with MREMAP_MAYMOVE; the new size is usable and the
    old contents are still there."""
    a = side.mmap(0, 10 * PAGE, RW, ANON)
    side.write(a, b"ltp" * 1000)
    b = side.mremap(a, 10 * PAGE, 20 * PAGE, MREMAP_MAYMOVE)
    assert side.read(b, 3000) == b"ltp" * 1000
    side.write(b + 19 * PAGE, b"end")
    assert side.read(b + 19 * PAGE, 3) == b"end"


def test_ltp_mremap02_unaligned_address_is_einval(side: Any) -> None:
    """LTP mremap02: old_address not page aligned -> EINVAL."""
    a = side.mmap(0, 4 * PAGE, RW, ANON)
    assert errno_of(side.mremap, a + 1, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE) == errno.EINVAL


def test_ltp_mremap03_unmapped_address_is_efault(side: Any) -> None:
    """LTP mremap03: old range not mapped -> EFAULT."""
    base = reserve(side, 4 * MIB)
    assert errno_of(side.mremap, base, PAGE, 2 * PAGE, MREMAP_MAYMOVE) == errno.EFAULT


def test_ltp_mremap04_grow_without_maymove_is_enomem(side: Any) -> None:
    """LTP mremap04: expanding in place is impossible and MREMAP_MAYMOVE is not set -> ENOMEM."""
    base = reserve(side)
    side.mmap(base, 4 * PAGE, RW, ANON | MAP_FIXED)
    side.mmap(base + 4 * PAGE, PAGE, PROT_READ, ANON | MAP_FIXED)
    assert errno_of(side.mremap, base, 4 * PAGE, 8 * PAGE, 0) == errno.ENOMEM


def test_ltp_mremap05_fixed_cases(side: Any) -> None:
    """LTP mremap05: MREMAP_FIXED without MAYMOVE -> EINVAL; to an unaligned address ->
    EINVAL; onto the old range -> EINVAL; to a free aligned address -> that address."""
    base = reserve(side)
    a = side.mmap(base, 4 * PAGE, RW, ANON | MAP_FIXED)
    dst = base + 16 * PAGE
    assert errno_of(side.mremap, a, 4 * PAGE, 4 * PAGE, MREMAP_FIXED, dst) == errno.EINVAL
    flags = MREMAP_MAYMOVE | MREMAP_FIXED
    assert errno_of(side.mremap, a, 4 * PAGE, 4 * PAGE, flags, dst + 1) == errno.EINVAL
    assert errno_of(side.mremap, a, 4 * PAGE, 4 * PAGE, flags, a) == errno.EINVAL
    assert side.mremap(a, 4 * PAGE, 4 * PAGE, flags, dst) == dst


def test_ltp_mremap06_shrink_and_grow_back_in_place(side: Any) -> None:
    """LTP mremap06 (in spirit): shrink a multi-page mapping, then grow it back in place."""
    base = reserve(side)
    a = side.mmap(base, 8 * PAGE, RW, ANON | MAP_FIXED)
    assert side.mremap(a, 8 * PAGE, 2 * PAGE, 0) == a
    assert side.mremap(a, 2 * PAGE, 8 * PAGE, 0) == a
    assert vma_lines(side, base, base + 64 * PAGE) == ["0x0-0x8000 rw-p"]


def test_selftest_mremap_expand_merge(side: Any) -> None:
    """selftests/mm/mremap_test.c mremap_expand_merge: expanding a VMA up to the next one
    merges the two (unfaulted, compatible)."""
    base = reserve(side)
    side.mmap(base, 3 * PAGE, RW, ANON | MAP_FIXED)
    side.munmap(base + PAGE, PAGE)
    assert side.mremap(base, PAGE, 2 * PAGE, 0) == base
    assert vma_lines(side, base, base + 8 * PAGE) == ["0x0-0x3000 rw-p"]


def test_selftest_mremap_expand_merge_offset(side: Any) -> None:
    """selftests/mm/mremap_test.c mremap_expand_merge_offset: the same with the first VMA
    having been moved (so its pgoff no longer matches): expansion works, no merge."""
    base = reserve(side)
    side.mmap(base, 4 * PAGE, RW, ANON | MAP_FIXED)
    side.write(base, b"x")  # faulted: its pgoff survives the move
    side.munmap(base + 2 * PAGE, PAGE)
    moved = side.mremap(base, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, base + 16 * PAGE)
    side.mremap(moved, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, base + PAGE)
    assert side.mremap(base + PAGE, PAGE, 2 * PAGE, 0) == base + PAGE
    assert len(vma_lines(side, base + PAGE, base + 4 * PAGE)) == 2


@pytest.mark.parametrize(
    "src_align, dst_align",
    [(2 * MIB, 2 * MIB), (PAGE, 2 * MIB), (2 * MIB, PAGE), (64 * 1024, 64 * 1024)],
)
def test_selftest_mremap_region_moves(side: Any, src_align: int, dst_align: int) -> None:
    """selftests/mm/mremap_test.c remap_region: 4 MiB regions at various alignments move
    with their bytes intact."""
    base = reserve(side, 32 * MIB, 2 * MIB)
    src = base + src_align if src_align != 2 * MIB else base
    dst = base + 16 * MIB + (dst_align if dst_align != 2 * MIB else 0)
    side.mmap(src, 4 * MIB, RW, ANON | MAP_FIXED)
    for off in range(0, 4 * MIB, 256 * 1024):
        side.write(src + off, bytes([off >> 18]) * 8)
    assert side.mremap(src, 4 * MIB, 4 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == dst
    for off in range(0, 4 * MIB, 256 * 1024):
        assert side.read(dst + off, 8) == bytes([off >> 18]) * 8


def test_selftest_dontunmap_simple(side: Any) -> None:
    """selftests/mm/mremap_dontunmap.c mremap_dontunmap_simple: the data moves, the old
    mapping stays and reads zeros."""
    a = side.mmap(0, 5 * PAGE, RW, ANON)
    side.write(a, b"\x55" * 5 * PAGE)
    b = side.mremap(a, 5 * PAGE, 5 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP)
    assert side.read(b, 5 * PAGE) == b"\x55" * 5 * PAGE
    assert side.read(a, 5 * PAGE) == bytes(5 * PAGE)


def test_selftest_dontunmap_simple_shmem(side: Any) -> None:
    """mremap_dontunmap.c mremap_dontunmap_simple_shmem: with shared memory the old range
    still sees the same pages."""
    a = side.mmap(0, 5 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    side.write(a, b"\x66" * 5 * PAGE)
    b = side.mremap(a, 5 * PAGE, 5 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP)
    assert side.read(b, 5 * PAGE) == b"\x66" * 5 * PAGE
    assert side.read(a, 5 * PAGE) == b"\x66" * 5 * PAGE


def test_selftest_dontunmap_partial_mapping(side: Any) -> None:
    """mremap_dontunmap.c mremap_dontunmap_partial_mapping: moving half of a mapping leaves
    the source VMA whole, with the moved half reading zeros."""
    base = reserve(side)
    side.mmap(base, 10 * PAGE, RW, ANON | MAP_FIXED)
    side.write(base, b"\x33" * 10 * PAGE)
    b = side.mremap(base + 5 * PAGE, 5 * PAGE, 5 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP)
    assert side.read(b, 5 * PAGE) == b"\x33" * 5 * PAGE
    assert side.read(base, 5 * PAGE) == b"\x33" * 5 * PAGE
    assert side.read(base + 5 * PAGE, 5 * PAGE) == bytes(5 * PAGE)
    assert vma_lines(side, base, base + 10 * PAGE) == ["0x0-0xa000 rw-p"]


def test_selftest_dontunmap_fixed_onto_existing(side: Any) -> None:
    """mremap_dontunmap.c mremap_dontunmap_partial_mapping_overwrite: DONTUNMAP|FIXED onto
    an existing mapping replaces it."""
    base = reserve(side)
    side.mmap(base, 5 * PAGE, RW, ANON | MAP_FIXED)
    side.write(base, b"\x11" * 5 * PAGE)
    dst = base + 32 * PAGE
    side.mmap(dst, 10 * PAGE, RW, ANON | MAP_FIXED)
    side.write(dst, b"\x22" * 10 * PAGE)
    flags = MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED
    assert side.mremap(base, 5 * PAGE, 5 * PAGE, flags, dst) == dst
    assert side.read(dst, 5 * PAGE) == b"\x11" * 5 * PAGE
    assert side.read(dst + 5 * PAGE, 5 * PAGE) == b"\x22" * 5 * PAGE
    assert side.read(base, PAGE) == bytes(PAGE)


def test_selftest_mseal_blocks_mremap(side: Any) -> None:
    """selftests/mm/mseal_test.c test_seal_mremap_*: shrink, expand, move and DONTUNMAP of
    sealed memory fail with EPERM; moving onto sealed memory too."""
    base = reserve(side)
    a = side.mmap(base, 4 * PAGE, RW, ANON | MAP_FIXED)
    side.mseal(a, 4 * PAGE)
    assert errno_of(side.mremap, a, 4 * PAGE, 2 * PAGE, 0) == errno.EPERM
    assert errno_of(side.mremap, a, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE) == errno.EPERM
    flags = MREMAP_MAYMOVE | MREMAP_FIXED
    assert errno_of(side.mremap, a, 4 * PAGE, 4 * PAGE, flags, base + 32 * PAGE) == errno.EPERM
    b = side.mmap(base + 64 * PAGE, 4 * PAGE, RW, ANON | MAP_FIXED)
    assert errno_of(side.mremap, b, 4 * PAGE, 4 * PAGE, flags, a) == errno.EPERM
    assert errno_of(side.munmap, a, PAGE) == errno.EPERM
    assert errno_of(side.mprotect, a, PAGE, PROT_READ) == errno.EPERM


def test_gvisor_mremap_in_place_and_shrink(side: Any) -> None:
    """gVisor mremap.cc InPlace_ShrinkingWholeVMA / InPlace_ExpansionSuccess: results and
    the unmapped tail faults."""
    base = reserve(side)
    a = side.mmap(base, 3 * PAGE, RW, ANON | MAP_FIXED)
    assert side.mremap(a, 3 * PAGE, PAGE, 0) == a
    with pytest.raises(SegmentationFault):
        side.read(a + PAGE, 1)
    assert side.mremap(a, PAGE, 3 * PAGE, 0) == a
    assert side.read(a + 2 * PAGE, 1) == b"\0"


def test_gvisor_mremap_shrink_across_vmas(side: Any) -> None:
    """gVisor mremap.cc InPlace_ShrinkingAcrossVMAs: a shrink may cover several VMAs; the
    tail is unmapped whatever it contains (6.18: same)."""
    base = reserve(side)
    side.mmap(base, 2 * PAGE, RW, ANON | MAP_FIXED)
    side.mmap(base + 2 * PAGE, 2 * PAGE, PROT_READ, ANON | MAP_FIXED)
    assert side.mremap(base, 4 * PAGE, PAGE, 0) == base
    assert vma_lines(side, base, base + 8 * PAGE) == ["0x0-0x1000 rw-p"]


def test_gvisor_mremap_expansion_across_vmas_is_efault(side: Any) -> None:
    """gVisor mremap.cc InPlace_ExpansionFailure across VMAs: growing a range that spans
    two VMAs -> EFAULT."""
    base = reserve(side)
    side.mmap(base, 2 * PAGE, RW, ANON | MAP_FIXED)
    side.mmap(base + 2 * PAGE, 2 * PAGE, PROT_READ, ANON | MAP_FIXED)
    assert errno_of(side.mremap, base, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE) == errno.EFAULT


def test_gvisor_mremap_fixed_across_vmas_moves_both(side: Any) -> None:
    """gVisor mremap.cc Fixed over two VMAs: published expectation EFAULT; Linux 6.17+ moves
    every VMA of the range (remap_move), and 6.18 does."""
    base = reserve(side)
    side.mmap(base, 2 * PAGE, RW, ANON | MAP_FIXED)
    side.mmap(base + 2 * PAGE, 2 * PAGE, PROT_READ, ANON | MAP_FIXED)
    dst = base + 64 * PAGE
    assert side.mremap(base, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == dst
    assert vma_lines(side, dst, dst + 4 * PAGE) == ["0x0-0x2000 rw-p", "0x2000-0x4000 r--p"]


def test_gvisor_mremap_private_to_zero_length(side: Any) -> None:
    """gVisor mremap.cc: old_size 0 on private memory -> EINVAL; on shared memory a second
    view of the same pages."""
    a = side.mmap(0, 2 * PAGE, RW, ANON)
    assert errno_of(side.mremap, a, 0, 2 * PAGE, MREMAP_MAYMOVE) == errno.EINVAL
    s = side.mmap(0, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    side.write(s, b"dup")
    d = side.mremap(s, 0, 2 * PAGE, MREMAP_MAYMOVE)
    assert side.read(d, 3) == b"dup"


def test_ltp_madvise_dontneed_then_mremap(side: Any) -> None:
    """LTP madvise (DONTNEED) combined with a move: zapped pages read zero after the move."""
    a = side.mmap(0, 4 * PAGE, RW, ANON)
    side.write(a, b"\x44" * 4 * PAGE)
    side.madvise(a + PAGE, PAGE, MADV_DONTNEED)
    b = side.mremap(a, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE)
    assert side.read(b + PAGE, PAGE) == bytes(PAGE)
    assert side.read(b, PAGE) == b"\x44" * PAGE
