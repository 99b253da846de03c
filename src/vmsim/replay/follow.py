"""Follow mode: the log's results are the truth.

Where the model's result differs from the log's, the address space must end as the
kernel's did: as it was before the call (the log says it failed, or did what the model
cannot), with the mapping an mmap or mremap made, or the break brk moved, put where the
log says.  A call cannot be undone without a copy, and copying a whole address space
before every call would cost tens of calls each (a 1,000-VMA address space copies in
about the time 40 calls run).

So each address space keeps a :class:`Checkpoint`: a copy taken some calls ago and the
calls made on it since, all of which gave the log's results.  A call that differs
rebuilds the state before it from the checkpoint, by making those calls again (the
model is deterministic), puts the mapping where the log says, and the rebuilt state
replaces the address space; the next call takes a new checkpoint.  A checkpoint serves
for as many calls as its address space has VMAs over four (at least 16), which keeps
the copies at a small share of the replay's time.  The calls depend on the task's fd
table (kept with each call) and limits besides the address space; whatever changes
the limits or the address space otherwise (setrlimit, clone, execve) drops the
checkpoints.
"""

from __future__ import annotations

import copy
from collections import Counter

from ..fs.file import FilesStruct, OpenFile
from ..kernel import trace
from ..kernel.syscalls import SYSCALLS, Syscall
from ..kernel.task import Task
from ..uapi import MAP_FIXED, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE
from .tasks import TaskTable, make_call

MIN_CALLS = 16  # the fewest calls a checkpoint serves for


class Checkpoint:
    """A copy of an address space (in a copy of a task using it) and the calls made
    since, each with its arguments, the fd table it ran with, and its result."""

    __slots__ = ("mm", "copy", "calls", "left")

    def __init__(self, task: Task) -> None:
        self.mm = task.mm  # the address space it is of
        self.copy: Task = copy.deepcopy(task)
        self.calls: list[tuple[Syscall, list[int], dict[int, OpenFile], int | str]] = []
        self.left = max(MIN_CALLS, task.mm.map_count >> 2)


class Follower:
    """Keeps address spaces as the log says the kernel left them."""

    def __init__(self, tasks: TaskTable, notes: Counter[str]) -> None:
        self.tasks = tasks
        self.notes = notes
        self.checkpoints: dict[int, Checkpoint] = {}  # by id of the mm

    def make_call(self, task: Task, row: Syscall, args: list[int], logged: int | str) -> int | str:
        """Make the call in ``task`` (its result, or its errno's name) and leave the
        address space as the kernel's, whose result was ``logged``."""
        mm = task.mm
        checkpoint = self.checkpoints.get(id(mm))
        if checkpoint is None or checkpoint.mm is not mm or checkpoint.left <= 0:
            checkpoint = self.checkpoints[id(mm)] = Checkpoint(task)
        result = make_call(task, row, args)
        if result == logged:  # to be made again on the copy, should a later call differ
            checkpoint.calls.append((row, args, dict(task.files.fdt), result))
            checkpoint.left -= 1
            return result
        # The address space before the call, rebuilt on the copy, with the mapping put
        # where the log says; it replaces the one the call changed.
        del self.checkpoints[id(mm)]
        state = checkpoint.copy
        if trace.tracing():
            with trace.Trace():  # the views show the call as the model made it
                self.rebuild(state, checkpoint, task, row, args, logged)
        else:
            self.rebuild(state, checkpoint, task, row, args, logged)
        self.tasks.replace_mm(mm, state.mm)
        return result

    def rebuild(
        self,
        state: Task,
        checkpoint: Checkpoint,
        task: Task,
        row: Syscall,
        args: list[int],
        logged: int | str,
    ) -> None:
        for made, made_args, fdt, result in checkpoint.calls:
            state.files = FilesStruct(fdt)
            if make_call(state, made, made_args) != result:
                self.notes["follow: a call made again gave another result"] += 1
        state.files = FilesStruct(dict(task.files.fdt))
        if isinstance(logged, int) and not align(state, row.name, args, logged):
            self.notes[f"follow: {row.name} not put where the log says"] += 1

    def forget(self) -> None:
        """Something besides the memory calls changed the tasks: no checkpoint holds."""
        self.checkpoints.clear()


def align(task: Task, name: str, args: list[int], logged: int) -> bool:
    """Put the mapping an mmap or mremap made, or the break, where the kernel put it, in
    the address space as it was before the call; False if that fails.  (A call whose
    result is no address has nothing to put: True.)"""
    try:
        if name == "mmap":
            mmap = SYSCALLS["mmap"]
            mmap.call(task, [logged, args[1], args[2], args[3] | MAP_FIXED, *args[4:6]])
        elif name == "mremap":
            old, old_size, new_size = args[0], args[1], args[2]
            mremap = SYSCALLS["mremap"]
            if logged != old:
                flags = MREMAP_MAYMOVE | MREMAP_FIXED
                if len(args) > 3:
                    flags |= args[3] & MREMAP_DONTUNMAP
                mremap.call(task, [old, old_size, new_size, flags, logged])
            else:
                # Resized in place: nothing was in the way in the kernel.
                if new_size > old_size:
                    SYSCALLS["munmap"].call(task, [old + old_size, new_size - old_size])
                mremap.call(task, [old, old_size, new_size, 0])
        elif name == "brk":
            return SYSCALLS["brk"].call(task, [logged]) == logged
    except OSError:
        return False
    return True
