"""mremap() scenarios ported from LTP, the kernel's mm selftests and gVisor.

Every scenario runs twice: on the model (a bare ``vmsim.process.Process``) and on the live
kernel (``vmsim.verify.live.LiveProcess``, a helper process under ``setarch -R``; skipped when
the live side cannot run here).  Only the scenarios were ported -- what is done and what is
expected -- and each test's docstring names the original (repository, file, test function).
Where Linux 6.18 contradicts an older published expectation the test asserts what 6.18 does
and the docstring says so ("published expectation: ...; Linux 6.18 ...").

Rules that keep the live helper alive: every layout is built inside an area this test
reserved itself (a PROT_NONE reservation whose middle is unmapped, see :func:`carve`), and
nothing is unmapped, protected or mapped with MAP_FIXED outside such areas or outside
mappings the test created.  Addresses the kernel chooses differ between the model (an empty
address space) and the helper (a real process), so assertions about them are relations
("moved", "2 MiB aligned") rather than absolute values; layouts built by the test are
compared as page offsets from the start of its area.
"""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path
from typing import Any

import pytest

from sides import carve, errno_of, faults, is_mapped, is_model, layout, maps_entries, vma_of
from vmsim.uapi import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MAP_SHARED,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE_SIZE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
)

PAGE = PAGE_SIZE
KIB = 1024
MIB = 1 << 20
GIB = 1 << 30
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
SHANON = MAP_SHARED | MAP_ANONYMOUS
MAYMOVE = MREMAP_MAYMOVE
FIXED = MREMAP_MAYMOVE | MREMAP_FIXED
DONTUNMAP = MREMAP_MAYMOVE | MREMAP_DONTUNMAP


# -- the two sides ----------------------------------------------------------------------------


def vmflags(side: Any, addr: int) -> set[str]:
    """The smaps VmFlags of the VMA containing addr."""
    inside = False
    for line in side.smaps().splitlines():
        head = line.split(" ", 1)[0]
        if "-" in head and ":" not in head:
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= addr < hi
        elif inside and line.startswith("VmFlags:"):
            return set(line.split()[1:])
    raise AssertionError(f"no VMA at {addr:#x}")


