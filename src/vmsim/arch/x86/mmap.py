"""x86-64 address-space layout and free-area search.

(arch/x86/mm/mmap.c and arch/x86/kernel/sys_x86_64.c)
"""

from __future__ import annotations

import errno
from typing import Final

from ...errors import syscall_error
from ...kernel.trace import hexargs, traced
from ...mm.mm_types import MmStruct, vm_start_gap
from ...mm.vma import VmUnmappedAreaInfo, find_vma, vm_unmapped_area
from ...uapi import MAP_32BIT, MAP_ABOVE4G, MAP_FIXED, PAGE_MASK, PAGE_SIZE, page_align

TASK_SIZE_4LEVEL: Final = 0x7FFFFFFFF000  # task_size_64bit(0) with 4-level paging
DEFAULT_MAP_WINDOW: Final = TASK_SIZE_4LEVEL
SIZE_128M: Final = 128 << 20
SZ_4G: Final = 1 << 32
ULONG_MAX: Final = (1 << 64) - 1


def mmap_base(task_size: int, stack_rlimit: int, stack_guard_gap: int) -> int:
    """Top of the mmap area: below the stack's rlimit and guard gap, clamped (ASLR off)."""
    gap = stack_rlimit
    pad = stack_guard_gap  # + stack_maxrandom_size(), which is 0 without PF_RANDOMIZE
    if gap + pad > gap and gap + pad <= ULONG_MAX:
        gap += pad
    gap_min = SIZE_128M
    gap_max = (task_size // 6) * 5
    gap = min(max(gap, gap_min), gap_max)
    return page_align(task_size - gap)


def mmap_legacy_base(task_size: int) -> int:
    """TASK_UNMAPPED_BASE: where the bottom-up layout starts."""
    return page_align(task_size // 3)


def arch_pick_mmap_layout(mm: MmStruct, rlim_stack: int, legacy: bool = False) -> None:
    """Top-down below the stack's room (its rlimit and guard gap), or the legacy
    bottom-up layout; chosen once, when the mm is made for a program."""
    mm.mmap_legacy_base = mmap_legacy_base(mm.task_size)
    mm.mmap_base = (
        mm.mmap_legacy_base
        if legacy
        else mmap_base(mm.task_size, rlim_stack, mm.config.stack_guard_gap)
    )
    mm.topdown = not legacy


def mmap_address_hint_valid(addr: int, length: int) -> bool:
    if TASK_SIZE_4LEVEL - length < addr:
        return False
    return (addr > DEFAULT_MAP_WINDOW) == (addr + length > DEFAULT_MAP_WINDOW)


def _hint_ok(mm: MmStruct, addr: int, length: int) -> bool:
    vma = find_vma(mm, addr)
    return vma is None or addr + length <= vm_start_gap(vma, mm.config.stack_guard_gap)


@traced(
    "arch_get_unmapped_area",
    args=lambda mm, addr, length, pgoff, flags: hexargs(addr, length, pgoff, flags),
)
def arch_get_unmapped_area(mm: MmStruct, addr: int, length: int, pgoff: int, flags: int) -> int:
    """Bottom-up search from the legacy base (or the MAP_32BIT window)."""
    if flags & MAP_FIXED:
        return addr
    if flags & MAP_32BIT:
        begin, end = 0x40000000, 0x80000000
    else:
        begin, end = mm.mmap_legacy_base, mm.task_size
    if length > end:
        raise syscall_error(errno.ENOMEM)
    if addr:
        addr = page_align(addr)
        if end - length >= addr and _hint_ok(mm, addr, length):
            return addr
    info = VmUnmappedAreaInfo(
        length=length, low_limit=begin, high_limit=end, align_offset=pgoff << 12
    )
    return vm_unmapped_area(mm, info)


@traced(
    "arch_get_unmapped_area_topdown",
    args=lambda mm, addr, length, pgoff, flags: hexargs(addr, length, pgoff, flags),
)
def arch_get_unmapped_area_topdown(
    mm: MmStruct, addr: int, length: int, pgoff: int, flags: int
) -> int:
    """The default layout: a usable hint, else the highest gap below mmap_base."""
    if length > mm.task_size:
        raise syscall_error(errno.ENOMEM)
    if flags & MAP_FIXED:
        return addr
    if flags & MAP_32BIT:
        return arch_get_unmapped_area(mm, addr, length, pgoff, flags)
    hint = addr
    if addr:
        addr &= PAGE_MASK
        # An unusable hint is not an error: the normal search runs instead.
        if mmap_address_hint_valid(addr, length) and _hint_ok(mm, addr, length):
            return addr
    info = VmUnmappedAreaInfo(
        length=length,
        low_limit=SZ_4G if flags & MAP_ABOVE4G else PAGE_SIZE,
        high_limit=mm.mmap_base,
        align_offset=pgoff << 12,
        topdown=True,
    )
    try:
        return vm_unmapped_area(mm, info)
    except OSError as err:
        if err.errno != errno.ENOMEM:
            raise
    # A failed top-down search falls back to bottom-up over the whole window.
    return arch_get_unmapped_area(mm, hint, length, pgoff, flags)


def mm_get_unmapped_area(mm: MmStruct, addr: int, length: int, pgoff: int, flags: int) -> int:
    # mm_get_unmapped_area_vmflags(): MMF_TOPDOWN picks the layout.
    if mm.topdown:
        return arch_get_unmapped_area_topdown(mm, addr, length, pgoff, flags)
    return arch_get_unmapped_area(mm, addr, length, pgoff, flags)
