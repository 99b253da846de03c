"""Each system call the model makes, as the views draw it: the call, its outcome, its
call flow and /proc/pid/maps before and after.

Records are handed to a sink one by one and not kept here, so a 100,000-call log
costs the memory of one address space, not of 100,000.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..kernel import syscalls
from ..kernel.trace import Trace
from ..strace.parse import parse

if TYPE_CHECKING:
    from ..process import Process
    from ..replay import Replayer
    from ..strace.parse import Event


@dataclass
class CallRecord:
    name: str  # the system call
    call: str  # the strace line with its result: the log's own, or as the model prints it
    outcome: str  # what the model returned: an address, a number or an errno name
    flow: Trace  # the model's kernel call flow
    maps_before: list[str]
    maps_after: list[str]
    process: Process  # the model as the call left it (read it while the sink runs)
    line: int | None = None  # where the call is in the log
    logged: str | None = None  # the log's outcome, where it differs from the model's

    @property
    def errno(self) -> str | None:
        return self.outcome if self.outcome.startswith("E") else None


Sink = Callable[[CallRecord], None]
# How far back a "<... resumed>" line's first half is looked for.
UNFINISHED_REACH = 10_000


def gives_address(name: str) -> bool:
    """Whether the call's result is an address (the system-call table says)."""
    row = syscalls.SYSCALLS.get(name)
    return row is not None and row.result == syscalls.RESULT_ADDRESS


def outcome_text(name: str, ret: int | None, errno: str | None) -> str:
    """A result as the views show it: addresses in hex, plain numbers in decimal."""
    if errno is not None:
        return errno
    if ret is None:
        return "?"
    return f"{ret & ((1 << 64) - 1):#x}" if gives_address(name) else str(ret)


class LogWatcher:
    """Observes a replay (``Replayer(observer=...)``): one record per memory call of the
    log, with the log's own line and, where the model disagrees, both outcomes."""

    def __init__(self, log_lines: list[str], sink: Sink) -> None:
        self.log_lines = log_lines
        self.sink = sink
        self.maps: list[str] | None = None

    def __call__(self, replayer: Replayer, event: Event, run: Callable[[], None]) -> None:
        process = replayer.process
        before = self.maps if self.maps is not None else process.maps().splitlines()
        mismatches = len(replayer.report.mismatches)
        with Trace() as flow:
            run()
        after = process.maps().splitlines()
        self.maps = after
        logged = outcome_text(event.name, event.ret, event.errno)
        model, differs = logged, len(replayer.report.mismatches) > mismatches
        if differs:
            # The replay prints every result in hex; plain ones read better in decimal.
            model = replayer.report.mismatches[-1].model
            if model.startswith("0x") and not gives_address(event.name):
                model = str(int(model, 16))
        self.sink(
            CallRecord(
                event.name,
                self.text(event),
                model,
                flow,
                before,
                after,
                process,
                line=event.line,
                logged=logged if differs else None,
            )
        )

    def text(self, event: Event) -> str:
        """The call's lines in the log: a call another thread interrupted is two, the
        "<unfinished ...>" line with its arguments and the "<... resumed>" line."""
        text = self.log_lines[event.line - 1].strip()
        if " resumed>" not in text:
            return text
        for n in range(event.line - 2, max(event.line - UNFINISHED_REACH, 0) - 1, -1):
            first = next(parse([self.log_lines[n]]), None)
            if first and first.unfinished and (first.pid, first.name) == (event.pid, event.name):
                return self.log_lines[n].strip() + "\n" + text
        return text


@contextmanager
def watch_process(process: Process, sink: Sink) -> Iterator[None]:
    """Record every system call ``process`` makes inside the block.

    The process's strace hook marks the end of each call; one trace stays active
    throughout and is cut there, so the calls need no wrapping.  "Before" is the
    maps as the previous call left them.
    """
    trace = Trace()
    forward = process.strace
    maps = process.maps().splitlines()

    def called(line: str) -> None:
        nonlocal maps
        if forward is not None:
            forward(line)
        flow = Trace()
        flow.calls, flow.counters = trace.calls[-1:], trace.counters.copy()
        trace.calls.clear()
        trace.counters.clear()
        after = process.maps().splitlines()
        result = line.rpartition(" = ")[2]
        outcome = result.split()[1] if result.startswith("-1 E") else result
        sink(CallRecord(line.split("(", 1)[0], line, outcome, flow, maps, after, process))
        maps = after

    process.strace = called
    try:
        with trace:
            yield
    finally:
        process.strace = forward
