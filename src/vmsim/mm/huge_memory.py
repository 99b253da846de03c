"""Placement of mappings that could use 2 MiB pages (mm/huge_memory.c).

Only the address alignment is modelled: with THP ``enabled=madvise`` faults
still map 4 KiB pages, but the search already aligns mappings whose length
(anonymous) or file range (ext4) covers whole 2 MiB blocks.
"""

from __future__ import annotations

from ..arch.x86.mmap import mm_get_unmapped_area
from ..kernel.trace import hexargs, note, traced
from ..uapi import PAGE_SHIFT, PMD_SIZE
from .mm_types import MmStruct


def _round_up(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


def _thp_get_unmapped_area(
    mm: MmStruct, addr: int, length: int, off: int, flags: int, size: int
) -> int:  # __thp_get_unmapped_area()
    """Search for length + size and place the mapping on a size boundary inside; 0 if not."""
    off_end = off + length
    off_align = _round_up(off, size)
    if off_end <= off_align or off_end - off_align < size:
        return 0
    len_pad = length + size
    try:
        ret = mm_get_unmapped_area(mm, addr, len_pad, off >> PAGE_SHIFT, flags)
    except OSError:
        # Perhaps only the padding did not fit: the caller retries unpadded.
        return 0
    if ret == addr:
        return addr
    off_sub = (off - ret) & (size - 1)
    if mm.topdown and not off_sub:
        return ret + size
    return ret + off_sub


@traced(
    "thp_get_unmapped_area",
    args=lambda mm, addr, length, pgoff, flags: hexargs(addr, length, pgoff, flags),
)
def thp_get_unmapped_area(mm: MmStruct, addr: int, length: int, pgoff: int, flags: int) -> int:
    # thp_get_unmapped_area_vmflags()
    ret = _thp_get_unmapped_area(mm, addr, length, pgoff << PAGE_SHIFT, flags, PMD_SIZE)
    if ret:
        note(lambda: f"2 MiB aligned: searched for {length:#x} + 2 MiB, placed at {ret:#x}")
        return ret
    return mm_get_unmapped_area(mm, addr, length, pgoff, flags)
