"""The kernel task of every pid in a ``strace -f`` log.

Each pid has a :class:`~vmsim.kernel.task.Task`, made as the kernel makes it:
copy_process() with the clone's flags, so that a thread (CLONE_VM, and a vfork child
until it execs) uses its parent's mm and a child of fork (or of clone without CLONE_VM)
gets a copy (dup_mm); with CLONE_FILES the fd table is shared, else copied, close-on-exec
marks and all; with CLONE_THREAD the limits are shared.  A successful execve runs
do_execve(): a new mm laid out as the kernel lays out the program (the ELF headers come
from the bundle or from the file) and an fd table without the close-on-exec fds.
"""

from __future__ import annotations

import errno
import os
import re
from collections import Counter
from typing import Final

from ..fs.exec import ExecImage, do_execve, read_exec_image
from ..fs.file import Inode
from ..kernel.fork import (
    CLONE_FILES,
    CLONE_FLAG_NAMES,
    CLONE_THREAD,
    CLONE_VFORK,
    CLONE_VM,
    copy_process,
)
from ..kernel.syscalls import SYSCALLS, Syscall
from ..kernel.task import Task
from ..lib.errname import errname
from ..mm.mm_types import RLIM_INFINITY, RLIMIT_STACK, MmStruct
from ..process import Process
from ..strace.parse import Event, split_args, string_arg
from ..uapi import ulong

CLONE_CALLS: Final = ("clone", "clone3", "fork", "vfork")
EXEC_CALLS: Final = ("execve", "execveat")
RLIMIT_CALLS: Final = ("prlimit64", "setrlimit")


def clone_flags(name: str, args: list[str]) -> int:
    """The CLONE_* bits of a clone-family call that decide what the child shares."""
    if name == "fork":
        return 0
    if name == "vfork":
        return CLONE_VM | CLONE_VFORK
    text = " ".join(args)
    flags = 0
    for word in re.findall(r"\bCLONE_[A-Z_]+\b", text):
        flags |= CLONE_FLAG_NAMES.get(word, 0)
    match = re.search(r"flags=(0x[0-9a-f]+|\d+)", text)
    if match:
        flags |= int(match.group(1), 0)
    return flags


def is_memory_call(name: str) -> bool:
    """Whether the model makes the call ``name`` (a modelled row of the system-call table,
    looked up now: rows registered later count too)."""
    row = SYSCALLS.get(name)
    return row is not None and row.modelled


def make_call(task: Task, row: Syscall, args: list[int]) -> int | str:
    """Make a call of the table in ``task``: its result, or the name of the errno it
    failed with."""
    try:
        return row.call(task, args)
    except OSError as err:
        return errname(err.errno)


def string_list(token: str) -> list[bytes] | None:
    """A ``["a", "b"]`` argument as bytes; None if strace left it out or cut it short."""
    token = token.strip()
    if not (token.startswith("[") and token.endswith("]")):
        return None
    out = []
    for item in split_args(token[1:-1]):
        if item == "...":
            return None
        if item.endswith("..."):  # a string cut at strace's -s limit
            return None
        out.append(string_arg(item).encode("latin-1"))
    return out


def rlimit_value(text: str) -> int:
    """An rlimit as strace prints it: ``8192*1024``, ``RLIM64_INFINITY``."""
    text = text.strip()
    if "INFINITY" in text:
        return RLIM_INFINITY
    total = 1
    for part in text.split("*"):
        total *= int(part, 0)
    return total


