"""madvise(2) (mm/madvise.c).

Advice that changes VMA flags goes through vma_modify (merge or split); the
discarding advices act on the page tables; populate advice faults pages in.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Final

from ..errors import BusError, syscall_error
from ..kernel.trace import hexargs, traced
from ..uapi import (
    MADV_COLD,
    MADV_DODUMP,
    MADV_DOFORK,
    MADV_DONTDUMP,
    MADV_DONTFORK,
    MADV_DONTNEED,
    MADV_DONTNEED_LOCKED,
    MADV_FREE,
    MADV_HUGEPAGE,
    MADV_KEEPONFORK,
    MADV_MERGEABLE,
    MADV_NOHUGEPAGE,
    MADV_NORMAL,
    MADV_PAGEOUT,
    MADV_POPULATE_READ,
    MADV_POPULATE_WRITE,
    MADV_RANDOM,
    MADV_REMOVE,
    MADV_SEQUENTIAL,
    MADV_UNMERGEABLE,
    MADV_WILLNEED,
    MADV_WIPEONFORK,
    PAGE_MASK,
    page_align,
)
from . import vma as vmalib
from .gup import populate_oom_check
from .memory import handle_mm_fault, reclaim_empty_pte_tables, unmap_page, zap_page_range
from .mm_types import MmStruct, VmAreaStruct
from .page import Page
from .vm_flags import (
    VM_DONTCOPY,
    VM_DONTDUMP,
    VM_DONTEXPAND,
    VM_HUGEPAGE,
    VM_HUGETLB,
    VM_IO,
    VM_LOCKED,
    VM_MAYSHARE,
    VM_MERGEABLE,
    VM_MIXEDMAP,
    VM_NOHUGEPAGE,
    VM_PFNMAP,
    VM_RAND_READ,
    VM_READ,
    VM_SEALED,
    VM_SEQ_READ,
    VM_SHARED,
    VM_SPECIAL,
    VM_WIPEONFORK,
    VM_WRITE,
)

if TYPE_CHECKING:
    from ..kernel.task import Task

FLAG_ADVICE = {
    MADV_NORMAL,
    MADV_RANDOM,
    MADV_SEQUENTIAL,
    MADV_DONTFORK,
    MADV_DOFORK,
    MADV_WIPEONFORK,
    MADV_KEEPONFORK,
    MADV_DONTDUMP,
    MADV_DODUMP,
    MADV_MERGEABLE,
    MADV_UNMERGEABLE,
    MADV_HUGEPAGE,
    MADV_NOHUGEPAGE,
}
PAGE_ADVICE = {
    MADV_WILLNEED,
    MADV_DONTNEED,
    MADV_DONTNEED_LOCKED,
    MADV_FREE,
    MADV_REMOVE,
    MADV_COLD,
    MADV_PAGEOUT,
}
POPULATE_ADVICE = {MADV_POPULATE_READ, MADV_POPULATE_WRITE}
# Not modelled, so refused rather than silently ignored: MADV_COLLAPSE (THP),
# MADV_GUARD_INSTALL/REMOVE (guard markers), MADV_HWPOISON/SOFT_OFFLINE.
SUPPORTED_ADVICE: Final = FLAG_ADVICE | PAGE_ADVICE | POPULATE_ADVICE

# Advice that throws data away (is_discard()): refused on sealed read-only anonymous memory.
DISCARD_ADVICE = {
    MADV_FREE,
    MADV_DONTNEED,
    MADV_DONTNEED_LOCKED,
    MADV_REMOVE,
    MADV_DONTFORK,
    MADV_WIPEONFORK,
}

KSM_INCOMPATIBLE: Final = (
    VM_SHARED | VM_MAYSHARE | VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_HUGETLB | VM_MIXEDMAP
)


def madvise_new_flags(vma: VmAreaStruct, behavior: int) -> int:
    """The flags ``behavior`` asks for (madvise_vma_behavior()'s switch)."""
    flags = vma.vm_flags
    if behavior == MADV_NORMAL:
        return flags & ~(VM_RAND_READ | VM_SEQ_READ)
    if behavior == MADV_SEQUENTIAL:
        return (flags & ~VM_RAND_READ) | VM_SEQ_READ
    if behavior == MADV_RANDOM:
        return (flags & ~VM_SEQ_READ) | VM_RAND_READ
    if behavior == MADV_DONTFORK:
        return flags | VM_DONTCOPY
    if behavior == MADV_DOFORK:
        if flags & VM_IO:
            raise syscall_error(errno.EINVAL)
        return flags & ~VM_DONTCOPY
    if behavior == MADV_WIPEONFORK:
        if vma.vm_file is not None or flags & VM_SHARED:
            raise syscall_error(errno.EINVAL)
        return flags | VM_WIPEONFORK
    if behavior == MADV_KEEPONFORK:
        return flags & ~VM_WIPEONFORK
    if behavior == MADV_DONTDUMP:
        return flags | VM_DONTDUMP
    if behavior == MADV_DODUMP:
        if not flags & VM_HUGETLB and flags & VM_SPECIAL:
            raise syscall_error(errno.EINVAL)
        return flags & ~VM_DONTDUMP
    if behavior == MADV_MERGEABLE:
        # ksm_madvise(): memory KSM cannot scan is silently left alone.
        return flags if flags & KSM_INCOMPATIBLE else flags | VM_MERGEABLE
    if behavior == MADV_UNMERGEABLE:
        return flags & ~VM_MERGEABLE
    if behavior == MADV_HUGEPAGE:
        return (flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE
    assert behavior == MADV_NOHUGEPAGE
    return (flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE


def madvise_update_vma(
    mm: MmStruct, vma: VmAreaStruct, start: int, end: int, new_flags: int
) -> VmAreaStruct:
    if new_flags == vma.vm_flags:
        return vma
    vma = vmalib.vma_modify_flags(mm, vma, start, end, new_flags)
    vma.vm_flags = new_flags
    return vma


def madvise_page_advice(
    mm: MmStruct, vma: VmAreaStruct, start: int, end: int, behavior: int
) -> None:
    flags = vma.vm_flags
    if behavior in (MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE):
        forbidden = VM_PFNMAP | (0 if behavior == MADV_DONTNEED_LOCKED else VM_LOCKED)
        if flags & forbidden:
            raise syscall_error(errno.EINVAL)
        if behavior == MADV_FREE:
            if not vma.is_anonymous():
                raise syscall_error(errno.EINVAL)
            for _, page in mm.pgtables.present(start, end):
                # Lazily freed: the data stays until memory is short, which it is not here.
                if page.anon and page.mapcount == 1:
                    page.lazyfree = True
                    page.dirty = False
            return
        zap_page_range(mm, start, end)
        reclaim_empty_pte_tables(mm, start, end)
    elif behavior == MADV_REMOVE:
        madvise_remove(mm, vma, start, end)
    elif behavior in (MADV_COLD, MADV_PAGEOUT):
        if flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB):
            raise syscall_error(errno.EINVAL)
        if behavior == MADV_PAGEOUT:
            madvise_pageout(mm, start, end)
    # MADV_WILLNEED only starts readahead/swap-in: nothing becomes mapped.


def madvise_remove(mm: MmStruct, vma: VmAreaStruct, start: int, end: int) -> None:
    """Punch a hole in the backing file (shmem or a regular file)."""
    if vma.vm_flags & VM_LOCKED or vma.vm_file is None:
        raise syscall_error(errno.EINVAL)
    if vma.vm_flags & (VM_SHARED | VM_MAYSHARE) != (VM_SHARED | VM_MAYSHARE):
        raise syscall_error(errno.EACCES)
    inode = vma.vm_file.inode
    zap_page_range(mm, start, end)
    for pgoff in range(vma.pgoff_of(start), vma.pgoff_of(end)):
        inode.pages[pgoff] = Page(anon=False, inode=inode, index=pgoff)


def madvise_pageout(mm: MmStruct, start: int, end: int) -> None:
    """Reclaim what can go without swap: clean file pages mapped only here."""
    for addr, page in list(mm.pgtables.present(start, end)):
        file_backed = not page.anon and page.inode is not None and not page.inode.shmem
        if file_backed and page.mapcount == 1 and not page.dirty:
            mm.pgtables.clear_pte(addr)
            unmap_page(mm, page)


def madvise_populate(mm: MmStruct, start: int, end: int, write: bool) -> None:
    """Fault in the range VMA by VMA; the first failure ends the call, with what came
    before it populated.  Running out of memory is the OOM killer's SIGKILL, not ENOMEM."""
    addr = start
    while addr < end:
        vma = vmalib.vma_lookup(mm, addr)
        if vma is None:
            raise syscall_error(errno.ENOMEM)
        flags = vma.vm_flags
        if flags & (VM_IO | VM_PFNMAP) or not flags & (VM_WRITE if write else VM_READ):
            raise syscall_error(errno.EINVAL)
        # Faults do not change VMAs: this one holds every page up to its end.
        chunk_end = min(end, vma.vm_end)
        populate_oom_check(mm, vma, addr, chunk_end, write)
        while addr < chunk_end:
            try:
                handle_mm_fault(mm, vma, addr, write)
            except BusError:
                raise syscall_error(errno.EFAULT) from None
            addr += 4096


def sys_madvise(task: Task, start: int, len_in: int, behavior: int) -> None:
    do_madvise(task.mm, start, len_in, behavior)


@traced("do_madvise", args=lambda mm, start, len_in, behavior: hexargs(start, len_in, behavior))
def do_madvise(mm: MmStruct, start: int, len_in: int, behavior: int) -> None:
    if behavior not in SUPPORTED_ADVICE:
        raise syscall_error(errno.EINVAL)
    if start & ~PAGE_MASK:
        raise syscall_error(errno.EINVAL)
    length = page_align(len_in)
    if len_in and not length:
        raise syscall_error(errno.EINVAL)
    end = start + length
    if end >= 1 << 64:
        raise syscall_error(errno.EINVAL)
    if end == start:
        return
    if behavior in POPULATE_ADVICE:
        madvise_populate(mm, start, end, behavior == MADV_POPULATE_WRITE)
        return
    madvise_walk_vmas(mm, start, end, behavior)


def can_madvise_modify(vma: VmAreaStruct, behavior: int) -> bool:
    """mseal() forbids only discarding data a user could not otherwise overwrite."""
    if not vma.vm_flags & VM_SEALED or behavior not in DISCARD_ADVICE:
        return True
    if vma.vm_file is not None or vma.vm_flags & VM_SHARED:
        return True
    return bool(vma.vm_flags & VM_WRITE)


def madvise_walk_vmas(mm: MmStruct, start: int, end: int, behavior: int) -> None:
    """Apply the advice to every VMA in range; holes give ENOMEM, but only at the end."""
    unmapped_error = False
    vma = vmalib.find_vma(mm, start)
    while True:
        if vma is None:
            raise syscall_error(errno.ENOMEM)
        if start < vma.vm_start:
            unmapped_error = True
            start = vma.vm_start
            if start >= end:
                break
        tmp = min(vma.vm_end, end)
        if not can_madvise_modify(vma, behavior):
            raise syscall_error(errno.EPERM)
        if behavior in FLAG_ADVICE:
            vma = madvise_update_vma(mm, vma, start, tmp, madvise_new_flags(vma, behavior))
        else:
            madvise_page_advice(mm, vma, start, tmp, behavior)
        start = max(tmp, vma.vm_end)
        if start >= end:
            break
        vma = vmalib.find_vma(mm, vma.vm_end)
    if unmapped_error:
        raise syscall_error(errno.ENOMEM)
