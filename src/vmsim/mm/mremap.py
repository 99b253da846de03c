"""mremap(2) (mm/mremap.c, the 6.17+ structure).

One :class:`VmaRemapStruct` ("vrm") is threaded through small steps, as in
the kernel: parameter checks, routing (multi-VMA move, move to a new address,
or resize at the same address), the per-VMA checks, and then one of: shrink
(unmap the tail), grow in place (merge the new range into the VMA), or move
(find a free area, copy the VMA, move the page tables, unmap or keep the old
range).
"""

from __future__ import annotations

import errno
from enum import Enum
from typing import TYPE_CHECKING

from ..errors import syscall_error
from ..kernel.trace import count, hexargs, note, traced
from ..uapi import (
    MAP_FIXED,
    MAP_SHARED,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE_MASK,
    PAGE_SHIFT,
    PMD_MASK,
    PMD_SIZE,
    PUD_MASK,
    PUD_SIZE,
    page_align,
    ulong,
)
from . import vma as vmalib
from .gup import mm_populate
from .memory import pte_alloc, set_pte_at
from .mm_types import MmStruct, VmAreaStruct
from .mmap import (
    get_unmapped_area,
    may_expand_vm,
    mlock_future_ok,
    vm_enough_memory,
    vm_stat_account,
    vm_unacct_memory,
)
from .vm_flags import (
    VM_ACCOUNT,
    VM_DONTEXPAND,
    VM_LOCKED,
    VM_LOCKED_MASK,
    VM_MAYSHARE,
    VM_PFNMAP,
    VM_SHARED,
)

if TYPE_CHECKING:
    from ..kernel.task import Task


class RemapType(Enum):  # enum mremap_type
    INVALID = "invalid"
    NO_RESIZE = "no resize"
    SHRINK = "shrink"
    EXPAND = "expand"


class VmaRemapStruct:
    """struct vma_remap_struct: the whole state of one mremap() call."""

    # Not a dataclass: compiled, a dataclass's generated __init__ runs in the interpreter,
    # and every mremap() builds one.
    def __init__(
        self,
        mm: MmStruct,
        addr: int,
        old_len: int,
        new_len: int,
        flags: int,
        new_addr: int,
        vma: VmAreaStruct | None = None,
        delta: int = 0,
        remap_type: RemapType = RemapType.INVALID,
        populate_expand: bool = False,
        charged: int = 0,
    ) -> None:
        self.mm = mm
        self.addr = addr
        self.old_len = old_len
        self.new_len = new_len
        self.flags = flags
        self.new_addr = new_addr
        self.vma = vma
        self.delta = delta
        self.remap_type = remap_type
        self.populate_expand = populate_expand
        self.charged = charged

    def implies_new_addr(self) -> bool:  # vrm_implies_new_addr()
        return bool(self.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))

    def move_only(self) -> bool:  # vrm_move_only()
        return bool(self.flags & MREMAP_FIXED) and self.old_len == self.new_len

    def overlaps(self) -> bool:  # vrm_overlaps()
        # Unsigned longs: an old range that wraps past 2^64 ends low, and may not overlap.
        end_old = ulong(self.addr + self.old_len)
        end_new = ulong(self.new_addr + self.new_len)
        return end_old > self.new_addr and end_new > self.addr

    def will_map_new(self) -> bool:  # vrm_will_map_new()
        return self.remap_type is RemapType.EXPAND or self.implies_new_addr()


# -- page tables ------------------------------------------------------------------------


class PagetableMoveControl:
    """struct pagetable_move_control: source and destination of a page-table move."""

    # Not a dataclass: compiled, a dataclass's generated __init__ runs in the interpreter,
    # and every move builds one.
    def __init__(
        self, old: VmAreaStruct, new: VmAreaStruct, old_addr: int, new_addr: int, len_in: int
    ) -> None:
        self.old = old
        self.new = new
        self.old_addr = old_addr
        self.new_addr = new_addr
        self.len_in = len_in
        self.old_end = old_addr + len_in


def get_extent(pmc: PagetableMoveControl, size: int, mask: int) -> int:
    """Bytes to the next entry boundary of this size on both sides, capped by the length."""
    extent = ((pmc.old_addr + size) & mask) - pmc.old_addr
    extent = min(extent, pmc.old_end - pmc.old_addr)
    return min(extent, ((pmc.new_addr + size) & mask) - pmc.new_addr)


