"""The two sides the ported scenarios run on, and the helpers they share."""

from __future__ import annotations

from typing import Any

from vmsim.errors import BusError, SegmentationFault
from vmsim.process import Process
from vmsim.uapi import MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PAGE_SIZE, PROT_NONE
from vmsim.verify.suites import errno_of  # noqa: F401 - shared with the test modules

PAGE = PAGE_SIZE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def is_model(side: Any) -> bool:
    return isinstance(side, Process)


def carve(side: Any, size: int, align: int = PAGE, guard: int = 16 * PAGE) -> int:
    """An empty, ``align``-aligned stretch of ``size`` bytes that belongs to this test.

    A PROT_NONE reservation is made with some slack, and its middle is unmapped again; the
    PROT_NONE leftovers on both sides stay, so nothing of the process's own can ever be
    adjacent to (or inside) the stretch.
    """
    total = size + align + 2 * guard
    start = side.mmap(0, total, PROT_NONE, ANON | MAP_NORESERVE)
    base = (start + guard + align - 1) & ~(align - 1)
    side.munmap(base, size)
    return base


def maps_entries(side: Any) -> list[tuple[int, int, str, int]]:
    """(start, end, perms, offset) of every line of /proc/pid/maps."""
    out = []
    for line in side.maps().splitlines():
        fields = line.split()
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        out.append((lo, hi, fields[1], int(fields[2], 16)))
    return out


def layout(side: Any, base: int, size: int) -> list[str]:
    """The VMAs meeting [base, base+size) as 'first-end perms' in pages from base."""
    return [
        f"{(lo - base) // PAGE}-{(hi - base) // PAGE} {perms}"
        for lo, hi, perms, _off in maps_entries(side)
        if lo < base + size and hi > base
    ]


def vma_of(side: Any, addr: int) -> tuple[int, int] | None:
    """[start, end) of the VMA containing addr, as maps shows it."""
    for lo, hi, _perms, _off in maps_entries(side):
        if lo <= addr < hi:
            return lo, hi
    return None


def is_mapped(side: Any, addr: int) -> bool:
    return vma_of(side, addr) is not None


def faults(side: Any, addr: int, write: bool = False) -> str | None:
    """The signal (and si_code) an access raises, or None when it succeeds."""
    try:
        if write:
            side.write(addr, b"\x5a")
        else:
            side.read(addr, 1)
    except BusError as sig:
        return f"SIGBUS {sig.code}"
    except SegmentationFault as sig:
        return f"SIGSEGV {sig.code}"
    return None
