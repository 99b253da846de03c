"""The order in which overlapping calls of threads really ran.

Threads of one process take the mmap lock in turn, but strace logs each call when
it returns, and two calls that were in flight together may be logged in either
order.  Memory calls of one address space whose time spans (from the
``<unfinished ...>`` line to the result) overlap are held back as a group; when
none is in flight any more, the group runs in log order if that explains every
result, else in the first order consistent with the spans (a call that returned
before another started stays first) that does, found on copies of the task.
Without such an order the group runs in log order.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable

from ..fs.file import FilesStruct
from ..kernel.task import Task
from ..mm.mm_types import MmStruct
from ..strace.parse import Event

MAX_GROUP = 8  # beyond this, log order
MAX_TRIALS = 400


class Call:
    """A memory call held back until its group's order is decided."""

    # Not a dataclass: compiled, a dataclass's generated __init__ runs in the interpreter,
    # and every memory call builds one.
    def __init__(self, event: Event, start: int, task: Task) -> None:
        self.event = event
        self.start = start  # log line where the call began
        self.task = task  # the thread that made it
        self.files = task.files.dup_fd()  # its fd table as it was when the call returned


class ConcurrentCalls:
    """Holds overlapping memory calls back until their order can be decided."""

    def __init__(
        self,
        mm_of: Callable[[int | None], MmStruct | None],
        run: Callable[[Task, Event], None],
        outcome: Callable[[Task, Event], bool],
        notes: Counter[str] | None = None,
    ) -> None:
        self.mm_of = mm_of  # pid -> the address space its task uses
        self.run = run  # replays one call for real
        self.outcome = outcome  # replays one call on a copy: did it give the log's result?
        self.in_flight: dict[int | None, int] = {}  # pid -> line its memory call began
        # id(mm) -> the mm and its calls held back
        self.groups: dict[int, tuple[MmStruct, list[Call]]] = {}
        self.notes: Counter[str] = notes if notes is not None else Counter()

    def started(self, event: Event) -> None:
        self.in_flight[event.pid] = event.line

    def finished(self, event: Event) -> int:
        """The line where the call began; it is no longer in flight."""
        return self.in_flight.pop(event.pid, event.line)

    def completed(self, task: Task, event: Event, start: int) -> None:
        mm = task.mm
        key = id(mm)
        # A task not yet seen to return anything may be a thread of this process too.
        busy = False
        for pid in self.in_flight:
            other = self.mm_of(pid)
            if other is None or other is mm:
                busy = True
                break
        if key not in self.groups and not busy:
            self.run(task, event)
            return
        group = self.groups.setdefault(key, (mm, []))[1]
        group.append(Call(event, start, task))
        if not busy:
            self.flush(key)

    def flush_all(self) -> None:
        for key in list(self.groups):
            self.flush(key)

    def flush(self, key: int) -> None:
        group = self.groups.pop(key)[1]
        order = group if len(group) == 1 else self.find_order(group)
        if order is None:
            self.notes["overlapping calls no order explains (run as logged)"] += 1
            order = group
        elif order != group:
            self.notes["overlapping calls of threads run in another order than logged"] += 1
        for call in order:
            task = call.task
            files = task.files
            task.files = call.files
            self.run(task, call.event)
            task.files = files

    def find_order(self, group: list[Call]) -> list[Call] | None:
        # Log order nearly always explains the results: check it on one copy, so the
        # usual group costs one copy of the address space rather than one per call.
        if self.explains(group[0].task, group):
            return group
        if len(group) > MAX_GROUP:
            return None
        trials = [0]

        def attempt(state: Task, todo: list[Call], done: list[Call]) -> list[Call] | None:
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
                if self.outcome(_as(trial, call.files), call.event):
                    found = attempt(trial, todo[:i] + todo[i + 1 :], [*done, call])
                    if found is not None:
                        return found
            return None

        return attempt(group[0].task, group, [])

    def explains(self, task: Task, order: list[Call]) -> bool:
        """Does running ``order`` on a copy of the address space give every logged result?"""
        trial = _copy(task)
        return all(self.outcome(_as(trial, call.files), call.event) for call in order)


def _copy(task: Task) -> Task:
    """A copy of the task to try calls on: its own mm; files and inodes stay shared."""
    return copy.deepcopy(task)


def _as(trial: Task, files: FilesStruct) -> Task:
    """The trial task with the fd table of the thread whose call runs next."""
    trial.files = files
    return trial
