"""Replaying a program's strace log into the model, and recording one.

Predict mode (the default) lets the model choose every address and reports each
call whose result differs from the log.  Follow mode makes the log's results
authoritative: after a difference the model's mapping is moved to where the
kernel put it, so replay can go on.  Threads (clone with CLONE_VM) share the
address space; other children get their own, which the replay skips and counts.

Threads' calls may run at the same time, and the kernel then applies them in an
order the log does not show: each call takes mmap_lock somewhere between the line
that starts it and the line that returns.  Calls whose intervals overlap are
replayed together, in the first order that respects the log (a call that returned
before another started comes first) and gives every logged result; when no such
order exists, in the order they returned, and the differences are reported.
"""

from __future__ import annotations

import copy
import errno as errno_mod
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .fs.file import Inode, OpenFile
from .process import Process
from .strace.parse import Event, parse, string_arg, value
from .uapi import MAP_FIXED, MREMAP_FIXED, MREMAP_MAYMOVE, O_RDWR

MEMORY_CALLS = ("mmap", "munmap", "mremap", "mprotect", "madvise", "brk")
CLONE_VM = 0x100
CLONE_VFORK = 0x4000
BUNDLE_MAGIC = "vmsim-bundle 1"
# How many trial calls one group of concurrent calls may cost before its order is left
# as the log's: the orders to try grow with the factorial of the group's size.
ORDER_SEARCH_BUDGET = 2000


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
    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    mismatches: list[Mismatch] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    checked: int = 0
    concurrent: int = 0  # calls that overlapped another thread's call
    reordered: int = 0  # groups of those whose results fix an order other than the log's
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
            "concurrent": self.concurrent,
            "reordered": self.reordered,
            "peak_vmas": self.peak_vmas,
            "peak_rss_kb": self.peak_rss_pages * 4,
        }


def read_bundle(text: str) -> tuple[str | None, str]:
    """(initial maps or None, strace log) from a bundle or a plain log."""
    if not text.startswith(BUNDLE_MAGIC):
        return None, text
    _, _, rest = text.partition("\n--- maps\n")
    maps, _, log = rest.partition("\n--- strace\n")
    return maps + "\n", log


def write_bundle(maps: str, log: str) -> str:
    return f"{BUNDLE_MAGIC}\n--- maps\n{maps.rstrip()}\n--- strace\n{log}"


# Wraps each memory call of the log: it gets the replayer, the event and a thunk that
# makes the call (the views record call flows and maps around it).
Observer = Callable[["Replayer", Event, Callable[[], None]], None]


