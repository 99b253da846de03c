"""A task as the memory calls see it (struct task_struct, include/linux/sched.h).

What a system call reaches through ``current``: the address space (``mm``), the fd
table (``files``), the resource limits (``signal->rlim``, shared by a thread group) and
the credentials (``cred``).  ``vfs`` stands for the file system every task sees: the
inode behind each path.  kernel/fork.py makes a child's task, fs/exec.py gives a task a
new mm at execve, and the system-call table (kernel/syscalls.py) runs calls on a task.
"""

from __future__ import annotations

from typing import Any

from ..fs.file import FilesStruct, Inode
from ..lib.memo_copy import deepcopy_memo
from ..mm.mm_types import Credentials, MmStruct, default_rlimits


class SignalStruct:
    """The part of struct signal_struct the model needs: the resource limits."""

    __slots__ = ("rlim",)

    def __init__(self, rlim: dict[int, tuple[int, int]] | None = None) -> None:
        self.rlim: dict[int, tuple[int, int]] = rlim if rlim is not None else default_rlimits()

    def copy(self) -> SignalStruct:  # copy_signal(): a new thread group's own limits
        return SignalStruct(dict(self.rlim))


class Task:
    """One task: its mm, fd table, limits and credentials.  A new mm's owner is the task
    that made it (mm->owner), which is where the mm code finds the limits it checks."""

    __slots__ = ("pid", "mm", "files", "signal", "cred", "vfs")

    def __init__(
        self,
        mm: MmStruct,
        files: FilesStruct | None = None,
        signal: SignalStruct | None = None,
        cred: Credentials | None = None,
        vfs: dict[str, Inode] | None = None,
        pid: int | None = None,
    ) -> None:
        self.pid = pid
        self.mm = mm
        self.files = files if files is not None else FilesStruct()
        self.signal = signal if signal is not None else SignalStruct()
        self.cred = cred if cred is not None else Credentials()
        self.vfs: dict[str, Inode] = vfs if vfs is not None else {}
        if mm.owner is None:
            mm.owner = self

    def rlimit(self, resource: int) -> int:
        return self.signal.rlim[resource][0]

    def set_mm(self, mm: MmStruct) -> None:
        """exec_mmap(): the task now runs in ``mm``, which it owns."""
        self.mm = mm
        mm.owner = self

    def __deepcopy__(self, memo: dict[int, Any]) -> Task:
        """A copy to try calls on: its own mm, fd table and limits; the files, inodes and
        credentials stay shared, as a forked child's are."""
        new = Task(self.mm, self.files.dup_fd(), self.signal.copy(), self.cred, self.vfs, self.pid)
        memo[id(self)] = new
        new.mm = deepcopy_memo(self.mm, memo)
        return new
