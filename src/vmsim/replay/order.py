"""The order in which overlapping calls of threads really ran.

Threads of one process take the mmap lock in turn, but strace logs each call when
it returns, and two calls that were in flight together may be logged in either
order.  Memory calls of one address space whose time spans (from the
``<unfinished ...>`` line to the result) overlap are held back as a group; when
none is in flight any more, the group runs in log order if that explains every
result, else in the first order consistent with the spans (a call that returned
before another started stays first) that does, found on copies of the address
space.  Without such an order the group runs in log order.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable

from ..fs.file import OpenFile
from ..process import Process
from ..strace.parse import Event

MAX_GROUP = 8  # beyond this, log order
MAX_TRIALS = 400


class Call:
    """A memory call held back until its group's order is decided."""

    # Not a dataclass: compiled, a dataclass's generated __init__ runs in the interpreter,
    # and every memory call builds one.
    def __init__(self, event: Event, start: int, fds: dict[int, OpenFile]) -> None:
        self.event = event
        self.start = start  # log line where the call began
        self.fds = fds  # the fd table as it was when the call returned


class ConcurrentCalls:
    """Holds overlapping memory calls back until their order can be decided."""

    def __init__(
        self,
        address_space: Callable[[int | None], Process | None],
        run: Callable[[Process, Event], None],
        outcome: Callable[[Process, Event], bool],
        notes: Counter[str] | None = None,
    ) -> None:
        self.address_space = address_space  # pid -> its Process
        self.run = run  # replays one call for real
        self.outcome = outcome  # replays one call on a copy: did it give the log's result?
        self.in_flight: dict[int | None, int] = {}  # pid -> line its memory call began
        self.groups: dict[int, tuple[Process, list[Call]]] = {}
        self.notes: Counter[str] = notes if notes is not None else Counter()

    def started(self, event: Event) -> None:
        self.in_flight[event.pid] = event.line

    def finished(self, event: Event) -> int:
        """The line where the call began; it is no longer in flight."""
        return self.in_flight.pop(event.pid, event.line)

    def completed(self, process: Process, event: Event, start: int) -> None:
        key = id(process)
        # A task not yet seen to return anything may be a thread of this process too.
        busy = bool(self.in_flight) and any(
            self.address_space(pid) in (process, None) for pid in self.in_flight
        )
        if key not in self.groups and not busy:
            self.run(process, event)
            return
        group = self.groups.setdefault(key, (process, []))[1]
        group.append(Call(event, start, dict(process.fds)))
        if not busy:
            self.flush(key)

    def flush_all(self) -> None:
        for key in list(self.groups):
            self.flush(key)

    def flush(self, key: int) -> None:
        process, group = self.groups.pop(key)
        order = group if len(group) == 1 else self.find_order(process, group)
        if order is None:
            self.notes["overlapping calls no order explains (run as logged)"] += 1
            order = group
        elif order != group:
            self.notes["overlapping calls of threads run in another order than logged"] += 1
        fds = process.fds
        for call in order:
            process.fds = call.fds
            self.run(process, call.event)
        process.fds = fds

    def find_order(self, process: Process, group: list[Call]) -> list[Call] | None:
        # Log order nearly always explains the results: check it on one copy, so the
        # usual group costs one copy of the address space rather than one per call.
        if self.explains(process, group):
            return group
        if len(group) > MAX_GROUP:
            return None
        trials = [0]

        def attempt(state: Process, todo: list[Call], done: list[Call]) -> list[Call] | None:
            if not todo:
                return done
            for i, call in enumerate(todo):
                # A call that returned before this one began must run first.
                if any(other.event.line < call.start for other in todo if other is not call):
                    continue
                trials[0] += 1
                if trials[0] > MAX_TRIALS:
                    return None
                trial = _copy(state)
                trial.fds = call.fds
                if self.outcome(trial, call.event):
                    found = attempt(trial, todo[:i] + todo[i + 1 :], [*done, call])
                    if found is not None:
                        return found
            return None

        return attempt(process, group, [])

    def explains(self, process: Process, order: list[Call]) -> bool:
        """Does running ``order`` on a copy of the address space give every logged result?"""
        trial = _copy(process)
        for call in order:
            trial.fds = call.fds
            if not self.outcome(trial, call.event):
                return False
        return True


def _copy(process: Process) -> Process:
    """A copy of the address space to try calls on; files and inodes stay shared."""
    return copy.deepcopy(process)
