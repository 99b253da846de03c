"""Pre-faulting a range: MAP_POPULATE, MAP_LOCKED, mlock (mm/gup.c)."""

from __future__ import annotations

from ..errors import BusError, OutOfMemoryKill
from ..kernel.trace import hexargs, traced
from ..uapi import PAGE_SHIFT, PMD_SHIFT
from . import vma as vmalib
from .memory import count_pte_tables, handle_mm_fault, oom_charge
from .mm_types import MmStruct, VmAreaStruct
from .vm_flags import VM_ACCESS_FLAGS, VM_IO, VM_LOCKONFAULT, VM_PFNMAP, VM_SHARED, VM_WRITE


@traced("__mm_populate", args=lambda mm, start, length: hexargs(start, length))
def mm_populate(mm: MmStruct, start: int, length: int) -> None:
    """Fault in every page of [start, start+len); failures are ignored, as the kernel does,
    but running out of memory calls the OOM killer, whose SIGKILL ends the process."""
    end = start + length
    for vma in vmalib.vmas_in_range(mm, start, end):
        populate_vma_page_range(mm, vma, max(start, vma.vm_start), min(end, vma.vm_end))


def populate_vma_page_range(mm: MmStruct, vma: VmAreaStruct, start: int, end: int) -> None:
    if vma.vm_flags & (VM_IO | VM_PFNMAP | VM_LOCKONFAULT):
        return
    if not vma.vm_flags & VM_ACCESS_FLAGS:
        return  # PROT_NONE: get_user_pages() fails, and the error is dropped
    # Private writable memory is touched for write so that COW is broken now.
    write = vma.vm_flags & (VM_WRITE | VM_SHARED) == VM_WRITE
    populate_oom_check(mm, vma, start, end, write)
    for addr in range(start, end, 4096):
        try:
            handle_mm_fault(mm, vma, addr, write)
        except BusError:
            return


def populate_charge(mm: MmStruct, vma: VmAreaStruct, start: int, end: int, write: bool) -> int:
    """At least how much faulting in [start, end) of ``vma`` page by page adds to
    oom_charge(), counting only what it allocates (each allocation checks the limit first).
    Costs what is present in the range, not its size."""
    shmem = False
    cached = 0
    if vma.vm_file is not None:
        inode = vma.vm_file.inode
        # The first page past the end of the file stops the populate with SIGBUS.
        end = min(end, vma.vm_start + ((inode.pages_in_file() - vma.vm_pgoff) << PAGE_SHIFT))
        shmem = inode.shmem
        if shmem:
            lo, hi = vma.pgoff_of(start), vma.pgoff_of(end)
            cached = sum(1 for pgoff in inode.pages if lo <= pgoff < hi)
    if start >= end:
        return 0
    # Every page gets a PTE (the zero page, at least), so every 2 MiB span a table.
    need = ((end - 1) >> PMD_SHIFT) - (start >> PMD_SHIFT) + 1 - count_pte_tables(mm, start, end)
    pages = (end - start) >> PAGE_SHIFT
    if write and not vma.vm_flags & VM_SHARED:
        # Each page ends up an anonymous copy; replacing a mapped shmem page frees as much
        # charge as the copy takes.
        held = 0
        for _, page in mm.pgtables.present(start, end):
            if page.anon or shmem and page.inode is not None:
                held += 1
        need += pages - held
    elif shmem:
        need += pages - cached  # shmem allocates a page for a read too
    return need


def populate_oom_check(mm: MmStruct, vma: VmAreaStruct, start: int, end: int, write: bool) -> None:
    """Kill now a process that would run out of memory partway through faulting in
    [start, end): its pages are lost with it, and a range far larger than memory is not
    faulted in page by page first.  Otherwise the faults check the limit one by one."""
    need = populate_charge(mm, vma, start, end, write)
    free = mm.config.oom_pages() - oom_charge(mm)
    if need > free:
        raise OutOfMemoryKill(start, need, free)