def can_align_down(mm: MmStruct, vma: VmAreaStruct, addr_to_align: int, mask: int) -> bool:
    # Rounding down must not reach into another mapping or the rest of this one.
    if vma.vm_start != addr_to_align:
        return False
    return vmalib.find_vma_intersection(mm, addr_to_align & mask, vma.vm_start) is None


def try_realign_addr(mm: MmStruct, pmc: PagetableMoveControl, mask: int) -> None:
    """Start the move on a PMD boundary when nothing else lives below the range."""
    align_mask = ulong(~mask)
    old_align = pmc.old_addr & align_mask
    new_align = pmc.new_addr & align_mask
    if pmc.len_in < align_mask + 1 - old_align or old_align == 0 or old_align != new_align:
        return
    if not can_align_down(mm, pmc.old, pmc.old_addr, mask) or not can_align_down(
        mm, pmc.new, pmc.new_addr, mask
    ):
        return
    note(lambda: f"realigned to {pmc.old_addr & mask:#x} -> {pmc.new_addr & mask:#x}")
    pmc.old_addr &= mask
    pmc.new_addr &= mask


def move_normal_pud(mm: MmStruct, pmc: PagetableMoveControl) -> bool:
    """Hand the whole PMD table under one PUD entry to the destination."""
    pgt = mm.pgtables
    src = pgt.pud_table(pmc.old_addr)
    dst = pgt.pud_table(pmc.new_addr, alloc=True)
    assert src is not None and dst is not None
    new_idx = (pmc.new_addr >> 30) & 511
    if new_idx in dst:
        return False
    dst[new_idx] = src.pop((pmc.old_addr >> 30) & 511)
    count("pud_entries_moved")
    return True


def move_normal_pmd(mm: MmStruct, pmc: PagetableMoveControl) -> bool:
    """Hand the whole PTE table under one PMD entry to the destination."""
    pgt = mm.pgtables
    src = pgt.pmd_table(pmc.old_addr)
    dst = pgt.pmd_table(pmc.new_addr, alloc=True)
    assert src is not None and dst is not None
    new_idx = (pmc.new_addr >> 21) & 511
    if new_idx in dst:
        return False
    dst[new_idx] = src.pop((pmc.old_addr >> 21) & 511)
    count("pmd_entries_moved")
    return True


def move_ptes(mm: MmStruct, pmc: PagetableMoveControl, extent: int) -> None:
    """Move each present PTE in [old_addr, old_addr + extent): the same page, a new address."""
    pgt = mm.pgtables
    moved = 0
    delta = pmc.new_addr - pmc.old_addr
    for addr, page in list(pgt.present(pmc.old_addr, pmc.old_addr + extent)):
        pgt.clear_pte(addr)
        set_pte_at(mm, addr + delta, page)
        moved += 1
    if moved:
        count("ptes_moved", moved)


@traced(
    "move_page_tables",
    args=lambda mm, pmc: f"{hexargs(pmc.old_addr, pmc.new_addr, pmc.len_in)}",
)
def move_page_tables(mm: MmStruct, pmc: PagetableMoveControl) -> int:
    """Move the page tables of [old_addr, old_addr+len): whole PUD or PMD entries where the
    extent allows it, else PTE by PTE.  Returns the bytes processed."""
    if not pmc.len_in:
        return 0
    try_realign_addr(mm, pmc, PMD_MASK)
    pgt = mm.pgtables
    while pmc.old_addr < pmc.old_end:
        extent = get_extent(pmc, PUD_SIZE, PUD_MASK)
        src_pud = pgt.pud_table(pmc.old_addr)
        if src_pud is None or ((pmc.old_addr >> 30) & 511) not in src_pud:
            pmc.old_addr += extent
            pmc.new_addr += extent
            continue
        pgt.pud_table(pmc.new_addr, alloc=True)
        if extent == PUD_SIZE and move_normal_pud(mm, pmc):
            pmc.old_addr += extent
            pmc.new_addr += extent
            continue
        extent = get_extent(pmc, PMD_SIZE, PMD_MASK)
        src_pmd = pgt.pmd_table(pmc.old_addr)
        if src_pmd is None or ((pmc.old_addr >> 21) & 511) not in src_pmd:
            pmc.old_addr += extent
            pmc.new_addr += extent
            continue
        pgt.pmd_table(pmc.new_addr, alloc=True)
        if extent == PMD_SIZE and move_normal_pmd(mm, pmc):
            pmc.old_addr += extent
            pmc.new_addr += extent
            continue
        pte_alloc(mm, pmc.new_addr)
        move_ptes(mm, pmc, extent)
        pmc.old_addr += extent
        pmc.new_addr += extent
    orig_old_addr = pmc.old_end - pmc.len_in
    return max(pmc.old_addr - orig_old_addr, 0)


