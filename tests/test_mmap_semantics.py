"""mmap, munmap, mprotect, madvise and brk: facts the reference notes verified on 6.18."""

from __future__ import annotations

import errno

import pytest

from sides import errno_of
from vmsim import (
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_GROWSDOWN,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_STACK,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Process,
    SegmentationFault,
)
from vmsim.demo import seed_process

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
MIB = 1 << 20
PAGE = 4096


def starts(p: Process) -> list[str]:
    return [line.split()[0] for line in p.maps().splitlines()]


@pytest.mark.parametrize(
    ("length", "private", "shared"),
    [
        (2 * MIB, 0x7FFFF7A00000, 0x7FFFF7BD2000),
        (2 * MIB + PAGE, 0x7FFFF7BD1000, 0x7FFFF7BD1000),
        (4 * MIB, 0x7FFFF7800000, 0x7FFFF79D2000),
        (1 * MIB, 0x7FFFF7CD2000, 0x7FFFF7CD2000),
        (2 * MIB - PAGE, 0x7FFFF7BD3000, 0x7FFFF7BD3000),
        (6 * MIB, 0x7FFFF7600000, 0x7FFFF77D2000),
    ],
)
def test_thp_alignment_table(length: int, private: int, shared: int) -> None:
    """mmap-semantics §2.6: placement in the real initial layout (G = 0x7ffff7dd2000)."""
    assert seed_process().mmap(0, length, RW, ANON) == private
    assert seed_process().mmap(0, length, RW, MAP_SHARED | MAP_ANONYMOUS) == shared


def test_hint_rules() -> None:
    p = seed_process()
    assert p.mmap(0x10003FFF, PAGE, RW, ANON) == 0x10003000
    assert p.mmap(0x1000, PAGE, RW, ANON) == 0x10000
    q = seed_process()
    assert q.mmap(0x7FFFFFEDD000, PAGE, RW, ANON) == 0x7FFFFFEDD000  # 1 MiB below [stack]
    assert q.mmap(0x7FFFFFEDE000 + PAGE, PAGE, RW, ANON) != 0x7FFFFFEDF000  # in the guard gap


def test_fixed_noreplace_and_low_fixed() -> None:
    p = Process()
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    assert errno_of(p.mmap, a + PAGE, PAGE, RW, ANON | MAP_FIXED_NOREPLACE) == errno.EEXIST
    assert p.mmap(0, PAGE, RW, ANON | MAP_FIXED) == 0  # root may map page 0
    assert errno_of(p.mmap, a + 1, PAGE, RW, ANON | MAP_FIXED) == errno.EINVAL


@pytest.mark.parametrize(
    ("args", "err"),
    [
        ((0, PAGE, RW, ANON, -1, 1), errno.EINVAL),  # offset unaligned
        ((0, PAGE, RW, MAP_PRIVATE, 99, 0), errno.EBADF),
        ((0, 0, RW, ANON, -1, 0), errno.EINVAL),
        ((0, (1 << 64) - 1, RW, ANON, -1, 0), errno.ENOMEM),
        ((0, PAGE, RW, MAP_ANONYMOUS, -1, 0), errno.EINVAL),  # no type
        ((0, PAGE, RW, 0x03 | MAP_ANONYMOUS, -1, 0), errno.EINVAL),  # SHARED_VALIDATE anon
        ((0, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0), errno.EINVAL),
        ((0, 1 << 47, RW, ANON, -1, 0), errno.ENOMEM),
    ],
)
def test_mmap_errno(args: tuple[int, ...], err: int) -> None:
    assert errno_of(Process().mmap, *args) == err


def test_merge_cases_b_and_c() -> None:
    """mmap-semantics §4.6 B and C: anon_vma identity decides a three-way merge."""
    for written, expect in (((0, 2), 2), ((0,), 1)):
        p = Process()
        base = p.mmap(0, 16 * PAGE, PROT_NONE, ANON)
        p.munmap(base, 16 * PAGE)
        x = base + 4 * PAGE
        p.mmap(x, PAGE, RW, ANON | MAP_FIXED)
        p.mmap(x + 2 * PAGE, PAGE, RW, ANON | MAP_FIXED)
        for i in written:
            p.write(x + i * PAGE, b"w")
        p.mmap(x + PAGE, PAGE, RW, ANON | MAP_FIXED)
        assert len(p.vmas()) == expect


def test_flags_that_block_merging() -> None:
    for extra in (MAP_NORESERVE, MAP_GROWSDOWN, MAP_STACK):
        p = Process()
        a = p.mmap(0, PAGE, RW, ANON)
        p.mmap(a - PAGE, PAGE, RW, ANON | MAP_FIXED | extra)
        assert len(p.vmas()) == 2
    p = Process()
    a = p.mmap(0, PAGE, RW, ANON)
    p.mmap(a - PAGE, PAGE, RW, ANON | MAP_FIXED | MAP_POPULATE)
    assert len(p.vmas()) == 1


def test_map_fixed_over_the_middle_re_merges() -> None:
    """§3.7: four written pages, MAP_FIXED over page 1: one VMA again, page 1 reads 0."""
    p = Process()
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    for i in range(3):
        p.write(a + i * PAGE, b"\x07")
    p.mmap(a + PAGE, PAGE, RW, ANON | MAP_FIXED)
    assert len(p.vmas()) == 1
    assert p.read(a + PAGE, 1) == b"\0"
    assert "Rss:                   8 kB" in p.smaps()


