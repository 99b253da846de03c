"""mprotect(2) (mm/mprotect.c)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..errors import syscall_error
from ..kernel.trace import hexargs, traced
from ..uapi import (
    PAGE_MASK,
    PAGE_SHIFT,
    PROT_EXEC,
    PROT_GROWSDOWN,
    PROT_GROWSUP,
    PROT_READ,
    PROT_SEM,
    PROT_WRITE,
    page_align,
)
from . import vma as vmalib
from .gup import populate_vma_page_range
from .mm_types import MmStruct, VmAreaStruct
from .mmap import calc_vm_prot_bits, may_expand_vm, vm_enough_memory, vm_stat_account
from .vm_flags import (
    VM_ACCESS_FLAGS,
    VM_ACCOUNT,
    VM_GROWSDOWN,
    VM_HUGETLB,
    VM_LOCKED,
    VM_NORESERVE,
    VM_SHARED,
    VM_WRITE,
)

if TYPE_CHECKING:
    from ..kernel.task import Task


@traced(
    "mprotect_fixup",
    args=lambda mm, vma, start, end, newflags: f"{vma.trace_name()}, {hexargs(start, end)}",
)
def mprotect_fixup(mm: MmStruct, vma: VmAreaStruct, start: int, end: int, newflags: int) -> None:
    if vmalib.vma_is_sealed(vma):
        raise syscall_error(errno.EPERM)
    oldflags = vma.vm_flags
    if newflags == oldflags:
        return
    nrpages = (end - start) >> PAGE_SHIFT
    charged = 0
    if newflags & VM_WRITE:
        if not may_expand_vm(mm, newflags, nrpages) and may_expand_vm(mm, oldflags, nrpages):
            raise syscall_error(errno.ENOMEM)
        if not oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE):
            # Becoming writable makes private memory committable: charge it now.
            charged = nrpages
            vm_enough_memory(mm, charged)
            newflags |= VM_ACCOUNT
    elif oldflags & VM_ACCOUNT and vma.is_anonymous() and vma.anon_vma is None:
        # Never written and now read-only: nothing will ever need the charge.
        newflags &= ~VM_ACCOUNT
    try:
        vma = vmalib.vma_modify_flags(mm, vma, start, end, newflags)
    except OSError:
        mm.committed -= charged
        raise
    vma.vm_flags = newflags
    if oldflags & VM_ACCOUNT and not newflags & VM_ACCOUNT:
        mm.committed -= nrpages
    if oldflags & (VM_WRITE | VM_SHARED | VM_LOCKED) == VM_LOCKED and newflags & VM_WRITE:
        populate_vma_page_range(mm, vma, start, end)
    vm_stat_account(mm, oldflags, -nrpages)
    vm_stat_account(mm, newflags, nrpages)


def sys_mprotect(task: Task, start: int, length: int, prot: int) -> None:
    do_mprotect_pkey(task.mm, start, length, prot, -1)


@traced(
    "do_mprotect_pkey",
    args=lambda mm, start, length, prot, pkey: hexargs(start, length, prot, pkey),
)
def do_mprotect_pkey(mm: MmStruct, start: int, length: int, prot: int, pkey: int) -> None:
    grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
    prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP)
    if grows == PROT_GROWSDOWN | PROT_GROWSUP:
        raise syscall_error(errno.EINVAL)
    if start & ~PAGE_MASK:
        raise syscall_error(errno.EINVAL)
    if not length:
        return
    length = page_align(length)
    end = start + length
    if end <= start or end >= 1 << 64:
        raise syscall_error(errno.ENOMEM)
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM):
        # arch_validate_prot(), before the address is even looked at.
        raise syscall_error(errno.EINVAL)
    vma = vmalib.find_vma_intersection(mm, start, end)
    if vma is None:
        raise syscall_error(errno.ENOMEM)
    if grows & PROT_GROWSDOWN:
        if vma.vm_start >= end:
            raise syscall_error(errno.ENOMEM)
        start = vma.vm_start
        if not vma.vm_flags & VM_GROWSDOWN:
            raise syscall_error(errno.EINVAL)
    elif vma.vm_start > start:
        raise syscall_error(errno.ENOMEM)
    nstart = start
    while nstart < end:
        vma = vmalib.find_vma(mm, nstart)
        if vma is None or vma.vm_start > nstart:
            # A hole: stop, keeping what was already changed.
            raise syscall_error(errno.ENOMEM)
        newflags = calc_vm_prot_bits(prot) | (vma.vm_flags & ~VM_ACCESS_FLAGS)
        # Each VM_MAY* bit sits four above the right it permits.
        if (newflags & ~(newflags >> 4)) & VM_ACCESS_FLAGS:
            raise syscall_error(errno.EACCES)
        tmp = min(vma.vm_end, end)
        mprotect_fixup(mm, vma, nstart, tmp, newflags)
        nstart = tmp
