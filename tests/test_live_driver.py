"""The live-kernel driver (vmsim.verify.live) against facts known for Linux 6.18 x86-64.

The helper starts (ASLR off, empty environment) from this address space, as captured on the
reference machine (Debian 12, glibc 2.36, gcc 12; the executable's path and the inode numbers
depend on the machine and the user's cache directory; $LIBC is
/usr/lib/x86_64-linux-gnu/libc.so.6 and $LD /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2)::

    555555554000-555555555000 r--p 00000000 fe:00 16039944       ~/.cache/vmsim/helper-<hash>
    555555555000-555555556000 r-xp 00001000 fe:00 16039944       ~/.cache/vmsim/helper-<hash>
    555555556000-555555557000 r--p 00002000 fe:00 16039944       ~/.cache/vmsim/helper-<hash>
    555555557000-555555558000 r--p 00002000 fe:00 16039944       ~/.cache/vmsim/helper-<hash>
    555555558000-555555559000 rw-p 00003000 fe:00 16039944       ~/.cache/vmsim/helper-<hash>
    555555559000-55555557c000 rw-p 00000000 00:00 0              (.bss: I/O buffer, signal stack)
    7ffff7dd2000-7ffff7dd5000 rw-p 00000000 00:00 0
    7ffff7dd5000-7ffff7dfb000 r--p 00000000 fe:00 339380         $LIBC
    7ffff7dfb000-7ffff7f51000 r-xp 00026000 fe:00 339380         $LIBC
    7ffff7f51000-7ffff7fa4000 r--p 0017c000 fe:00 339380         $LIBC
    7ffff7fa4000-7ffff7fa8000 r--p 001cf000 fe:00 339380         $LIBC
    7ffff7fa8000-7ffff7faa000 rw-p 001d3000 fe:00 339380         $LIBC
    7ffff7faa000-7ffff7fb7000 rw-p 00000000 00:00 0
    7ffff7fc0000-7ffff7fc2000 rw-p 00000000 00:00 0
    7ffff7fc2000-7ffff7fc6000 r--p 00000000 00:00 0              [vvar]
    7ffff7fc6000-7ffff7fc8000 r--p 00000000 00:00 0              [vvar_vclock]
    7ffff7fc8000-7ffff7fca000 r-xp 00000000 00:00 0              [vdso]
    7ffff7fca000-7ffff7fcb000 r--p 00000000 fe:00 338944         $LD
    7ffff7fcb000-7ffff7ff1000 r-xp 00001000 fe:00 338944         $LD
    7ffff7ff1000-7ffff7ffb000 r--p 00027000 fe:00 338944         $LD
    7ffff7ffb000-7ffff7ffd000 r--p 00031000 fe:00 338944         $LD
    7ffff7ffd000-7ffff7fff000 rw-p 00033000 fe:00 338944         $LD
    7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0              [stack]
    ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0      [vsyscall]

There is no ``[heap]`` until the first brk grow (the break starts at 0x55555557c000, right
after .bss), and the first mmap(NULL, 4096) lands at 0x7ffff7fbf000, in the gap below the
ld.so/TLS block at 0x7ffff7fc0000 (top-down allocation from mmap_base).
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from sides import errno_of
from vmsim.errors import BusError, SegmentationFault
from vmsim.kernel import syscalls
from vmsim.uapi import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PMD_SIZE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
)
from vmsim.verify.live import LiveProcess, live_kernel_available

pytestmark = pytest.mark.live

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
PAGE = 4096
RLIMIT_DATA = 2
A = TypeVar("A")
B = TypeVar("B")


@pytest.fixture(scope="module")
def live_ok() -> None:
    ok, reason = live_kernel_available()
    if not ok:
        pytest.skip(reason)


@pytest.fixture
def proc(live_ok: None) -> Iterator[LiveProcess]:
    with LiveProcess() as p:
        yield p


def maps_line(p: LiveProcess, addr: int) -> str | None:
    for line in p.maps().splitlines():
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        if lo <= addr < hi:
            return line
    return None


def test_availability_reports_a_reason() -> None:
    ok, reason = live_kernel_available()
    assert isinstance(ok, bool) and reason


def test_initial_layout(proc: LiveProcess) -> None:
    maps = proc.maps()
    names = [line.split()[5] if len(line.split()) > 5 else "" for line in maps.splitlines()]
    assert maps.splitlines()[0].startswith("555555554000-555555555000 r--p 00000000 ")
    assert "[heap]" not in names
    assert names[-2:] == ["[stack]", "[vsyscall]"]
    assert "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0" in maps
    assert any(n.endswith("/libc.so.6") for n in names)
    assert any(n.endswith("/ld-linux-x86-64.so.2") for n in names)
    assert {"[vvar]", "[vdso]"} <= set(names)


def test_mmap_anon_appears_in_maps(proc: LiveProcess) -> None:
    addr = proc.mmap(0, PAGE, RW, ANON)
    assert addr % PAGE == 0
    line = maps_line(proc, addr)
    assert line is not None
    assert " rw-p 00000000 00:00 0" in line
    assert proc.last_ns > 0


def test_negative_fd_is_passed_as_ulong(proc: LiveProcess) -> None:
    # fd -1 and MAP_FIXED at an exact address: the kernel sees (unsigned long)-1.
    addr = proc.mmap(0x200000000, 2 * PAGE, RW, ANON | MAP_FIXED, -1, 0)
    assert addr == 0x200000000


def test_write_then_read(proc: LiveProcess) -> None:
    addr = proc.mmap(0, 3 * PAGE, RW, ANON)
    data = bytes(range(256)) * 40  # crosses page boundaries, not page aligned at the end
    proc.write(addr + 100, data)
    assert proc.read(addr + 100, len(data)) == data
    assert proc.read(addr, 100) == b"\0" * 100


def test_big_read_and_write_are_chunked(proc: LiveProcess) -> None:
    size = 300 * 1024
    addr = proc.mmap(0, size, RW, ANON)
    data = os.urandom(size)
    proc.write(addr, data)
    assert proc.read(addr, size) == data


def test_read_prot_none_is_accerr(proc: LiveProcess) -> None:
    addr = proc.mmap(0, PAGE, PROT_NONE, ANON)
    with pytest.raises(SegmentationFault) as info:
        proc.read(addr, 1)
    assert info.value.code == "SEGV_ACCERR"
    assert info.value.addr == addr
    assert not isinstance(info.value, BusError)


def test_write_read_only_is_accerr(proc: LiveProcess) -> None:
    addr = proc.mmap(0, PAGE, PROT_READ, ANON)
    with pytest.raises(SegmentationFault) as info:
        proc.write(addr + 8, b"x")
    assert (info.value.code, info.value.addr) == ("SEGV_ACCERR", addr + 8)


def test_read_unmapped_is_maperr(proc: LiveProcess) -> None:
    with pytest.raises(SegmentationFault) as info:
        proc.read(0x10000, 8)
    assert (info.value.code, info.value.addr) == ("SEGV_MAPERR", 0x10000)


def test_fault_reports_first_byte_of_first_bad_page(proc: LiveProcess) -> None:
    addr = proc.mmap(0, 4 * PAGE, RW, ANON)
    proc.mprotect(addr + 2 * PAGE, PAGE, PROT_NONE)
    with pytest.raises(SegmentationFault) as info:
        proc.write(addr + 10, b"\xaa" * (4 * PAGE - 20))
    assert (info.value.code, info.value.addr) == ("SEGV_ACCERR", addr + 2 * PAGE)
    # The pages before the fault were written, as by a byte-wise store loop.
    assert proc.read(addr + 2 * PAGE - 1, 1) == b"\xaa"
    assert proc.read(addr + 3 * PAGE, 1) == b"\0"


def test_munmap_unaligned_is_einval(proc: LiveProcess) -> None:
    addr = proc.mmap(0, 2 * PAGE, RW, ANON)
    assert errno_of(proc.munmap, addr + 1, PAGE) == errno.EINVAL


def test_munmap_of_nothing_succeeds(proc: LiveProcess) -> None:
    proc.munmap(0x10000, PAGE)


def test_mremap_unmapped_is_efault(proc: LiveProcess) -> None:
    assert errno_of(proc.mremap, 0x10000, PAGE, 2 * PAGE, MREMAP_MAYMOVE) == errno.EFAULT


def test_mremap_fixed_moves_to_new_address(proc: LiveProcess) -> None:
    addr = proc.mmap(0, PAGE, RW, ANON)
    proc.write(addr, b"moved")
    new = proc.mremap(addr, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, 0x300000000)
    assert new == 0x300000000
    assert proc.read(new, 5) == b"moved"
    with pytest.raises(SegmentationFault):
        proc.read(addr, 1)


def test_anon_2mib_mapping_is_pmd_aligned(proc: LiveProcess) -> None:
    addr = proc.mmap(0, PMD_SIZE, RW, ANON)
    assert addr % PMD_SIZE == 0


def test_brk(proc: LiveProcess) -> None:
    start = proc.brk(0)
    # ASLR off: the break starts right after .bss, the anonymous line after the executable's.
    lines = proc.maps().splitlines()
    bss = next(i for i, line in enumerate(lines) if line.split()[-1] == "0" and i > 0)
    assert lines[bss - 1].split()[-1].startswith("/") and "/helper-" in lines[bss - 1]
    assert start == int(lines[bss].split()[0].split("-")[1], 16)
    assert proc.brk(0) == start  # a query does not move it
    assert "[heap]" not in proc.maps()
    assert proc.brk(start + 3 * PAGE) == start + 3 * PAGE
    line = maps_line(proc, start)
    assert line is not None and line.endswith("[heap]")
    assert line.startswith(f"{start:x}-{start + 3 * PAGE:x} rw-p ")
    # Below the start of the heap, brk refuses and returns the current break.
    assert proc.brk(start - PAGE) == start + 3 * PAGE


def test_setrlimit_data_stops_brk(proc: LiveProcess) -> None:
    start = proc.brk(0)
    proc.setrlimit(RLIMIT_DATA, 0, -1)
    assert proc.brk(start + PAGE) == start
    assert errno_of(proc.setrlimit, 1000, 0, 0) == errno.EINVAL


def test_resident_pages(proc: LiveProcess) -> None:
    addr = proc.mmap(0, 4 * PAGE, RW, ANON)
    assert proc.resident_pages(addr, addr + 4 * PAGE) == []
    proc.write(addr + PAGE, b"x")
    assert proc.read(addr + 2 * PAGE, 1) == b"\0"  # maps the shared zero page: not resident
    assert proc.resident_pages(addr, addr + 4 * PAGE) == [addr + PAGE]
    proc.touch(addr, 4 * PAGE, stride=PAGE, value=7)
    assert proc.resident_pages(addr, addr + 4 * PAGE) == [addr + i * PAGE for i in range(4)]
    assert proc.read(addr + 3 * PAGE, 2) == b"\x07\0"


def settled(read_a: Callable[[], A], read_b: Callable[[], B]) -> tuple[A, B]:
    """``read_b`` with smaps Rss (``read_a``) read just before and after it, again until
    the two reads of Rss agree: a library page of the helper that reclaim takes (memory
    pressure, a DAMON pageout scheme) or a neighbour's fault brings in between them would
    otherwise show as a difference of the two ways of counting."""
    for _ in range(5):
        before, b, after = read_a(), read_b(), read_a()
        if before == after:
            return before, b
    pytest.fail("the helper's Rss kept changing while it was idle")


def _total_rss_kb(p: LiveProcess) -> int:
    return sum(int(kb) for kb in re.findall(r"^Rss:\s+(\d+) kB", p.smaps(), re.M))


def test_resident_pages_agree_with_smaps_rss(proc: LiveProcess) -> None:
    """Over the whole address space, libraries too: relies on nothing of what the page
    cache holds for them (both counts are taken of the same moment, see settled)."""
    addr = proc.mmap(0, 16 * PAGE, RW, ANON)
    proc.touch(addr, 8 * PAGE)
    proc.read(addr + 8 * PAGE, 8 * PAGE)  # zero pages: in pagemap, not in Rss
    rss_kb, resident = settled(
        lambda: _total_rss_kb(proc), lambda: len(proc.resident_pages(0, 1 << 64)) * 4
    )
    assert resident == rss_kb


def test_resident_pages_skips_huge_zero_page(proc: LiveProcess) -> None:
    """Relies on THP being on and the huge zero page in use (skipped otherwise), not on
    free memory: where the write fault can get no 2 MiB page (memory fragmented, a memory
    cgroup at its limit) it splits the huge zero page's PMD and allocates a 4 KiB page."""
    thp = Path("/sys/kernel/mm/transparent_hugepage")
    if not (thp / "enabled").exists() or "[never]" in (thp / "enabled").read_text():
        pytest.skip("transparent huge pages are off")
    if (thp / "use_zero_page").read_text().strip() != "1":
        pytest.skip("the huge zero page is off")
    addr = proc.mmap(0, 2 * PMD_SIZE, RW, ANON)
    huge = (addr + PMD_SIZE - 1) & ~(PMD_SIZE - 1)
    proc.madvise(huge, PMD_SIZE, 14)  # MADV_HUGEPAGE
    assert proc.read(huge + 5, 1) == b"\0"  # a read fault maps the huge zero page
    assert proc.resident_pages(huge, huge + PMD_SIZE) == []
    proc.write(huge, b"x")  # a write fault allocates a THP, where it can get one
    fields = _smaps_of(proc, huge)  # the MADV_HUGEPAGE part is a VMA of its own
    resident = proc.resident_pages(huge, huge + PMD_SIZE)
    if re.search(r"^AnonHugePages:\s+2048 kB", fields, re.M):
        assert len(resident) == PMD_SIZE // PAGE
    else:  # no THP to be had: the rest of the range maps the (4 KiB) zero page
        assert resident == [huge]
    assert re.search(rf"^Rss:\s+{len(resident) * 4} kB", fields, re.M)