class Replayer:
    def __init__(
        self, process: Process, follow: bool = False, observer: Observer | None = None
    ) -> None:
        self.process = process
        self.follow = follow
        self.observer = observer
        self.report = ReplayReport()
        self.main_pid: int | None = None
        self.same_mm: set[int | None] = set()
        self.own_mm: set[int | None] = set()
        # A child's first calls can be logged before its parent's clone returns: while a
        # clone is in flight, a new pid shares the address space iff it had CLONE_VM.
        self.clone_in_flight: bool | None = None
        self.started = False
        # Memory calls started and not yet returned, by pid (the line each started on),
        # and those returned while another was still running, in the order they returned.
        self.in_flight: dict[int | None, int] = {}
        self.concurrent: list[tuple[int, Event]] = []

    def run(self, events: Iterable[Event], progress: Callable[[], None] | None = None) -> None:
        for event in events:
            if progress is not None:
                progress()
            if event.error is not None:
                self.report.bad_lines.append(event.error)
                continue
            self.step(event)
        self.in_flight.clear()  # calls the log never saw return (the process was killed)
        self.replay_concurrent()

    def step(self, event: Event) -> None:
        if not self.started:
            # The model starts from the maps right after execve: skip what came before.
            if event.name == "execve" and event.ret == 0:
                self.started = True
                self.main_pid = event.pid
                self.same_mm.add(event.pid)
            elif event.name in MEMORY_CALLS and self.main_pid is None:
                self.started, self.main_pid = True, event.pid
                self.same_mm.add(event.pid)
            else:
                return
            if event.name == "execve":
                return
        if event.unfinished:
            if event.name in MEMORY_CALLS and event.pid not in self.own_mm:
                self.in_flight[event.pid] = event.line
            if event.name in ("clone", "clone3", "fork", "vfork"):
                self.clone_in_flight = event.name in ("clone", "clone3") and _flags_have_vm(
                    event.args
                )
            return
        if event.pid not in self.same_mm and event.pid not in self.own_mm:
            (self.same_mm if self.clone_in_flight is not False else self.own_mm).add(event.pid)
        # A thread killed in the middle of a call: the call may or may not have taken
        # effect, and the model leaves it out.
        killed = event.name == "exit" and self.in_flight.pop(event.pid, None) is not None
        if killed and not self.in_flight:
            self.replay_concurrent()
        if event.pid not in self.same_mm:
            self.in_flight.pop(event.pid, None)
            self.report.skipped[event.name] += 1
            return
        if event.name == "execve" and event.ret == 0:
            # A new program replaces the address space: its maps at exec are not known.
            self.same_mm.discard(event.pid)
            self.own_mm.add(event.pid)
            self.report.skipped["execve (new address space)"] += 1
            return
        if event.name in MEMORY_CALLS:
            started = self.in_flight.pop(event.pid, event.line)
            if self.in_flight or self.concurrent:
                self.concurrent.append((started, event))
                if not self.in_flight:
                    self.replay_concurrent()
                return
        self.guarded(event)

    def guarded(self, event: Event) -> None:
        try:
            self.dispatch(event)
        except (ValueError, IndexError) as err:
            self.report.bad_lines.append(f"line {event.line}: {event.name}: {err}")

    def replay_concurrent(self) -> None:
        """Replay a group of overlapping calls, in an order that gives the logged results."""
        group, self.concurrent = self.concurrent, []
        if not group:
            return
        self.report.concurrent += len(group)
        order = self.order_matching_log(group)
        if order is None:
            order = [event for _, event in group]
        elif order != [event for _, event in group]:
            self.report.reordered += 1
        for event in order:
            self.guarded(event)

    def order_matching_log(self, group: list[tuple[int, Event]]) -> list[Event] | None:
        """The first order the log allows in which every call returns what it logged,
        found by trying calls on copies of the address space."""
        budget = ORDER_SEARCH_BUDGET

        def search(process: Process, rest: list[tuple[int, Event]]) -> list[Event] | None:
            nonlocal budget
            if not rest:
                return []
            for i, (started, event) in enumerate(rest):
                if any(other.line < started for _, other in rest):
                    continue  # another call returned before this one began: it goes first
                if budget == 0:
                    return None
                budget -= 1
                trial = copy.deepcopy(process)
                if _call(trial, event.name, [value(a) for a in event.args]) != _outcome(event):
                    continue
                tail = search(trial, rest[:i] + rest[i + 1 :])
                if tail is not None:
                    return [event, *tail]
            return None

        try:
            return search(self.process, group)
        except (ValueError, IndexError):
            return None  # an unreadable argument: each call reports it when replayed

    def dispatch(self, event: Event) -> None:
        name = event.name
        if name in ("clone", "clone3", "fork", "vfork"):
            self.on_clone(event)
        elif name in ("open", "openat", "creat"):
            self.on_open(event)
        elif name == "close" and event.ret == 0:
            self.process.fds.pop(event.arg(0), None)
        elif (
            name in ("dup", "dup2", "dup3")
            and event.ret is not None
            and event.ret >= 0
            or (
                name == "fcntl"
                and event.ret is not None
                and event.ret >= 0
                and "DUPFD" in (event.args[1] if len(event.args) > 1 else "")
            )
        ):
            self.alias(event.arg(0), event.ret)
        elif name in MEMORY_CALLS:
            if self.observer is None:
                self.on_memory_call(event)
            else:
                self.observer(self, event, lambda: self.on_memory_call(event))

    def on_clone(self, event: Event) -> None:
        self.clone_in_flight = None
        if event.ret is None or event.ret <= 0:
            return
        if event.name in ("clone", "clone3") and _flags_have_vm(event.args):
            self.same_mm.add(event.ret)
            self.own_mm.discard(event.ret)
        else:
            self.same_mm.discard(event.ret)
            self.own_mm.add(event.ret)
            self.report.skipped[f"{event.name} child (own address space)"] += 1

    def on_open(self, event: Event) -> None:
        if event.ret is None or event.ret < 0:
            return
        path_arg = event.args[1] if event.name == "openat" else event.args[0]
        path = event.ret_path or string_arg(path_arg)
        inode = self.process.files.get(path)
        if inode is None:
            size = os.stat(path).st_size if os.path.exists(path) else 1 << 40
            inode = self.process.files[path] = Inode(path, size=size)
        self.process.fds[event.ret] = OpenFile(inode, O_RDWR)

    def alias(self, old: int, new: int) -> None:
        if old in self.process.fds:
            self.process.fds[new] = self.process.fds[old]

    def on_memory_call(self, event: Event) -> None:
        self.report.calls[event.name] += 1
        args = [value(a) for a in event.args]
        logged = _outcome(event)
        model = _call(self.process, event.name, args)
        self.report.checked += 1
        if model != logged:
            self.report.mismatches.append(
                Mismatch(event.line, _show(event), _text(logged), _text(model))
            )
            if self.follow:
                self.align(event.name, args, logged, model)
        if isinstance(logged, str):
            self.report.errors[f"{event.name} {logged}"] += 1
        mm = self.process.mm
        self.report.peak_vmas = max(self.report.peak_vmas, mm.map_count)
        self.report.peak_rss_pages = max(
            self.report.peak_rss_pages, mm.rss_anon + mm.rss_file + mm.rss_shmem
        )

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