# -- the steps of a move ----------------------------------------------------------------


def vrm_set_new_addr(vrm: VmaRemapStruct) -> None:
    """get_unmapped_area() for the destination: the hint only with FIXED or DONTUNMAP."""
    vma = vrm.vma
    assert vma is not None
    map_flags = 0
    if vrm.flags & MREMAP_FIXED:
        map_flags |= MAP_FIXED
    if vma.vm_flags & VM_MAYSHARE:
        map_flags |= MAP_SHARED
    hint = vrm.new_addr if vrm.implies_new_addr() else 0
    vrm.new_addr = get_unmapped_area(
        vrm.mm, vma.vm_file, hint, vrm.new_len, vma.pgoff_of(vrm.addr), map_flags
    )


def vrm_calc_charge(vrm: VmaRemapStruct) -> None:
    assert vrm.vma is not None
    if not vrm.vma.vm_flags & VM_ACCOUNT:
        return
    # Without the unmap the copy is all new commit; otherwise only the growth is.
    charged = vrm.new_len if vrm.flags & MREMAP_DONTUNMAP else vrm.delta
    vm_enough_memory(vrm.mm, charged >> PAGE_SHIFT)
    vrm.charged = charged >> PAGE_SHIFT
    if vrm.remap_type is RemapType.SHRINK:
        # A MREMAP_FIXED shrink already unmapped (and uncharged) the tail, yet delta is
        # charged again here: the kernel leaks this commit (Committed_AS grows by delta
        # on every such call, checked on 6.18).  The model keeps the same books.
        vrm.mm.committed_leaked += vrm.charged


def vrm_uncharge(vrm: VmaRemapStruct) -> None:
    assert vrm.vma is not None
    if vrm.vma.vm_flags & VM_ACCOUNT:
        vm_unacct_memory(vrm.mm, vrm.charged)
        vrm.charged = 0


def vrm_stat_account(vrm: VmaRemapStruct, nbytes: int) -> None:
    assert vrm.vma is not None
    pages = nbytes >> PAGE_SHIFT
    vm_stat_account(vrm.mm, vrm.vma.vm_flags, pages)
    if vrm.vma.vm_flags & VM_LOCKED:
        vrm.mm.locked_vm += pages


def prep_move_vma(vrm: VmaRemapStruct) -> None:
    vma, mm = vrm.vma, vrm.mm
    assert vma is not None
    if mm.map_count >= mm.config.max_map_count - 3:
        raise syscall_error(errno.ENOMEM)
    # vm_ops->may_split(): a special mapping moves whole or not at all.
    if vma.special is not None and (
        vma.vm_start != vrm.addr or vma.vm_end != vrm.addr + vrm.old_len
    ):
        raise syscall_error(errno.EINVAL)


@traced("copy_vma_and_data")
def copy_vma_and_data(vrm: VmaRemapStruct) -> VmAreaStruct:
    vma, mm = vrm.vma, vrm.mm
    assert vma is not None
    new_vma, vma = vmalib.copy_vma(mm, vma, vrm.new_addr, vrm.new_len, vma.pgoff_of(vrm.addr))
    vrm.vma = vma
    pmc = PagetableMoveControl(vma, new_vma, vrm.addr, vrm.new_addr, vrm.old_len)
    move_page_tables(mm, pmc)
    return new_vma


def dontunmap_complete(vrm: VmaRemapStruct, new_vma: VmAreaStruct) -> None:
    """The old VMA stays, unlocked, and forgets its anonymous pages if all of it moved."""
    vma = vrm.vma
    assert vma is not None
    vma.vm_flags &= ~VM_LOCKED_MASK
    start, end = vrm.addr, vrm.addr + vrm.old_len
    if new_vma is not vma and start == vma.vm_start and end == vma.vm_end:
        note("unlink_anon_vmas(): the old VMA is like a never-faulted mapping now")
        vma.anon_vma = None


