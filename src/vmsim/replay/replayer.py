"""Replaying a program's strace log into the model, and recording one.

Predict mode (the default) lets the model choose every address and reports each
call whose result differs from the log.  Follow mode makes the log's results
authoritative: after a difference the model's mapping is moved to where the
kernel put it, so replay can go on.  Threads (clone with CLONE_VM) share the
address space; a forked child gets a copy and an execve a new one laid out from
the program's ELF headers (see :mod:`vmsim.replay.tasks`).
"""

from __future__ import annotations

import errno as errno_mod
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from ..bundle import Bundle, ExecImage, parse_bundle
from ..fs.file import Inode, OpenFile
from ..kernel import syscalls
from ..process import Process
from ..strace.parse import Event, parse, string_arg
from ..uapi import (
    F_DUPFD,
    F_DUPFD_CLOEXEC,
    F_SETFD,
    FD_CLOEXEC,
    MAP_FIXED,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    O_ACCMODE,
    O_CLOEXEC,
    O_RDWR,
    O_WRONLY,
    ulong,
)
from .order import ConcurrentCalls
from .tasks import CLONE_CALLS, EXEC_CALLS, MEMORY_CALLS, RLIMIT_CALLS, TaskTable

OPEN_CALLS: Final = ("open", "openat", "creat")
DUP_CALLS: Final = ("dup", "dup2", "dup3")
# Every event the replay does something with (see step, TaskTable.route and dispatch).
# The rest (read, fstat, rt_sigaction, futex...) are most of a log and are dropped at once.
ACTED_ON = frozenset(
    (*MEMORY_CALLS, *CLONE_CALLS, *EXEC_CALLS, *RLIMIT_CALLS, *OPEN_CALLS, *DUP_CALLS)
    + ("close", "fcntl", "exit")
)


@dataclass
class Mismatch:
    line: int
    call: str
    logged: str
    model: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.call}: log {self.logged}, model {self.model}"


@dataclass
class ReplayReport:
    # A plain dict: compiled, a Counter's item update is a generic Python operation.
    calls: dict[str, int] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    mismatches: list[Mismatch] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    checked: int = 0
    peak_vmas: int = 0
    peak_rss_pages: int = 0

    @property
    def accuracy(self) -> float:
        return 1.0 if not self.checked else 1 - len(self.mismatches) / self.checked

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "errors": dict(self.errors),
            "checked": self.checked,
            "mismatches": [str(m) for m in self.mismatches],
            "accuracy": self.accuracy,
            "bad_lines": self.bad_lines,
            "skipped": dict(self.skipped),
            "notes": dict(self.notes),
            "peak_vmas": self.peak_vmas,
            "peak_rss_kb": self.peak_rss_pages * 4,
        }


def read_bundle(text: str) -> tuple[str | None, str]:
    """(initial maps or None, strace log) from a bundle or a plain log."""
    bundle = parse_bundle(text)
    return bundle.maps, bundle.log


# Wraps each memory call of the log: it gets the replayer, the event and a thunk that
# makes the call (the views record call flows and maps around it).
Observer = Callable[["Replayer", Event, Callable[[], None]], None]


