"""Pre-faulting a range: MAP_POPULATE, MAP_LOCKED, mlock (mm/gup.c)."""

from __future__ import annotations

from ..errors import BusError
from ..kernel.trace import hexargs, traced
from . import vma as vmalib
from .memory import handle_mm_fault
from .mm_types import MmStruct, VmAreaStruct
from .vm_flags import VM_ACCESS_FLAGS, VM_IO, VM_LOCKONFAULT, VM_PFNMAP, VM_SHARED, VM_WRITE


@traced("__mm_populate", args=lambda mm, start, length: hexargs(start, length))
def mm_populate(mm: MmStruct, start: int, length: int) -> None:
    """Fault in every page of [start, start+len); failures are ignored, as the kernel does."""
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
    for addr in range(start, end, 4096):
        try:
            handle_mm_fault(mm, vma, addr, write)
        except BusError:
            return
