"""The stack VMA of a program being exec'd (mm/vma_exec.c)."""

from __future__ import annotations

import errno
from typing import Final

from ..errors import syscall_error
from ..uapi import PAGE_SIZE, ULONG_MAX
from . import vma as vmalib
from .memory import free_pgtables, set_pte_at
from .mm_types import MmStruct, VmAreaStruct
from .vm_flags import (
    VM_ACCOUNT,
    VM_DATA_DEFAULT_FLAGS,
    VM_GROWSDOWN,
    VM_RAND_READ,
    VM_SEQ_READ,
)

VM_STACK_FLAGS: Final = VM_GROWSDOWN | VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT
# Marks the stack while exec is still building it (include/linux/mm.h).
VM_STACK_INCOMPLETE_SETUP: Final = VM_RAND_READ | VM_SEQ_READ


def create_init_stack_vma(mm: MmStruct, stack_top_max: int) -> tuple[VmAreaStruct, int]:
    """One page of stack at the highest address the architecture allows, until exec knows
    where the stack goes; returns it and the first free position in it (bprm->p)."""
    vma = VmAreaStruct(
        stack_top_max - PAGE_SIZE,
        stack_top_max,
        VM_STACK_FLAGS | VM_STACK_INCOMPLETE_SETUP,
        0,
    )
    vmalib.insert_vm_struct(mm, vma)
    mm.stack_vm = mm.total_vm = 1
    return vma, vma.vm_end - 8


def relocate_vma_down(mm: MmStruct, vma: VmAreaStruct, shift: int) -> None:
    """Move the stack, pages and all, ``shift`` bytes down (when STACK_TOP is below
    STACK_TOP_MAX); its vm_pgoff stays."""
    old_start, old_end = vma.vm_start, vma.vm_end
    new_start = old_start - shift
    if vmalib.find_vma_intersection(mm, new_start, old_start) is not None:
        raise syscall_error(errno.EFAULT)
    present = list(mm.pgtables.present(old_start, old_end))
    for addr, _ in present:
        mm.pgtables.clear_pte(addr)
    for addr, page in present:
        set_pte_at(mm, addr - shift, page)
    vmalib.vma_iter_clear(mm, old_start, old_end)
    vma.vm_start, vma.vm_end = new_start, old_end - shift
    vmalib.vma_iter_store(mm, vma)
    nxt = vmalib.find_vma(mm, old_end)
    ceiling = nxt.vm_start if nxt is not None else ULONG_MAX
    free_pgtables(mm, vma.vm_end, old_end, vma.vm_end, ceiling)
