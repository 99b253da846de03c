"""Replaying a program's strace log into the model.

Every call of the log that is a modelled row of the system-call table
(:mod:`vmsim.kernel.syscalls`) runs on the model, in the task of the pid that made it
(see :mod:`.tasks`), and its result is compared with the log's.  A call of the table
the model does not make yet (mlock, pkey_mprotect, shmat...) is reported by name and
line, and the predictions after it in the same address space are marked, since the
model's state may be off from then on.  The fd calls (open, dup, fcntl, close) keep
each task's fd table as the kernel's.

Predict mode (the default) lets the model choose every address and reports each call
whose result differs from the log.  Follow mode makes the log's results the truth: after
a difference the address space is the one the kernel was left with (see
:mod:`.follow`), so replay can go on.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from ..bundle import Bundle, ExecImage, parse_bundle
from ..fs.file import Inode, OpenFile
from ..kernel.syscalls import SYSCALLS, Syscall
from ..kernel.task import Task
from ..mm.mm_types import MmStruct
from ..process import Process
from ..strace.parse import Event, log_lines, parse, string_arg
from ..uapi import (
    F_DUPFD,
    F_DUPFD_CLOEXEC,
    F_SETFD,
    FD_CLOEXEC,
    O_ACCMODE,
    O_CLOEXEC,
    O_RDWR,
    O_WRONLY,
    ulong,
)
from ..views.words import plural
from .follow import Follower
from .order import ConcurrentCalls
from .tasks import CLONE_CALLS, EXEC_CALLS, RLIMIT_CALLS, TaskTable, make_call

OPEN_CALLS: Final = ("open", "openat", "creat")
DUP_CALLS: Final = ("dup", "dup2", "dup3")
# Every event besides the system-call table's rows that the replay does something with
# (see step, TaskTable.route and dispatch).  The rest (read, fstat, rt_sigaction,
# futex...) are most of a log and are dropped at once.
ACTED_ON = frozenset(
    (*CLONE_CALLS, *EXEC_CALLS, *RLIMIT_CALLS, *OPEN_CALLS, *DUP_CALLS) + ("close", "fcntl", "exit")
)
LINES_SHOWN = 10  # line numbers of an unmodelled call the summary lists
# Messages about lines that cannot be replayed, kept in full: a file that is no log at
# all has as many such lines as it has lines, which are counted.
BAD_LINES_KEPT = 10


@dataclass
class Mismatch:
    line: int
    call: str
    logged: str
    model: str
    # The address space had seen a call the model does not make: its state may be off.
    after_unmodelled: bool = False

    def __str__(self) -> str:
        after = " (after an unmodelled call)" if self.after_unmodelled else ""
        return f"line {self.line}: {self.call}: log {self.logged}, model {self.model}{after}"


@dataclass
class ReplayReport:
    # A plain dict: compiled, a Counter's item update is a generic Python operation.
    calls: dict[str, int] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    mismatches: list[Mismatch] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)  # the first BAD_LINES_KEPT
    unreadable: int = 0  # lines that could not be replayed, those kept and the rest
    system_calls: int = 0  # lines of the log that are system calls
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    # The lines of each call of the table the model does not make.
    unmodelled: dict[str, list[int]] = field(default_factory=dict)
    checked: int = 0
    after_unmodelled: int = 0  # predictions made in an address space after such a call
    peak_vmas: int = 0
    peak_rss_pages: int = 0

    @property
    def accuracy(self) -> float:
        return 1.0 if not self.checked else 1 - len(self.mismatches) / self.checked

    def bad_line(self, message: str) -> None:
        """A line that cannot be replayed: counted, and its message kept if among the
        first."""
        self.unreadable += 1
        if len(self.bad_lines) < BAD_LINES_KEPT:
            self.bad_lines.append(message)

    def unmodelled_text(self) -> list[str]:
        """``not modelled: 3 × pkey_mprotect, lines 40, 52, 77``, a line per call."""
        out = []
        for name, lines in self.unmodelled.items():
            shown = ", ".join(str(n) for n in lines[:LINES_SHOWN])
            more = ", ..." if len(lines) > LINES_SHOWN else ""
            word = "line" if len(lines) == 1 else "lines"
            out.append(f"not modelled: {len(lines)} × {name}, {word} {shown}{more}")
        if self.after_unmodelled:
            out.append(
                f"{self.after_unmodelled} of {plural(self.checked, 'result')} "
                f"{'was' if self.after_unmodelled == 1 else 'were'} predicted after an "
                "unmodelled call in their address space, whose state may be off from there on"
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "errors": dict(self.errors),
            "checked": self.checked,
            "mismatches": [str(m) for m in self.mismatches],
            "accuracy": self.accuracy,
            "bad_lines": self.bad_lines,
            "unreadable_lines": self.unreadable,
            "skipped": dict(self.skipped),
            "notes": dict(self.notes),
            "unmodelled": dict(self.unmodelled),
            "after_unmodelled": self.after_unmodelled,
            "peak_vmas": self.peak_vmas,
            "peak_rss_kb": self.peak_rss_pages * 4,
        }


def read_bundle(text: str, source: str = "log") -> tuple[str | None, str]:
    """(initial maps or None, strace log) from a bundle or a plain log; ``source`` is what
    messages call it."""
    bundle = parse_bundle(text, source)
    return bundle.maps, bundle.log


# Wraps each memory call of the log: it gets the replayer, the event and a thunk that
# makes the call (the views record call flows and maps around it).
Observer = Callable[["Replayer", Event, Callable[[], None]], None]


class Replayer:
    """Replays events into the tasks of :class:`TaskTable`; ``process`` is the first
    program's address space if known (else its execve is laid out by the model)."""

    def __init__(
        self,
        process: Process | None,
        follow: bool = False,
        images: dict[str, ExecImage] | None = None,
        rlimit_stack: int = 8 << 20,
        observer: Observer | None = None,
    ) -> None:
        self.observer = observer
        self.report = ReplayReport()
        self.tasks = TaskTable(
            process, images, rlimit_stack, self.report.skipped, self.report.notes
        )
        # The task whose call runs (or ran last), and a Process view of it for observers.
        self.task: Task = process.task if process is not None else Process().task
        self._view: Process | None = process
        self.follower = Follower(self.tasks, self.report.notes) if follow else None
        self.concurrent = ConcurrentCalls(
            self._mm_of, self.run_call, self._gives_logged, self.report.notes
        )

    @property
    def follow(self) -> bool:
        return self.follower is not None

    @property
    def process(self) -> Process:
        """The task whose call runs, as a Process (for observers)."""
        view = self._view
        if view is None or view.task is not self.task:
            view = self._view = self.tasks.view(self.task)
        return view

    def run(self, events: Iterable[Event], progress: Callable[[], None] | None = None) -> None:
        for event in events:
            if progress is not None:
                progress()
            if event.error is not None:
                self.report.bad_line(event.error)
                continue
            if event.name != "signal" and event.name != "exit":
                self.report.system_calls += 1
            self.step(event)
        self.concurrent.flush_all()

    def step(self, event: Event) -> None:
        name = event.name
        # Looked up for every event: a row registered after this module was loaded replays.
        row = SYSCALLS.get(name)
        if row is None and name not in ACTED_ON and self.tasks.knows(event.pid):
            return
        start = event.line
        memory = row is not None and row.handler is not None
        if memory:
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
            if self.follower is not None:
                self.follower.forget()
        elif name in RLIMIT_CALLS and self.follower is not None:
            self.follower.forget()  # the calls made again would meet other limits
        # The task table follows clone, fork, vfork and execve, and says whose calls these are.
        task = self.tasks.route(event)
        if task is None:
            return
        if memory:
            self.concurrent.completed(task, event, start)
        elif row is not None:
            self.not_modelled(task, event)
        else:
            self.run_call(task, event)

    def run_call(self, task: Task, event: Event) -> None:
        self.task = task
        try:
            self.dispatch(event)
        except (ValueError, IndexError) as err:
            self.report.bad_line(f"line {event.line}: {event.name}: {err}")

    def dispatch(self, event: Event) -> None:
        name = event.name
        row = SYSCALLS.get(name)
        if row is not None:
            if self.observer is None:
                self.on_memory_call(row, event)
            else:
                self.observer(self, event, lambda: self.on_memory_call(row, event))
            return
        files = self.task.files
        if name in OPEN_CALLS:
            self.on_open(event)
        elif name == "close" and event.ret == 0:
            files.close_fd(event.arg(0))
        elif name in DUP_CALLS and event.ret is not None and event.ret >= 0:
            # dup() and dup2() give an fd that stays open across execve; dup3() may not.
            cloexec = name == "dup3" and _has_cloexec(event, 2)
            self.alias(event.arg(0), event.ret, cloexec)
        elif name == "fcntl" and event.ret is not None and event.ret >= 0:
            command = _fcntl_command(event)
            if command in (F_DUPFD, F_DUPFD_CLOEXEC):
                self.alias(event.arg(0), event.ret, command == F_DUPFD_CLOEXEC)
            elif command == F_SETFD:
                files.set_close_on_exec(event.arg(0), bool(event.arg(2) & FD_CLOEXEC))

    def on_open(self, event: Event) -> None:
        if event.ret is None or event.ret < 0:
            return
        first = 1 if event.name == "openat" else 0
        path = event.ret_path or string_arg(event.args[first])
        vfs = self.task.vfs
        inode = vfs.get(path)
        if inode is None:
            try:
                size = os.stat(path).st_size
            except (OSError, ValueError):
                size = 1 << 40  # not on this machine
            inode = vfs[path] = Inode(path, size=size)
        cloexec = event.name != "creat" and _has_cloexec(event, first + 1)
        self.task.files.fd_install(
            event.ret, OpenFile(inode, _access_mode(event, first + 1)), cloexec
        )

    def alias(self, old: int, new: int, cloexec: bool) -> None:
        """``new`` is another fd for the open file of ``old`` (dup2(), F_DUPFD)."""
        files = self.task.files
        file = files.fdt.get(old)
        if file is not None:
            files.fd_install(new, file, cloexec)

    def not_modelled(self, task: Task, event: Event) -> None:
        """A call of the table the model does not make: reported, and its address space
        is one whose state may be off from now on."""
        self.report.unmodelled.setdefault(event.name, []).append(event.line)
        self.tasks.mark_unsure(task.mm)

    def on_memory_call(self, row: Syscall, event: Event) -> None:
        report = self.report
        calls = report.calls
        name = row.name
        calls[name] = calls.get(name, 0) + 1
        args = _args(row, event)
        logged = _outcome(event)
        task = self.task
        unsure = self.tasks.unsure
        after_unmodelled = bool(unsure) and id(task.mm) in unsure
        if self.follower is None:
            model = make_call(task, row, args)
        else:
            model = self.follower.make_call(task, row, args, logged)
        report.checked += 1
        if after_unmodelled:
            report.after_unmodelled += 1
        if model != logged:
            report.mismatches.append(
                Mismatch(event.line, _show(event), _text(logged), _text(model), after_unmodelled)
            )
        if isinstance(logged, str):
            report.errors[f"{name} {logged}"] += 1
        # The peaks come from counters the mm keeps anyway.
        mm = task.mm
        if mm.map_count > report.peak_vmas:
            report.peak_vmas = mm.map_count
        rss = mm.get_mm_rss()
        if rss > report.peak_rss_pages:
            report.peak_rss_pages = rss

    def _mm_of(self, pid: int | None) -> MmStruct | None:
        task = self.tasks.tasks.get(pid)
        return task.mm if task is not None else None

    def _gives_logged(self, task: Task, event: Event) -> bool:
        """Would this call give the log's result in ``task``?"""
        row = SYSCALLS.get(event.name)
        if row is None:
            return True
        try:
            return make_call(task, row, _args(row, event)) == _outcome(event)
        except (ValueError, IndexError):
            return True