def test_resident_pages_skips_vvar(proc: LiveProcess) -> None:
    m = re.search(r"^([0-9a-f]+)-([0-9a-f]+) .*\[vvar\]$", proc.maps(), re.M)
    assert m is not None
    assert proc.resident_pages(int(m[1], 16), int(m[2], 16)) == []


def test_file_mapping(proc: LiveProcess, tmp_path: Path) -> None:
    path = tmp_path / "data"
    contents = b"hello, file\n" + bytes(range(256)) * 20
    path.write_bytes(contents)
    fd = proc.open(path, os.O_RDONLY)
    assert fd == 0  # the helper keeps no stdin, stdout or stderr open
    addr = proc.mmap(0, 3 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0)
    proc.close(fd)  # the mapping keeps its own reference to the file
    assert proc.read(addr, len(contents)) == contents
    # The rest of the file's last page reads as zeros ...
    assert proc.read(addr + len(contents), 2 * PAGE - len(contents)) == bytes(
        2 * PAGE - len(contents)
    )
    line = maps_line(proc, addr)
    assert line is not None and line.endswith(str(path))
    # ... but a page wholly past EOF, though mapped, raises SIGBUS.
    with pytest.raises(BusError) as info:
        proc.read(addr + 2 * PAGE + 5, 1)
    assert (info.value.code, info.value.addr) == ("BUS_ADRERR", addr + 2 * PAGE + 5)