@traced("unmap_source_vma", args=lambda vrm: hexargs(vrm.addr, vrm.old_len))
def unmap_source_vma(vrm: VmaRemapStruct) -> None:
    """Unmap the old range without uncharging it: its commit went with the move."""
    mm, vma = vrm.mm, vrm.vma
    assert vma is not None
    addr, length = vrm.addr, vrm.old_len
    accountable_move = bool(vma.vm_flags & VM_ACCOUNT) and not vrm.flags & MREMAP_DONTUNMAP
    vm_start, vm_end = vma.vm_start, vma.vm_end
    if accountable_move:
        vma.vm_flags &= ~VM_ACCOUNT
    try:
        vmalib.do_vmi_munmap(mm, addr, length)
    except OSError:
        mm.committed += length >> PAGE_SHIFT
        return
    finally:
        vrm.vma = None
    if accountable_move:
        end = addr + length
        if vm_start < addr:
            prev = vmalib.vma_below(mm, addr)
            assert prev is not None
            prev.vm_flags |= VM_ACCOUNT
        if vm_end > end:
            nxt = vmalib.find_vma(mm, addr)
            assert nxt is not None
            nxt.vm_flags |= VM_ACCOUNT


@traced("move_vma", args=lambda vrm: hexargs(vrm.addr, vrm.old_len, vrm.new_len, vrm.new_addr))
def move_vma(vrm: VmaRemapStruct) -> int:
    mm = vrm.mm
    prep_move_vma(vrm)
    vrm_calc_charge(vrm)
    new_vma = copy_vma_and_data(vrm)
    hiwater_vm = mm.hiwater_vm
    vrm_stat_account(vrm, vrm.new_len)
    if vrm.flags & MREMAP_DONTUNMAP:
        dontunmap_complete(vrm, new_vma)
    else:
        unmap_source_vma(vrm)
    # VmPeak must not see the moment both copies were counted.
    mm.hiwater_vm = hiwater_vm
    return vrm.new_addr


# -- resizing in place ------------------------------------------------------------------


@traced("shrink_vma", args=lambda vrm, reload: hexargs(vrm.addr + vrm.new_len, vrm.delta))
def shrink_vma(vrm: VmaRemapStruct, reload: bool) -> None:
    """Unmap the tail [addr+new_len, addr+old_len): whatever lies there, VMAs or gaps."""
    vmalib.do_vmi_munmap(vrm.mm, vrm.addr + vrm.new_len, vrm.delta)
    vrm.vma = None
    if reload:
        vrm.vma = vmalib.vma_lookup(vrm.mm, vrm.addr)
        if vrm.vma is None:
            raise syscall_error(errno.EFAULT)


def vma_expandable(mm: MmStruct, vma: VmAreaStruct, delta: int) -> bool:
    end = vma.vm_end + delta
    if end >= 1 << 64:
        return False
    if vmalib.find_vma_intersection(mm, vma.vm_end, end) is not None:
        note(lambda: f"[{vma.vm_end:#x}, {end:#x}) is not free")
        return False
    try:
        get_unmapped_area(mm, None, vma.vm_start, end - vma.vm_start, 0, MAP_FIXED)
    except OSError:
        return False
    return True


def vrm_can_expand_in_place(vrm: VmaRemapStruct) -> bool:
    vma = vrm.vma
    assert vma is not None
    if vma.vm_end - vrm.addr != vrm.old_len:
        note("the range does not end at the VMA's end: it cannot grow in place")
        return False
    return vma_expandable(vrm.mm, vma, vrm.delta)


@traced("vma_merge_extend", args=lambda mm, vma, delta: f"{vma.trace_name()}, {hexargs(delta)}")
def vma_merge_extend(mm: MmStruct, vma: VmAreaStruct, delta: int) -> VmAreaStruct | None:
    """Grow ``vma`` by ``delta``, absorbing the next VMA if it becomes adjacent and compatible."""
    vmg = vmalib.VmaMergeStruct(
        mm,
        prev=vma,
        middle=None,
        next=vmalib.find_vma(mm, vma.vm_end),
        start=vma.vm_end,
        end=vma.vm_end + delta,
        pgoff=vma.pgoff_of(vma.vm_end),
        vm_flags=vma.vm_flags,
        file=vma.vm_file,
        anon_vma=vma.anon_vma,
    )
    return vmalib.vma_merge_new_range(vmg)


