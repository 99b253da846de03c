"""Large page-cache folios and what a fault on a file maps (6.18 on ext4).

The expectations were measured on the live kernel with pagemap and kpageflags; each case
also runs there (the ``side`` fixture), so a kernel that behaves otherwise fails here.

On the kernel the files are new, written in one write() as the model's are, and pinned
in the page cache as written (see pagecache): no history of the page cache reaches them.
What the write itself leaves depends on free memory, though: each large folio is
allocated with __GFP_NORETRY and falls back to smaller ones where free memory is
fragmented.  The tests read the folios the kernel made and hold either way.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import LIVE_OK, LIVE_WHY
from pagecache import PinnedFiles
from vmsim.errors import BusError
from vmsim.mm.filemap import folio_of, written_folios
from vmsim.process import Process
from vmsim.uapi import (
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE_SIZE,
    PMD_SIZE,
    PROT_READ,
    PROT_WRITE,
)

# A 2 MiB-aligned stretch far from anything the helper maps.
BASE = 0x7F0000000000


@pytest.mark.parametrize(
    ("size", "folios"),
    [
        (100, {}),
        (8191, {}),
        (8192, {0: 1}),
        (12388, {0: 1}),  # 3 pages and 100 bytes: an order-1 folio, then two pages
        (20480, {0: 2}),
        (38400, {0: 3}),  # verify's test file: 8 pages, then two single pages
        (49152, {0: 3, 8: 2}),
        (65536, {0: 4}),
        (2 * 1024 * 1024 + 5 * PAGE_SIZE + 7, {0: 9, 512: 2}),
    ],
)
def test_one_write_leaves_folios_sized_by_what_was_left(size: int, folios: dict[int, int]) -> None:
    assert written_folios(size) == folios


def test_folio_of_finds_the_folio_around_a_page() -> None:
    inode = Process().create_file("/f", b"x" * 49152)
    assert [folio_of(inode, p) for p in (0, 7, 8, 11)] == [(0, 8), (0, 8), (8, 4), (8, 4)]


def within(folios: dict[int, int], outer: dict[int, int]) -> bool:
    """Does every large folio of ``folios`` lie inside one of ``outer``?  What one write()
    leaves when some of its large-folio allocations fell back to smaller folios."""
    return all(
        any(h <= head and head + (1 << order) <= h + (1 << o) for h, o in outer.items())
        for head, order in folios.items()
    )


def compact_memory() -> None:
    """Have the kernel compact free memory, as it would under a costly allocation (root
    only: where it cannot, nothing happens)."""
    with contextlib.suppress(OSError):
        Path("/proc/sys/vm/compact_memory").write_text("1\n")


@pytest.mark.skipif(not LIVE_OK, reason=LIVE_WHY)
@pytest.mark.parametrize("size", [8192, 12388, 38400, 49152, 65536, 3 * 1024 * 1024 + 4100])
def test_the_page_cache_holds_the_folios_the_model_expects(
    tmp_path: Path, size: int, pinned_files: PinnedFiles
) -> None:
    """Relies on a large folio of each order being allocatable, at least once free memory
    is compacted: a write whose allocations fell back must leave folios inside the model's,
    and is tried again on a new file after compaction (three times at most)."""
    expected = written_folios(size)
    measured: dict[int, int] | None = {}
    for attempt in range(3):
        path = tmp_path / f"data-{attempt}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        os.write(fd, b"\x01" * size)
        os.close(fd)
        measured = pinned_files.measure(str(path))
        if measured is None:
            pytest.skip("page frames are hidden: kpageflags needs root")
        if measured == expected:
            return
        assert within(measured, expected), f"{measured} is no smaller layout than {expected}"
        compact_memory()
    if not measured:
        pytest.skip("this file system keeps no large folios")
    pytest.fail(f"large-folio allocations fell back on every try: {measured}, not {expected}")


def open_written(
    side: Any, tmp_path: Path, size: int, pinned: PinnedFiles, folios: dict[int, int] | None = None
) -> tuple[int, dict[int, int]]:
    """A file of ``size`` bytes written in one write(), open on ``side``, and the folios
    its page cache holds: on the kernel as measured (where page frames can be read), the
    file pinned until the test ends; in the model what one write() leaves, or ``folios``."""
    data = bytes(1 + i % 200 for i in range(size))
    path = str(tmp_path / f"data-{size}")
    if isinstance(side, Process):
        inode = side.create_file(path, data)
        if folios is not None:
            inode.folio_orders = dict(folios)
        return side.open(path), inode.folio_orders
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(fd, data)
    os.close(fd)
    measured = pinned.measure(path)
    return int(side.open(path)), written_folios(size) if measured is None else measured


def resident(side: Any, start: int, pages: int) -> list[int]:
    return [(a - start) // PAGE_SIZE for a in side.resident_pages(start, start + pages * PAGE_SIZE)]


# (file size, VMA's first PTE index, VMA pages, page touched, access, an anonymous page
# already in the same PTE table) -> the VMA's pages resident afterwards.
FAULTS = {
    # Fault-around maps whole folios that fit the VMA and the PTE table...
    "whole folios": (49152, 6, 12, 3, "read", False, list(range(12))),
    "whole folios before a SIGBUS": (38400, 318, 14, 13, "read", False, list(range(10))),
    # ...and only the window's part of one crossing into the next PTE table.
    "folio across a PMD": (49152, 506, 12, 0, "read", False, list(range(6))),
    # When the window's first folio reaches the file's last page, fault-around maps no
    # folio whole, and nothing at all unless a PTE table is already there; finish_fault()
    # then maps the folio whole if it fits, else just the page.
    "last folio, fresh table": (32768, 12, 8, 0, "read", False, list(range(8))),
    "last folio, table there": (32768, 12, 8, 2, "read", True, list(range(8))),
    "last folio across a PMD": (32768, 508, 8, 2, "read", False, [2]),
    # (Here the window of a fault on page 9 holds only page 9, in the folio of 8 and 9.)
    "last folio from its middle, fresh table": (40960, 7, 12, 9, "read", False, [8, 9]),
    "last folio from its middle, table there": (40960, 7, 12, 9, "read", True, [9]),
    # (The window of a fault on page 10 here holds only page 9, the file's last.)
    "past the end, fresh table": (40000, 7, 12, 10, "read", False, []),
    "past the end, table there": (40000, 7, 12, 10, "read", True, [9]),
    # A shared write maps the whole folio; a private one copies just its page.
    "shared write": (32768, 12, 8, 2, "shared write", False, list(range(8))),
    "private write": (32768, 12, 8, 2, "private write", False, [2]),
}


@pytest.mark.parametrize("case", list(FAULTS))
def test_what_a_file_fault_maps(
    side: Any, tmp_path: Path, case: str, pinned_files: PinnedFiles
) -> None:
    """On the kernel, relies on the file's folios being the ones one write() leaves; where
    an allocation fell back to smaller folios, the expectation is what the model maps over
    the folios the kernel made instead (the table holds for the written ones only)."""
    size, expected = FAULTS[case][0], FAULTS[case][-1]
    fd, folios = open_written(side, tmp_path, size, pinned_files)
    if folios != written_folios(size):
        model = Process()
        model_fd, _ = open_written(model, tmp_path / "model", size, pinned_files, folios)
        expected = fault(model, model_fd, case)
        model.check()
    assert fault(side, fd, case) == expected


def fault(side: Any, fd: int, case: str) -> list[int]:
    """Map the file as the case says, make its access, and return the pages resident."""
    size, pte, pages, touched, access, table_there, _ = FAULTS[case]
    if table_there:
        side.mmap(BASE, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        side.write(BASE, b"\x01")
    start = BASE + pte * PAGE_SIZE
    flags = (MAP_PRIVATE if access == "private write" else MAP_SHARED) | MAP_FIXED
    side.mmap(start, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, flags, fd, 0)
    addr = start + touched * PAGE_SIZE + 8
    try:
        if access == "read":
            side.read(addr, 1)
        else:
            side.write(addr, b"\x02")
    except BusError:
        assert touched * PAGE_SIZE >= size
    return resident(side, start, pages)


def test_dontneed_of_a_whole_pmd_frees_its_pte_table(
    side: Any, tmp_path: Path, pinned_files: PinnedFiles
) -> None:
    """CONFIG_PT_RECLAIM: a PTE table emptied by MADV_DONTNEED over its whole 2 MiB goes,
    which shows in what the next fault-around on the file maps (see FAULTS).  The window
    holds only the file's last page, a single page however the others came to be cached."""
    fd, _ = open_written(side, tmp_path, 40000, pinned_files)
    anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
    side.mmap(BASE, PMD_SIZE, PROT_READ | PROT_WRITE, anon)
    side.write(BASE + PMD_SIZE - PAGE_SIZE, b"\x01")
    side.madvise(BASE, PMD_SIZE, MADV_DONTNEED)
    side.munmap(BASE + 16 * PAGE_SIZE, PMD_SIZE - 16 * PAGE_SIZE)
    start = BASE + 23 * PAGE_SIZE  # as "past the end" in FAULTS: the window holds page 9
    side.mmap(start, 12 * PAGE_SIZE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0)
    with pytest.raises(BusError):
        side.read(start + 10 * PAGE_SIZE, 1)
    assert resident(side, start, 12) == []