def test_shared_file_write_reaches_the_file(proc: LiveProcess, tmp_path: Path) -> None:
    path = tmp_path / "shared"
    path.write_bytes(b"\0" * PAGE)
    fd = proc.open(str(path))
    addr = proc.mmap(0, PAGE, RW, MAP_SHARED, fd, 0)
    proc.write(addr + 5, b"seen")
    assert path.read_bytes()[5:9] == b"seen"


def test_open_missing_file_is_enoent(proc: LiveProcess, tmp_path: Path) -> None:
    assert errno_of(proc.open, tmp_path / "missing") == errno.ENOENT
    assert errno_of(proc.close, 999) == errno.EBADF


def test_mseal(proc: LiveProcess) -> None:
    addr = proc.mmap(0, 2 * PAGE, RW, ANON)
    proc.mseal(addr, 2 * PAGE)
    assert errno_of(proc.munmap, addr, PAGE) == errno.EPERM
    assert errno_of(proc.mprotect, addr, PAGE, PROT_READ) == errno.EPERM


def test_any_call_of_the_table(proc: LiveProcess) -> None:
    # Registers go as given, the kernel casts them; left-out arguments take the row's
    # defaults (mmap's fd -1 and offset 0); an address comes back unsigned.
    addr = proc.syscall("mmap", 0, PAGE, RW, ANON)
    assert 0 < addr < 1 << 47
    assert errno_of(proc.syscall, "mprotect", addr, PAGE, (1 << 32) | PROT_READ) == errno.EINVAL
    assert proc.syscall("madvise", addr, PAGE, (1 << 32) | 4) == 0  # an int: MADV_DONTNEED
    # Calls the model does not make, too: the kernel does.
    assert proc.syscall("pkey_mprotect", addr, PAGE, PROT_READ, -1) == 0
    assert maps_line(proc, addr) is not None and " r--p " in (maps_line(proc, addr) or "")
    with pytest.raises(ValueError, match="munmap"):
        proc.syscall("munmap", addr)
    with pytest.raises(KeyError):
        proc.syscall("no_such_call")


