"""Scenarios ported from other projects' test suites, for the model and the live kernel.

Each scenario takes a "side" (a model :class:`~vmsim.Process` or a live-kernel
:class:`~vmsim.verify.live.LiveProcess`), builds its layout inside an area it reserved
itself, and asserts what the original test asserts -- or, where Linux 6.18 behaves
differently from an older published expectation, what 6.18 does; the docstring says so.
Sources: LTP (testcases/kernel/syscalls/mremap, madvise), the kernel's selftests
(tools/testing/selftests/mm/mremap_test.c, mremap_dontunmap.c, mseal_test.c) and gVisor
(test/syscalls/linux/mremap.cc).
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

from ..errors import SegmentationFault
from ..uapi import (
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
)

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
PAGE = 4096
MIB = 1 << 20


def reserve(side: Any, size: int = 64 * MIB, align: int = 2 * MIB) -> int:
    """A private area to build layouts in: reserved, aligned, then released."""
    base = side.mmap(0, size + align, PROT_NONE, ANON | MAP_NORESERVE)
    side.munmap(base, size + align)
    return (base + align - 1) & ~(align - 1)


def errno_of(fn: Callable[..., Any], *args: Any) -> int:
    """The errno a call fails with (0 if it succeeds)."""
    try:
        fn(*args)
    except OSError as err:
        return err.errno or 0
    return 0


def vma_lines(side: Any, lo: int, hi: int) -> list[str]:
    out = []
    for line in side.maps().splitlines():
        start, end = (int(x, 16) for x in line.split()[0].split("-"))
        if start < hi and end > lo:
            out.append(f"{start - lo:#x}-{end - lo:#x} {line.split()[1]}")
    return out


def ltp_mremap01_grow_with_maymove_keeps_data(side: Any) -> None:
    """LTP mremap01: grow a mapping with MREMAP_MAYMOVE; the new size is usable and the
    old contents are still there."""
    a = side.mmap(0, 10 * PAGE, RW, ANON)
    side.write(a, b"ltp" * 1000)
    b = side.mremap(a, 10 * PAGE, 20 * PAGE, MREMAP_MAYMOVE)
    assert side.read(b, 3000) == b"ltp" * 1000
    side.write(b + 19 * PAGE, b"end")
    assert side.read(b + 19 * PAGE, 3) == b"end"


def ltp_mremap02_unaligned_address_is_einval(side: Any) -> None:
    """LTP mremap02: old_address not page aligned -> EINVAL."""
    a = side.mmap(0, 4 * PAGE, RW, ANON)
    assert errno_of(side.mremap, a + 1, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE) == errno.EINVAL


def ltp_mremap03_unmapped_address_is_efault(side: Any) -> None:
    """LTP mremap03: old range not mapped -> EFAULT."""
    base = reserve(side, 4 * MIB)
    assert errno_of(side.mremap, base, PAGE, 2 * PAGE, MREMAP_MAYMOVE) == errno.EFAULT


def ltp_mremap04_grow_without_maymove_is_enomem(side: Any) -> None:
    """LTP mremap04: expanding in place is impossible and MREMAP_MAYMOVE is not set -> ENOMEM."""
    base = reserve(side)
    side.mmap(base, 4 * PAGE, RW, ANON | MAP_FIXED)
    side.mmap(base + 4 * PAGE, PAGE, PROT_READ, ANON | MAP_FIXED)
    assert errno_of(side.mremap, base, 4 * PAGE, 8 * PAGE, 0) == errno.ENOMEM


def ltp_mremap05_fixed_cases(side: Any) -> None:
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


def ltp_mremap06_shrink_and_grow_back_in_place(side: Any) -> None:
    """LTP mremap06 (in spirit): shrink a multi-page mapping, then grow it back in place."""
    base = reserve(side)
    a = side.mmap(base, 8 * PAGE, RW, ANON | MAP_FIXED)
    assert side.mremap(a, 8 * PAGE, 2 * PAGE, 0) == a
    assert side.mremap(a, 2 * PAGE, 8 * PAGE, 0) == a
    assert vma_lines(side, base, base + 64 * PAGE) == ["0x0-0x8000 rw-p"]


def selftest_mremap_expand_merge(side: Any) -> None:
    """selftests/mm/mremap_test.c mremap_expand_merge: expanding a VMA up to the next one
    merges the two (unfaulted, compatible)."""
    base = reserve(side)
    side.mmap(base, 3 * PAGE, RW, ANON | MAP_FIXED)
    side.munmap(base + PAGE, PAGE)
    assert side.mremap(base, PAGE, 2 * PAGE, 0) == base
    assert vma_lines(side, base, base + 8 * PAGE) == ["0x0-0x3000 rw-p"]


def selftest_mremap_expand_merge_offset(side: Any) -> None:
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


def selftest_mremap_region_moves(side: Any) -> None:
    """selftests/mm/mremap_test.c remap_region: 4 MiB regions at various alignments move
    with their bytes intact."""
    for src_align, dst_align in (
        (2 * MIB, 2 * MIB),
        (PAGE, 2 * MIB),
        (2 * MIB, PAGE),
        (64 * 1024, 64 * 1024),
    ):
        _region_move(side, src_align, dst_align)


def _region_move(side: Any, src_align: int, dst_align: int) -> None:
    base = reserve(side, 32 * MIB, 2 * MIB)
    src = base + src_align if src_align != 2 * MIB else base
    dst = base + 16 * MIB + (dst_align if dst_align != 2 * MIB else 0)
    side.mmap(src, 4 * MIB, RW, ANON | MAP_FIXED)
    for off in range(0, 4 * MIB, 256 * 1024):
        side.write(src + off, bytes([off >> 18]) * 8)
    assert side.mremap(src, 4 * MIB, 4 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == dst
    for off in range(0, 4 * MIB, 256 * 1024):
        assert side.read(dst + off, 8) == bytes([off >> 18]) * 8


def selftest_dontunmap_simple(side: Any) -> None:
    """selftests/mm/mremap_dontunmap.c mremap_dontunmap_simple: the data moves, the old
    mapping stays and reads zeros."""
    a = side.mmap(0, 5 * PAGE, RW, ANON)
    side.write(a, b"\x55" * 5 * PAGE)
    b = side.mremap(a, 5 * PAGE, 5 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP)
    assert side.read(b, 5 * PAGE) == b"\x55" * 5 * PAGE
    assert side.read(a, 5 * PAGE) == bytes(5 * PAGE)


def selftest_dontunmap_simple_shmem(side: Any) -> None:
    """mremap_dontunmap.c mremap_dontunmap_simple_shmem: with shared memory the old range
    still sees the same pages."""
    a = side.mmap(0, 5 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    side.write(a, b"\x66" * 5 * PAGE)
    b = side.mremap(a, 5 * PAGE, 5 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP)
    assert side.read(b, 5 * PAGE) == b"\x66" * 5 * PAGE
    assert side.read(a, 5 * PAGE) == b"\x66" * 5 * PAGE


def selftest_dontunmap_partial_mapping(side: Any) -> None:
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


def selftest_dontunmap_fixed_onto_existing(side: Any) -> None:
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


def selftest_mseal_blocks_mremap(side: Any) -> None:
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


def gvisor_mremap_in_place_and_shrink(side: Any) -> None:
    """gVisor mremap.cc InPlace_ShrinkingWholeVMA / InPlace_ExpansionSuccess: results and
    the unmapped tail faults."""
    base = reserve(side)
    a = side.mmap(base, 3 * PAGE, RW, ANON | MAP_FIXED)
    assert side.mremap(a, 3 * PAGE, PAGE, 0) == a
    try:
        side.read(a + PAGE, 1)
        raise AssertionError("the unmapped tail was readable")
    except SegmentationFault:
        pass
    assert side.mremap(a, PAGE, 3 * PAGE, 0) == a
    assert side.read(a + 2 * PAGE, 1) == b"\0"


def gvisor_mremap_shrink_across_vmas(side: Any) -> None:
    """gVisor mremap.cc InPlace_ShrinkingAcrossVMAs: a shrink may cover several VMAs; the
    tail is unmapped whatever it contains (6.18: same)."""
    base = reserve(side)
    side.mmap(base, 2 * PAGE, RW, ANON | MAP_FIXED)
    side.mmap(base + 2 * PAGE, 2 * PAGE, PROT_READ, ANON | MAP_FIXED)
    assert side.mremap(base, 4 * PAGE, PAGE, 0) == base
    assert vma_lines(side, base, base + 8 * PAGE) == ["0x0-0x1000 rw-p"]


def gvisor_mremap_expansion_across_vmas_is_efault(side: Any) -> None:
    """gVisor mremap.cc InPlace_ExpansionFailure across VMAs: growing a range that spans
    two VMAs -> EFAULT."""
    base = reserve(side)
    side.mmap(base, 2 * PAGE, RW, ANON | MAP_FIXED)
    side.mmap(base + 2 * PAGE, 2 * PAGE, PROT_READ, ANON | MAP_FIXED)
    assert errno_of(side.mremap, base, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE) == errno.EFAULT


def gvisor_mremap_fixed_across_vmas_moves_both(side: Any) -> None:
    """gVisor mremap.cc Fixed over two VMAs: published expectation EFAULT; Linux 6.17+ moves
    every VMA of the range (remap_move), and 6.18 does."""
    base = reserve(side)
    side.mmap(base, 2 * PAGE, RW, ANON | MAP_FIXED)
    side.mmap(base + 2 * PAGE, 2 * PAGE, PROT_READ, ANON | MAP_FIXED)
    dst = base + 64 * PAGE
    assert side.mremap(base, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == dst
    assert vma_lines(side, dst, dst + 4 * PAGE) == ["0x0-0x2000 rw-p", "0x2000-0x4000 r--p"]


def gvisor_mremap_private_to_zero_length(side: Any) -> None:
    """gVisor mremap.cc: old_size 0 on private memory -> EINVAL; on shared memory a second
    view of the same pages."""
    a = side.mmap(0, 2 * PAGE, RW, ANON)
    assert errno_of(side.mremap, a, 0, 2 * PAGE, MREMAP_MAYMOVE) == errno.EINVAL
    s = side.mmap(0, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    side.write(s, b"dup")
    d = side.mremap(s, 0, 2 * PAGE, MREMAP_MAYMOVE)
    assert side.read(d, 3) == b"dup"


def ltp_madvise_dontneed_then_mremap(side: Any) -> None:
    """LTP madvise (DONTNEED) combined with a move: zapped pages read zero after the move."""
    a = side.mmap(0, 4 * PAGE, RW, ANON)
    side.write(a, b"\x44" * 4 * PAGE)
    side.madvise(a + PAGE, PAGE, MADV_DONTNEED)
    b = side.mremap(a, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE)
    assert side.read(b + PAGE, PAGE) == bytes(PAGE)
    assert side.read(b, PAGE) == b"\x44" * PAGE


SUITES: dict[str, list[Callable[[Any], None]]] = {
    "ltp": [
        ltp_mremap01_grow_with_maymove_keeps_data,
        ltp_mremap02_unaligned_address_is_einval,
        ltp_mremap03_unmapped_address_is_efault,
        ltp_mremap04_grow_without_maymove_is_enomem,
        ltp_mremap05_fixed_cases,
        ltp_mremap06_shrink_and_grow_back_in_place,
        ltp_madvise_dontneed_then_mremap,
    ],
    "selftests": [
        selftest_mremap_expand_merge,
        selftest_mremap_expand_merge_offset,
        selftest_mremap_region_moves,
        selftest_dontunmap_simple,
        selftest_dontunmap_simple_shmem,
        selftest_dontunmap_partial_mapping,
        selftest_dontunmap_fixed_onto_existing,
        selftest_mseal_blocks_mremap,
    ],
    "gvisor": [
        gvisor_mremap_in_place_and_shrink,
        gvisor_mremap_shrink_across_vmas,
        gvisor_mremap_expansion_across_vmas_is_efault,
        gvisor_mremap_fixed_across_vmas_moves_both,
        gvisor_mremap_private_to_zero_length,
    ],
}
# Scenarios whose published expectation Linux 6.18 contradicts (they assert what 6.18 does).
CONTRADICTED = {
    gvisor_mremap_fixed_across_vmas_moves_both: "gVisor expects EFAULT; 6.17+ moves both VMAs",
}
