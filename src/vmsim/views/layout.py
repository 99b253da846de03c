"""An address space as a row of segments (VMAs and the gaps between them) with widths.

Linear widths would make a 47-bit address space a blank line with a few specks, so
every segment's width grows with the logarithm of its size: each doubling adds the
same width, a 4 KiB page gets one unit, a 64 TiB gap 35.  The terminal bar and the
notebook picture both use this; the HTML report redoes it in the browser to zoom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..arch.x86.mmap import TASK_SIZE_4LEVEL
from ..fs.proc.parse import MapsEntry, parse_maps_line

# What a mapping is, for the legend; "gap" and "kernel" are the spaces between them.
KINDS = ("anon", "file", "shared", "heap", "stack", "special")
KIND_LABELS = {
    "anon": "anonymous",
    "file": "file",
    "shared": "shared",
    "heap": "[heap]",
    "stack": "[stack]",
    "special": "[vdso] [vvar] [vsyscall]",
    "gap": "free",
    "kernel": "not user space",
}
# Fill colours of the pictures (the notebook's and the HTML report's).
COLOURS = {
    "anon": "#4caf50",
    "file": "#3f7fd0",
    "shared": "#b04fc4",
    "heap": "#d8b630",
    "stack": "#2bb5c2",
    "special": "#d2503f",
    "gap": "#eceff1",
    "kernel": "#b0bec5",
}
# The span above the user address space (the non-canonical hole and the kernel's half):
# a fixed small width, since only [vsyscall] lives there.
KERNEL_WEIGHT = 2.0


@dataclass(frozen=True)
class Segment:
    start: int
    end: int
    kind: str  # one of KINDS, "gap" or "kernel"
    perms: str = ""  # "rw-p" for mappings
    name: str = ""

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def is_mapping(self) -> bool:
        return self.kind in KINDS


def kind_of(entry: MapsEntry) -> str:
    if entry.perms[3] == "s":
        return "shared"
    if entry.name == "[heap]":
        return "heap"
    if entry.name == "[stack]":
        return "stack"
    if entry.name.startswith("["):
        return "special"
    return "file" if entry.inode or entry.name else "anon"


def weight(segment: Segment) -> float:
    if segment.kind == "kernel":
        return KERNEL_WEIGHT
    return max(1.0, math.log2(max(segment.size, 1)) - 11)


def segments(maps_lines: list[str]) -> list[Segment]:
    """The mappings of /proc/pid/maps lines and the gaps around them, in address order."""
    out: list[Segment] = []
    pos = 0
    for n, line in enumerate(maps_lines, 1):
        if not line.strip():
            continue
        entry = parse_maps_line(line, f"maps line {n}")
        if entry.start > pos:
            gap = "kernel" if entry.start > TASK_SIZE_4LEVEL else "gap"
            if gap == "kernel" and pos < TASK_SIZE_4LEVEL:
                out.append(Segment(pos, TASK_SIZE_4LEVEL, "gap"))
                pos = TASK_SIZE_4LEVEL
            out.append(Segment(pos, entry.start, gap))
        out.append(Segment(entry.start, entry.end, kind_of(entry), entry.perms, entry.name))
        pos = entry.end
    if pos < TASK_SIZE_4LEVEL:
        out.append(Segment(pos, TASK_SIZE_4LEVEL, "gap"))
    return out


def allocate(weights: list[float], cells: int) -> list[int]:
    """Whole cells for each weight, at least one each, the rest shared out in proportion
    (largest remainders first, so the widths add up to ``cells`` exactly)."""
    n = len(weights)
    cells = max(cells, n)
    spare = cells - n
    total = sum(weights) or 1.0
    shares = [w * spare / total for w in weights]
    widths = [1 + int(s) for s in shares]
    left = cells - sum(widths)
    for i in sorted(range(n), key=lambda i: int(shares[i]) - shares[i])[:left]:
        widths[i] += 1
    return widths


def human_size(size: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            value = size / (1 << shift)
            digits = 0 if value >= 10 or value.is_integer() else 1
            return f"{value:.{digits}f} {unit}"
    return f"{size} B"
