"""What one call changed in /proc/pid/maps.

Both sides are in address order, so one merge walk finds the differences.  A line
that keeps its start (or its end) but changes otherwise is "changed" rather than
removed and added: a VMA that grew, shrank or changed protection.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MapsChange:
    mark: str  # "+" added, "-" removed, "~" changed
    line: str
    was: str | None = None  # the old line of a changed VMA


def _start(line: str) -> int:
    return int(line[: line.index("-")], 16)


def _end(line: str) -> int:
    return int(line[line.index("-") + 1 : line.index(" ")], 16)


def splices(before: list[str], after: list[str]) -> list[tuple[int, int, list[str]]]:
    """(position in ``before``, lines removed there, lines inserted there), in order:
    applied last to first, they turn ``before`` into ``after``."""
    out: list[tuple[int, int, list[str]]] = []
    i = j = 0
    while i < len(before) or j < len(after):
        if i < len(before) and j < len(after) and before[i] == after[j]:
            i += 1
            j += 1
            continue
        pos, removed, inserted = i, 0, []
        while (i < len(before) or j < len(after)) and not (
            i < len(before) and j < len(after) and before[i] == after[j]
        ):
            if j == len(after) or (i < len(before) and _start(before[i]) <= _start(after[j])):
                if j < len(after) and _start(before[i]) == _start(after[j]):
                    inserted.append(after[j])
                    j += 1
                removed += 1
                i += 1
            else:
                inserted.append(after[j])
                j += 1
        out.append((pos, removed, inserted))
    return out


def diff_maps(before: list[str], after: list[str]) -> list[MapsChange]:
    """The added, removed and changed lines, in address order."""
    gone: list[str] = []
    new: list[str] = []
    for pos, removed, inserted in splices(before, after):
        gone += before[pos : pos + removed]
        new += inserted
    left = dict.fromkeys(gone)
    by_start = {_start(line): line for line in gone}
    by_end = {_end(line): line for line in gone}
    changes: list[MapsChange] = []
    for line in new:
        old = by_start.get(_start(line))
        if old not in left:
            old = by_end.get(_end(line))
        if old is not None and old in left:
            del left[old]
            changes.append(MapsChange("~", line, old))
        else:
            changes.append(MapsChange("+", line))
    changes += [MapsChange("-", line) for line in left]
    return sorted(changes, key=lambda c: _start(c.line))
