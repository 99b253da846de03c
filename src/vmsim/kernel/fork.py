"""What fork() and clone() make of a task (kernel/fork.c).

A child made with CLONE_VM (a thread, or a vfork child until it execs) uses its
parent's mm itself; any other child gets a copy made by :func:`dup_mm`.  With
CLONE_FILES it shares the fd table, else gets a copy (dup_fd()); with CLONE_THREAD
it shares the limits, else gets a copy (copy_signal()).
"""

from __future__ import annotations

from ..arch.x86.mmap import TASK_SIZE_4LEVEL
from ..mm.mm_types import KernelConfig, MmStruct
from ..mm.mmap import dup_mmap
from .task import Task

CLONE_VM = 0x00000100
CLONE_FILES = 0x00000400
CLONE_VFORK = 0x00004000
CLONE_THREAD = 0x00010000
CLONE_FLAG_NAMES = {
    "CLONE_VM": CLONE_VM,
    "CLONE_FILES": CLONE_FILES,
    "CLONE_VFORK": CLONE_VFORK,
    "CLONE_THREAD": CLONE_THREAD,
}
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


def mm_alloc(config: KernelConfig | None = None) -> MmStruct:
    """A new, empty mm; arch_pick_mmap_layout() chooses where its mmap area goes."""
    return MmStruct(TASK_SIZE_4LEVEL, 0, 0, config=config)


def copy_process(parent: Task, clone_flags: int, pid: int | None = None) -> Task:
    """The child task of clone(clone_flags) (or of fork(): no flags)."""
    files = parent.files if clone_flags & CLONE_FILES else parent.files.dup_fd()
    signal = parent.signal if clone_flags & CLONE_THREAD else parent.signal.copy()
    return Task(copy_mm(clone_flags, parent.mm), files, signal, parent.cred, parent.vfs, pid)