@traced("expand_vma_in_place")
def expand_vma_in_place(vrm: VmaRemapStruct) -> None:
    vrm_calc_charge(vrm)
    assert vrm.vma is not None
    vma = vma_merge_extend(vrm.mm, vrm.vma, vrm.delta)
    if vma is None:
        vrm_uncharge(vrm)
        raise syscall_error(errno.ENOMEM)
    vrm.vma = vma
    vrm_stat_account(vrm, vrm.delta)


@traced("expand_vma")
def expand_vma(vrm: VmaRemapStruct) -> int:
    if vrm_can_expand_in_place(vrm):
        expand_vma_in_place(vrm)
        return vrm.addr
    if not vrm.flags & MREMAP_MAYMOVE:
        note("no room to grow in place and no MREMAP_MAYMOVE")
        raise syscall_error(errno.ENOMEM)
    note("no room to grow in place: move")
    vrm_set_new_addr(vrm)
    return move_vma(vrm)


@traced("mremap_at")
def mremap_at(vrm: VmaRemapStruct) -> int:
    """Resize at the same address; only growth may have to move."""
    if vrm.remap_type is RemapType.NO_RESIZE:
        note("same size: nothing to do")
        return vrm.addr
    if vrm.remap_type is RemapType.SHRINK:
        shrink_vma(vrm, reload=False)
        return vrm.addr
    return expand_vma(vrm)


@traced("mremap_to")
def mremap_to(vrm: VmaRemapStruct) -> int:
    """Move to a new address (MREMAP_FIXED) or anywhere while keeping the old (DONTUNMAP)."""
    mm = vrm.mm
    if vrm.flags & MREMAP_FIXED:
        # The destination is cleared first: it stays cleared whatever fails later.
        vmalib.do_vmi_munmap(mm, vrm.new_addr, vrm.new_len)
        vrm.vma = vmalib.vma_lookup(mm, vrm.addr)
        if vrm.vma is None:
            raise syscall_error(errno.EFAULT)
    if vrm.remap_type is RemapType.SHRINK:
        shrink_vma(vrm, reload=True)
        vrm.old_len = vrm.new_len
    assert vrm.vma is not None
    if vrm.flags & MREMAP_DONTUNMAP and not may_expand_vm(
        mm, vrm.vma.vm_flags, vrm.old_len >> PAGE_SHIFT
    ):
        raise syscall_error(errno.ENOMEM)
    vrm_set_new_addr(vrm)
    return move_vma(vrm)


# -- checks and routing -----------------------------------------------------------------


def check_mremap_params(vrm: VmaRemapStruct) -> None:
    """Argument checks that need no VMA, in the kernel's order."""
    mm = vrm.mm
    if vrm.flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP):
        raise syscall_error(errno.EINVAL)
    if vrm.addr & ~PAGE_MASK:
        raise syscall_error(errno.EINVAL)
    if not vrm.new_len or vrm.new_len > mm.task_size:
        raise syscall_error(errno.EINVAL)
    if not vrm.implies_new_addr():
        return  # new_addr is ignored altogether
    if vrm.new_addr > mm.task_size - vrm.new_len or vrm.new_addr & ~PAGE_MASK:
        raise syscall_error(errno.EINVAL)
    if not vrm.flags & MREMAP_MAYMOVE:
        raise syscall_error(errno.EINVAL)
    if vrm.flags & MREMAP_DONTUNMAP and vrm.old_len != vrm.new_len:
        raise syscall_error(errno.EINVAL)
    if vrm.overlaps():
        raise syscall_error(errno.EINVAL)
    # Both the source and the destination might be split in three.
    if mm.map_count + 2 >= mm.config.max_map_count - 3:
        raise syscall_error(errno.ENOMEM)


