"""mmap/munmap/mprotect/madvise/mseal scenarios ported from LTP, the kernel's mm selftests
and gVisor.

Each scenario runs on the model (a bare ``vmsim.process.Process``) and on the live kernel
(``vmsim.verify.live.LiveProcess``; skipped when the live side cannot run here).  Only the
scenarios were ported -- what is done and what is expected; each docstring names the
original (repository, file, test function).  Where Linux 6.18 contradicts an older published
expectation the test asserts what 6.18 does and says so.

As in test_mremap_ported.py, layouts are built inside areas the test reserved itself
(:func:`carve`) and compared as page offsets from the start of the area; nothing outside
the test's own mappings is ever unmapped, protected or mapped over.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from sides import carve, errno_of, faults, is_model, layout, maps_entries, vma_of
from vmsim.uapi import (
    MADV_DONTFORK,
    MADV_DONTNEED,
    MADV_DONTNEED_LOCKED,
    MADV_FREE,
    MADV_NORMAL,
    MADV_RANDOM,
    MADV_REMOVE,
    MADV_SEQUENTIAL,
    MADV_WILLNEED,
    MADV_WIPEONFORK,
    MAP_32BIT,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_GROWSDOWN,
    MAP_LOCKED,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_SHARED_VALIDATE,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    ULONG_MAX,
)

PAGE = PAGE_SIZE
MIB = 1 << 20
TASK_SIZE = 0x7FFFFFFFF000
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
SHANON = MAP_SHARED | MAP_ANONYMOUS


# -- the two sides ----------------------------------------------------------------------------


def smaps_of(side: Any, addr: int) -> dict[str, str]:
    """The smaps fields (values as text, 'kB' dropped) of the VMA containing addr."""
    fields: dict[str, str] = {}
    inside = False
    for line in side.smaps().splitlines():
        head = line.split(" ", 1)[0]
        if "-" in head and ":" not in head:
            if inside:
                break
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= addr < hi
        elif inside:
            key, _, value = line.partition(":")
            fields[key] = value.replace(" kB", "").strip()
    assert fields, f"no VMA at {addr:#x}"
    return fields


def open_file(side: Any, path: Path, data: bytes, flags: int = os.O_RDWR) -> int:
    """A file with ``data`` (written on disk for the kernel, created in the model), opened."""
    if not path.exists():
        path.write_bytes(data)
    if is_model(side):
        if str(path) not in side.files:
            side.create_file(str(path), data)
        return side.open(str(path), flags)
    return side.open(path, flags)


# =============================================================================================
# LTP testcases/kernel/syscalls/mmap
# =============================================================================================


def test_ltp_mmap01_bytes_beyond_eof_are_zero(side: Any, tmp_path: Path) -> None:
    """linux-test-project/ltp mmap01.c: a MAP_SHARED mapping of a 12-byte file: the rest of
    the page beyond EOF reads as zeros and can be written without a fault."""
    text = b"hello world\n"
    fd = open_file(side, tmp_path / "mmapfile", text)
    addr = side.mmap(0, PAGE, RW, MAP_SHARED, fd, 0)
    assert side.read(addr, PAGE) == text + bytes(PAGE - len(text))
    side.write(addr + len(text), b"XYZ")
    assert side.read(addr + len(text), 3) == b"XYZ"


def test_ltp_mmap02_read_only_file_mapping(side: Any, tmp_path: Path) -> None:
    """ltp mmap02.c: PROT_READ mapping of a file opened read-only holds the file's contents;
    (added) a store into it raises SIGSEGV with SEGV_ACCERR."""
    data = b"A" * PAGE
    fd = open_file(side, tmp_path / "mmapfile", data, os.O_RDONLY)
    addr = side.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert side.read(addr, PAGE) == data
    assert faults(side, addr, write=True) == "SIGSEGV SEGV_ACCERR"


def test_ltp_mmap03_exec_only_mapping_is_readable(side: Any, tmp_path: Path) -> None:
    """ltp mmap03.c: a PROT_EXEC private file mapping shows the file's contents (on x86
    without protection keys exec-only pages are readable); maps says '--xp'."""
    data = bytes(range(256)) * (PAGE // 256)
    fd = open_file(side, tmp_path / "mmapfile", data)
    addr = side.mmap(0, PAGE, PROT_EXEC, MAP_PRIVATE, fd, 0)
    assert side.read(addr, PAGE) == data
    assert [e[2] for e in maps_entries(side) if e[0] == addr] == ["--xp"]


def test_ltp_mmap04_read_exec_shared_mapping(side: Any, tmp_path: Path) -> None:
    """ltp mmap04.c: PROT_READ|PROT_EXEC MAP_SHARED mapping of a read-only fd holds the
    file's contents; maps says 'r-xs'."""
    data = b"A" * PAGE
    fd = open_file(side, tmp_path / "mmapfile", data, os.O_RDONLY)
    addr = side.mmap(0, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0)
    assert side.read(addr, PAGE) == data
    assert [e[2] for e in maps_entries(side) if e[0] == addr] == ["r-xs"]


def test_ltp_mmap05_prot_none_faults(side: Any, tmp_path: Path) -> None:
    """ltp mmap05.c: an access to a PROT_NONE file mapping raises SIGSEGV (SEGV_ACCERR)."""
    fd = open_file(side, tmp_path / "mmapfile", b"B" * PAGE)
    addr = side.mmap(0, PAGE, PROT_NONE, MAP_SHARED, fd, 0)
    assert faults(side, addr) == "SIGSEGV SEGV_ACCERR"


MMAP06_CASES = [
    (1024, PROT_WRITE, MAP_PRIVATE, errno.EACCES),
    (1024, PROT_WRITE, MAP_SHARED, errno.EACCES),
    (1024, PROT_READ, MAP_PRIVATE, errno.EACCES),
    (1024, PROT_READ, MAP_SHARED, errno.EACCES),
    (1024, RW, MAP_PRIVATE, errno.EACCES),
    (1024, RW, MAP_SHARED, errno.EACCES),
    (0, RW, MAP_SHARED, errno.EINVAL),
    (1024, RW, 0, errno.EINVAL),
]


@pytest.mark.parametrize("length,prot,flags,expect", MMAP06_CASES)
def test_ltp_mmap06_write_only_fd(
    side: Any, tmp_path: Path, length: int, prot: int, flags: int, expect: int
) -> None:
    """ltp mmap06.c: with a file opened O_WRONLY every mapping is refused with EACCES (the
    fd is not readable); length 0 -> EINVAL; no MAP_SHARED/MAP_PRIVATE type -> EINVAL."""
    fd = open_file(side, tmp_path / "mmapfile", b"A" * PAGE, os.O_WRONLY)
    assert errno_of(side.mmap, 0, length, prot, flags, fd, 0) == expect


def test_ltp_mmap07_private_write_on_write_only_fd(side: Any, tmp_path: Path) -> None:
    """ltp mmap07.c: PROT_WRITE MAP_PRIVATE mapping of a file opened O_WRONLY -> EACCES."""
    fd = open_file(side, tmp_path / "mmapfile", b"A" * PAGE, os.O_WRONLY)
    assert errno_of(side.mmap, 0, PAGE, PROT_WRITE, MAP_PRIVATE, fd, 0) == errno.EACCES