def _flags_have_vm(args: list[str]) -> bool:
    """A thread: CLONE_VM among clone's flags, without CLONE_VFORK (a vforked child gets its
    own address space at its execve)."""
    text = " ".join(args)
    if "CLONE_" in text:
        return re.search(r"\bCLONE_VM\b", text) is not None and "CLONE_VFORK" not in text
    match = re.search(r"flags=(0x[0-9a-f]+|\d+)", text)
    flags = int(match.group(1), 0) if match else 0
    return bool(flags & CLONE_VM) and not flags & CLONE_VFORK


def _outcome(event: Event) -> int | str:
    if event.errno is not None:
        return event.errno
    return (event.ret or 0) & ((1 << 64) - 1)


def _call(p: Process, name: str, args: list[int]) -> int | str:
    try:
        if name == "mmap":
            return p.mmap(*args[:6])
        if name == "mremap":
            return p.mremap(*args[:5])
        if name == "brk":
            return p.brk(args[0])
        getattr(p, name)(*args[:3])
        return 0
    except OSError as err:
        return errno_mod.errorcode.get(err.errno or 0, str(err.errno))


def _text(outcome: int | str) -> str:
    return outcome if isinstance(outcome, str) else f"{outcome:#x}"


def _show(event: Event) -> str:
    return f"{event.name}({', '.join(event.args)})"


def replay_text(
    text: str,
    maps: str | None = None,
    follow: bool = False,
    progress: Callable[[], None] | None = None,
    observer: Observer | None = None,
) -> ReplayReport:
    """Replay a log (or bundle); ``maps`` overrides the bundle's initial maps."""
    bundle_maps, log = read_bundle(text)
    maps = maps if maps is not None else bundle_maps
    process = Process.from_maps(maps) if maps else Process()
    replayer = Replayer(process, follow, observer)
    replayer.run(parse(log.splitlines()), progress)
    return replayer.report