def test_a_row_registered_later_is_a_method(proc: LiveProcess) -> None:
    row = syscalls.register(syscalls.Syscall(39, "getpid", [], None))
    try:
        assert proc.getpid() == proc.pid
        assert proc.syscall("getpid") == proc.pid
    finally:
        syscalls.unregister(row.name)
    with pytest.raises(AttributeError):
        proc.getpid()  # noqa: B018


def test_mlock(proc: LiveProcess) -> None:
    addr = proc.mmap(0, 2 * PAGE, RW, ANON)
    proc.mlock(addr, 2 * PAGE)
    assert proc.resident_pages(addr, addr + 2 * PAGE) == [addr, addr + PAGE]
    line = maps_line(proc, addr)
    assert line is not None and " l" not in line  # no lock flag in maps ...
    assert re.search(r"^Locked:\s+8 kB", _smaps_of(proc, addr), re.M)  # ... but in smaps
    proc.munlock(addr, 2 * PAGE)
    assert re.search(r"^Locked:\s+0 kB", _smaps_of(proc, addr), re.M)


def _smaps_of(p: LiveProcess, addr: int) -> str:
    blocks = re.split(r"^(?=[0-9a-f]+-[0-9a-f]+ )", p.smaps(), flags=re.M)
    for block in blocks:
        if block and int(block.split("-", 1)[0], 16) == addr:
            return block
    raise AssertionError(f"no smaps entry at {addr:#x}")


