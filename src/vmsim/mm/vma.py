"""VMA bookkeeping: lookup, merging, splitting, unmapping, copying and the gap search (mm/vma.c).

The VMAs of an mm live in its maple tree as inclusive ranges
``[vm_start, vm_end - 1]``; empty address space is the tree's NULL ranges, so
the free-area search is a gap search in the tree.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from ..errors import syscall_error
from ..fs.file import OpenFile
from ..kernel.trace import count, hexargs, note, traced
from ..lib.maple_tree import MapleError
from ..uapi import PAGE_MASK, PAGE_SHIFT, ULONG_MAX, page_align
from . import memory  # memory.py imports this module too: use it by attribute
from .mm_types import AnonVma, MmStruct, VmAreaStruct, vm_end_gap, vm_start_gap
from .vm_flags import (
    VM_ACCOUNT,
    VM_LOCKED,
    VM_SEALED,
    VM_SOFTDIRTY,
    VM_SPECIAL,
    VM_STARTGAP_FLAGS,
    is_data_mapping,
    is_exec_mapping,
    is_stack_mapping,
)

# -- lookups ----------------------------------------------------------------------------


def find_vma(mm: MmStruct, addr: int) -> VmAreaStruct | None:
    """The first VMA that ends above ``addr``."""
    return mm.mm_mt.mt_find(addr)


def vma_lookup(mm: MmStruct, addr: int) -> VmAreaStruct | None:
    """The VMA containing ``addr``."""
    return mm.mm_mt.load(addr)


def find_vma_intersection(mm: MmStruct, start: int, end: int) -> VmAreaStruct | None:
    if start >= end:
        return None
    return mm.mm_mt.mt_find(start, end - 1)


def vma_prev(mm: MmStruct, vma: VmAreaStruct) -> VmAreaStruct | None:
    return vma_below(mm, vma.vm_start)


def vma_below(mm: MmStruct, addr: int) -> VmAreaStruct | None:
    """The last VMA that starts below ``addr`` (what vma_prev() gives from a position)."""
    if addr == 0:
        return None
    return mm.mm_mt.mt_prev(addr - 1)


def vma_next(mm: MmStruct, vma: VmAreaStruct) -> VmAreaStruct | None:
    return find_vma(mm, vma.vm_end)


def vmas_in_range(mm: MmStruct, start: int, end: int) -> list[VmAreaStruct]:
    """for_each_vma_range(): the VMAs meeting [start, end), in order."""
    if start >= end:
        return []
    # mas_find() step by step, as the kernel's iterator goes: a generator over the
    # tree's ranges would cost more than the one or two VMAs usually found.
    tree = mm.mm_mt
    found = []
    vma = tree.mt_find(start, end - 1)
    while vma is not None:
        found.append(vma)
        after = tree.found_last + 1
        if after >= end:
            break
        vma = tree.mt_find(after, end - 1)
    return found


def all_vmas(mm: MmStruct) -> Iterator[VmAreaStruct]:
    for _, _, vma in mm.mm_mt.iter_range(0, ULONG_MAX):
        yield vma


def vma_iter_store(mm: MmStruct, vma: VmAreaStruct) -> None:
    mm.mm_mt.store_range(vma.vm_start, vma.vm_end - 1, vma)


def vma_iter_clear(mm: MmStruct, start: int, end: int) -> None:
    mm.mm_mt.store_range(start, end - 1, None)


def vma_link(mm: MmStruct, vma: VmAreaStruct) -> None:
    vma_iter_store(mm, vma)
    mm.map_count += 1


def insert_vm_struct(mm: MmStruct, vma: VmAreaStruct) -> None:
    """Link a VMA made outside mmap (exec's stack, special mappings) into an empty range."""
    if find_vma_intersection(mm, vma.vm_start, vma.vm_end) is not None:
        raise syscall_error(errno.ENOMEM)
    if vma.vm_flags & VM_ACCOUNT:
        from .mmap import vm_enough_memory

        vm_enough_memory(mm, vma.pages())
    if vma.is_anonymous():
        # Like a fresh anonymous mmap, so that it could merge with one.
        vma.vm_pgoff = vma.vm_start >> PAGE_SHIFT
    vma_link(mm, vma)


def vma_is_sealed(vma: VmAreaStruct) -> bool:
    return bool(vma.vm_flags & VM_SEALED)


# -- merging ----------------------------------------------------------------------------


class VmaMergeStruct:
    """struct vma_merge_struct: a proposed range and what it would look like."""

    # Not a dataclass: compiled, a dataclass's generated __init__ runs in the interpreter,
    # and one of these is built for nearly every call.
    def __init__(
        self,
        mm: MmStruct,
        prev: VmAreaStruct | None,
        middle: VmAreaStruct | None,
        next: VmAreaStruct | None,
        start: int,
        end: int,
        pgoff: int,
        vm_flags: int,
        file: OpenFile | None,
        anon_vma: AnonVma | None,
        just_expand: bool = False,
    ) -> None:
        self.mm = mm
        self.prev = prev
        self.middle = middle
        self.next = next
        self.start = start
        self.end = end
        self.pgoff = pgoff
        self.vm_flags = vm_flags
        self.file = file
        self.anon_vma = anon_vma
        self.just_expand = just_expand


def is_mergeable_vma(vmg: VmaMergeStruct, vma: VmAreaStruct) -> bool:
    # Every flag but soft-dirty counts: VM_ACCOUNT, VM_LOCKED, VM_NOHUGEPAGE... all block.
    return not ((vma.vm_flags ^ vmg.vm_flags) & ~VM_SOFTDIRTY) and vma.vm_file is vmg.file


def is_mergeable_anon_vma(vmg: VmaMergeStruct, tgt: VmAreaStruct) -> bool:
    src_anon, tgt_anon = vmg.anon_vma, tgt.anon_vma
    if src_anon is None or tgt_anon is None:
        # With only one side owning an anon_vma the merged VMA adopts it, unless that side
        # was forked from a parent (vma_is_fork_child()): its chain reaches the parent's.
        owner = src_anon or tgt_anon
        return owner is None or owner.parent is None
    return src_anon is tgt_anon


def can_vma_merge_left(vmg: VmaMergeStruct) -> bool:  # can_vma_merge_after() on prev
    prev = vmg.prev
    return (
        prev is not None
        and prev.vm_end == vmg.start
        and is_mergeable_vma(vmg, prev)
        and is_mergeable_anon_vma(vmg, prev)
        and prev.vm_pgoff + prev.pages() == vmg.pgoff
    )


def can_vma_merge_right(vmg: VmaMergeStruct, can_merge_left: bool) -> bool:
    nxt = vmg.next
    if not (
        nxt is not None
        and nxt.vm_start == vmg.end
        and is_mergeable_vma(vmg, nxt)
        and is_mergeable_anon_vma(vmg, nxt)
        and nxt.vm_pgoff == vmg.pgoff + ((vmg.end - vmg.start) >> PAGE_SHIFT)
    ):
        return False
    if not can_merge_left:
        return True
    # Merging both ways makes prev and next one VMA: their anon_vmas must agree too.
    assert vmg.prev is not None
    pa, na = vmg.prev.anon_vma, nxt.anon_vma
    return pa is None or na is None or pa is na


def _remove_from_tree(mm: MmStruct, vma: VmAreaStruct) -> None:
    vma_iter_clear(mm, vma.vm_start, vma.vm_end)
    mm.map_count -= 1


def _set_range(mm: MmStruct, vma: VmAreaStruct, start: int, end: int, pgoff: int) -> None:
    """vma_set_range() for a VMA already in the tree."""
    if start > vma.vm_start:
        vma_iter_clear(mm, vma.vm_start, start)
    if end < vma.vm_end:
        vma_iter_clear(mm, end, vma.vm_end)
    vma.vm_start, vma.vm_end, vma.vm_pgoff = start, end, pgoff
    vma_iter_store(mm, vma)


def _adopt_anon_vma(target: VmAreaStruct, *sources: AnonVma | None) -> None:
    """dup_anon_vma(): the merged VMA must reach every anonymous page it now covers."""
    if target.anon_vma is None:
        for anon_vma in sources:
            if anon_vma is not None:
                target.anon_vma = anon_vma
                return


def _merge_trace(vmg: VmaMergeStruct) -> str:
    return hexargs(vmg.start, vmg.end) + f", pgoff={vmg.pgoff:#x}"


@traced("vma_merge_new_range", args=_merge_trace)
def vma_merge_new_range(vmg: VmaMergeStruct) -> VmAreaStruct | None:
    """Try to cover the new range [start, end) by growing prev and/or next."""
    mm, prev, nxt = vmg.mm, vmg.prev, vmg.next
    if vmg.vm_flags & VM_SPECIAL or (prev is None and nxt is None):
        return None
    merge_left = can_vma_merge_left(vmg)
    merge_right = not vmg.just_expand and can_vma_merge_right(vmg, merge_left)
    if merge_left and merge_right:
        assert prev is not None and nxt is not None
        note(lambda: f"merge both: {prev.trace_name()} absorbs the range and {nxt.trace_name()}")
        _remove_from_tree(mm, nxt)
        _set_range(mm, prev, prev.vm_start, nxt.vm_end, prev.vm_pgoff)
        _adopt_anon_vma(prev, nxt.anon_vma, vmg.anon_vma)
        return prev
    if merge_left:
        assert prev is not None
        note(lambda: f"merge left: {prev.trace_name()} grows to {vmg.end:#x}")
        _set_range(mm, prev, prev.vm_start, vmg.end, prev.vm_pgoff)
        _adopt_anon_vma(prev, vmg.anon_vma)
        return prev
    if merge_right:
        assert nxt is not None
        note(lambda: f"merge right: {nxt.trace_name()} grows down to {vmg.start:#x}")
        _set_range(mm, nxt, vmg.start, nxt.vm_end, vmg.pgoff)
        _adopt_anon_vma(nxt, vmg.anon_vma)
        return nxt
    return None


def vma_merge_existing_range(vmg: VmaMergeStruct) -> VmAreaStruct | None:
    """Give [start, end) of ``middle`` new attributes by moving a boundary with a neighbour."""
    mm, prev, middle, nxt = vmg.mm, vmg.prev, vmg.middle, vmg.next
    assert middle is not None
    left_side = vmg.start == middle.vm_start
    right_side = vmg.end == middle.vm_end
    if vmg.vm_flags & VM_SPECIAL or (not left_side and not right_side):
        return None
    merge_left = left_side and can_vma_merge_left(vmg)
    merge_right = right_side and can_vma_merge_right(vmg, merge_left)
    if merge_left and merge_right:
        assert prev is not None and nxt is not None
        _remove_from_tree(mm, middle)
        _remove_from_tree(mm, nxt)
        _set_range(mm, prev, prev.vm_start, nxt.vm_end, prev.vm_pgoff)
        _adopt_anon_vma(prev, middle.anon_vma, nxt.anon_vma)
        return prev
    if merge_left:
        assert prev is not None
        if right_side:
            _remove_from_tree(mm, middle)
        else:
            _set_range(mm, middle, vmg.end, middle.vm_end, middle.pgoff_of(vmg.end))
        _set_range(mm, prev, prev.vm_start, vmg.end, prev.vm_pgoff)
        _adopt_anon_vma(prev, middle.anon_vma)
        return prev
    if merge_right:
        assert nxt is not None
        if left_side:
            _remove_from_tree(mm, middle)
        else:
            _set_range(mm, middle, middle.vm_start, vmg.start, middle.vm_pgoff)
        _set_range(mm, nxt, vmg.start, nxt.vm_end, vmg.pgoff)
        _adopt_anon_vma(nxt, middle.anon_vma)
        return nxt
    return None


# -- splitting --------------------------------------------------------------------------


@traced("__split_vma", args=lambda mm, vma, addr, new_below: f"{vma.trace_name()}, {addr:#x}")
def split_vma_unchecked(  # __split_vma()
    mm: MmStruct, vma: VmAreaStruct, addr: int, new_below: bool
) -> VmAreaStruct:
    """Cut ``vma`` at ``addr``; returns the new VMA (below ``addr`` iff ``new_below``).

    ``vma`` itself keeps the other part, which matters to callers that hold it.
    """
    if vma.special is not None:
        # special_mapping_split(): [vdso] and friends refuse to be cut.
        raise syscall_error(errno.EINVAL)
    new = vma.dup()
    if new_below:
        new.vm_end = addr
        vma.vm_pgoff = vma.pgoff_of(addr)
        vma.vm_start = addr
    else:
        new.vm_start = addr
        new.vm_pgoff = vma.pgoff_of(addr)
        vma.vm_end = addr
    vma_iter_store(mm, vma)
    vma_link(mm, new)
    return new


def split_vma(mm: MmStruct, vma: VmAreaStruct, addr: int, new_below: bool) -> VmAreaStruct:
    """split_vma_unchecked() behind the map-count limit that mprotect/madvise/mlock obey."""
    if mm.map_count >= mm.config.max_map_count:
        raise syscall_error(errno.ENOMEM)
    return split_vma_unchecked(mm, vma, addr, new_below)


@traced("vma_modify", args=lambda mm, vma, start, end, flags: hexargs(start, end, flags))
def vma_modify_flags(
    mm: MmStruct, vma: VmAreaStruct, start: int, end: int, new_flags: int
) -> VmAreaStruct:
    """The VMA that is exactly [start, end) with ``new_flags``: merged if possible, else split.

    The caller writes the flags.  A failing second split keeps the first one.
    """
    vmg = VmaMergeStruct(
        mm,
        prev=vma_prev(mm, vma),
        middle=vma,
        next=vma_next(mm, vma),
        start=start,
        end=end,
        pgoff=vma.pgoff_of(start),
        vm_flags=new_flags,
        file=vma.vm_file,
        anon_vma=vma.anon_vma,
    )
    merged = vma_merge_existing_range(vmg)
    if merged is not None:
        return merged
    if vma.vm_start < start:
        split_vma(mm, vma, start, new_below=True)
    if vma.vm_end > end:
        split_vma(mm, vma, end, new_below=False)
    return vma


# -- unmapping --------------------------------------------------------------------------


class VmaMunmapStruct:
    """struct vma_munmap_struct: the VMAs of [start, end) gathered for removal."""

    def __init__(self, mm: MmStruct, vma: VmAreaStruct, start: int, end: int) -> None:
        self.mm = mm
        self.vma = vma
        self.start = start
        self.end = end
        self.detached: list[VmAreaStruct] = []
        self.prev: VmAreaStruct | None = None
        self.next: VmAreaStruct | None = None
        self.nr_pages = 0
        self.nr_accounted = 0
        self.locked_vm = 0
        self.exec_vm = 0
        self.stack_vm = 0
        self.data_vm = 0

    def gather(self) -> None:  # vms_gather_munmap_vmas()
        mm, vma = self.mm, self.vma
        if self.start > vma.vm_start:
            if self.end < vma.vm_end and mm.map_count >= mm.config.max_map_count:
                raise syscall_error(errno.ENOMEM)
            if vma_is_sealed(vma):
                raise syscall_error(errno.EPERM)
            split_vma_unchecked(mm, vma, self.start, new_below=True)
        self.prev = vma_below(mm, self.start)
        for nxt in vmas_in_range(mm, self.start, self.end):
            if vma_is_sealed(nxt):
                raise syscall_error(errno.EPERM)
            if nxt.vm_end > self.end:
                split_vma_unchecked(mm, nxt, self.end, new_below=False)
            self.detached.append(nxt)
            pages = nxt.pages()
            self.nr_pages += pages
            if nxt.vm_flags & VM_LOCKED:
                self.locked_vm += pages
            if nxt.vm_flags & VM_ACCOUNT:
                self.nr_accounted += pages
            if is_exec_mapping(nxt.vm_flags):
                self.exec_vm += pages
            elif is_stack_mapping(nxt.vm_flags):
                self.stack_vm += pages
            elif is_data_mapping(nxt.vm_flags):
                self.data_vm += pages
        self.next = find_vma(mm, self.end)

    def clear_ptes(self) -> None:  # vms_clear_ptes(): unmap_vmas() + free_pgtables()
        mm = self.mm
        for vma in self.detached:
            zapped = zap_range(mm, vma.vm_start, vma.vm_end)
            if zapped:
                count("ptes_zapped", zapped)
        if self.detached:
            floor = self.prev.vm_end if self.prev else 0
            ceiling = self.next.vm_start if self.next else 1 << 64
            memory.free_pgtables(
                mm, self.detached[0].vm_start, self.detached[-1].vm_end, floor, ceiling
            )

    def complete(self) -> None:  # vms_complete_munmap_vmas()
        mm = self.mm
        for vma in self.detached:
            _remove_from_tree(mm, vma)
        mm.locked_vm -= self.locked_vm
        if not self.nr_pages:
            return
        self.clear_ptes()
        mm.hiwater_vm = max(mm.hiwater_vm, mm.total_vm)
        mm.total_vm -= self.nr_pages
        mm.exec_vm -= self.exec_vm
        mm.stack_vm -= self.stack_vm
        mm.data_vm -= self.data_vm
        mm.committed -= self.nr_accounted


def zap_range(mm: MmStruct, start: int, end: int) -> int:
    return memory.zap_page_range(mm, start, end)


@traced("do_vmi_align_munmap", args=lambda mm, vma, start, end: hexargs(start, end))
def do_vmi_align_munmap(mm: MmStruct, vma: VmAreaStruct, start: int, end: int) -> None:
    vms = VmaMunmapStruct(mm, vma, start, end)
    vms.gather()
    vms.complete()


@traced("do_vmi_munmap", args=lambda mm, start, length: hexargs(start, length))
def do_vmi_munmap(mm: MmStruct, start: int, length: int) -> None:
    """munmap()'s work: EINVAL on bad ranges, nothing to do is fine."""
    if start & ~PAGE_MASK or start > mm.task_size or length > mm.task_size - start:
        raise syscall_error(errno.EINVAL)
    end = start + page_align(length)
    if end == start:
        raise syscall_error(errno.EINVAL)
    vma = find_vma_intersection(mm, start, end)
    if vma is None:
        return
    do_vmi_align_munmap(mm, vma, start, end)


# -- copying (mremap's destination VMA) -------------------------------------------------


@traced("copy_vma", args=lambda mm, vma, addr, length, pgoff: hexargs(addr, length, pgoff))
def copy_vma(
    mm: MmStruct, vma: VmAreaStruct, addr: int, length: int, pgoff: int
) -> tuple[VmAreaStruct, VmAreaStruct]:
    """Create (or merge into a neighbour) the VMA for [addr, addr+len) copied from ``vma``.

    Returns (new_vma, vma): the source itself may have been merged into the
    new VMA, and the caller must then carry on with the merged one.
    """
    vma_start = vma.vm_start
    if vma.is_anonymous() and vma.anon_vma is None:
        # Never faulted: behave like a fresh mapping at the new place, so it can merge there.
        pgoff = addr >> PAGE_SHIFT
    vmg = VmaMergeStruct(
        mm,
        prev=vma_below(mm, addr),
        middle=None,
        next=find_vma(mm, addr),
        start=addr,
        end=addr + length,
        pgoff=pgoff,
        vm_flags=vma.vm_flags,
        file=vma.vm_file,
        anon_vma=vma.anon_vma,
    )
    new_vma = vma_merge_new_range(vmg)
    if new_vma is not None:
        if new_vma.vm_start <= vma_start < new_vma.vm_end:
            vma = new_vma
        return new_vma, vma
    new_vma = vma.dup()
    new_vma.vm_start, new_vma.vm_end, new_vma.vm_pgoff = addr, addr + length, pgoff
    note("vm_area_dup() + vma_link(): a new VMA")
    vma_link(mm, new_vma)
    return new_vma, vma


# -- the free-area search ---------------------------------------------------------------


class VmUnmappedAreaInfo:
    """struct vm_unmapped_area_info."""

    # Not a dataclass: compiled, a dataclass's generated __init__ runs in the interpreter,
    # and every free-area search builds one.
    def __init__(
        self,
        length: int,
        low_limit: int,
        high_limit: int,
        align_mask: int = 0,
        align_offset: int = 0,
        start_gap: int = 0,
        topdown: bool = False,
    ) -> None:
        self.length = length
        self.low_limit = low_limit
        self.high_limit = high_limit
        self.align_mask = align_mask
        self.align_offset = align_offset
        self.start_gap = start_gap
        self.topdown = topdown


def _next_after_gap(mm: MmStruct, gap_end: int) -> VmAreaStruct | None:
    return find_vma(mm, gap_end)


@traced(
    "unmapped_area", args=lambda mm, info: hexargs(info.length, info.low_limit, info.high_limit)
)
def unmapped_area(mm: MmStruct, info: VmUnmappedAreaInfo) -> int:
    """Bottom-up: the lowest fitting gap."""
    length = info.length + info.align_mask + info.start_gap
    if length < info.length:
        raise syscall_error(errno.ENOMEM)
    low_limit = max(info.low_limit, mm.config.mmap_min_addr)
    high_limit = info.high_limit
    gap_guard = mm.config.stack_guard_gap
    while True:
        try:
            start = mm.mm_mt.empty_area(low_limit, high_limit - 1, length)
        except MapleError:
            raise syscall_error(errno.ENOMEM) from None
        gap = start + info.start_gap
        gap += (info.align_offset - gap) & info.align_mask
        nxt = _next_after_gap(mm, start)
        if nxt is not None and nxt.vm_flags & VM_STARTGAP_FLAGS:
            if vm_start_gap(nxt, gap_guard) < gap + length - 1:
                low_limit = nxt.vm_end
                continue
        else:
            prev = vma_below(mm, start)
            if prev is not None and vm_end_gap(prev) > gap:
                low_limit = vm_end_gap(prev)
                continue
        return gap


@traced(
    "unmapped_area_topdown",
    args=lambda mm, info: hexargs(info.length, info.low_limit, info.high_limit),
)
def unmapped_area_topdown(mm: MmStruct, info: VmUnmappedAreaInfo) -> int:
    """Top-down: the top of the highest fitting gap below high_limit."""
    length = info.length + info.align_mask + info.start_gap
    if length < info.length:
        raise syscall_error(errno.ENOMEM)
    low_limit = max(info.low_limit, mm.config.mmap_min_addr)
    high_limit = info.high_limit
    gap_guard = mm.config.stack_guard_gap
    while True:
        try:
            start = mm.mm_mt.empty_area_rev(low_limit, high_limit - 1, length)
        except MapleError:
            raise syscall_error(errno.ENOMEM) from None
        gap_end = start + length
        gap = gap_end - info.length
        gap -= (gap - info.align_offset) & info.align_mask
        nxt = _next_after_gap(mm, gap_end)
        if nxt is not None and nxt.vm_flags & VM_STARTGAP_FLAGS:
            # Keep out of a grows-down stack's guard gap; search again below it.
            if vm_start_gap(nxt, gap_guard) < gap_end:
                high_limit = vm_start_gap(nxt, gap_guard)
                if high_limit < low_limit:
                    raise syscall_error(errno.ENOMEM)
                continue
        else:
            prev = vma_below(mm, gap_end)
            if prev is not None and vm_end_gap(prev) > gap:
                high_limit = prev.vm_start
                continue
        return gap


def vm_unmapped_area(mm: MmStruct, info: VmUnmappedAreaInfo) -> int:
    if info.topdown:
        return unmapped_area_topdown(mm, info)
    return unmapped_area(mm, info)