class Replayer:
    """Replays events into the processes of :class:`TaskTable`; ``process`` is the first
    program's address space if known (else its execve is laid out by the model)."""

    def __init__(
        self,
        process: Process | None,
        follow: bool = False,
        images: dict[str, ExecImage] | None = None,
        rlimit_stack: int = 8 << 20,
        observer: Observer | None = None,
    ) -> None:
        self.process = process or Process()
        self.follow = follow
        self.observer = observer
        self.report = ReplayReport()
        self.tasks = TaskTable(
            process, images, rlimit_stack, self.report.skipped, self.report.notes
        )
        self.concurrent = ConcurrentCalls(
            self.tasks.mms.get, self.run_call, _gives_logged, self.report.notes
        )

    def run(self, events: Iterable[Event], progress: Callable[[], None] | None = None) -> None:
        for event in events:
            if progress is not None:
                progress()
            if event.error is not None:
                self.report.bad_lines.append(event.error)
                continue
            self.step(event)
        self.concurrent.flush_all()

    def step(self, event: Event) -> None:
        name = event.name
        if name not in ACTED_ON and self.tasks.knows(event.pid):
            return
        start = event.line
        if name in MEMORY_CALLS:
            # Threads' calls that overlap in time are ordered as the results say they ran.
            if event.unfinished:
                self.concurrent.started(event)
            else:
                start = self.concurrent.finished(event)
        elif name == "exit":
            self.concurrent.finished(event)  # a task killed inside a call never returns
        elif name in CLONE_CALLS or name in EXEC_CALLS:
            # A copied or new address space comes after every call held back so far.
            self.concurrent.flush_all()
        # The task table follows clone, fork, vfork and execve, and says whose calls these are.
        process = self.tasks.route(event)
        if process is None:
            return
        if name in MEMORY_CALLS:
            self.concurrent.completed(process, event, start)
        else:
            self.run_call(process, event)

    def run_call(self, process: Process, event: Event) -> None:
        self.process = process
        try:
            self.dispatch(event)
        except (ValueError, IndexError) as err:
            self.report.bad_lines.append(f"line {event.line}: {event.name}: {err}")

    def dispatch(self, event: Event) -> None:
        name = event.name
        if name in MEMORY_CALLS:
            if self.observer is None:
                self.on_memory_call(event)
            else:
                self.observer(self, event, lambda: self.on_memory_call(event))
        elif name in OPEN_CALLS:
            self.on_open(event)
        elif name == "close" and event.ret == 0:
            self.process.fds.pop(event.arg(0), None)
            self.tasks.cloexec(self.process.fds).discard(event.arg(0))
        elif name in DUP_CALLS and event.ret is not None and event.ret >= 0:
            # dup() and dup2() give an fd that stays open across execve; dup3() may not.
            cloexec = name == "dup3" and _has_cloexec(event, 2)
            self.alias(event.arg(0), event.ret, cloexec)
        elif name == "fcntl" and event.ret is not None and event.ret >= 0:
            command = _fcntl_command(event)
            if command in (F_DUPFD, F_DUPFD_CLOEXEC):
                self.alias(event.arg(0), event.ret, command == F_DUPFD_CLOEXEC)
            elif command == F_SETFD:
                self.set_cloexec(event.arg(0), bool(event.arg(2) & FD_CLOEXEC))

    def on_open(self, event: Event) -> None:
        if event.ret is None or event.ret < 0:
            return
        first = 1 if event.name == "openat" else 0
        path = event.ret_path or string_arg(event.args[first])
        inode = self.process.files.get(path)
        if inode is None:
            try:
                size = os.stat(path).st_size
            except (OSError, ValueError):
                size = 1 << 40  # not on this machine
            inode = self.process.files[path] = Inode(path, size=size)
        self.process.fds[event.ret] = OpenFile(inode, _access_mode(event, first + 1))
        self.set_cloexec(event.ret, event.name != "creat" and _has_cloexec(event, first + 1))

    def alias(self, old: int, new: int, cloexec: bool) -> None:
        if old in self.process.fds:
            self.process.fds[new] = self.process.fds[old]
            self.set_cloexec(new, cloexec)

    def set_cloexec(self, fd: int, on: bool) -> None:
        """Mark or unmark ``fd`` of the current table as closed by execve."""
        closing = self.tasks.cloexec(self.process.fds)
        if on:
            closing.add(fd)
        else:
            closing.discard(fd)

    def on_memory_call(self, event: Event) -> None:
        report = self.report
        calls = report.calls
        calls[event.name] = calls.get(event.name, 0) + 1
        args = event.int_args()
        logged = _outcome(event)
        model = _call(self.process, event.name, args)
        report.checked += 1
        if model != logged:
            report.mismatches.append(
                Mismatch(event.line, _show(event), _text(logged), _text(model))
            )
            if self.follow:
                self.align(event.name, args, logged, model)
        if isinstance(logged, str):
            report.errors[f"{event.name} {logged}"] += 1
        # The peaks come from counters the mm keeps anyway.
        mm = self.process.mm
        if mm.map_count > report.peak_vmas:
            report.peak_vmas = mm.map_count
        rss = mm.get_mm_rss()
        if rss > report.peak_rss_pages:
            report.peak_rss_pages = rss

    def align(self, name: str, args: list[int], logged: int | str, model: int | str) -> None:
        """Follow mode: put the mapping where the kernel put it."""
        p = self.process
        if not isinstance(logged, int):
            return
        try:
            if name == "mmap":
                if isinstance(model, int):
                    p.munmap(model, args[1])
                fd = args[4] if len(args) > 4 else -1
                p.mmap(
                    logged,
                    args[1],
                    args[2],
                    args[3] | MAP_FIXED,
                    fd,
                    args[5] if len(args) > 5 else 0,
                )
            elif name == "mremap" and isinstance(model, int):
                p.mremap(model, args[2], args[2], MREMAP_MAYMOVE | MREMAP_FIXED, logged)
        except OSError:
            pass