def _mask_shmem_inodes(maps: str) -> str:
    return re.sub(r"^(\S+ \S+ \S+ 00:01 )\d+", r"\g<1>0", maps, flags=re.M)


def test_two_helpers_have_identical_maps(live_ok: None) -> None:
    with LiveProcess() as a:
        first = a.maps()
        first_brk = a.brk(0)
    with LiveProcess() as b:
        second = b.maps()
        second_brk = b.brk(0)
    assert _mask_shmem_inodes(first) == _mask_shmem_inodes(second)
    assert first_brk == second_brk


def test_requests_do_not_disturb_the_helper(proc: LiveProcess, tmp_path: Path) -> None:
    """Every kind of request, with its effect undone, leaves maps and smaps as they were:
    the same VMAs, and the pages the helper owns (anonymous, dirty, locked).

    Relies on nothing of the page cache: how many of a library's pages a mapping shows
    resident (Rss of a file VMA) follows from which of them the page cache held when they
    were first touched, and in what folios (fault-around maps the cached pages of its
    window, whole large folios), and from reclaim since; so it is not compared."""
    before_maps, before_smaps = proc.maps(), proc.smaps()
    scratch = tmp_path / "f"
    scratch.write_bytes(b"x" * PAGE)
    addr = proc.mmap(0x400000000, 64 * PAGE, RW, ANON | MAP_FIXED)
    proc.write(addr, os.urandom(64 * PAGE))
    proc.read(addr, 64 * PAGE)
    proc.touch(addr, 64 * PAGE, stride=64)
    proc.madvise(addr, PAGE, 4)  # MADV_DONTNEED
    proc.mprotect(addr, PAGE, PROT_READ)
    for bad in (0, 0x10000, addr + 64 * PAGE):
        with pytest.raises(SegmentationFault):
            proc.read(bad, 1)
    with pytest.raises(SegmentationFault):
        proc.write(addr, b"ro")
    proc.mprotect(addr, PAGE, RW)  # merges the two VMAs again, so mremap sees one
    new = proc.mremap(addr, 64 * PAGE, 128 * PAGE, MREMAP_MAYMOVE)
    proc.mlock(new, PAGE)
    proc.munlock(new, PAGE)
    proc.munmap(new, 128 * PAGE)
    proc.close(proc.open(scratch))
    assert errno_of(proc.mmap, 0, 0, RW, ANON) == errno.EINVAL
    assert errno_of(proc.mseal, 1, PAGE) == errno.EINVAL
    proc.setrlimit(RLIMIT_DATA, -1, -1)
    proc.brk(0)
    assert proc.maps() == before_maps
    assert _rss_lines(proc.smaps()) == _rss_lines(before_smaps)