def test_ltp_mmap08_bad_fd(side: Any, tmp_path: Path) -> None:
    """ltp mmap08.c: mapping a file descriptor that was closed -> EBADF."""
    fd = open_file(side, tmp_path / "mmapfile", b"A" * PAGE)
    side.close(fd)
    assert errno_of(side.mmap, 0, PAGE, PROT_WRITE, MAP_SHARED, fd, 0) == errno.EBADF


def test_ltp_mmap12_populate_private_file(side: Any, tmp_path: Path) -> None:
    """ltp mmap12.c: MAP_POPULATE on a private writable 1 MiB file mapping makes every page
    present right away (the original reads pagemap; here smaps' Rss is the whole size)."""
    fd = open_file(side, tmp_path / "mmapfile", bytes(MIB))
    addr = side.mmap(0, MIB, RW, MAP_PRIVATE | MAP_POPULATE, fd, 0)
    assert smaps_of(side, addr)["Rss"] == "1024"


def test_ltp_mmap13_sigbus_beyond_file(side: Any, tmp_path: Path) -> None:
    """ltp mmap13.c: a 2-page shared mapping of a half-page file: an access to the second
    page (no file behind it) raises SIGBUS; the first page (incl. beyond EOF) is fine."""
    fd = open_file(side, tmp_path / "mmapfile", bytes(PAGE // 2))
    addr = side.mmap(0, 2 * PAGE, RW, MAP_SHARED, fd, 0)
    assert faults(side, addr + PAGE + 1, write=True) == "SIGBUS BUS_ADRERR"
    assert faults(side, addr + PAGE - 1, write=True) is None


def test_ltp_mmap14_map_locked(side: Any) -> None:
    """ltp mmap14.c: MAP_LOCKED locks (and populates) the mapping: the original checks VmLck
    grows by the size; here smaps shows Locked = Rss = Size and the 'lo' flag."""
    base = carve(side, 64 * PAGE)
    addr = side.mmap(base, 16 * PAGE, RW, ANON | MAP_LOCKED | MAP_FIXED)
    fields = smaps_of(side, addr)
    assert fields["Locked"] == fields["Rss"] == fields["Size"] == "64"
    assert "lo" in fields["VmFlags"].split()


def test_ltp_mmap15_high_address(side: Any, tmp_path: Path) -> None:
    """ltp mmap15.c: a MAP_FIXED shared file mapping at 1 << 53 (beyond TASK_SIZE) -> ENOMEM."""
    fd = open_file(side, tmp_path / "testfile", b"")
    assert errno_of(side.mmap, 1 << 53, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) == (
        errno.ENOMEM
    )


def test_ltp_mmap17_fixed_noreplace_existing(side: Any, tmp_path: Path) -> None:
    """ltp mmap17.c: mapping a second file with MAP_FIXED_NOREPLACE at the address of an
    existing file mapping -> EEXIST (the first mapping is unchanged)."""
    text = b"Writing to mapped file"
    fd1 = open_file(side, tmp_path / "file1_to_mmap", text)
    fd2 = open_file(side, tmp_path / "file2_to_mmap", text)
    addr = side.mmap(0, len(text), PROT_WRITE, MAP_PRIVATE, fd1, 0)
    flags = MAP_PRIVATE | MAP_FIXED_NOREPLACE
    assert errno_of(side.mmap, addr, len(text), PROT_WRITE, flags, fd2, 0) == errno.EEXIST
    assert side.read(addr, len(text)) == text


@pytest.mark.parametrize("mapped_pages", [4, 16])
@pytest.mark.parametrize("blocked", [False, True], ids=["grows", "blocked"])
def test_ltp_mmap18_growsdown(side: Any, mapped_pages: int, blocked: bool) -> None:
    """ltp mmap18.c: a MAP_GROWSDOWN stack of 32 pages (the top ``mapped_pages`` mapped) with
    256 free pages below it grows when touched down to one page above its bottom; when a page
    is mapped at the stack bottom (inside the 1 MiB stack guard gap) the growth is refused
    and the access raises SIGSEGV (SEGV_MAPERR)."""
    stack = 32 * PAGE
    reserved = 256 * PAGE + stack
    start = carve(side, reserved)
    top = start + reserved
    bottom = top - stack
    side.mmap(top - mapped_pages * PAGE, mapped_pages * PAGE, RW, ANON | MAP_GROWSDOWN | MAP_FIXED)
    if blocked:
        side.mmap(bottom, PAGE, RW, ANON | MAP_FIXED)
        assert faults(side, top - mapped_pages * PAGE - 1, write=True) == "SIGSEGV SEGV_MAPERR"
        assert faults(side, bottom + PAGE, write=True) == "SIGSEGV SEGV_MAPERR"
        assert vma_of(side, top - PAGE) == (top - mapped_pages * PAGE, top)
    else:
        assert faults(side, bottom + PAGE, write=True) is None
        assert vma_of(side, top - PAGE) == (bottom + PAGE, top)


def test_ltp_mmap20_shared_validate_unknown_flag(side: Any, tmp_path: Path) -> None:
    """ltp mmap20.c (its intent): MAP_SHARED_VALIDATE with a flag the kernel does not know
    (0x400, unused on x86-64) on a file -> EOPNOTSUPP."""
    fd = open_file(side, tmp_path / "file_to_mmap", b"a" * 1024)
    flags = MAP_SHARED_VALIDATE | 0x400
    assert errno_of(side.mmap, 0, 1024, RW, flags, fd, 0) == errno.EOPNOTSUPP


@pytest.mark.parametrize(
    "flag",
    [1 << 7, MAP_32BIT, 21 << 26, 30 << 26],
    ids=["bit7_above4g", "map_32bit", "map_huge_2mb", "map_huge_1gb"],
)
def test_ltp_mmap20_shared_validate_bit7_is_map_above4g(
    request: pytest.FixtureRequest, side: Any, tmp_path: Path, flag: int
) -> None:
    """ltp mmap20.c with its literal INVALID_FLAG (1 << 7): published expectation
    EOPNOTSUPP; on x86-64 that bit is MAP_ABOVE4G, which (like MAP_32BIT and the
    MAP_HUGE_2MB/MAP_HUGE_1GB size encodings) belongs to LEGACY_MAP_MASK since 6.4, so
    Linux 6.18 validates it and maps the file."""
    fd = open_file(side, tmp_path / "file_to_mmap", b"a" * 1024)
    addr = side.mmap(0, 1024, RW, MAP_SHARED_VALIDATE | flag, fd, 0)
    assert side.read(addr, 1024) == b"a" * 1024
    if flag == MAP_32BIT:
        assert addr < 1 << 31


def test_selftest_map_fixed_noreplace(side: Any) -> None:
    """selftests/mm/map_fixed_noreplace.c: with pages 1-3 of a free 5-page area mapped,
    MAP_FIXED_NOREPLACE requests that overlap them -- the whole area, a page inside, the end,
    the start -- fail with EEXIST; requests only adjacent to them (page 0, page 4) succeed
    (and, all PROT_NONE, merge into one VMA); the area then unmaps as a whole."""
    base = carve(side, 5 * PAGE)
    flags = ANON | MAP_FIXED_NOREPLACE
    assert side.mmap(base, 5 * PAGE, PROT_NONE, flags) == base
    side.munmap(base, 5 * PAGE)
    assert side.mmap(base + PAGE, 3 * PAGE, PROT_NONE, flags) == base + PAGE
    for first, pages in ((0, 5), (2, 1), (3, 2), (0, 2)):
        got = errno_of(side.mmap, base + first * PAGE, pages * PAGE, PROT_NONE, flags)
        assert got == errno.EEXIST, (first, pages)
    assert layout(side, base, 5 * PAGE) == ["1-4 ---p"]
    assert side.mmap(base, PAGE, PROT_NONE, flags) == base
    assert side.mmap(base + 4 * PAGE, PAGE, PROT_NONE, flags) == base + 4 * PAGE
    assert layout(side, base, 5 * PAGE) == ["0-5 ---p"]
    side.munmap(base, 5 * PAGE)
    assert layout(side, base, 5 * PAGE) == []


# =============================================================================================
# LTP testcases/kernel/syscalls/munmap
# =============================================================================================


def test_ltp_munmap01_whole_file_mapping(side: Any, tmp_path: Path) -> None:
    """ltp munmap01.c: after munmap() of a whole shared file mapping a store to it raises
    SIGSEGV (SEGV_MAPERR)."""
    fd = open_file(side, tmp_path / "mmapfile", bytes(3 * PAGE + 1))
    addr = side.mmap(0, 3 * PAGE, RW, MAP_SHARED, fd, 0)
    side.munmap(addr, 3 * PAGE)
    assert faults(side, addr, write=True) == "SIGSEGV SEGV_MAPERR"
    assert vma_of(side, addr) is None


def test_ltp_munmap02_part_of_file_mapping(side: Any, tmp_path: Path) -> None:
    """ltp munmap02.c: unmapping the last 2 of 3 pages of a shared file mapping succeeds; a
    store to them raises SIGSEGV while the first page stays usable."""
    fd = open_file(side, tmp_path / "mmapfile", bytes(3 * PAGE + 1))
    addr = side.mmap(0, 3 * PAGE, RW, MAP_SHARED, fd, 0)
    side.munmap(addr + PAGE, 2 * PAGE)
    assert faults(side, addr + PAGE, write=True) == "SIGSEGV SEGV_MAPERR"
    assert faults(side, addr, write=True) is None
    assert vma_of(side, addr) == (addr, addr + PAGE)


@pytest.mark.parametrize(
    "case", ["outside_address_space", "beyond_task_size", "zero_length", "unaligned"]
)
def test_ltp_munmap03_einval(side: Any, case: str) -> None:
    """ltp munmap03.c: munmap() -> EINVAL for an address outside the process's address space
    (RLIM_INFINITY there; TASK_SIZE also), for length 0 and for an unaligned address; the
    test's own mapping stays."""
    base = carve(side, 16 * PAGE)
    addr = side.mmap(base, 2 * PAGE, RW, ANON | MAP_FIXED)
    args = {
        "outside_address_space": (ULONG_MAX, 2 * PAGE),
        "beyond_task_size": (TASK_SIZE, 2 * PAGE),
        "zero_length": (addr, 0),
        "unaligned": (addr + 1, PAGE),
    }[case]
    assert errno_of(side.munmap, *args) == errno.EINVAL
    assert layout(side, base, 16 * PAGE) == ["0-2 rw-p"]


def test_ltp_munmap04_split_at_map_count_limit(side: Any) -> None:
    """ltp munmap04.c: 3-page PROT_NONE mappings (with gaps, so they cannot merge) are added
    with MAP_FIXED_NOREPLACE until mmap() fails with ENOMEM at the vm.max_map_count limit
    (65530: a process can reach 65531 VMAs); then unmapping the middle page of one of them,
    which needs two splits, -> ENOMEM.  (Added) unmapping its first page, one split, still
    works."""
    if is_model(side):
        limit = side.mm.config.max_map_count
    else:
        limit = int(Path("/proc/sys/vm/max_map_count").read_text())
        if limit > 65530:
            pytest.skip(f"vm.max_map_count is {limit}; the scenario needs the default 65530")
    size = (limit + 6) * 6 * PAGE
    base = carve(side, size, align=MIB)
    mapped: list[int] = []
    while True:
        at = base + 6 * PAGE * len(mapped)
        try:
            mapped.append(side.mmap(at, 3 * PAGE, PROT_NONE, ANON | MAP_FIXED_NOREPLACE))
        except OSError as err:
            assert err.errno == errno.ENOMEM
            break
    assert len(side.maps().splitlines()) == limit + 1 + 1  # + [vsyscall]
    assert errno_of(side.munmap, mapped[2] + PAGE, PAGE) == errno.ENOMEM
    assert vma_of(side, mapped[2]) == (mapped[2], mapped[2] + 3 * PAGE)
    side.munmap(mapped[2], PAGE)
    assert vma_of(side, mapped[2] + PAGE) == (mapped[2] + PAGE, mapped[2] + 3 * PAGE)


# =============================================================================================
# LTP testcases/kernel/syscalls/mprotect
# =============================================================================================


def test_ltp_mprotect01_errors(side: Any, tmp_path: Path) -> None:
    """ltp mprotect01.c: mprotect() of memory that is not mapped -> ENOMEM (the original uses
    address 0; here the start of an empty area); an unaligned address -> EINVAL; PROT_WRITE
    on a shared mapping of a file opened read-only (/dev/zero there) -> EACCES."""
    base = carve(side, 16 * PAGE)
    assert errno_of(side.mprotect, base, PAGE + 1, PROT_READ) == errno.ENOMEM
    side.mmap(base + 4 * PAGE, PAGE, RW, ANON | MAP_FIXED)
    assert errno_of(side.mprotect, base + 4 * PAGE + 1, 1024, PROT_READ) == errno.EINVAL
    fd = open_file(side, tmp_path / "ro", bytes(PAGE), os.O_RDONLY)
    addr = side.mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0)
    assert errno_of(side.mprotect, addr, PAGE, PROT_WRITE) == errno.EACCES


def test_ltp_mprotect02_read_only_then_writable(side: Any) -> None:
    """ltp mprotect02.c: after mprotect(PROT_READ) a store raises SIGSEGV (SEGV_ACCERR); after
    mprotect(PROT_READ|PROT_WRITE) it succeeds, and the data written before is intact."""
    base = carve(side, 16 * PAGE)
    addr = side.mmap(base, 4 * PAGE, RW, ANON | MAP_FIXED)
    side.write(addr, b"before")
    side.mprotect(addr, 4 * PAGE, PROT_READ)
    assert faults(side, addr + PAGE, write=True) == "SIGSEGV SEGV_ACCERR"
    side.mprotect(addr, 4 * PAGE, RW)
    side.write(addr + PAGE, b"after")
    assert side.read(addr, 6) == b"before"
    assert layout(side, base, 16 * PAGE) == ["0-4 rw-p"]


def test_ltp_mprotect03_shared_file_read_only(side: Any, tmp_path: Path) -> None:
    """ltp mprotect03.c: a shared RW file mapping made PROT_READ faults on a store
    (SIGSEGV SEGV_ACCERR) but still reads the file."""
    fd = open_file(side, tmp_path / "file", b"x" * PAGE)
    addr = side.mmap(0, PAGE, RW, MAP_SHARED, fd, 0)
    side.mprotect(addr, PAGE, PROT_READ)
    assert faults(side, addr, write=True) == "SIGSEGV SEGV_ACCERR"
    assert side.read(addr, 1) == b"x"


def test_ltp_mprotect04_prot_none_and_exec(side: Any) -> None:
    """ltp mprotect04.c (testfunc_protnone / testfunc_protexec, without running code): a page
    made PROT_NONE faults on any access (SEGV_ACCERR); made PROT_EXEC it is readable again
    (x86, no pkeys) but not writable."""
    base = carve(side, 16 * PAGE)
    addr = side.mmap(base, PAGE, RW, ANON | MAP_FIXED)
    side.write(addr, b"\x90\xc3")
    side.mprotect(addr, PAGE, PROT_NONE)
    assert faults(side, addr) == "SIGSEGV SEGV_ACCERR"
    side.mprotect(addr, PAGE, PROT_EXEC)
    assert side.read(addr, 2) == b"\x90\xc3"
    assert faults(side, addr, write=True) == "SIGSEGV SEGV_ACCERR"
    assert layout(side, base, 16 * PAGE) == ["0-1 --xp"]


def test_ltp_mprotect05_split_and_merge(side: Any, tmp_path: Path) -> None:
    """ltp mprotect05.c (bugzilla 217061): a 5-page shared PROT_READ file mapping; page 1
    made PROT_EXEC, page 3 PROT_WRITE, then pages 1-4 PROT_READ again: every call succeeds.
    (Added) maps: five VMAs in between, and one 5-page VMA at the end (page 1 merges with
    both read-only neighbours, then page 3 with both of its)."""
    fd = open_file(side, tmp_path / "mprotect05-testfile", bytes(5 * PAGE))
    base = carve(side, 16 * PAGE)
    addr = side.mmap(base, 5 * PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0)
    side.mprotect(addr + PAGE, PAGE, PROT_EXEC)
    side.mprotect(addr + 3 * PAGE, PAGE, PROT_WRITE)
    assert layout(side, base, 5 * PAGE) == [
        "0-1 r--s",
        "1-2 --xs",
        "2-3 r--s",
        "3-4 -w-s",
        "4-5 r--s",
    ]
    side.mprotect(addr + PAGE, 4 * PAGE, PROT_READ)
    assert layout(side, base, 5 * PAGE) == ["0-5 r--s"]
    side.munmap(addr, 5 * PAGE)
    assert layout(side, base, 16 * PAGE) == []


# =============================================================================================
# LTP testcases/kernel/syscalls/madvise and gVisor test/syscalls/linux/madvise.cc
# =============================================================================================


def test_ltp_madvise02_errors(side: Any, tmp_path: Path) -> None:
    """ltp madvise02.c: unaligned start -> EINVAL; unknown advice 1212 -> EINVAL;
    MADV_DONTNEED on locked pages -> EINVAL (mlock() there, MAP_LOCKED here); a range that
    runs into an unmapped part -> ENOMEM; MADV_WILLNEED on anonymous memory: published
    expectation EBADF, Linux 6.18 returns success."""
    size = 16 * PAGE
    data = b"abcdefghijklmnopqrstuvwxyz12345\n" * (size // 32)
    fd = open_file(side, tmp_path / "madvise02-out", data)
    base = carve(side, 64 * PAGE)
    file = side.mmap(base, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0)
    assert errno_of(side.madvise, file + 100, size, MADV_NORMAL) == errno.EINVAL
    assert errno_of(side.madvise, file, size, 1212) == errno.EINVAL
    locked = side.mmap(
        base + 32 * PAGE, size, PROT_READ, MAP_SHARED | MAP_LOCKED | MAP_FIXED, fd, 0
    )
    assert errno_of(side.madvise, locked, size, MADV_DONTNEED) == errno.EINVAL
    side.munmap(locked, size)
    side.munmap(file + size // 2, size // 2)
    assert errno_of(side.madvise, file, size, MADV_NORMAL) == errno.ENOMEM
    heap = side.mmap(base + 48 * PAGE, 5 * PAGE, RW, ANON | MAP_FIXED)
    assert errno_of(side.madvise, heap, 5 * PAGE, MADV_WILLNEED) == 0


@pytest.mark.parametrize(
    "advice", [MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED]
)
def test_ltp_madvise01_advice_on_file_and_anon(side: Any, tmp_path: Path, advice: int) -> None:
    """ltp madvise01.c: the classic advices succeed on a private file mapping and on an
    anonymous mapping, each applied to the whole VMA, so the VMAs keep their extent and
    the file's contents are still there."""
    fd = open_file(side, tmp_path / "madvise01", b"z" * 8 * PAGE)
    base = carve(side, 32 * PAGE)
    fmap = side.mmap(base, 8 * PAGE, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)
    amap = side.mmap(base + 16 * PAGE, 8 * PAGE, RW, ANON | MAP_FIXED)
    side.madvise(fmap, 8 * PAGE, advice)
    side.madvise(amap, 8 * PAGE, advice)
    assert layout(side, base, 32 * PAGE) == ["0-8 rw-p", "16-24 rw-p"]
    assert side.read(fmap, 1) == b"z"


@pytest.mark.parametrize(
    "kind,expect",
    [("private_anon", 0), ("shared_anon", 3), ("private_file", 4), ("shared_file", 7)],
)
def test_gvisor_madvise_dontneed(side: Any, tmp_path: Path, kind: str, expect: int) -> None:
    """gvisor madvise.cc MadviseDontneedTest.ZerosPrivateAnonPage / DoesNotModifySharedAnonPage
    / CleansPrivateFilePage / DoesNotModifySharedFilePage: a page is written, then
    MADV_DONTNEED: private anonymous memory reads zeros again, shared anonymous memory keeps
    the data, a private file page shows the file again (the COW copy is dropped), a shared
    file page keeps the data."""
    base = carve(side, 16 * PAGE)
    if kind.endswith("anon"):
        flags = ANON if kind == "private_anon" else SHANON
        m = side.mmap(base, PAGE, RW, flags | MAP_FIXED)
        fill = 1 if kind == "private_anon" else 3
    else:
        content = 4 if kind == "private_file" else 6
        fd = open_file(side, tmp_path / kind, bytes([content]) * PAGE)
        flags = MAP_PRIVATE if kind == "private_file" else MAP_SHARED
        m = side.mmap(base, PAGE, RW, flags | MAP_FIXED, fd, 0)
        assert side.read(m, PAGE) == bytes([content]) * PAGE
        fill = 5 if kind == "private_file" else 7
    side.write(m, bytes([fill]) * PAGE)
    side.madvise(m, PAGE, MADV_DONTNEED)
    assert side.read(m, PAGE) == bytes([expect]) * PAGE


def test_gvisor_madvise_dontneed_ignores_permissions(side: Any) -> None:
    """gvisor madvise.cc MadviseDontneedTest.IgnoresPermissions: MADV_DONTNEED on a PROT_NONE
    private mapping succeeds."""
    base = carve(side, 16 * PAGE)
    m = side.mmap(base, PAGE, PROT_NONE, ANON | MAP_FIXED)
    side.madvise(m, PAGE, MADV_DONTNEED)


def test_gvisor_madvise_dontfork_address_length(side: Any) -> None:
    """gvisor madvise.cc MadviseDontforkTest.AddressLength: MADV_DONTFORK with an unaligned
    address -> EINVAL; length 0 -> success; a length that wraps when rounded up (from
    address 0) -> EINVAL; an unaligned length is rounded up -> success."""
    base = carve(side, 16 * PAGE)
    m = side.mmap(base, PAGE, PROT_NONE, ANON | MAP_FIXED)
    assert errno_of(side.madvise, m + 1, PAGE, MADV_DONTFORK) == errno.EINVAL
    assert errno_of(side.madvise, m, 0, MADV_DONTFORK) == 0
    assert errno_of(side.madvise, 0, ULONG_MAX - PAGE // 2, MADV_DONTFORK) == errno.EINVAL
    assert errno_of(side.madvise, m, 1, MADV_DONTFORK) == 0
    assert errno_of(side.madvise, m, PAGE, MADV_DONTFORK) == 0


def test_gvisor_madvise_dontfork_middle_page(side: Any) -> None:
    """gvisor madvise.cc MadviseDontforkTest.DontforkAnonPrivate (the parent's side; fork is
    not modelled): MADV_DONTFORK on the middle page of three splits the VMA in three and the
    pages keep their contents 1, 2, 3."""
    base = carve(side, 16 * PAGE)
    m = side.mmap(base, 3 * PAGE, RW, ANON | MAP_FIXED)
    side.madvise(m + PAGE, PAGE, MADV_DONTFORK)
    for i in range(3):
        assert side.read(m + i * PAGE, PAGE) == bytes(PAGE)
        side.write(m + i * PAGE, bytes([i + 1]) * PAGE)
    assert layout(side, base, 16 * PAGE) == ["0-1 rw-p", "1-2 rw-p", "2-3 rw-p"]
    for i in range(3):
        assert side.read(m + i * PAGE, PAGE) == bytes([i + 1]) * PAGE


# =============================================================================================
# torvalds/linux tools/testing/selftests/mm/merge.c (the mprotect tests and the plain part
# of ksm_merge; the carveout is a PROT_NONE area that the tests map over with MAP_FIXED)
# =============================================================================================


@pytest.fixture
def carveout(side: Any) -> int:
    """merge.c FIXTURE_SETUP: a 30-page PROT_NONE carveout to map over."""
    return side.mmap(0, 30 * PAGE, PROT_NONE, ANON)


def rw_noreserve(side: Any, at: int, pages: int) -> int:
    return side.mmap(at, pages * PAGE, RW, ANON | MAP_FIXED | MAP_NORESERVE)


def test_selftest_merge_mprotect_unfaulted_left(side: Any, carveout: int) -> None:
    """merge.c mprotect_unfaulted_left: 10 RW pages, the first 5 made read-only, the 6th page
    faulted, then the last 5 made read-only: they merge with the unfaulted left part into
    one 10-page VMA."""
    ptr = rw_noreserve(side, carveout + PAGE, 10)
    side.mprotect(ptr, 5 * PAGE, PROT_READ)
    side.write(ptr + 5 * PAGE, b"x")
    side.mprotect(ptr + 5 * PAGE, 5 * PAGE, PROT_READ)
    assert vma_of(side, ptr) == (ptr, ptr + 10 * PAGE)


def test_selftest_merge_mprotect_unfaulted_right(side: Any, carveout: int) -> None:
    """merge.c mprotect_unfaulted_right: mirror image -- the last 5 pages read-only, page 0
    faulted, then the first 5 made read-only: one 10-page VMA."""
    ptr = rw_noreserve(side, carveout + PAGE, 10)
    side.mprotect(ptr + 5 * PAGE, 5 * PAGE, PROT_READ)
    side.write(ptr, b"x")
    side.mprotect(ptr, 5 * PAGE, PROT_READ)
    assert vma_of(side, ptr) == (ptr, ptr + 10 * PAGE)


def test_selftest_merge_mprotect_unfaulted_both(side: Any, carveout: int) -> None:
    """merge.c mprotect_unfaulted_both: 9 pages, first and last 3 read-only, the middle 3
    faulted then made read-only: one 9-page VMA."""
    ptr = rw_noreserve(side, carveout + 2 * PAGE, 9)
    side.mprotect(ptr, 3 * PAGE, PROT_READ)
    side.mprotect(ptr + 6 * PAGE, 3 * PAGE, PROT_READ)
    side.write(ptr + 3 * PAGE, b"x")
    side.mprotect(ptr + 3 * PAGE, 3 * PAGE, PROT_READ)
    assert vma_of(side, ptr) == (ptr, ptr + 9 * PAGE)


def test_selftest_merge_mprotect_faulted_left_unfaulted_right(side: Any, carveout: int) -> None:
    """merge.c mprotect_faulted_left_unfaulted_right: last 3 of 9 pages read-only, page 0
    faulted, first 3 made read-only (faulted), then the middle 3: one 9-page VMA."""
    ptr = rw_noreserve(side, carveout + 2 * PAGE, 9)
    side.mprotect(ptr + 6 * PAGE, 3 * PAGE, PROT_READ)
    side.write(ptr, b"x")
    side.mprotect(ptr, 3 * PAGE, PROT_READ)
    side.mprotect(ptr + 3 * PAGE, 3 * PAGE, PROT_READ)
    assert vma_of(side, ptr) == (ptr, ptr + 9 * PAGE)


def test_selftest_merge_mprotect_unfaulted_left_faulted_right(side: Any, carveout: int) -> None:
    """merge.c mprotect_unfaulted_left_faulted_right: first 3 of 9 pages read-only, page 3
    faulted, last 3 made read-only, then the middle 3: one 9-page VMA."""
    ptr = rw_noreserve(side, carveout + 2 * PAGE, 9)
    side.mprotect(ptr, 3 * PAGE, PROT_READ)
    side.write(ptr + 3 * PAGE, b"x")
    side.mprotect(ptr + 6 * PAGE, 3 * PAGE, PROT_READ)
    side.mprotect(ptr + 3 * PAGE, 3 * PAGE, PROT_READ)
    assert vma_of(side, ptr) == (ptr, ptr + 9 * PAGE)


def test_selftest_merge_adjacent_maps(side: Any, carveout: int) -> None:
    """merge.c ksm_merge (the part before KSM is switched on): two adjacent one-page RW maps
    merge into one VMA; after unmapping the second page and mapping it again they merge
    again; after unmapping both the same holds."""
    ptr = side.mmap(carveout + PAGE, PAGE, RW, ANON | MAP_FIXED)
    side.mmap(carveout + 2 * PAGE, PAGE, RW, ANON | MAP_FIXED)
    assert vma_of(side, ptr) == (ptr, ptr + 2 * PAGE)
    side.munmap(ptr + PAGE, PAGE)
    side.mmap(carveout + 2 * PAGE, PAGE, RW, ANON | MAP_FIXED)
    assert vma_of(side, ptr) == (ptr, ptr + 2 * PAGE)
    side.munmap(ptr, 2 * PAGE)
    side.mmap(carveout + PAGE, PAGE, RW, ANON | MAP_FIXED)
    side.mmap(carveout + 2 * PAGE, PAGE, RW, ANON | MAP_FIXED)
    assert vma_of(side, ptr) == (ptr, ptr + 2 * PAGE)


# =============================================================================================
# selftests/mm/mseal_test.c (munmap, mprotect, madvise and mmap on sealed memory;
# setup_single_address maps PROT_READ private anonymous memory)
# =============================================================================================

SEAL = pytest.mark.parametrize("seal", [False, True], ids=["unsealed", "sealed"])


def ro(side: Any, at: int, pages: int) -> int:
    return side.mmap(at, pages * PAGE, PROT_READ, ANON | MAP_FIXED)


def test_selftest_mseal_unmapped_parts(side: Any) -> None:
    """mseal_test.c test_seal_unmapped_start / _middle / _end: with part of a 4-page range
    unmapped, mprotect() and mseal() of the whole range fail (ENOMEM) while sealing the
    mapped parts works."""
    base = carve(side, 64 * PAGE)
    for at, hole in ((0, (0, 2)), (16, (1, 3)), (32, (2, 4))):
        ptr = ro(side, base + at * PAGE, 4)
        side.munmap(ptr + hole[0] * PAGE, (hole[1] - hole[0]) * PAGE)
        assert errno_of(side.mprotect, ptr, 4 * PAGE, RW) == errno.ENOMEM
        assert errno_of(side.mseal, ptr, 4 * PAGE) == errno.ENOMEM
        for first, end in ((0, hole[0]), (hole[1], 4)):
            if end > first:
                side.mseal(ptr + first * PAGE, (end - first) * PAGE)


def test_selftest_mseal_multiple_vmas_and_splits(side: Any) -> None:
    """mseal_test.c test_seal_multiple_vmas / test_seal_split_start / test_seal_split_end /
    test_seal_twice: mseal() covers several VMAs at once, splits a VMA when sealing part of
    it, and sealing an already sealed range again succeeds."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 4)
    side.mprotect(ptr + PAGE, 2 * PAGE, RW)
    side.mprotect(ptr, 4 * PAGE, PROT_READ)
    side.mprotect(ptr + PAGE, 2 * PAGE, RW)
    side.mseal(ptr, 4 * PAGE)
    side.mseal(ptr, 4 * PAGE)
    assert layout(side, base, 4 * PAGE) == ["0-1 r--p", "1-3 rw-p", "3-4 r--p"]
    ptr = ro(side, base + 16 * PAGE, 4)
    side.mprotect(ptr, 2 * PAGE, RW)
    side.mseal(ptr, PAGE)
    assert layout(side, ptr, 4 * PAGE) == ["0-1 rw-p", "1-2 rw-p", "2-4 r--p"]
    side.mseal(ptr + PAGE, 3 * PAGE)
    assert layout(side, ptr, 4 * PAGE) == ["0-2 rw-p", "2-4 r--p"]
    ptr = ro(side, base + 32 * PAGE, 4)
    side.mprotect(ptr, 2 * PAGE, RW)
    side.mseal(ptr + 3 * PAGE, PAGE)
    side.mseal(ptr, 3 * PAGE)
    assert errno_of(side.munmap, ptr, 4 * PAGE) == errno.EPERM


def test_selftest_mseal_invalid_input(side: Any) -> None:
    """mseal_test.c test_seal_invalid_input / test_seal_zero_length: an unknown flag and an
    unaligned start -> EINVAL; a range running past the mapping, a huge length and a start in
    a hole -> ENOMEM (the selftest only asks for a failure); length 0 succeeds and seals
    nothing."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base + 8 * PAGE, 8)
    side.munmap(ptr + 4 * PAGE, 4 * PAGE)
    assert errno_of(side.mseal, ptr, 4 * PAGE, 0x20) == errno.EINVAL
    assert errno_of(side.mseal, ptr + 1, 2 * PAGE) == errno.EINVAL
    assert errno_of(side.mseal, ptr, 5 * PAGE) == errno.ENOMEM
    assert errno_of(side.mseal, ptr, ULONG_MAX // PAGE) == errno.ENOMEM
    assert errno_of(side.mseal, ptr - PAGE, 5 * PAGE) == errno.ENOMEM
    side.mprotect(ptr, 0, RW)
    side.mseal(ptr, 0)
    side.mprotect(ptr, 4 * PAGE, RW)
    assert layout(side, base, 64 * PAGE) == ["8-12 rw-p"]


@SEAL
def test_selftest_mseal_munmap(side: Any, seal: bool) -> None:
    """mseal_test.c test_seal_munmap / test_seal_munmap_two_vma: munmap() of sealed memory
    -> EPERM, also for parts and across two VMAs; unsealed it succeeds."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 4)
    two = ro(side, base + 16 * PAGE, 4)
    side.mprotect(two, 2 * PAGE, RW)
    if seal:
        side.mseal(ptr, 4 * PAGE)
        side.mseal(two, 4 * PAGE)
    expect = errno.EPERM if seal else 0
    assert errno_of(side.munmap, ptr, 4 * PAGE) == expect
    assert errno_of(side.munmap, two, 2 * PAGE) == expect
    assert errno_of(side.munmap, two + PAGE, 2 * PAGE) == expect
    remaining = ["0-4 r--p", "16-18 rw-p", "18-20 r--p"] if seal else ["19-20 r--p"]
    assert layout(side, base, 64 * PAGE) == remaining


def test_selftest_mseal_munmap_vma_with_gap(side: Any) -> None:
    """mseal_test.c test_seal_munmap_vma_with_gap: sealing 4 pages whose middle 2 are unmapped
    fails; the two remaining pages can be unmapped one by one and then the whole range."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 4)
    side.munmap(ptr + PAGE, 2 * PAGE)
    assert errno_of(side.mseal, ptr, 4 * PAGE) == errno.ENOMEM
    side.munmap(ptr, PAGE)
    side.munmap(ptr + 2 * PAGE, PAGE)
    side.munmap(ptr, 4 * PAGE)
    assert layout(side, base, 64 * PAGE) == []


@SEAL
@pytest.mark.parametrize("freed", ["start", "middle", "end"])
def test_selftest_mseal_munmap_partly_freed(side: Any, seal: bool, freed: str) -> None:
    """mseal_test.c test_munmap_start_freed / _middle_freed / _end_freed: part of 4 pages is
    unmapped, (part of) the rest sealed, then all 4 pages unmapped: sealed -> EPERM and the
    remaining VMAs are untouched (nothing is unmapped, not even unsealed pieces); unsealed
    -> success, nothing left (holes in a munmap range are fine)."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 4)
    hole, sealed, left = {
        "start": ((0, 1), (1, 4), ["1-4 r--p"]),
        "middle": ((1, 3), (0, 1), ["0-1 r--p", "3-4 r--p"]),
        "end": ((3, 4), (0, 3), ["0-3 r--p"]),
    }[freed]
    side.munmap(ptr + hole[0] * PAGE, (hole[1] - hole[0]) * PAGE)
    if seal:
        side.mseal(ptr + sealed[0] * PAGE, (sealed[1] - sealed[0]) * PAGE)
        assert errno_of(side.munmap, ptr, 4 * PAGE) == errno.EPERM
        assert layout(side, base, 64 * PAGE) == left
    else:
        side.munmap(ptr, 4 * PAGE)
        assert layout(side, base, 64 * PAGE) == []


@SEAL
def test_selftest_mseal_mprotect(side: Any, seal: bool) -> None:
    """mseal_test.c test_seal_mprotect / test_seal_start_mprotect / test_seal_end_mprotect:
    mprotect() of a sealed range (whole, first page, last 3 pages) -> EPERM, while unsealed
    neighbours can still be changed."""
    base = carve(side, 64 * PAGE)
    whole, start, end = (
        ro(side, base, 4),
        ro(side, base + 16 * PAGE, 4),
        ro(side, base + 32 * PAGE, 4),
    )
    if seal:
        side.mseal(whole, 4 * PAGE)
        side.mseal(start, PAGE)
        side.mseal(end + PAGE, 3 * PAGE)
    expect = errno.EPERM if seal else 0
    assert errno_of(side.mprotect, whole, 4 * PAGE, RW) == expect
    assert errno_of(side.mprotect, start, PAGE, RW) == expect
    assert errno_of(side.mprotect, start + PAGE, 3 * PAGE, RW) == 0
    assert errno_of(side.mprotect, end, PAGE, RW) == 0
    assert errno_of(side.mprotect, end + PAGE, 3 * PAGE, RW) == expect


@SEAL
@pytest.mark.parametrize("sealed_len,pages", [(2 * PAGE - 1, 2), (2 * PAGE + 1, 3)])
def test_selftest_mseal_mprotect_unalign_len(
    side: Any, seal: bool, sealed_len: int, pages: int
) -> None:
    """mseal_test.c test_seal_mprotect_unalign_len / _variant_2: an unaligned mseal() length
    is rounded up to whole pages (2 and 3 pages), which mprotect() then cannot change;
    the page after them can."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 4)
    if seal:
        side.mseal(ptr, sealed_len)
    assert errno_of(side.mprotect, ptr, pages * PAGE, RW) == (errno.EPERM if seal else 0)
    side.mprotect(ptr + pages * PAGE, PAGE, RW)


@SEAL
def test_selftest_mseal_mprotect_two_vmas(side: Any, seal: bool) -> None:
    """mseal_test.c test_seal_mprotect_two_vma / _two_vma_with_split / _partial_mprotect /
    _split / _merge: with (part of) a two-VMA range sealed, mprotect() of any range touching
    a sealed page -> EPERM (also when only its first page is sealed), of unsealed pages it
    works."""
    base = carve(side, 64 * PAGE)
    expect = errno.EPERM if seal else 0
    two = ro(side, base, 4)
    side.mprotect(two, 2 * PAGE, RW)
    split = ro(side, base + 8 * PAGE, 4)
    side.mprotect(split, 2 * PAGE, RW)
    partial = ro(side, base + 16 * PAGE, 4)
    merge = ro(side, base + 24 * PAGE, 4)
    side.mprotect(merge, PAGE, RW)
    if seal:
        side.mseal(two, 4 * PAGE)
        side.mseal(split + PAGE, 2 * PAGE)
        side.mseal(partial, PAGE)
        side.mseal(merge, 2 * PAGE)
    assert errno_of(side.mprotect, two, 2 * PAGE, RW) == expect
    assert errno_of(side.mprotect, two + 2 * PAGE, 2 * PAGE, RW) == expect
    assert errno_of(side.mprotect, split, PAGE, RW) == 0
    assert errno_of(side.mprotect, split + PAGE, PAGE, RW) == expect
    assert errno_of(side.mprotect, split + 2 * PAGE, PAGE, RW) == expect
    assert errno_of(side.mprotect, split + 3 * PAGE, PAGE, RW) == 0
    assert errno_of(side.mprotect, partial, 2 * PAGE, RW) == expect
    assert errno_of(side.mprotect, merge, 2 * PAGE, PROT_READ) == expect
    assert errno_of(side.mprotect, merge + 2 * PAGE, 2 * PAGE, PROT_READ) == 0


def test_selftest_mseal_mprotect_two_vma_with_gap(side: Any) -> None:
    """mseal_test.c test_seal_mprotect_two_vma_with_gap: pages 0 and 3 RW, 1-2 unmapped:
    mprotect(PROT_READ) of all 4 pages fails (ENOMEM) but has already changed page 0; mseal
    of the range fails; each page can still be mprotect()ed on its own."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 4)
    side.mprotect(ptr, PAGE, RW)
    side.mprotect(ptr + 3 * PAGE, PAGE, RW)
    side.munmap(ptr + PAGE, 2 * PAGE)
    assert errno_of(side.mprotect, ptr, 4 * PAGE, PROT_READ) == errno.ENOMEM
    assert layout(side, base, 64 * PAGE) == ["0-1 r--p", "3-4 rw-p"]
    assert errno_of(side.mseal, ptr, 4 * PAGE) == errno.ENOMEM
    side.mprotect(ptr, PAGE, PROT_READ)
    side.mprotect(ptr + 3 * PAGE, PAGE, PROT_READ)


def test_selftest_mseal_merge_and_split(side: Any) -> None:
    """mseal_test.c test_seal_merge_and_split: 24 read-only pages with PROT_NONE ends;
    sealing single pages at either end of the middle splits it, sealing neighbouring pages
    merges them with the sealed VMAs (2, then 3 pages at each end), sealed pages refuse
    munmap/mprotect, and sealing the whole middle leaves one sealed 22-page VMA."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 24)
    side.mprotect(ptr, PAGE, PROT_NONE)
    side.mprotect(ptr + 23 * PAGE, PAGE, PROT_NONE)
    assert vma_of(side, ptr + PAGE) == (ptr + PAGE, ptr + 23 * PAGE)
    side.mseal(ptr + PAGE, PAGE)
    assert layout(side, ptr, 24 * PAGE) == ["0-1 ---p", "1-2 r--p", "2-23 r--p", "23-24 ---p"]
    side.mseal(ptr + 22 * PAGE, PAGE)
    assert vma_of(side, ptr + 2 * PAGE) == (ptr + 2 * PAGE, ptr + 22 * PAGE)
    side.mseal(ptr + 2 * PAGE, PAGE)
    assert vma_of(side, ptr + PAGE) == (ptr + PAGE, ptr + 3 * PAGE)
    side.mseal(ptr + 21 * PAGE, PAGE)
    assert vma_of(side, ptr + 21 * PAGE) == (ptr + 21 * PAGE, ptr + 23 * PAGE)
    side.mseal(ptr + 2 * PAGE, 2 * PAGE)
    assert vma_of(side, ptr + PAGE) == (ptr + PAGE, ptr + 4 * PAGE)
    assert errno_of(side.munmap, ptr + PAGE, PAGE) == errno.EPERM
    assert errno_of(side.mprotect, ptr + 2 * PAGE, PAGE, PROT_NONE) == errno.EPERM
    side.mseal(ptr + 20 * PAGE, 2 * PAGE)
    assert vma_of(side, ptr + 20 * PAGE) == (ptr + 20 * PAGE, ptr + 23 * PAGE)
    side.mseal(ptr + 2 * PAGE, 20 * PAGE)
    assert layout(side, ptr, 24 * PAGE) == ["0-1 ---p", "1-23 r--p", "23-24 ---p"]


def test_selftest_mseal_zero_address(side: Any) -> None:
    """mseal_test.c test_seal_zero_address: a MAP_FIXED PROT_NONE mapping at address 0
    (allowed for root) of 4 pages can be sealed, after which mprotect() of it fails (EPERM)."""
    if not is_model(side) and os.geteuid() != 0:
        pytest.skip("mapping address 0 needs CAP_SYS_RAWIO")
    assert side.mmap(0, 4 * PAGE, PROT_NONE, ANON | MAP_FIXED) == 0
    assert vma_of(side, 0) == (0, 4 * PAGE)
    side.mseal(0, 4 * PAGE)
    assert errno_of(side.mprotect, 0, 4 * PAGE, RW) == errno.EPERM


@SEAL
@pytest.mark.parametrize("kind", ["ro_anon", "rw_anon", "shared_anon", "private_file"])
def test_selftest_mseal_discard(
    request: pytest.FixtureRequest, side: Any, tmp_path: Path, seal: bool, kind: str
) -> None:
    """mseal_test.c test_seal_discard_ro_anon / _on_rw / _on_shared / _on_filebacked:
    MADV_DONTNEED discards pages, which sealing forbids only for read-only private anonymous
    memory (EPERM); writable, shared and file-backed sealed mappings may discard.  munmap()
    stays refused for every sealed mapping."""
    base = carve(side, 64 * PAGE)
    if kind == "private_file":
        fd = open_file(side, tmp_path / "memfd", bytes(4 * PAGE))
        ptr = side.mmap(base, 4 * PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0)
    else:
        prot = RW if kind == "rw_anon" else PROT_READ
        flags = SHANON if kind == "shared_anon" else ANON
        ptr = side.mmap(base, 4 * PAGE, prot, flags | MAP_FIXED)
    if seal:
        side.mseal(ptr, 4 * PAGE)
    refused = seal and kind == "ro_anon"
    assert errno_of(side.madvise, ptr, 4 * PAGE, MADV_DONTNEED) == (errno.EPERM if refused else 0)
    assert errno_of(side.munmap, ptr, 4 * PAGE) == (errno.EPERM if seal else 0)


@SEAL
@pytest.mark.parametrize(
    "advice,unsealed",
    [
        (MADV_DONTNEED, 0),
        (MADV_FREE, 0),
        (MADV_REMOVE, errno.EINVAL),
        (MADV_DONTFORK, 0),
        (MADV_WIPEONFORK, 0),
        (MADV_DONTNEED_LOCKED, 0),
    ],
    ids=["dontneed", "free", "remove", "dontfork", "wipeonfork", "dontneed_locked"],
)
def test_selftest_mseal_discard_advices(
    request: pytest.FixtureRequest, side: Any, seal: bool, advice: int, unsealed: int
) -> None:
    """mseal_test.c test_seal_discard_ro_anon, extended from MADV_DONTNEED to every advice
    the kernel counts as discarding (is_discard()): on sealed read-only private anonymous
    memory each is refused with EPERM (checked before MADV_REMOVE's own EINVAL for private
    memory); unsealed they succeed, except MADV_REMOVE (EINVAL, not shared)."""
    base = carve(side, 16 * PAGE)
    ptr = ro(side, base, 4)
    if seal:
        side.mseal(ptr, 4 * PAGE)
    assert errno_of(side.madvise, ptr, 4 * PAGE, advice) == (errno.EPERM if seal else unsealed)


def test_selftest_mseal_discard_across_vmas(request: pytest.FixtureRequest, side: Any) -> None:
    """mseal_test.c test_seal_discard_across_vmas: of two read-only pages only the second is
    sealed; MADV_DONTNEED over both -> EPERM.  (Added, as 6.18 does it: the VMAs are
    handled in order, so the unsealed first page has already been discarded -- it reads 0
    -- while the sealed page keeps its data.)"""
    base = carve(side, 16 * PAGE)
    ptr = side.mmap(base, 2 * PAGE, RW, ANON | MAP_FIXED)
    side.write(ptr, b"\x11" * 2 * PAGE)
    side.mprotect(ptr, 2 * PAGE, PROT_READ)
    side.mseal(ptr + PAGE, PAGE)
    assert errno_of(side.madvise, ptr, 2 * PAGE, MADV_DONTNEED) == errno.EPERM
    assert side.read(ptr, PAGE) == bytes(PAGE)
    assert side.read(ptr + PAGE, PAGE) == b"\x11" * PAGE


@SEAL
def test_selftest_mseal_madvise_nodiscard(side: Any, seal: bool) -> None:
    """mseal_test.c test_seal_madvise_nodiscard: an advice that does not touch page contents
    (MADV_RANDOM) is allowed on sealed read-only anonymous memory."""
    base = carve(side, 64 * PAGE)
    ptr = ro(side, base, 4)
    if seal:
        side.mseal(ptr, 4 * PAGE)
    side.madvise(ptr, 4 * PAGE, MADV_RANDOM)
    assert errno_of(side.munmap, ptr, 4 * PAGE) == (errno.EPERM if seal else 0)


@SEAL
@pytest.mark.parametrize("kind", ["overwrite_prot", "expand", "shrink"])
def test_selftest_mseal_mmap_over_sealed(side: Any, seal: bool, kind: str) -> None:
    """mseal_test.c test_seal_mmap_overwrite_prot / _mmap_expand / _mmap_shrink: a MAP_FIXED
    mapping over (part of, or more than) sealed memory -> EPERM; unsealed it returns the
    address."""
    base = carve(side, 64 * PAGE)
    pages, sealed, new_pages = {
        "overwrite_prot": (1, 1, 1),
        "expand": (12, 8, 12),
        "shrink": (12, 12, 8),
    }[kind]
    ptr = ro(side, base, pages)
    if kind == "expand":
        side.munmap(ptr + 8 * PAGE, 4 * PAGE)
    if seal:
        side.mseal(ptr, sealed * PAGE)
    prot = PROT_NONE if kind == "overwrite_prot" else PROT_READ
    got = errno_of(side.mmap, ptr, new_pages * PAGE, prot, ANON | MAP_FIXED)
    assert got == (errno.EPERM if seal else 0)
    if seal:
        assert layout(side, base, 64 * PAGE) == [f"0-{sealed} r--p"]