def _access_mode(event: Event, flags_arg: int) -> int:
    """O_RDONLY, O_WRONLY or O_RDWR, as the open asked: a shared writable mapping or a
    later mprotect(PROT_WRITE) of a read-only fd fails with EACCES."""
    if event.name == "creat":
        return O_WRONLY
    try:
        return event.arg(flags_arg) & O_ACCMODE
    except (ValueError, IndexError):
        return O_RDWR  # flags this reader does not know: assume nothing is refused


def _fcntl_command(event: Event) -> int | None:
    """An fcntl()'s command, as strace printed it (a name, raw, or both with -X verbose);
    None for one this reader does not know, which the replay has no use for."""
    try:
        return event.arg(1)
    except (ValueError, IndexError):
        return None


def _has_cloexec(event: Event, flags_arg: int) -> bool:
    """Whether the flags argument holds O_CLOEXEC (flags this reader does not know: no)."""
    try:
        return bool(event.arg(flags_arg) & O_CLOEXEC)
    except (ValueError, IndexError):
        return False


def _gives_logged(process: Process, event: Event) -> bool:
    """Would this call give the log's result in ``process``?"""
    try:
        return _call(process, event.name, event.int_args()) == _outcome(event)
    except (ValueError, IndexError):
        return True


def _outcome(event: Event) -> int | str:
    if event.errno is not None:
        return event.errno
    return ulong(event.ret or 0)


def _call(p: Process, name: str, args: list[int]) -> int | str:
    """Run one memory call: its result, or the name of the errno it failed with.  A call
    strace printed by number ("syscall_0x1ce") has all six registers: the row takes its
    own."""
    row = syscalls.SYSCALLS[name]
    if len(args) < row.logged:
        raise ValueError(f"{row.logged} arguments expected, the line has {len(args)}")
    try:
        return row.call(p.task, args[: len(row.args)])
    except OSError as err:
        return errno_mod.errorcode.get(err.errno or 0, str(err.errno))


def _text(outcome: int | str) -> str:
    return outcome if isinstance(outcome, str) else f"{outcome:#x}"


def _show(event: Event) -> str:
    return f"{event.name}({', '.join(event.args)})"


def replay_bundle(
    bundle: Bundle,
    maps: str | None = None,
    follow: bool = False,
    progress: Callable[[], None] | None = None,
    model_first_exec: bool = False,
    observer: Observer | None = None,
) -> Replayer:
    """Replay a bundle; ``maps`` overrides its initial maps, and ``model_first_exec`` lays
    out the first program from its ELF headers as every later execve is."""
    maps = maps if maps is not None else bundle.maps
    process = Process.from_maps(maps) if maps and not model_first_exec else None
    rlimit_stack = int(bundle.info.get("rlimit_stack", 8 << 20))
    replayer = Replayer(process, follow, bundle.images, rlimit_stack, observer)
    replayer.run(parse(bundle.log.splitlines()), progress)
    return replayer


def replay_text(
    text: str,
    maps: str | None = None,
    follow: bool = False,
    progress: Callable[[], None] | None = None,
    observer: Observer | None = None,
) -> ReplayReport:
    """Replay a log (or bundle); ``maps`` overrides the bundle's initial maps."""
    return replay_bundle(parse_bundle(text), maps, follow, progress, observer=observer).report
