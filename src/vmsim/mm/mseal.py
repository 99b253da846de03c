"""mseal(2): make mappings immutable (mm/mseal.c)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..errors import syscall_error
from ..kernel.trace import hexargs, traced
from ..uapi import PAGE_MASK, page_align
from . import vma as vmalib
from .mm_types import MmStruct
from .vm_flags import VM_SEALED

if TYPE_CHECKING:
    from ..kernel.task import Task


def sys_mseal(task: Task, start: int, len_in: int, flags: int) -> None:
    do_mseal(task.mm, start, len_in, flags)


@traced("do_mseal", args=lambda mm, start, len_in, flags: hexargs(start, len_in, flags))
def do_mseal(mm: MmStruct, start: int, len_in: int, flags: int) -> None:
    if flags or start & ~PAGE_MASK:
        raise syscall_error(errno.EINVAL)
    length = page_align(len_in)
    if len_in and not length:
        raise syscall_error(errno.EINVAL)
    end = start + length
    if end < start or end >= 1 << 64:
        raise syscall_error(errno.EINVAL)
    if end == start:
        return
    # The whole range must be mapped before anything is sealed.
    pos = start
    for vma in vmalib.vmas_in_range(mm, start, end):
        if vma.vm_start > pos:
            raise syscall_error(errno.ENOMEM)
        pos = vma.vm_end
    if pos < end:
        raise syscall_error(errno.ENOMEM)
    pos = start
    while pos < end:
        found = vmalib.find_vma(mm, pos)
        assert found is not None
        stop = min(found.vm_end, end)
        if not found.vm_flags & VM_SEALED:
            sealed = vmalib.vma_modify_flags(mm, found, pos, stop, found.vm_flags | VM_SEALED)
            sealed.vm_flags |= VM_SEALED
        pos = stop