def _args(row: Syscall, event: Event) -> list[int]:
    """The call's arguments as the log gives them.  A call strace printed by number
    ("syscall_0x1ce") has all six registers: the row takes its own."""
    args = event.int_args()
    if len(args) < row.logged:
        raise ValueError(f"{plural(row.logged, 'argument')} expected, the line has {len(args)}")
    if len(args) > len(row.args):
        del args[len(row.args) :]
    return args


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


def _outcome(event: Event) -> int | str:
    if event.errno is not None:
        return event.errno
    return ulong(event.ret or 0)


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
    out the first program from its ELF headers as every later execve is.  A log in which
    no line is a system call is no strace log: BadInput."""
    maps = maps if maps is not None else bundle.maps
    process = Process.from_maps(maps) if maps and not model_first_exec else None
    rlimit_stack = int(bundle.info.get("rlimit_stack", 8 << 20))
    replayer = Replayer(process, follow, bundle.images, rlimit_stack, observer)
    replayer.run(parse(log_lines(bundle.log)), progress)
    report = replayer.report
    if not report.system_calls:
        unread = (
            f"; {plural(report.unreadable, 'line')} could not be read" if report.unreadable else ""
        )
        raise bundle.log_error(
            "not a strace log: no line is a system call as strace prints it "
            f"(name(arguments) = result){unread}"
        )
    return replayer


def replay_text(
    text: str,
    maps: str | None = None,
    follow: bool = False,
    progress: Callable[[], None] | None = None,
    observer: Observer | None = None,
    source: str = "log",
) -> ReplayReport:
    """Replay a log (or bundle); ``maps`` overrides the bundle's initial maps, ``source``
    is what messages call the log."""
    bundle = parse_bundle(text, source)
    return replay_bundle(bundle, maps, follow, progress, observer=observer).report