def test_mprotect_hole_keeps_earlier_changes() -> None:
    p = Process()
    a = p.mmap(0, 8 * PAGE, RW, ANON)
    p.munmap(a + 4 * PAGE, PAGE)
    assert errno_of(p.mprotect, a, 8 * PAGE, PROT_READ) == errno.ENOMEM
    assert p.maps().splitlines()[0].split()[1] == "r--p"
    assert errno_of(p.mprotect, a + 1, PAGE, PROT_READ) == errno.EINVAL
    assert errno_of(p.mprotect, a, PAGE, 0x10) == errno.EINVAL


def test_zero_page_reads_are_not_resident_and_shmem_reads_are() -> None:
    p = Process()
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    p.read(a, 2 * PAGE)
    assert "Rss:                   0 kB" in p.smaps()
    s = p.mmap(0, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.read(s, 2 * PAGE)
    p.madvise(s, PAGE, MADV_DONTNEED)
    assert p.read(s, 1) == b"\0"
    p.check()


def test_madvise_dontneed_zeroes_private_and_keeps_shared() -> None:
    p = Process()
    a = p.mmap(0, PAGE, RW, ANON)
    s = p.mmap(0, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.write(a, b"\x07")
    p.write(s, b"\x07")
    p.madvise(a, PAGE, MADV_DONTNEED)
    p.madvise(s, PAGE, MADV_DONTNEED)
    assert p.read(a, 1) == b"\0" and p.read(s, 1) == b"\x07"
    assert errno_of(p.madvise, a, PAGE, 1234) == errno.EINVAL


def test_signals() -> None:
    p = Process()
    a = p.mmap(0, PAGE, PROT_NONE, ANON)
    with pytest.raises(SegmentationFault) as info:
        p.read(a, 1)
    assert info.value.code == "SEGV_ACCERR"
    with pytest.raises(SegmentationFault) as info:
        p.read(0x10000, 1)
    assert info.value.code == "SEGV_MAPERR" and info.value.addr == 0x10000


def test_brk_leaves_one_page_and_heap_is_separate() -> None:
    p = seed_process()
    start = p.brk(0)
    assert start == 0x555555559000
    assert p.brk(start + 0x21000) == start + 0x21000
    assert "[heap]" in p.maps()
    assert p.brk(start - PAGE) == start + 0x21000  # below start_brk: refused
    blocker = p.mmap(start + 0x23000, PAGE, PROT_READ, ANON | MAP_FIXED)
    assert p.brk(blocker - PAGE) == blocker - PAGE
    assert p.brk(blocker - PAGE + 1) == blocker - PAGE


def test_file_mappings_share_pages_and_show_path() -> None:
    p = Process()
    p.create_file("/data/f", b"hello" + bytes(5000))
    fd = p.open("/data/f")
    a = p.mmap(0, 2 * PAGE, RW, MAP_SHARED, fd, 0)
    b = p.mmap(0, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0)
    assert p.read(b, 5) == b"hello"
    p.write(a, b"HELLO")
    assert p.read(b, 5) == b"HELLO"
    assert "/data/f" in p.maps()
    c = p.mmap(0, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0)
    from vmsim import BusError

    with pytest.raises(BusError):
        p.read(c + 3 * PAGE, 1)


def test_map_count_limit() -> None:
    p = Process()
    base = 0x100000000000
    for i in range(65530):
        p.mmap(base + i * 2 * PAGE, PAGE, RW, ANON | MAP_FIXED)
    p.mmap(base - 2 * PAGE, PAGE, RW, ANON | MAP_FIXED)  # 65531st: allowed
    assert errno_of(p.mmap, base - 4 * PAGE, PAGE, RW, ANON | MAP_FIXED) == errno.ENOMEM


def test_rlimit_as_and_data() -> None:
    """mremap-semantics §6-13: RLIMIT_AS and RLIMIT_DATA stop growth; read-only growth ignores
    RLIMIT_DATA."""
    from vmsim import MREMAP_MAYMOVE
    from vmsim.mm.mm_types import RLIMIT_AS, RLIMIT_DATA

    p = Process()
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.setrlimit(RLIMIT_AS, (p.mm.total_vm << 12) + 8 * PAGE, -1)
    assert errno_of(p.mremap, a, 4 * PAGE, 16 * PAGE, MREMAP_MAYMOVE) == errno.ENOMEM
    assert p.mremap(a, 4 * PAGE, 12 * PAGE, MREMAP_MAYMOVE)
    q = Process()
    b = q.mmap(0, 4 * PAGE, RW, ANON)
    r = q.mmap(0, 4 * PAGE, PROT_READ, ANON)
    q.setrlimit(RLIMIT_DATA, (q.mm.data_vm << 12) + 8 * PAGE, -1)
    assert errno_of(q.mremap, b, 4 * PAGE, 16 * PAGE, MREMAP_MAYMOVE) == errno.ENOMEM
    assert q.mremap(r, 4 * PAGE, 16 * PAGE, MREMAP_MAYMOVE)
