"""What fork() and clone() do to address spaces (kernel/fork.c).

A child made with CLONE_VM (a thread, or a vfork child until it execs) uses its
parent's mm itself; any other child gets a copy made by :func:`dup_mm`.
"""

from __future__ import annotations

from ..mm.mm_types import MmStruct
from ..mm.mmap import dup_mmap

CLONE_VM = 0x00000100
CLONE_FILES = 0x00000400
CLONE_VFORK = 0x00004000
CLONE_THREAD = 0x00010000
# include/linux/mm.h: the only mm->def_flags a child inherits.
VM_INIT_DEF_MASK = 0x40000000  # VM_NOHUGEPAGE


def dup_mm(oldmm: MmStruct) -> MmStruct:
    """A copy of ``oldmm`` for a child: its layout and limits as they are, every VMA copied
    by dup_mmap(); counters that mm_init() starts afresh (locked_vm, RSS) begin at zero."""
    mm = oldmm.copy_layout(oldmm.def_flags & VM_INIT_DEF_MASK)
    dup_mmap(mm, oldmm)
    return mm


def copy_mm(clone_flags: int, oldmm: MmStruct) -> MmStruct:
    """The child's mm: the parent's own with CLONE_VM, else a copy."""
    if clone_flags & CLONE_VM:
        return oldmm
    return dup_mm(oldmm)