class TaskTable:
    """The task of every pid seen in a log, and what the replay knows of each."""

    def __init__(
        self,
        initial: Process | None,
        images: dict[str, ExecImage] | None = None,
        rlimit_stack: int = 8 << 20,
        skipped: Counter[str] | None = None,
        notes: Counter[str] | None = None,
    ) -> None:
        self.initial = initial.task if initial is not None else None
        # Whether /proc/pid/maps shows [vsyscall]: the machine's, so every process's.
        self.gate_vma = initial.gate_vma if initial is not None else True
        self.images = dict(images or {})
        self.tasks: dict[int | None, Task] = {}
        self.first_rlimit_stack = rlimit_stack
        self.unknown: set[int | None] = set()
        self.in_flight: dict[int | None, Event] = {}
        self.vfs: dict[str, Inode] = {}  # the files every task sees, by path
        # Address spaces a call the model does not make has changed (or may have): the
        # model's state of them may be off from then on.  Keyed by id, holding the mm.
        self.unsure: dict[int, MmStruct] = {}
        self.skipped: Counter[str] = skipped if skipped is not None else Counter()
        self.notes: Counter[str] = notes if notes is not None else Counter()
        self.main_pid: int | None = None
        self.started = False
        # (pid, maps) right after each execve the replay laid out, for checks against
        # the kernel's.
        self.exec_layouts: list[tuple[int | None, str]] = []

    # -- routing --------------------------------------------------------------------------
    def route(self, event: Event) -> Task | None:
        """The task whose call ``event`` is, or None when the event is not one to replay."""
        pid, name = event.pid, event.name
        if not self.started and not self.start(event):
            return None
        if event.unfinished:
            if name in CLONE_CALLS:
                self.in_flight[pid] = event
            return None
        if pid not in self.tasks and pid not in self.unknown:
            self.adopt(pid)
        if name in EXEC_CALLS and event.ret == 0:
            self.execve(event)
            return None
        if name in CLONE_CALLS:
            self.in_flight.pop(pid, None)
            if event.ret is not None and event.ret > 0 and event.ret not in self.tasks:
                self.new_task(pid, event.ret, clone_flags(name, event.args))
            return None
        task = self.tasks.get(pid)
        if task is None:
            if name in SYSCALLS:
                self.skipped[name] += 1
            return None
        if name in RLIMIT_CALLS and event.ret == 0:
            self.set_rlimit(task, event)
        return task

    def knows(self, pid: int | None) -> bool:
        """Whether routing an event of ``pid`` that is none of the calls the replay acts on
        would change nothing: before the replay starts such an event cannot start it, and
        after, only a pid not seen yet needs its task found (adopt)."""
        return not self.started or pid in self.tasks or pid in self.unknown

    def start(self, event: Event) -> bool:
        """The replay starts at the first successful execve (or, in a log without one, at
        the first memory call): what came before was the tracer's own child.  True if the
        event is still to be routed."""
        pid = event.pid
        execve = event.name in EXEC_CALLS and event.ret == 0
        if not execve and (event.unfinished or not is_memory_call(event.name)):
            return False
        self.started, self.main_pid = True, pid
        task = self.initial
        if task is None:
            self.install(pid, self.fresh_task())  # an execve lays it out
            return True
        # The address space the kernel really gave it (the bundle's maps), with the stack
        # limit it ran with.
        rlim = task.signal.rlim
        rlim[RLIMIT_STACK] = (self.first_rlimit_stack, rlim[RLIMIT_STACK][1])
        self.install(pid, task)
        if not execve:
            return True
        self.exec_layouts.append((pid, self.view(task).maps()))
        return False

    def fresh_task(self) -> Task:
        """A task of its own for a pid whose parent the log does not show."""
        return Process(rlimit_stack=self.first_rlimit_stack).task

    def install(self, pid: int | None, task: Task) -> None:
        task.pid = pid
        task.vfs = self.vfs
        self.tasks[pid] = task
        self.unknown.discard(pid)

    def view(self, task: Task) -> Process:
        """The task as a Process (what the views and /proc read)."""
        return Process(task=task, gate_vma=self.gate_vma)

    # -- new tasks ------------------------------------------------------------------------
    def adopt(self, pid: int | None) -> None:
        """A pid seen before its parent's clone returned: the most recent clone still in
        flight made it (or, with none, it is taken for a thread of the first process)."""
        if self.in_flight:
            parent, call = next(reversed(self.in_flight.items()))
            self.new_task(parent, pid, clone_flags(call.name, call.args))
        else:
            self.new_task(self.main_pid, pid, CLONE_VM | CLONE_FILES | CLONE_THREAD)

    def new_task(self, parent: int | None, child: int | None, flags: int) -> None:
        task = self.tasks.get(parent)
        if task is None:
            self.unknown.add(child)
            return
        self.install(child, copy_process(task, flags, child))
        if not flags & CLONE_VM:
            self.notes["fork (address space copied)"] += 1
            if id(task.mm) in self.unsure:  # a copy of a state that may be off
                self.mark_unsure(self.tasks[child].mm)

    def execve(self, event: Event) -> None:
        """A new address space for the pid, as the kernel lays out the program."""
        pid = event.pid
        first = 1 if event.name == "execveat" else 0
        try:
            filename = string_arg(event.args[first])
            argv = string_list(event.args[first + 1]) if len(event.args) > first + 1 else None
            envp = string_list(event.args[first + 2]) if len(event.args) > first + 2 else None
        except (ValueError, UnicodeError):
            filename, argv, envp = "", None, None
        if argv is None or envp is None:
            # The stack's size follows from the strings: without them it is a guess.
            self.notes["execve without full argv/env (stack size estimated)"] += 1
        task = self.tasks.get(pid)
        if task is None:  # a pid whose parent the log does not show
            task = self.fresh_task()
            self.install(pid, task)
        try:
            do_execve(
                task,
                filename,
                argv if argv is not None else [filename.encode("latin-1")],
                envp if envp is not None else [],
                self.open_exec,
            )
        except (OSError, ValueError) as err:
            del self.tasks[pid]
            self.unknown.add(pid)
            self.skipped[f"execve of {filename or '?'} (layout unknown: {err})"] += 1
            return
        self.notes["execve (new address space)"] += 1
        self.exec_layouts.append((pid, self.view(task).maps()))

    def open_exec(self, path: str) -> ExecImage:
        """The headers of the file exec opens: the bundle's, else this machine's file."""
        image = self.images.get(path)
        if image is None:
            if not os.path.exists(path):
                raise FileNotFoundError(errno.ENOENT, "no ELF headers in the bundle", path)
            image = self.images[path] = read_exec_image(path)
        return image

    def set_rlimit(self, task: Task, event: Event) -> None:
        """Follow RLIMIT_STACK: the next execve places mmap_base by it."""
        args = event.args
        if event.name == "prlimit64":
            if len(args) < 3 or args[1] != "RLIMIT_STACK" or args[0] not in ("0", str(task.pid)):
                return
            new = args[2]
        else:
            if len(args) < 2 or args[0] != "RLIMIT_STACK":
                return
            new = args[1]
        cur = re.search(r"rlim_cur=([^,}]+)", new)
        high = re.search(r"rlim_max=([^,}]+)", new)
        if cur is None or high is None:
            return
        soft, hard = rlimit_value(cur.group(1)), rlimit_value(high.group(1))
        task.signal.rlim[RLIMIT_STACK] = (ulong(soft), ulong(hard))

    # -- address spaces ---------------------------------------------------------------------
    def mark_unsure(self, mm: MmStruct) -> None:
        self.unsure[id(mm)] = mm

    def replace_mm(self, old: MmStruct, new: MmStruct) -> None:
        """Every task using ``old`` uses ``new`` from now on (follow mode puts an address
        space back as it was before a call)."""
        new.owner = old.owner
        for task in self.tasks.values():
            if task.mm is old:
                task.mm = new
        if self.unsure.pop(id(old), None) is not None:
            self.mark_unsure(new)
