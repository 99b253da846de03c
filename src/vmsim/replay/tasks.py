"""Which address space each pid of a ``strace -f`` log works on.

Threads (clone with CLONE_VM, and a vfork child until it execs) share their
parent's; a child of fork, or of clone without CLONE_VM, gets a copy of it
(dup_mm); a successful execve gives the pid a new one, laid out as the kernel
lays out the program (the ELF headers come from the bundle or from the file).
Each pid also has an fd table: shared with CLONE_FILES, else copied.
"""

from __future__ import annotations

import errno
import os
import re
from collections import Counter
from collections.abc import Callable
from typing import Final

from ..fs.exec import ExecImage, read_exec_image
from ..fs.file import Inode, OpenFile
from ..kernel import syscalls
from ..kernel.fork import CLONE_FILES, CLONE_VFORK, CLONE_VM
from ..mm.mm_types import RLIM_INFINITY, RLIMIT_STACK
from ..process import Process
from ..strace.parse import Event, split_args, string_arg

CLONE_CALLS: Final = ("clone", "clone3", "fork", "vfork")
EXEC_CALLS: Final = ("execve", "execveat")
# The calls the model makes (the modelled rows of the system-call table).
MEMORY_CALLS: Final = tuple(row.name for row in syscalls.modelled())
RLIMIT_CALLS: Final = ("prlimit64", "setrlimit")
CLONE_FLAG_NAMES = {"CLONE_VM": CLONE_VM, "CLONE_FILES": CLONE_FILES, "CLONE_VFORK": CLONE_VFORK}


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
    """The Process (and fd table) of every pid seen in a log."""

    def __init__(
        self,
        initial: Process | None,
        images: dict[str, ExecImage] | None = None,
        rlimit_stack: int = 8 << 20,
        skipped: Counter[str] | None = None,
        notes: Counter[str] | None = None,
    ) -> None:
        self.initial = initial
        self.images = dict(images or {})
        self.mms: dict[int | None, Process] = {}
        self.fdtables: dict[int | None, dict[int, OpenFile]] = {}
        # Each fd table's close-on-exec fds, keyed by the table's id and holding the table
        # itself, so that no other table can be given that id while the entry lasts.
        self._cloexec: dict[int, tuple[dict[int, OpenFile], set[int]]] = {}
        self.rlimit_stack: dict[int | None, int] = {}
        self.first_rlimit_stack = rlimit_stack
        self.unknown: set[int | None] = set()
        self.in_flight: dict[int | None, Event] = {}
        self.files: dict[str, Inode] = {}
        self.skipped: Counter[str] = skipped if skipped is not None else Counter()
        self.notes: Counter[str] = notes if notes is not None else Counter()
        self.main_pid: int | None = None
        self.started = False
        # (pid, maps) right after each execve the replay laid out, for checks against
        # the kernel's.
        self.exec_layouts: list[tuple[int | None, str]] = []
        self.on_exec: Callable[[int | None, Process], None] | None = None

    # -- routing --------------------------------------------------------------------------
    def route(self, event: Event) -> Process | None:
        """The Process whose calls ``event`` makes (its fd table in place), or None when
        the event is not one to replay."""
        pid, name = event.pid, event.name
        if not self.started and not self.start(event):
            return None
        if event.unfinished:
            if name in CLONE_CALLS:
                self.in_flight[pid] = event
            return None
        if pid not in self.mms and pid not in self.unknown:
            self.adopt(pid)
        if name in EXEC_CALLS and event.ret == 0:
            self.execve(event)
            return None
        if name in CLONE_CALLS:
            self.in_flight.pop(pid, None)
            if event.ret is not None and event.ret > 0 and event.ret not in self.mms:
                self.new_task(pid, event.ret, clone_flags(name, event.args))
            return None
        process = self.mms.get(pid)
        if process is None:
            if name in MEMORY_CALLS:
                self.skipped[name] += 1
            return None
        if name in RLIMIT_CALLS and event.ret == 0:
            self.set_rlimit(pid, process, event)
        process.fds = self.fdtables[pid]
        return process

    def cloexec(self, fds: dict[int, OpenFile]) -> set[int]:
        """The fds of the table ``fds`` that execve closes (FD_CLOEXEC)."""
        entry = self._cloexec.get(id(fds))
        if entry is None:
            entry = self._cloexec[id(fds)] = (fds, set())
        return entry[1]

    def knows(self, pid: int | None) -> bool:
        """Whether routing an event of ``pid`` that is none of the calls the replay acts on
        would change nothing: before the replay starts such an event cannot start it, and
        after, only a pid not seen yet needs its task found (adopt)."""
        return not self.started or pid in self.mms or pid in self.unknown

    def start(self, event: Event) -> bool:
        """The replay starts at the first successful execve (or, in a log without one, at
        the first memory call): what came before was the tracer's own child.  True if the
        event is still to be routed."""
        pid = event.pid
        if event.name in EXEC_CALLS and event.ret == 0:
            self.started, self.main_pid = True, pid
            self.rlimit_stack[pid] = self.first_rlimit_stack
            if self.initial is None:
                self.install(pid, Process(), {})  # replaced by the execve's own layout
                return True
            # The address space the kernel really gave it (the bundle's maps).
            self.install(pid, self.initial, {})
            self.exec_layouts.append((pid, self.initial.maps()))
            return False
        if event.name in MEMORY_CALLS and not event.unfinished:
            self.started, self.main_pid = True, pid
            self.rlimit_stack[pid] = self.first_rlimit_stack
            self.install(pid, self.initial or Process(), {})
            return True
        return False

    def install(self, pid: int | None, process: Process, fds: dict[int, OpenFile]) -> None:
        process.files = self.files
        self.mms[pid] = process
        self.fdtables[pid] = fds
        self.unknown.discard(pid)

    # -- new tasks ------------------------------------------------------------------------
    def adopt(self, pid: int | None) -> None:
        """A pid seen before its parent's clone returned: the most recent clone still in
        flight made it (or, with none, it is taken for a thread of the first process)."""
        if self.in_flight:
            parent, call = next(reversed(self.in_flight.items()))
            self.new_task(parent, pid, clone_flags(call.name, call.args))
        else:
            self.new_task(self.main_pid, pid, CLONE_VM | CLONE_FILES)

    def new_task(self, parent: int | None, child: int | None, flags: int) -> None:
        process = self.mms.get(parent)
        if process is None:
            self.unknown.add(child)
            return
        fds = self.fdtables[parent]
        if not flags & CLONE_FILES:  # dup_fd(): a copy, close-on-exec flags and all
            copied = dict(fds)
            self.cloexec(copied).update(self.cloexec(fds))
            fds = copied
        self.rlimit_stack[child] = self.rlimit_stack.get(parent, self.first_rlimit_stack)
        if flags & CLONE_VM:
            self.install(child, process, fds)
        else:
            self.install(child, process.fork(), fds)
            self.notes["fork (address space copied)"] += 1

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
        try:
            process = Process.execve(
                filename,
                argv if argv is not None else [filename.encode("latin-1")],
                envp if envp is not None else [],
                self.open_exec,
                rlimit_stack=self.rlimit_stack.get(pid, self.first_rlimit_stack),
                files=self.files,
            )
        except (OSError, ValueError) as err:
            self.mms.pop(pid, None)
            self.unknown.add(pid)
            self.skipped[f"execve of {filename or '?'} (layout unknown: {err})"] += 1
            return
        # unshare_files(), then do_close_on_exec(): the table is the task's own from now
        # on, without the fds marked close-on-exec.
        fds = self.fdtables.get(pid, {})
        closing = self.cloexec(fds)
        self.install(pid, process, {fd: file for fd, file in fds.items() if fd not in closing})
        self.notes["execve (new address space)"] += 1
        self.exec_layouts.append((pid, process.maps()))
        if self.on_exec is not None:
            self.on_exec(pid, process)

    def open_exec(self, path: str) -> ExecImage:
        """The headers of the file exec opens: the bundle's, else this machine's file."""
        image = self.images.get(path)
        if image is None:
            if not os.path.exists(path):
                raise FileNotFoundError(errno.ENOENT, "no ELF headers in the bundle", path)
            image = self.images[path] = read_exec_image(path)
        return image

    def set_rlimit(self, pid: int | None, process: Process, event: Event) -> None:
        """Follow RLIMIT_STACK: the next execve places mmap_base by it."""
        args = event.args
        if event.name == "prlimit64":
            if len(args) < 3 or args[1] != "RLIMIT_STACK" or args[0] not in ("0", str(pid)):
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
        self.rlimit_stack[pid] = soft
        process.setrlimit(RLIMIT_STACK, soft, hard)