def check_prep_vma(vrm: VmaRemapStruct) -> None:
    """Checks against the source VMA; only growth and moves get the range checks."""
    vma, mm = vrm.vma, vrm.mm
    if vma is None:
        raise syscall_error(errno.EFAULT)
    if vmalib.vma_is_sealed(vma):
        raise syscall_error(errno.EPERM)
    vrm.delta = abs(vrm.old_len - vrm.new_len)
    if vrm.delta == 0:
        vrm.remap_type = RemapType.NO_RESIZE
    elif vrm.old_len > vrm.new_len:
        vrm.remap_type = RemapType.SHRINK
    else:
        vrm.remap_type = RemapType.EXPAND
    note(lambda: f"remap type: {vrm.remap_type.value}")
    if not vrm.implies_new_addr():
        vrm.new_addr = vrm.addr
    if not vrm.will_map_new():
        return
    old_len, new_len = vrm.old_len, vrm.new_len
    if not old_len and not vma.vm_flags & (VM_SHARED | VM_MAYSHARE):
        # Duplicating a private mapping would not share anything: refused.
        raise syscall_error(errno.EINVAL)
    if vrm.flags & MREMAP_DONTUNMAP and vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        raise syscall_error(errno.EINVAL)
    if vrm.remap_type is RemapType.SHRINK:
        old_len = new_len  # the shrink's unmap may cross VMA boundaries
    if old_len > vma.vm_end - vrm.addr:
        raise syscall_error(errno.EFAULT)
    if new_len == old_len:
        return
    if vma.vm_flags & VM_LOCKED:
        vrm.populate_expand = True
    if vma.pgoff_of(vrm.addr) + (new_len >> PAGE_SHIFT) >= 1 << 64:
        raise syscall_error(errno.EINVAL)
    if vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        raise syscall_error(errno.EFAULT)
    if not mlock_future_ok(mm, vma.vm_flags, vrm.delta):
        raise syscall_error(errno.EAGAIN)
    if not may_expand_vm(mm, vma.vm_flags, vrm.delta >> PAGE_SHIFT):
        raise syscall_error(errno.ENOMEM)


@traced("remap_move", args=lambda vrm: hexargs(vrm.addr, vrm.old_len, vrm.new_addr))
def remap_move(vrm: VmaRemapStruct) -> int:
    """MREMAP_FIXED with equal lengths: move every VMA of the range, gaps and all (6.17+)."""
    mm = vrm.mm
    start, end = vrm.addr, vrm.addr + vrm.old_len
    target_addr = vrm.new_addr
    res: int | None = None
    last_end = 0
    pos = start
    while pos < end:
        vma = vmalib.find_vma_intersection(mm, pos, end)
        if vma is None:
            break
        if res is None and start < vma.vm_start:
            raise syscall_error(errno.EFAULT)
        addr = max(vma.vm_start, start)
        length = min(end, vma.vm_end) - addr
        offset = vma.vm_start - last_end if res is not None else 0
        last_end = vma.vm_end
        vrm.vma, vrm.addr = vma, addr
        vrm.new_addr = target_addr + offset
        vrm.old_len = vrm.new_len = length
        # vma_multi_allowed() would refuse uffd-armed VMAs and files with their own
        # get_unmapped_area; the model has neither, so every VMA may take part.
        if res is not None:
            note(f"next VMA piece: {addr:#x} -> {vrm.new_addr:#x}")
        check_prep_vma(vrm)
        res_vma = mremap_to(vrm)
        if res is None:
            res = res_vma
        target_addr = res_vma + vrm.new_len
        pos = last_end
    if res is None:
        raise syscall_error(errno.EFAULT)
    return res


@traced("do_mremap")
def do_mremap(vrm: VmaRemapStruct) -> int:
    vrm.old_len = page_align(vrm.old_len)
    vrm.new_len = page_align(vrm.new_len)
    check_mremap_params(vrm)
    if vrm.move_only():
        res = remap_move(vrm)
    else:
        vrm.vma = vmalib.vma_lookup(vrm.mm, vrm.addr)
        check_prep_vma(vrm)
        res = mremap_to(vrm) if vrm.implies_new_addr() else mremap_at(vrm)
    if vrm.populate_expand:
        # An mlocked mapping keeps all its pages resident, the new ones too.
        mm_populate(vrm.mm, vrm.new_addr + vrm.old_len, vrm.delta)
    return res


def sys_mremap(task: Task, addr: int, old_len: int, new_len: int, flags: int, new_addr: int) -> int:
    vrm = VmaRemapStruct(task.mm, addr, old_len, new_len, flags, new_addr)
    return do_mremap(vrm)