def pattern(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def open_file(side: Any, path: Path, data: bytes, flags: int = os.O_RDWR) -> int:
    """A file with ``data`` (written on disk for the kernel, created in the model), opened."""
    path.write_bytes(data)
    if is_model(side):
        if str(path) not in side.files:
            side.create_file(str(path), data)
        return side.open(str(path), flags)
    return side.open(path, flags)


# =============================================================================================
# LTP testcases/kernel/syscalls/mremap
# =============================================================================================


def test_ltp_mremap01_grow_shared_file_mapping(side: Any, tmp_path: Path) -> None:
    """linux-test-project/ltp mremap01.c: a MAP_SHARED file mapping grown with MREMAP_MAYMOVE
    to twice its size succeeds; the whole new range is writable and the writes reach the file
    (the original msync()s; here a second mapping of the file sees the bytes)."""
    n = 16
    fd = open_file(side, tmp_path / "mremapfile", bytes(2 * n * PAGE + 1))
    a = side.mmap(0, n * PAGE, PROT_WRITE, MAP_SHARED, fd, 0)
    b = side.mremap(a, n * PAGE, 2 * n * PAGE, MAYMOVE)
    data = pattern(2 * n * PAGE, 1)
    side.write(b, data)
    view = side.mmap(0, 2 * n * PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert side.read(view, 2 * n * PAGE) == data
    assert vma_of(side, b) == (b, b + 2 * n * PAGE)


def test_ltp_mremap02_unaligned_old_address(side: Any) -> None:
    """ltp mremap02.c: an old_address that is not page aligned -> EINVAL (the mapping the
    address points into is left alone)."""
    base = carve(side, 16 * PAGE)
    side.mmap(base, PAGE, RW, ANON | MAP_FIXED)
    assert errno_of(side.mremap, base + PAGE - 1, PAGE, 2 * PAGE, MAYMOVE) == errno.EINVAL
    assert layout(side, base, 16 * PAGE) == ["0-1 rw-p"]


def test_ltp_mremap03_unmapped_old_address(side: Any) -> None:
    """ltp mremap03.c: expanding a range that is not mapped at all -> EFAULT."""
    base = carve(side, 4 * MIB)
    assert errno_of(side.mremap, base, 100 * PAGE, 200 * PAGE, MAYMOVE) == errno.EFAULT


def test_ltp_mremap04_grow_inside_shared_segment_without_maymove(side: Any) -> None:
    """ltp mremap04.c: growing the first page of a 2-page shared segment (shmat there; shared
    anonymous memory here) in place is impossible and MREMAP_MAYMOVE is not given -> ENOMEM;
    the segment is unchanged."""
    base = carve(side, 16 * PAGE)
    shm = side.mmap(base, 2 * PAGE, RW, SHANON | MAP_FIXED)
    assert errno_of(side.mremap, shm, PAGE, 2 * PAGE, 0) == errno.ENOMEM
    assert layout(side, base, 16 * PAGE) == ["0-2 rw-s"]


@pytest.mark.parametrize(
    "case", ["fixed_without_maymove", "unaligned_new", "overlap", "to_free", "onto_mapping"]
)
def test_ltp_mremap05_fixed(side: Any, case: str) -> None:
    """ltp mremap05.c (and mremap08.c for the last two): MREMAP_FIXED without MREMAP_MAYMOVE
    -> EINVAL; an unaligned new_address -> EINVAL; a 2-page source onto its own first page
    -> EINVAL; a move to a free address returns it with the byte written before; a move onto
    an existing mapping replaces that mapping (its byte is gone, the moved one is there)."""
    base = carve(side, 32 * PAGE)
    old = side.mmap(base, 2 * PAGE, RW, ANON | MAP_FIXED)
    new = base + 16 * PAGE
    if case == "fixed_without_maymove":
        assert errno_of(side.mremap, old, PAGE, PAGE, MREMAP_FIXED, new) == errno.EINVAL
    elif case == "unaligned_new":
        assert errno_of(side.mremap, old, PAGE, PAGE, FIXED, new + 1) == errno.EINVAL
    elif case == "overlap":
        assert errno_of(side.mremap, old, 2 * PAGE, PAGE, FIXED, old) == errno.EINVAL
    else:
        side.write(old, b"\x01")
        if case == "onto_mapping":
            side.mmap(new, PAGE, RW, ANON | MAP_FIXED)
            side.write(new, b"\x02")
        assert side.mremap(old, PAGE, PAGE, FIXED, new) == new
        assert side.read(new, 1) == b"\x01"
        assert not is_mapped(side, old)
        return
    assert layout(side, base, 32 * PAGE) == ["0-2 rw-p"]


@pytest.mark.parametrize("incompatible", [0, 3, 1])
def test_ltp_mremap06_shared_file_page_moved_away_and_back(
    side: Any, tmp_path: Path, incompatible: int
) -> None:
    """ltp mremap06.c (reproducer of 7e7757876f25, vm_pgoff in a merge after mremap): a 4-page
    MAP_SHARED file mapping; page 1 is moved onto page 3, page ``incompatible`` (1-based, 0 =
    none) is made read-only, then the page is moved back.  The first three pages must show
    file pages 0, 1, 2 again, and every VMA's file offset must match its position."""
    data = b"".join(bytes([0x30 + i]) * PAGE for i in range(4))
    fd = open_file(side, tmp_path / "testfile", data)
    base = carve(side, 16 * PAGE)
    buf = side.mmap(base, 4 * PAGE, RW, MAP_SHARED | MAP_FIXED, fd, 0)
    assert side.mremap(buf + PAGE, PAGE, PAGE, FIXED, buf + 3 * PAGE) == buf + 3 * PAGE
    if incompatible:
        side.mprotect(buf + (incompatible - 1) * PAGE, PAGE, PROT_READ)
    assert side.mremap(buf + 3 * PAGE, PAGE, PAGE, FIXED, buf + PAGE) == buf + PAGE
    for i in range(3):
        assert side.read(buf + i * PAGE, 1) == bytes([0x30 + i])
    for lo, hi, _perms, off in maps_entries(side):
        if base <= lo < base + 3 * PAGE:
            assert off == lo - buf, f"VMA {lo:#x}-{hi:#x} has offset {off:#x}"
    expected = {0: ["0-3 rw-s"], 3: ["0-2 rw-s", "2-3 r--s"], 1: ["0-1 r--s", "1-3 rw-s"]}
    assert layout(side, base, 3 * PAGE) == expected[incompatible]
    side.munmap(buf, 3 * PAGE)
    assert layout(side, base, 16 * PAGE) == []


def test_ltp_mremap07_dontunmap_old_range_refaults(side: Any) -> None:
    """ltp mremap07.c without its userfaultfd handler (not modelled): after MREMAP_DONTUNMAP
    of a 1-page private mapping the new mapping holds "ABCD" and the old one is still mapped
    but faults in afresh (zero-filled here, where there is no uffd handler to supply it)."""
    base = carve(side, 16 * PAGE)
    old = side.mmap(base, PAGE, RW, ANON | MAP_FIXED)
    side.write(old, b"ABCD\0")
    new = side.mremap(old, PAGE, PAGE, DONTUNMAP)
    assert new != old
    assert side.read(new, 5) == b"ABCD\0"
    assert side.read(old, 5) == bytes(5)
    assert layout(side, base, PAGE) == ["0-1 rw-p"]


def test_ltp_mremap09_grow_over_partial_gap_fails(side: Any) -> None:
    """ltp mremap09.c: three pages, the middle one unmapped; growing the first page to three
    pages in place (flags 0) -> ENOMEM because the third page is taken; nothing changes."""
    base = carve(side, 16 * PAGE)
    side.mmap(base, 3 * PAGE, RW, ANON | MAP_FIXED)
    side.munmap(base + PAGE, PAGE)
    assert errno_of(side.mremap, base, PAGE, 3 * PAGE, 0) == errno.ENOMEM
    assert layout(side, base, 16 * PAGE) == ["0-1 rw-p", "2-3 rw-p"]


# =============================================================================================
# torvalds/linux tools/testing/selftests/mm/mremap_test.c
# =============================================================================================

# (name, source alignment, destination alignment, size, overlapping, preamble, errno)
REMAP_REGIONS = [
    ("overlapping", PAGE, PAGE, PAGE, True, 0, errno.EINVAL),
    ("dest_misaligned_1k", PAGE, KIB, PAGE, False, 0, errno.EINVAL),
    ("src_misaligned_1k", KIB, PAGE, PAGE, False, 0, errno.EINVAL),
    ("8k_pte_pte", PAGE, PAGE, 8 * KIB, False, 0, 0),
    ("2m_1m_pte", MIB, PAGE, 2 * MIB, False, 0, 0),
    ("2m_1m_1m", MIB, MIB, 2 * MIB, False, 0, 0),
    ("4m_pmd_pte", 2 * MIB, PAGE, 4 * MIB, False, 0, 0),
    ("4m_pmd_1m", 2 * MIB, MIB, 4 * MIB, False, 0, 0),
    ("4m_pmd_pmd", 2 * MIB, 2 * MIB, 4 * MIB, False, 0, 0),
    ("2g_pud_pte", GIB, PAGE, 2 * GIB, False, 0, 0),
    ("2g_pud_1m", GIB, MIB, 2 * GIB, False, 0, 0),
    ("2g_pud_pmd", GIB, 2 * MIB, 2 * GIB, False, 0, 0),
    ("2g_pud_pud", GIB, GIB, 2 * GIB, False, 0, 0),
    ("5m_1m_1m", MIB, MIB, 5 * MIB, False, 0, 0),
    ("5m_1m_1m_preamble", MIB, MIB, 5 * MIB, False, 8 * MIB, 0),
]


@pytest.mark.parametrize(
    "name,src_align,dst_align,size,overlapping,preamble,expect",
    REMAP_REGIONS,
    ids=[r[0] for r in REMAP_REGIONS],
)
def test_selftest_remap_region(
    side: Any,
    name: str,
    src_align: int,
    dst_align: int,
    size: int,
    overlapping: bool,
    preamble: int,
    expect: int,
) -> None:
    """selftests/mm/mremap_test.c remap_region() with the test_cases[] of main(): a MAP_SHARED
    anonymous source of ``size`` bytes at an address aligned to exactly ``src_align`` is moved
    with MREMAP_MAYMOVE|MREMAP_FIXED to a destination aligned to exactly ``dst_align`` just
    past it (before it when overlapping, optionally after a shared "preamble" mapping).  The
    three expected failures (overlap, 1 KiB-aligned destination, 1 KiB-aligned source) give
    EINVAL; the others return the destination with the bytes moved (the first 4 MiB, as the
    selftest's default threshold, plus the last page) and the preamble untouched."""
    src_off = max(src_align, PAGE)
    span = src_off + 2 * size + 2 * dst_align + preamble + 2 * MIB
    base = carve(side, span, align=2 * max(src_align, dst_align, 2 * MIB))
    src = base + src_off
    if src_align < PAGE:
        # The selftest cannot even map its source there (MAP_FIXED_NOREPLACE refuses an
        # unaligned address); mremap() refuses such an old_address just the same.
        side.mmap(src, PAGE, RW, SHANON | MAP_FIXED_NOREPLACE)
        assert errno_of(side.mremap, src + src_align, size, size, FIXED, src + MIB) == expect
        return
    side.mmap(src, size, RW, SHANON | MAP_FIXED_NOREPLACE)
    offset = -dst_align if overlapping else dst_align
    dst = (src + size + offset) & ~(dst_align - 1)
    dst += preamble
    if not dst & dst_align:
        dst |= dst_align
    head = min(size, 4 * MIB)
    data = pattern(head, 7)
    side.write(src, data)
    tail = pattern(PAGE, 8) if size - PAGE >= head else data[size - PAGE :]
    side.write(src + size - PAGE, tail)
    if preamble:
        side.mmap(dst - preamble, preamble, RW, SHANON | MAP_FIXED_NOREPLACE)
        side.write(dst - preamble, pattern(preamble, 9))
    if expect:
        assert errno_of(side.mremap, src, size, size, FIXED, dst) == expect
        assert side.read(src, head) == data
        return
    assert side.mremap(src, size, size, FIXED, dst) == dst
    assert side.read(dst, head) == data
    assert side.read(dst + size - PAGE, PAGE) == tail
    assert not is_mapped(side, src)
    assert vma_of(side, dst) == (dst, dst + size)
    if preamble:
        assert side.read(dst - preamble, preamble) == pattern(preamble, 9)


def test_selftest_mremap_expand_merge(side: Any) -> None:
    """mremap_test.c mremap_expand_merge: 3 pages, the middle one unmapped, the first page
    grown in place to 2 pages -> it merges with the third page: one VMA of 3 pages."""
    base = carve(side, 16 * PAGE)
    side.mmap(base, 3 * PAGE, RW, ANON | MAP_FIXED)
    side.munmap(base + PAGE, PAGE)
    assert side.mremap(base, PAGE, 2 * PAGE, 0) == base
    assert vma_of(side, base) == (base, base + 3 * PAGE)


def test_selftest_mremap_expand_merge_offset(side: Any) -> None:
    """mremap_test.c mremap_expand_merge_offset: 3 pages, the last one unmapped, the middle
    page (not the VMA start) grown in place to 2 pages -> the mapping is whole again."""
    base = carve(side, 16 * PAGE)
    side.mmap(base, 3 * PAGE, RW, ANON | MAP_FIXED)
    side.munmap(base + 2 * PAGE, PAGE)
    assert side.mremap(base + PAGE, PAGE, 2 * PAGE, 0) == base + PAGE
    assert vma_of(side, base) == (base, base + 3 * PAGE)


def test_selftest_mremap_move_within_range(side: Any) -> None:
    """mremap_test.c mremap_move_within_range: inside a 20 MiB zeroed private mapping, the
    upper 1 MiB of a 2 MiB-aligned block src is moved to 2 MiB below (dest+1M, inside the same
    VMA); the lower 1 MiB of src must not be corrupted (and the moved half arrives intact)."""
    base = carve(side, 24 * MIB, align=2 * MIB)
    ptr = side.mmap(base + PAGE, 20 * MIB, RW, ANON | MAP_FIXED)
    side.write(ptr, bytes(20 * MIB))
    src = (ptr + 6 * MIB) & ~(2 * MIB - 1)
    data = pattern(2 * MIB, 11)
    side.write(src, data)
    dest = src - 2 * MIB
    assert side.mremap(src + MIB, MIB, MIB, FIXED, dest + MIB) == dest + MIB
    assert side.read(src, MIB) == data[:MIB]
    assert side.read(dest + MIB, MIB) == data[MIB:]


def test_selftest_mremap_move_1mb_from_start(side: Any) -> None:
    """mremap_test.c mremap_move_1mb_from_start: source and destination are 6 MiB shared
    mappings at 1.25 MiB-aligned (but not 2.5 MiB-aligned) addresses; the first 1 MiB of the
    destination is unmapped, then src+1M (1 MiB) is moved to dest+1M.  The realignment of the
    page-table move must not destroy the start of the source (first 1 MiB intact)."""
    step = MIB + 256 * KIB
    base = carve(side, 32 * MIB, align=2 * MIB)
    k = -(-base // step)
    k += 1 - k % 2  # odd multiples only: aligned to exactly 1.25 MiB
    src = k * step
    k = -(-(src + 6 * MIB) // step)
    k += 1 - k % 2
    dest = k * step
    assert dest + 6 * MIB <= base + 32 * MIB
    side.mmap(src, 6 * MIB, RW, SHANON | MAP_FIXED_NOREPLACE)
    side.mmap(dest, 6 * MIB, RW, SHANON | MAP_FIXED_NOREPLACE)
    data = pattern(2 * MIB, 12)
    side.write(src, data)
    side.munmap(dest, MIB)
    assert side.mremap(src + MIB, MIB, MIB, FIXED, dest + MIB) == dest + MIB
    assert side.read(src, MIB) == data[:MIB]
    assert side.read(dest + MIB, MIB) == data[MIB:]


@pytest.mark.parametrize("inplace", [True, False], ids=["inplace", "fixed"])
def test_selftest_mremap_shrink_multiple_vmas(side: Any, inplace: bool) -> None:
    """mremap_test.c mremap_shrink_multiple_vmas: 10 pages with every odd page unmapped (five
    1-page VMAs and gaps) shrunk to one page -- in place (flags 0) or moved with
    MREMAP_FIXED: both succeed; what remains is a single page."""
    base = carve(side, 64 * PAGE)
    side.mmap(base, 10 * PAGE, RW, ANON | MAP_FIXED)
    for i in range(1, 10, 2):
        side.munmap(base + i * PAGE, PAGE)
    tgt = base + 32 * PAGE
    if inplace:
        assert side.mremap(base, 10 * PAGE, PAGE, 0) == base
        assert layout(side, base, 64 * PAGE) == ["0-1 rw-p"]
    else:
        assert side.mremap(base, 10 * PAGE, PAGE, FIXED, tgt) == tgt
        assert layout(side, base, 64 * PAGE) == ["32-33 rw-p"]


MULTI_PIECES = [(0, 1), (2, 1), (4, 3), (8, 1), (10, 1)]  # (first page, pages) of each VMA


@pytest.mark.parametrize("dontunmap", [False, True], ids=["move", "dontunmap"])
def test_selftest_mremap_move_multiple_vmas(side: Any, dontunmap: bool) -> None:
    """mremap_test.c mremap_move_multiple_vmas (and its [dontunnmap] variant): an 11-page
    range holding five VMAs and four one-page gaps is moved as a whole with
    MREMAP_MAYMOVE|MREMAP_FIXED (a multi-VMA move, allowed since 6.17): to a free area, then
    next to itself, then onto a PROT_NONE mapping.  Each time the data of every piece arrives
    and the gaps are reproduced; gap positions of the destination are not unmapped, so after
    the last move the PROT_NONE pages show through them."""
    flags = FIXED | (MREMAP_DONTUNMAP if dontunmap else 0)
    size = 11 * PAGE
    base = carve(side, 64 * PAGE)
    ptr = side.mmap(base, size, RW, ANON | MAP_FIXED)
    for i in (1, 3, 7, 9):
        side.munmap(ptr + i * PAGE, PAGE)
    datas = {first: pattern(n * PAGE, first) for first, n in MULTI_PIECES}
    for first, data in datas.items():
        side.write(ptr + first * PAGE, data)

    def check(at: int) -> None:
        for first, data in datas.items():
            assert side.read(at + first * PAGE, len(data)) == data

    tgt = base + 24 * PAGE
    assert side.mremap(ptr, size, size, flags, tgt) == tgt
    check(tgt)
    assert side.mremap(tgt, size, size, flags, tgt + size) == tgt + size
    check(tgt + size)
    side.mmap(tgt, size, PROT_NONE, ANON | MAP_FIXED)
    assert side.mremap(tgt + size, size, size, flags, tgt) == tgt
    check(tgt)
    pieces = ["0-1 rw-p", "1-2 ---p", "2-3 rw-p", "3-4 ---p", "4-7 rw-p", "7-8 ---p"]
    pieces += ["8-9 rw-p", "9-10 ---p", "10-11 rw-p"]
    assert layout(side, tgt, size) == pieces
    source = ["0-1 rw-p", "2-3 rw-p", "4-7 rw-p", "8-9 rw-p", "10-11 rw-p"]
    assert layout(side, ptr, size) == (source if dontunmap else [])
    if dontunmap:
        assert side.read(ptr, PAGE) == bytes(PAGE)


@pytest.mark.parametrize("dontunmap", [False, True], ids=["move", "dontunmap"])
def test_selftest_mremap_move_multiple_vmas_split(side: Any, dontunmap: bool) -> None:
    """mremap_test.c mremap_move_multiple_vmas_split: 10 pages with page 5 unmapped; the
    7 pages from page 2 on (cutting both VMAs) are moved with MREMAP_FIXED (optionally
    DONTUNMAP) -- the destination holds pages 2-4, a gap, pages 6-8, with their data."""
    flags = FIXED | (MREMAP_DONTUNMAP if dontunmap else 0)
    base = carve(side, 64 * PAGE)
    ptr = side.mmap(base, 10 * PAGE, RW, ANON | MAP_FIXED)
    side.munmap(ptr + 5 * PAGE, PAGE)
    pages = {i: pattern(PAGE, 100 + i) for i in range(10) if i != 5}
    for i, data in pages.items():
        side.write(ptr + i * PAGE, data)
    tgt = base + 32 * PAGE
    assert side.mremap(ptr + 2 * PAGE, 7 * PAGE, 7 * PAGE, flags, tgt) == tgt
    for j in range(7):
        if j != 3:
            assert side.read(tgt + j * PAGE, PAGE) == pages[j + 2]
    assert layout(side, tgt, 7 * PAGE) == ["0-3 rw-p", "4-7 rw-p"]
    if dontunmap:
        assert layout(side, ptr, 10 * PAGE) == ["0-5 rw-p", "6-10 rw-p"]
        assert side.read(ptr + 2 * PAGE, PAGE) == bytes(PAGE)
    else:
        assert layout(side, ptr, 10 * PAGE) == ["0-2 rw-p", "9-10 rw-p"]
    assert side.read(ptr, PAGE) == pages[0]
    assert side.read(ptr + 9 * PAGE, PAGE) == pages[9]


# =============================================================================================
# selftests/mm/mremap_dontunmap.c
# =============================================================================================


def test_selftest_dontunmap_kernel_support_probe(side: Any) -> None:
    """mremap_dontunmap.c kernel_support_for_mremap_dontunmap: a one-page PROT_NONE private
    mapping can be moved with MREMAP_DONTUNMAP|MREMAP_MAYMOVE (hint 0); both unmap fine."""
    base = carve(side, 16 * PAGE)
    src = side.mmap(base, PAGE, PROT_NONE, ANON | MAP_FIXED)
    dst = side.mremap(src, PAGE, PAGE, DONTUNMAP, 0)
    assert dst != src
    side.munmap(dst, PAGE)
    side.munmap(src, PAGE)


def test_selftest_dontunmap_simple(side: Any) -> None:
    """mremap_dontunmap.c mremap_dontunmap_simple: 5 pages of 'a' moved anywhere with
    MREMAP_DONTUNMAP: the destination has the a's, the source is still mapped (same maps
    line) and reads zeros.  Also (not in the selftest): the old VMA keeps VM_ACCOUNT, which
    6.16/early 6.17 cleared and 6.18 restores ("ac" in VmFlags)."""
    base = carve(side, 16 * PAGE)
    src = side.mmap(base, 5 * PAGE, RW, ANON | MAP_FIXED)
    side.write(src, b"a" * 5 * PAGE)
    dst = side.mremap(src, 5 * PAGE, 5 * PAGE, DONTUNMAP, 0)
    assert side.read(dst, 5 * PAGE) == b"a" * 5 * PAGE
    assert side.read(src, 5 * PAGE) == bytes(5 * PAGE)
    assert layout(side, base, 5 * PAGE) == ["0-5 rw-p"]
    assert "ac" in vmflags(side, src)
    assert "ac" in vmflags(side, dst)


def test_selftest_dontunmap_simple_shmem(side: Any, tmp_path: Path) -> None:
    """mremap_dontunmap.c mremap_dontunmap_simple_shmem (a memfd there; a MAP_SHARED file
    mapping here): after MREMAP_DONTUNMAP both the destination and the source show the same
    shared pages (5 pages of 'a')."""
    fd = open_file(side, tmp_path / "memfd", bytes(5 * PAGE))
    src = side.mmap(0, 5 * PAGE, RW, MAP_SHARED, fd, 0)
    side.write(src, b"a" * 5 * PAGE)
    dst = side.mremap(src, 5 * PAGE, 5 * PAGE, DONTUNMAP, 0)
    assert dst != src
    assert side.read(dst, 5 * PAGE) == b"a" * 5 * PAGE
    assert side.read(src, 5 * PAGE) == b"a" * 5 * PAGE


def test_selftest_dontunmap_simple_fixed(side: Any) -> None:
    """mremap_dontunmap.c mremap_dontunmap_simple_fixed: DONTUNMAP|FIXED onto an existing
    5-page mapping of 'X' returns that address; it now holds the source's 'a's and the
    source reads zeros."""
    base = carve(side, 32 * PAGE)
    dest = side.mmap(base + 16 * PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    side.write(dest, b"X" * 5 * PAGE)
    src = side.mmap(base, 5 * PAGE, RW, ANON | MAP_FIXED)
    side.write(src, b"a" * 5 * PAGE)
    assert side.mremap(src, 5 * PAGE, 5 * PAGE, DONTUNMAP | MREMAP_FIXED, dest) == dest
    assert side.read(dest, 5 * PAGE) == b"a" * 5 * PAGE
    assert side.read(src, 5 * PAGE) == bytes(5 * PAGE)


def test_selftest_dontunmap_partial_mapping(side: Any) -> None:
    """mremap_dontunmap.c mremap_dontunmap_partial_mapping: the last 5 of 10 pages of 'a' are
    moved with DONTUNMAP: the first 5 keep their a's, the last 5 read zeros, the destination
    has 5 pages of a's; the source VMA is not split."""
    base = carve(side, 32 * PAGE)
    src = side.mmap(base, 10 * PAGE, RW, ANON | MAP_FIXED)
    side.write(src, b"a" * 10 * PAGE)
    dst = side.mremap(src + 5 * PAGE, 5 * PAGE, 5 * PAGE, DONTUNMAP, 0)
    assert side.read(src, 5 * PAGE) == b"a" * 5 * PAGE
    assert side.read(src + 5 * PAGE, 5 * PAGE) == bytes(5 * PAGE)
    assert side.read(dst, 5 * PAGE) == b"a" * 5 * PAGE
    assert layout(side, base, 10 * PAGE) == ["0-10 rw-p"]


def test_selftest_dontunmap_partial_mapping_overwrite(side: Any) -> None:
    """mremap_dontunmap.c mremap_dontunmap_partial_mapping_overwrite: 5 pages of 'a' moved
    with DONTUNMAP|FIXED onto the start of a 10-page mapping of 'X': the destination reads
    aaaaaXXXXX, the source zeros."""
    base = carve(side, 32 * PAGE)
    src = side.mmap(base, 5 * PAGE, RW, ANON | MAP_FIXED)
    side.write(src, b"a" * 5 * PAGE)
    dest = side.mmap(base + 16 * PAGE, 10 * PAGE, RW, ANON | MAP_FIXED)
    side.write(dest, b"X" * 10 * PAGE)
    assert side.mremap(src, 5 * PAGE, 5 * PAGE, DONTUNMAP | MREMAP_FIXED, dest) == dest
    assert side.read(src, 5 * PAGE) == bytes(5 * PAGE)
    assert side.read(dest, 10 * PAGE) == b"a" * 5 * PAGE + b"X" * 5 * PAGE


# =============================================================================================
# selftests/mm/merge.c (the mremap tests; the carveout is a PROT_NONE area mapped over)
# =============================================================================================


@pytest.fixture
def carveout(side: Any) -> int:
    """merge.c's FIXTURE_SETUP: a PROT_NONE carveout (big enough for the "+1000 pages"
    moves of the tests) that the tests map over with MAP_FIXED."""
    return side.mmap(0, 2200 * PAGE, PROT_NONE, ANON)


def test_selftest_merge_mremap_unfaulted_to_faulted(side: Any, carveout: int) -> None:
    """merge.c mremap_unfaulted_to_faulted: an unfaulted 5-page VMA moved (after a detour)
    right behind a faulted 5-page VMA merges with it: one 10-page VMA."""
    ptr = side.mmap(carveout + PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    ptr2 = side.mmap(carveout + 7 * PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    ptr2 = side.mremap(ptr2, 5 * PAGE, 5 * PAGE, FIXED, ptr2 + 1000 * PAGE)
    side.write(ptr, b"x")
    assert side.mremap(ptr2, 5 * PAGE, 5 * PAGE, FIXED, ptr + 5 * PAGE) == ptr + 5 * PAGE
    assert vma_of(side, ptr) == (ptr, ptr + 10 * PAGE)


def test_selftest_merge_mremap_unfaulted_behind_faulted(side: Any, carveout: int) -> None:
    """merge.c mremap_unfaulted_behind_faulted: an unfaulted VMA moved right in front of a
    faulted one merges with it: one 10-page VMA starting at the moved one."""
    ptr = side.mmap(carveout + 6 * PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    ptr2 = side.mmap(carveout + 14 * PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    ptr2 = side.mremap(ptr2, 5 * PAGE, 5 * PAGE, FIXED, ptr2 + 1000 * PAGE)
    side.write(ptr, b"x")
    ptr2 = side.mremap(ptr2, 5 * PAGE, 5 * PAGE, FIXED, carveout + PAGE)
    assert ptr2 == carveout + PAGE
    assert vma_of(side, ptr2) == (ptr2, ptr2 + 10 * PAGE)


def test_selftest_merge_mremap_unfaulted_between_faulted(side: Any, carveout: int) -> None:
    """merge.c mremap_unfaulted_between_faulted: an unfaulted VMA moved between two faulted
    VMAs with different anon_vmas merges with the left one only."""
    ptr = side.mmap(carveout + PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    ptr2 = side.mmap(carveout + 7 * PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    ptr3 = side.mmap(carveout + 14 * PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    ptr3 = side.mremap(ptr3, 5 * PAGE, 5 * PAGE, FIXED, ptr3 + 2000 * PAGE)
    ptr2 = side.mremap(ptr2, 5 * PAGE, 5 * PAGE, FIXED, ptr2 + 1000 * PAGE)
    side.write(ptr, b"x")
    side.write(ptr3, b"x")
    ptr3 = side.mremap(ptr3, 5 * PAGE, 5 * PAGE, FIXED, ptr + 10 * PAGE)
    ptr2 = side.mremap(ptr2, 5 * PAGE, 5 * PAGE, FIXED, ptr + 5 * PAGE)
    assert vma_of(side, ptr) == (ptr, ptr + 10 * PAGE)
    assert vma_of(side, ptr3) == (ptr3, ptr3 + 5 * PAGE)


def test_selftest_merge_mremap_unfaulted_between_faulted_unfaulted(
    side: Any, carveout: int
) -> None:
    """merge.c mremap_unfaulted_between_faulted_unfaulted: an unfaulted VMA moved between a
    faulted and an unfaulted VMA merges all three: one 15-page VMA."""
    ptr = side.mmap(carveout + PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    ptr2 = side.mmap(carveout + 7 * PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    ptr3 = side.mmap(carveout + 14 * PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    ptr3 = side.mremap(ptr3, 5 * PAGE, 5 * PAGE, FIXED, ptr3 + 2000 * PAGE)
    ptr2 = side.mremap(ptr2, 5 * PAGE, 5 * PAGE, FIXED, ptr2 + 1000 * PAGE)
    side.write(ptr, b"x")
    side.mremap(ptr3, 5 * PAGE, 5 * PAGE, FIXED, ptr + 10 * PAGE)
    side.mremap(ptr2, 5 * PAGE, 5 * PAGE, FIXED, ptr + 5 * PAGE)
    assert vma_of(side, ptr) == (ptr, ptr + 15 * PAGE)


def test_selftest_merge_mremap_unfaulted_between_correctly_placed_faulted(
    side: Any, carveout: int
) -> None:
    """merge.c mremap_unfaulted_between_correctly_placed_faulted: a faulted 15-page VMA with
    its middle 5 pages unmapped (both halves share the anon_vma, pgoff linear); a fresh
    unfaulted VMA moved into the hole merges everything: one 15-page VMA."""
    ptr = side.mmap(carveout + PAGE, 15 * PAGE, RW, ANON | MAP_FIXED)
    side.write(ptr, b"x")
    side.munmap(ptr + 5 * PAGE, 5 * PAGE)
    ptr2 = side.mmap(carveout + 20 * PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    side.mremap(ptr2, 5 * PAGE, 5 * PAGE, FIXED, ptr + 5 * PAGE)
    assert vma_of(side, ptr) == (ptr, ptr + 15 * PAGE)


def test_selftest_merge_mremap_correct_placed_faulted(side: Any, carveout: int) -> None:
    """merge.c mremap_correct_placed_faulted: thirds of one faulted 15-page VMA are moved away
    and back in various orders; whenever a third returns to its original place it merges
    with its placed neighbours (10 pages, then 15 pages, as the selftest checks step by
    step)."""
    p = 5 * PAGE
    ptr = side.mmap(carveout + PAGE, 15 * PAGE, RW, ANON | MAP_FIXED)
    side.write(ptr, b"x")
    ptr3 = side.mremap(ptr + 10 * PAGE, p, p, FIXED, ptr + 10 * PAGE + 2000 * PAGE)
    ptr2 = side.mremap(ptr + 5 * PAGE, p, p, FIXED, ptr + 5 * PAGE + 1000 * PAGE)
    ptr2 = side.mremap(ptr2, p, p, FIXED, ptr + 5 * PAGE)
    assert vma_of(side, ptr) == (ptr, ptr + 10 * PAGE)
    ptr = side.mremap(ptr, p, p, FIXED, ptr + 1000 * PAGE)
    ptr = side.mremap(ptr, p, p, FIXED, carveout + PAGE)
    assert vma_of(side, ptr) == (ptr, ptr + 10 * PAGE)
    ptr = side.mremap(ptr, p, p, FIXED, ptr + 1000 * PAGE)
    ptr3 = side.mremap(ptr3, p, p, FIXED, ptr2 + 5 * PAGE)
    assert vma_of(side, ptr2) == (ptr2, ptr2 + 10 * PAGE)
    ptr = side.mremap(ptr, p, p, FIXED, carveout + PAGE)
    assert vma_of(side, ptr) == (ptr, ptr + 15 * PAGE)
    ptr2 = side.mremap(ptr2, p, p, FIXED, ptr2 + 1000 * PAGE)
    ptr2 = side.mremap(ptr2, p, p, FIXED, ptr + 5 * PAGE)
    assert vma_of(side, ptr) == (ptr, ptr + 15 * PAGE)
    ptr3 = side.mremap(ptr3, p, p, FIXED, ptr3 + 1000 * PAGE)
    ptr3 = side.mremap(ptr3, p, p, FIXED, ptr + 10 * PAGE)
    assert vma_of(side, ptr) == (ptr, ptr + 15 * PAGE)


def test_selftest_merge_mremap_faulted_to_unfaulted_prev(side: Any, carveout: int) -> None:
    """merge.c mremap_faulted_to_unfaulted_prev: a faulted VMA A moved away, an unfaulted B
    mapped where A's left neighbour would be, then A moved back next to B with
    MREMAP_DONTUNMAP: A and B merge (6 pages from B)."""
    ptr_a = side.mmap(carveout + 4 * PAGE, 3 * PAGE, RW, ANON | MAP_FIXED)
    side.write(ptr_a, b"x")
    ptr_a = side.mremap(ptr_a, 3 * PAGE, 3 * PAGE, FIXED, carveout + 20 * PAGE)
    ptr_b = side.mmap(carveout + PAGE, 3 * PAGE, RW, ANON | MAP_FIXED)
    ptr_a = side.mremap(ptr_a, 3 * PAGE, 3 * PAGE, FIXED | DONTUNMAP, carveout + 4 * PAGE)
    assert vma_of(side, ptr_b) == (ptr_b, ptr_b + 6 * PAGE)


def test_selftest_merge_mremap_faulted_to_unfaulted_next(side: Any, carveout: int) -> None:
    """merge.c mremap_faulted_to_unfaulted_next: as above but B is A's right neighbour: A
    moved back with DONTUNMAP merges with B (6 pages from A)."""
    ptr_a = side.mmap(carveout + PAGE, 3 * PAGE, RW, ANON | MAP_FIXED)
    side.write(ptr_a, b"x")
    ptr_a = side.mremap(ptr_a, 3 * PAGE, 3 * PAGE, FIXED, carveout + 20 * PAGE)
    side.mmap(carveout + 4 * PAGE, 3 * PAGE, RW, ANON | MAP_FIXED)
    ptr_a = side.mremap(ptr_a, 3 * PAGE, 3 * PAGE, FIXED | DONTUNMAP, carveout + PAGE)
    assert vma_of(side, ptr_a) == (ptr_a, ptr_a + 6 * PAGE)


def test_selftest_merge_mremap_faulted_to_unfaulted_prev_unfaulted_next(
    side: Any, carveout: int
) -> None:
    """merge.c mremap_faulted_to_unfaulted_prev_unfaulted_next: a faulted B moved with
    DONTUNMAP between unfaulted A and C: all three merge (9 pages from A)."""
    ptr_b = side.mmap(carveout + 4 * PAGE, 3 * PAGE, RW, ANON | MAP_FIXED)
    side.write(ptr_b, b"x")
    ptr_b = side.mremap(ptr_b, 3 * PAGE, 3 * PAGE, FIXED, carveout + 20 * PAGE)
    ptr_a = side.mmap(carveout + PAGE, 3 * PAGE, RW, ANON | MAP_FIXED)
    side.mmap(carveout + 7 * PAGE, 3 * PAGE, RW, ANON | MAP_FIXED)
    side.mremap(ptr_b, 3 * PAGE, 3 * PAGE, FIXED | DONTUNMAP, carveout + 4 * PAGE)
    assert vma_of(side, ptr_a) == (ptr_a, ptr_a + 9 * PAGE)


def test_selftest_merge_mremap_faulted_to_unfaulted_prev_faulted_next(
    side: Any, carveout: int
) -> None:
    """merge.c mremap_faulted_to_unfaulted_prev_faulted_next: B and C are one faulted VMA;
    B is moved away (splitting it), an unfaulted A is mapped before the gap, and B is moved
    back with DONTUNMAP: A, B and C merge (9 pages from A)."""
    ptr_bc = side.mmap(carveout + 4 * PAGE, 6 * PAGE, RW, ANON | MAP_FIXED)
    side.write(ptr_bc, b"x")
    ptr_b = side.mremap(ptr_bc, 3 * PAGE, 3 * PAGE, FIXED, carveout + 20 * PAGE)
    ptr_a = side.mmap(carveout + PAGE, 3 * PAGE, RW, ANON | MAP_FIXED)
    side.mremap(ptr_b, 3 * PAGE, 3 * PAGE, FIXED | DONTUNMAP, carveout + 4 * PAGE)
    assert vma_of(side, ptr_a) == (ptr_a, ptr_a + 9 * PAGE)


# =============================================================================================
# selftests/mm/mseal_test.c (the mremap tests; setup_single_address maps PROT_READ anon)
# =============================================================================================

SEAL = pytest.mark.parametrize("seal", [False, True], ids=["unsealed", "sealed"])


def ro(side: Any, at: int, size: int) -> int:
    return side.mmap(at, size, PROT_READ, ANON | MAP_FIXED)


@SEAL
def test_selftest_mseal_mremap_shrink(side: Any, seal: bool) -> None:
    """mseal_test.c test_seal_mremap_shrink: shrinking a sealed 4-page mapping to 2 pages ->
    EPERM; unsealed it works."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 4 * PAGE)
    if seal:
        side.mseal(ptr, 4 * PAGE)
        assert errno_of(side.mremap, ptr, 4 * PAGE, 2 * PAGE, 0) == errno.EPERM
        assert layout(side, base, 64 * PAGE) == ["0-4 r--p"]
    else:
        assert side.mremap(ptr, 4 * PAGE, 2 * PAGE, 0) == ptr


@SEAL
def test_selftest_mseal_mremap_expand(side: Any, seal: bool) -> None:
    """mseal_test.c test_seal_mremap_expand: growing a sealed 2-page mapping in place to
    4 pages -> EPERM; unsealed it grows in place."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 4 * PAGE)
    side.munmap(ptr + 2 * PAGE, 2 * PAGE)
    if seal:
        side.mseal(ptr, 2 * PAGE)
        assert errno_of(side.mremap, ptr, 2 * PAGE, 4 * PAGE, 0) == errno.EPERM
    else:
        assert side.mremap(ptr, 2 * PAGE, 4 * PAGE, 0) == ptr


@SEAL
def test_selftest_mseal_mremap_move(side: Any, seal: bool) -> None:
    """mseal_test.c test_seal_mremap_move: moving a sealed page with MAYMOVE|FIXED to a free
    address -> EPERM; unsealed it moves."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, PAGE)
    new = base + 32 * PAGE
    if seal:
        side.mseal(ptr, PAGE)
        assert errno_of(side.mremap, ptr, PAGE, PAGE, FIXED, new) == errno.EPERM
    else:
        assert side.mremap(ptr, PAGE, PAGE, FIXED, new) == new


@SEAL
@pytest.mark.parametrize("kind", ["move", "shrink", "expand"])
def test_selftest_mseal_mremap_fixed_onto_sealed(side: Any, seal: bool, kind: str) -> None:
    """mseal_test.c test_seal_mremap_move_fixed / test_seal_mremap_expand_fixed /
    test_seal_mremap_shrink_fixed: a FIXED move (same size, 1 page grown to 4, or a sealed
    4-page source shrunk to 2) where the source (shrink) or the destination (move, expand)
    is sealed -> EPERM; unsealed every variant returns the destination."""
    base = carve(side, 64 * PAGE)
    old_len, new_len = {"move": (4, 4), "shrink": (4, 2), "expand": (1, 4)}[kind]
    ptr = ro(side, base, old_len * PAGE)
    new = ro(side, base + 32 * PAGE, 4 * PAGE)
    if seal:
        side.mseal(ptr if kind == "shrink" else new, 4 * PAGE)
        assert errno_of(side.mremap, ptr, old_len * PAGE, new_len * PAGE, FIXED, new) == (
            errno.EPERM
        )
        assert layout(side, base, 64 * PAGE) == [f"0-{old_len} r--p", "32-36 r--p"]
    else:
        assert side.mremap(ptr, old_len * PAGE, new_len * PAGE, FIXED, new) == new


@SEAL
def test_selftest_mseal_mremap_move_fixed_zero(side: Any, seal: bool) -> None:
    """mseal_test.c test_seal_mremap_move_fixed_zero: a FIXED move (4 pages shrunk to 2) to
    address 0: sealed -> EPERM; unsealed, as root, the mapping lands at 0 and 0 is
    returned."""
    if not seal and not is_model(side) and os.geteuid() != 0:
        pytest.skip("moving to address 0 needs CAP_SYS_RAWIO")
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 4 * PAGE)
    if seal:
        side.mseal(ptr, 4 * PAGE)
        assert errno_of(side.mremap, ptr, 4 * PAGE, 2 * PAGE, FIXED, 0) == errno.EPERM
        return
    assert side.mremap(ptr, 4 * PAGE, 2 * PAGE, FIXED, 0) == 0
    assert vma_of(side, 0) == (0, 2 * PAGE)
    side.munmap(0, 2 * PAGE)


@SEAL
@pytest.mark.parametrize("hint", ["none", "free", "allocated"])
def test_selftest_mseal_mremap_move_dontunmap(side: Any, seal: bool, hint: str) -> None:
    """mseal_test.c test_seal_mremap_move_dontunmap / ..._dontunmap_anyaddr /
    ..._dontunmap_allocated: MREMAP_DONTUNMAP of a sealed mapping -> EPERM whatever the
    hint; unsealed it moves: anywhere (hint 0), to a free hint exactly, or -- when the hint
    is occupied -- somewhere else."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 4 * PAGE)
    target = base + 32 * PAGE
    if hint == "allocated":
        ro(side, target, 4 * PAGE)
    new_addr = 0 if hint == "none" else target
    if seal:
        side.mseal(ptr, 4 * PAGE)
        assert errno_of(side.mremap, ptr, 4 * PAGE, 4 * PAGE, DONTUNMAP, new_addr) == errno.EPERM
        return
    got = side.mremap(ptr, 4 * PAGE, 4 * PAGE, DONTUNMAP, new_addr)
    assert got != ptr
    if hint == "free":
        assert got == target
    if hint == "allocated":
        assert got != target


@SEAL
def test_selftest_mseal_mremap_shrink_multiple_vmas(side: Any, seal: bool) -> None:
    """mseal_test.c test_seal_mremap_shrink_multiple_vmas: 12 read-only pages, pages 4-7 made
    PROT_NONE (and sealed); shrinking the whole range to 6 pages in place: sealed -> EPERM
    with the VMAs unchanged (the sealed VMA is not even split); unsealed -> succeeds, pages
    4-5 of the PROT_NONE VMA remain."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 12 * PAGE)
    side.mprotect(ptr + 4 * PAGE, 4 * PAGE, PROT_NONE)
    if seal:
        side.mseal(ptr + 4 * PAGE, 4 * PAGE)
        assert errno_of(side.mremap, ptr, 12 * PAGE, 6 * PAGE, 0) == errno.EPERM
        assert layout(side, base, 64 * PAGE) == ["0-4 r--p", "4-8 ---p", "8-12 r--p"]
    else:
        assert side.mremap(ptr, 12 * PAGE, 6 * PAGE, 0) == ptr
        assert layout(side, base, 64 * PAGE) == ["0-4 r--p", "4-6 ---p"]


@SEAL
@pytest.mark.parametrize("kind", ["expand_in_place", "move_expand", "move_shrink"])
def test_selftest_mseal_mremap_multiple_vmas_fail(side: Any, seal: bool, kind: str) -> None:
    """mseal_test.c test_seal_mremap_expand_multiple_vmas / ..._move_expand_multiple_vmas /
    ..._move_shrink_multiple_vmas: a range of a read-only VMA followed by a PROT_NONE one
    (sealed or not) cannot be grown in place (8->12 pages), moved and grown (8->10, FIXED)
    or moved and shrunk (12->8, FIXED): the call fails and both VMAs stay as they were.  The
    selftest leaves the errno open; 6.18 answers EFAULT in every case, because the range
    leaves the first VMA and that is checked before the (unsealed) first VMA's seal matters
    and before the sealed second one is ever looked at."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 12 * PAGE)
    side.mprotect(ptr + 4 * PAGE, 4 * PAGE, PROT_NONE)
    if kind != "move_shrink":
        side.munmap(ptr + 8 * PAGE, 4 * PAGE)
    if seal:
        side.mseal(ptr + 4 * PAGE, 4 * PAGE)
    ptr2 = base + 32 * PAGE
    old_len, new_len, flags = {
        "expand_in_place": (8, 12, 0),
        "move_expand": (8, 10, FIXED),
        "move_shrink": (12, 8, FIXED),
    }[kind]
    assert errno_of(side.mremap, ptr, old_len * PAGE, new_len * PAGE, flags, ptr2) == errno.EFAULT
    expected = ["0-4 r--p", "4-8 ---p"] + (["8-12 r--p"] if kind == "move_shrink" else [])
    assert layout(side, base, 64 * PAGE) == expected


def test_selftest_mseal_multi_vma_move_stops_at_sealed(side: Any) -> None:
    """mseal_test.c test_seal_mremap_move applied to mremap_test.c's multi-VMA move: a FIXED
    same-size move of [2 pages rw][2 pages r--, sealed] -> EPERM.  6.18 moves the VMAs one
    by one (remap_move) and stops at the first error, so the unsealed first VMA has already
    moved to the destination while the sealed one stays."""
    base = carve(side, 64 * PAGE)
    side.mmap(base, 2 * PAGE, RW, ANON | MAP_FIXED)
    side.write(base, b"first")
    ro(side, base + 2 * PAGE, 2 * PAGE)
    side.mseal(base + 2 * PAGE, 2 * PAGE)
    dst = base + 32 * PAGE
    assert errno_of(side.mremap, base, 4 * PAGE, 4 * PAGE, FIXED, dst) == errno.EPERM
    assert layout(side, base, 64 * PAGE) == ["2-4 r--p", "32-34 rw-p"]
    assert side.read(dst, 5) == b"first"


def test_selftest_mseal_mremap_shrink_tail_sealed(side: Any) -> None:
    """mseal_test.c test_seal_mremap_shrink_multiple_vmas with the seal on the *second* VMA
    only: 8 read-only pages, the last 4 made RW and sealed; shrinking 8 -> 2 pages in place
    -> EPERM.  The tail munmap splits the unsealed first VMA at page 2 before it meets the
    sealed one, and 6.18 leaves that split behind (same flags, not re-merged)."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 8 * PAGE)
    side.mprotect(ptr + 4 * PAGE, 4 * PAGE, RW)
    side.mseal(ptr + 4 * PAGE, 4 * PAGE)
    assert errno_of(side.mremap, ptr, 8 * PAGE, 2 * PAGE, 0) == errno.EPERM
    assert layout(side, base, 64 * PAGE) == ["0-2 r--p", "2-4 r--p", "4-8 rw-p"]


# =============================================================================================
# google/gvisor test/syscalls/linux/mremap.cc (MremapParamTest over MAP_PRIVATE/MAP_SHARED)
# =============================================================================================

MAP_KIND = pytest.mark.parametrize("kind", [MAP_PRIVATE, MAP_SHARED], ids=["private", "shared"])


def anon(side: Any, at: int, pages: int, kind: int, prot: int = PROT_NONE) -> int:
    return side.mmap(at, pages * PAGE, prot, kind | MAP_ANONYMOUS | MAP_FIXED)


@MAP_KIND
def test_gvisor_noop(side: Any, kind: int) -> None:
    """gvisor mremap.cc MremapParamTest.Noop: same-size mremap without flags returns the
    address and the page stays mapped."""
    base = carve(side, 16 * PAGE)
    m = anon(side, base, 1, kind)
    assert side.mremap(m, PAGE, PAGE, 0, 0) == m
    assert is_mapped(side, m)


@MAP_KIND
def test_gvisor_in_place_shrinking_whole_vma(side: Any, kind: int) -> None:
    """gvisor mremap.cc InPlace_ShrinkingWholeVMA: 2 pages shrunk to 1 in place: the first
    page stays, the second is unmapped."""
    base = carve(side, 16 * PAGE)
    m = anon(side, base, 2, kind)
    assert side.mremap(m, 2 * PAGE, PAGE, 0, 0) == m
    assert is_mapped(side, m)
    assert not is_mapped(side, m + PAGE)


@MAP_KIND
def test_gvisor_in_place_shrinking_partial_vma(side: Any, kind: int) -> None:
    """gvisor mremap.cc InPlace_ShrinkingPartialVMA: the first 2 pages of a 3-page VMA shrunk
    to 1: page 1 is unmapped, pages 0 and 2 stay."""
    base = carve(side, 16 * PAGE)
    m = anon(side, base, 3, kind)
    assert side.mremap(m, 2 * PAGE, PAGE, 0, 0) == m
    assert [is_mapped(side, m + i * PAGE) for i in range(3)] == [True, False, True]


@MAP_KIND
def test_gvisor_in_place_shrinking_across_vmas(side: Any, kind: int) -> None:
    """gvisor mremap.cc InPlace_ShrinkingAcrossVMAs: 3 read-only pages whose first page was
    made PROT_NONE (two VMAs) shrunk from 3 to 2 pages in place: flags 0 does not care about
    the VMA boundary; pages 0-1 stay, page 2 goes."""
    base = carve(side, 16 * PAGE)
    m = anon(side, base, 3, kind, PROT_READ)
    side.mprotect(m, PAGE, PROT_NONE)
    assert side.mremap(m, 3 * PAGE, 2 * PAGE, 0, 0) == m
    assert [is_mapped(side, m + i * PAGE) for i in range(3)] == [True, True, False]


@MAP_KIND
def test_gvisor_in_place_expansion_success(side: Any, kind: int) -> None:
    """gvisor mremap.cc InPlace_ExpansionSuccess: 2 pages, the second unmapped; the first
    grown back to 2 pages in place: both mapped again at the same address."""
    base = carve(side, 16 * PAGE)
    m = anon(side, base, 2, kind)
    side.munmap(m + PAGE, PAGE)
    assert side.mremap(m, PAGE, 2 * PAGE, 0, 0) == m
    assert is_mapped(side, m) and is_mapped(side, m + PAGE)


@MAP_KIND
def test_gvisor_in_place_expansion_failure(side: Any, kind: int) -> None:
    """gvisor mremap.cc InPlace_ExpansionFailure: 3 pages with a one-page hole in the middle;
    growing the first page to 3 pages in place -> ENOMEM, layout unchanged."""
    base = carve(side, 16 * PAGE)
    m = anon(side, base, 3, kind)
    side.munmap(m + PAGE, PAGE)
    assert errno_of(side.mremap, m, PAGE, 3 * PAGE, 0, 0) == errno.ENOMEM
    assert [is_mapped(side, m + i * PAGE) for i in range(3)] == [True, False, True]


@MAP_KIND
def test_gvisor_may_move_expansion(side: Any, kind: int) -> None:
    """gvisor mremap.cc MayMove_Expansion: as above with MREMAP_MAYMOVE: the page is moved to
    a new 3-page mapping elsewhere; its old place and the hole are unmapped, page 2 stays."""
    base = carve(side, 16 * PAGE)
    m = anon(side, base, 3, kind)
    side.munmap(m + PAGE, PAGE)
    m2 = side.mremap(m, PAGE, 3 * PAGE, MAYMOVE, 0)
    assert m2 != m
    assert [is_mapped(side, m + i * PAGE) for i in range(3)] == [False, False, True]
    assert all(is_mapped(side, m2 + i * PAGE) for i in range(3))


@MAP_KIND
def test_gvisor_fixed_source_and_destination_cannot_overlap(side: Any, kind: int) -> None:
    """gvisor mremap.cc Fixed_SourceAndDestinationCannotOverlap: FIXED onto itself -> EINVAL;
    the page stays mapped."""
    base = carve(side, 16 * PAGE)
    m = anon(side, base, 1, kind)
    assert errno_of(side.mremap, m, PAGE, PAGE, FIXED, m) == errno.EINVAL
    assert is_mapped(side, m)


@MAP_KIND
@pytest.mark.parametrize("dst_mapped", [False, True], ids=["hole", "unmapping"])
def test_gvisor_fixed_same_size(side: Any, kind: int, dst_mapped: bool) -> None:
    """gvisor mremap.cc Fixed_SameSize / Fixed_SameSize_Unmapping: a one-page FIXED move to a
    hole, or onto a mapping that mremap must unmap first: returns dst; src is unmapped."""
    base = carve(side, 16 * PAGE)
    src = anon(side, base, 1, kind)
    dst = base + 8 * PAGE
    if dst_mapped:
        anon(side, dst, 1, kind)
    assert side.mremap(src, PAGE, PAGE, FIXED, dst) == dst
    assert not is_mapped(side, src)
    assert is_mapped(side, dst)


@MAP_KIND
def test_gvisor_fixed_shrinking_whole_vma(side: Any, kind: int) -> None:
    """gvisor mremap.cc Fixed_ShrinkingWholeVMA: a 2-page VMA moved with FIXED while shrinking
    to 1 page: only dst's first page is mapped, both source pages are gone."""
    base = carve(side, 16 * PAGE)
    src = anon(side, base, 2, kind)
    dst = base + 8 * PAGE
    assert side.mremap(src, 2 * PAGE, PAGE, FIXED, dst) == dst
    assert [is_mapped(side, src + i * PAGE) for i in range(2)] == [False, False]
    assert [is_mapped(side, dst + i * PAGE) for i in range(2)] == [True, False]


@MAP_KIND
def test_gvisor_fixed_shrinking_partial_vma(side: Any, kind: int) -> None:
    """gvisor mremap.cc Fixed_ShrinkingPartialVMA: the first 2 pages of a 3-page VMA moved with
    FIXED and shrunk to 1: source pages 0-1 gone, page 2 stays; dst has one page."""
    base = carve(side, 16 * PAGE)
    src = anon(side, base, 3, kind)
    dst = base + 8 * PAGE
    assert side.mremap(src, 2 * PAGE, PAGE, FIXED, dst) == dst
    assert [is_mapped(side, src + i * PAGE) for i in range(3)] == [False, False, True]
    assert [is_mapped(side, dst + i * PAGE) for i in range(2)] == [True, False]


@MAP_KIND
def test_gvisor_fixed_shrinking_across_vmas(side: Any, kind: int) -> None:
    """gvisor mremap.cc Fixed_ShrinkingAcrossVMAs: 3 read-only pages, the first made
    PROT_NONE; a FIXED move shrinking 3 -> 2 pages fails with EFAULT because the new length
    leaves the first VMA.  Published expectation: the tail (page 2) and the destination are
    unmapped despite the failure; Linux 6.18 checks the range (check_prep_vma) before it
    touches anything, so page 2 and the destination mapping are still there."""
    base = carve(side, 16 * PAGE)
    src = anon(side, base, 3, kind, PROT_READ)
    side.mprotect(src, PAGE, PROT_NONE)
    dst = anon(side, base + 8 * PAGE, 2, kind)
    assert errno_of(side.mremap, src, 3 * PAGE, 2 * PAGE, FIXED, dst) == errno.EFAULT
    assert [is_mapped(side, src + i * PAGE) for i in range(3)] == [True, True, True]
    assert [is_mapped(side, dst + i * PAGE) for i in range(2)] == [True, True]


@MAP_KIND
def test_gvisor_fixed_expansion(side: Any, kind: int) -> None:
    """gvisor mremap.cc Fixed_Expansion: one page moved with FIXED and grown to 2 pages: src
    unmapped, both destination pages mapped."""
    base = carve(side, 16 * PAGE)
    src = anon(side, base, 1, kind)
    dst = base + 8 * PAGE
    assert side.mremap(src, PAGE, 2 * PAGE, FIXED, dst) == dst
    assert not is_mapped(side, src)
    assert is_mapped(side, dst) and is_mapped(side, dst + PAGE)


def test_gvisor_in_place_copy(side: Any) -> None:
    """gvisor mremap.cc MremapTest.InPlace_Copy: old_size 0 on a shared mapping without
    MREMAP_MAYMOVE -> ENOMEM (a duplicate can never be made in place)."""
    base = carve(side, 16 * PAGE)
    m = anon(side, base, 1, MAP_SHARED)
    assert errno_of(side.mremap, m, 0, PAGE, 0, 0) == errno.ENOMEM


def test_gvisor_private_duplicate_refused(side: Any) -> None:
    """gvisor mremap.cc (the note before MremapTest.InPlace_Copy, Linux 4.14's dba58d3b8c50
    "fail map duplication attempts for private mappings"): old_size 0 on a private mapping
    -> EINVAL, with or without MREMAP_MAYMOVE; the mapping is untouched."""
    base = carve(side, 16 * PAGE)
    m = anon(side, base, 1, MAP_PRIVATE, RW)
    assert errno_of(side.mremap, m, 0, PAGE, MAYMOVE, 0) == errno.EINVAL
    assert errno_of(side.mremap, m, 0, PAGE, 0, 0) == errno.EINVAL
    assert layout(side, base, 16 * PAGE) == ["0-1 rw-p"]


def test_gvisor_may_move_copy(side: Any) -> None:
    """gvisor mremap.cc MremapTest.MayMove_Copy: old_size 0 with MREMAP_MAYMOVE duplicates the
    shared mapping elsewhere; the original stays mapped (and both show the same bytes)."""
    base = carve(side, 16 * PAGE)
    m = anon(side, base, 1, MAP_SHARED, RW)
    side.write(m, b"dup")
    ptr = side.mremap(m, 0, PAGE, MAYMOVE, 0)
    assert ptr != m
    assert is_mapped(side, m) and is_mapped(side, ptr)
    assert side.read(ptr, 3) == b"dup"


def test_gvisor_must_move_copy(side: Any) -> None:
    """gvisor mremap.cc MremapTest.MustMove_Copy: old_size 0 with MAYMOVE|FIXED onto a private
    mapping: returns dst, the source stays mapped, dst is now a shared view."""
    base = carve(side, 16 * PAGE)
    src = anon(side, base, 1, MAP_SHARED)
    dst = anon(side, base + 8 * PAGE, 1, MAP_PRIVATE)
    assert side.mremap(src, 0, PAGE, FIXED, dst) == dst
    assert is_mapped(side, src) and is_mapped(side, dst)
    assert layout(side, base, 16 * PAGE) == ["0-1 ---s", "8-9 ---s"]


def test_gvisor_expansion_preserves_cow_pages_and_exposes_new_file_pages(
    side: Any, tmp_path: Path
) -> None:
    """gvisor mremap.cc MremapTest.ExpansionPreservesCOWPagesAndExposesNewFilePages: a file of
    pages 'a','b','c'; a private RW mapping of the first 2 pages gets page 1 overwritten with
    'd' (a COW copy); moving it with FIXED onto a 3-page PROT_NONE mapping while growing to
    3 pages yields a, d, c."""
    fd = open_file(side, tmp_path / "file", b"a" * PAGE + b"b" * PAGE + b"c" * PAGE)
    base = carve(side, 16 * PAGE)
    src = side.mmap(base, 2 * PAGE, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)
    side.write(src + PAGE, b"d" * PAGE)
    dst = anon(side, base + 8 * PAGE, 3, MAP_PRIVATE)
    assert side.mremap(src, 2 * PAGE, 3 * PAGE, FIXED, dst) == dst
    assert side.read(dst, 3 * PAGE) == b"a" * PAGE + b"d" * PAGE + b"c" * PAGE


def test_gvisor_death_shared_anon(side: Any) -> None:
    """gvisor mremap.cc MremapDeathTest.SharedAnon: a 2-page shared anonymous mapping ('a',
    'b') inside a 4-page reservation is shrunk to 1 page in place (new_address ignored), then
    moved one page up with FIXED while growing to 3 pages: pages 0-1 still read 'a' and 'b'
    (the shrink kept the shmem data) and the third page, beyond the shmem object, raises
    SIGBUS."""
    reserved = side.mmap(0, 4 * PAGE, PROT_NONE, ANON)
    m = side.mmap(reserved, 2 * PAGE, RW, SHANON | MAP_FIXED)
    side.write(m, b"a" * PAGE + b"b" * PAGE)
    assert side.mremap(m, 2 * PAGE, PAGE, 0, m) == m
    new_m = m + PAGE
    assert side.mremap(m, PAGE, 3 * PAGE, FIXED, new_m) == new_m
    assert side.read(new_m, 2 * PAGE) == b"a" * PAGE + b"b" * PAGE
    assert faults(side, new_m + 2 * PAGE) == "SIGBUS BUS_ADRERR"