def _rss_lines(smaps: str) -> list[str]:
    # Pss and the Shared_* counts of library pages change with other processes, Rss of a
    # file VMA with the page cache; Private_Dirty and Anonymous are this process's own,
    # and so is Rss of a VMA without a file.
    keep = ("Private_Dirty:", "Anonymous:", "Locked:")
    out: list[str] = []
    file_backed = False
    for line in smaps.splitlines():
        if re.match(r"^[0-9a-f]+-", line):
            fields = line.split()
            file_backed = len(fields) > 5 and fields[5].startswith("/")
            out.append(line)
        elif line.startswith(keep) or (line.startswith("Rss:") and not file_backed):
            out.append(line)
    return out


def test_close_kills_the_helper(live_ok: None) -> None:
    p = LiveProcess()
    pid = p.pid
    assert os.path.exists(f"/proc/{pid}")
    p.close()
    assert not p.alive
    p.close()  # idempotent
    with pytest.raises(RuntimeError):
        p.brk(0)


def test_round_trip_is_cheap(proc: LiveProcess) -> None:
    """A call is a pipe round trip, not a process start: the quickest of several batches
    of calls against the quickest of a few helper starts, so that other processes
    keeping the CPUs busy slow both alike."""
    batches = []
    for _ in range(10):
        t0 = time.perf_counter()
        for _ in range(20):
            proc.munmap(0x10000, PAGE)
        batches.append((time.perf_counter() - t0) / 20)
    starts = []
    for _ in range(3):
        t0 = time.perf_counter()
        LiveProcess().close()
        starts.append(time.perf_counter() - t0)
    assert min(batches) < min(starts) / 10


def test_maps_between_matches_the_lines_of_maps(proc: LiveProcess, tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"x" * 3 * PAGE)
    fd = proc.open(path)
    file_at = proc.mmap(0, 3 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0)
    shared = proc.mmap(0, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    anon = proc.mmap(0, 4 * PAGE, RW, ANON)
    proc.mprotect(anon + PAGE, PAGE, PROT_READ)
    proc.brk(proc.brk(0) + PAGE)
    # Every VMA below the gate, each whole, in order, and the heap by its name.
    assert proc.maps_between(0, 1 << 47) == proc.maps().splitlines()[:-1]
    lo, hi = min(file_at, shared, anon), max(file_at, shared, anon) + PAGE
    expected = [
        line
        for line in proc.maps().splitlines()
        if int(line.split("-")[0], 16) < hi and int(line.split()[0].split("-")[1], 16) > lo
    ]
    assert proc.maps_between(lo, hi) == expected
    assert proc.maps_between(anon + PAGE, anon + PAGE + 1) == [maps_line(proc, anon + PAGE)]


def test_rss_between_matches_smaps(proc: LiveProcess) -> None:
    anon = proc.mmap(0, 16 * PAGE, RW | PROT_EXEC, ANON)  # no neighbour to merge with
    proc.touch(anon, 8 * PAGE)
    proc.read(anon + 8 * PAGE, 8 * PAGE)  # the zero page is not resident
    shared = proc.mmap(0, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)  # never merges
    proc.read(shared, 2 * PAGE)  # shmem pages are, even when only read
    big = proc.mmap(0, 2 * PMD_SIZE, RW, ANON)
    proc.touch(big, 2 * PMD_SIZE, PMD_SIZE // 2)
    user, everything = settled(
        lambda: {key: kb for key, kb in proc.rss_by_range().items() if key[0] < 1 << 47},
        lambda: proc.rss_between(0, 1 << 47, lambda start, end: True),
    )
    assert everything == user
    assert proc.rss_between(anon, anon + 16 * PAGE, lambda start, end: True) == {
        (anon, anon + 16 * PAGE): 32
    }
    assert proc.rss_between(shared, shared + 1, lambda start, end: True) == {
        (shared, shared + 4 * PAGE): 8
    }
