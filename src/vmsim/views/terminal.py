"""Terminal views: the address space as a bar, the maps diff of a call, the call-flow tree.

Everything is built as rich ``Text`` and printed through one console, which writes
colour on a terminal and plain text into pipes and files.  The bar's letters carry
the meaning on their own, so the plain text loses nothing but the colour.
"""

from __future__ import annotations

import itertools
import math

from rich.console import Console
from rich.text import Text

from ..kernel.trace import CallNode, Trace
from .calls import CallRecord
from .layout import KIND_LABELS, KINDS, Segment, allocate, human_size, segments, weight
from .mapsdiff import MapsChange, diff_maps
from .words import plural

VIEWS = ("bar", "diff", "tree")
LETTERS = {"anon": "a", "file": "f", "shared": "s", "heap": "h", "stack": "t", "special": "v"}
STYLES = {
    "anon": "black on green3",
    "file": "white on blue",
    "shared": "black on magenta",
    "heap": "black on yellow3",
    "stack": "black on cyan",
    "special": "white on red3",
    "gap": "grey42",
    "kernel": "grey30",
}
CHANGE_STYLES = {"+": "green", "-": "red", "~": "yellow"}
ADDRESS_WIDTH = 16  # 64-bit addresses in hex: [vsyscall] needs all 16 digits


def console() -> Console:
    """Colour on a terminal, plain text elsewhere; long lines are left to the terminal."""
    return Console(highlight=False, soft_wrap=True, markup=False, emoji=False)


def glyph(segment: Segment) -> str:
    if segment.kind == "gap":
        return "."
    if segment.kind == "kernel":
        return "~"
    readable, writable, executable = tuple(segment.perms[:3])
    if executable == "x":
        return "x"
    if readable == "-" and writable == "-":
        return "-"
    letter = LETTERS[segment.kind]
    return letter.upper() if writable == "w" else letter


def address_bar(maps_lines: list[str], width: int) -> Text:
    """Rows of cells, each segment at least one cell wide; each row starts with the
    address of the segment in its first cell."""
    segs = segments(maps_lines)
    per_row = max(20, width - ADDRESS_WIDTH - 1)
    # Room for about two cells a segment, so small VMAs stay visible.
    rows = max(1, math.ceil(2 * len(segs) / per_row))
    widths = allocate([weight(s) for s in segs], per_row * rows)
    cells = [seg for seg, w in zip(segs, widths, strict=True) for _ in range(w)]
    text = Text()
    for row in range(0, len(cells), per_row):
        if row:
            text.append("\n")
        text.append(f"{cells[row].start:>{ADDRESS_WIDTH}x} ", style="dim")
        for seg, run in itertools.groupby(cells[row : row + per_row]):
            text.append(glyph(seg) * len(list(run)), style=STYLES[seg.kind])
    return text


def legend() -> Text:
    text = Text()
    for kind in KINDS:
        text.append(f" {LETTERS[kind]} ", style=STYLES[kind])
        text.append(f" {KIND_LABELS[kind]}  ")
    text.append(" . ", style=STYLES["gap"])
    text.append(f" {KIND_LABELS['gap']}  ")
    text.append(" ~ ", style=STYLES["kernel"])
    text.append(f" {KIND_LABELS['kernel']}\n")
    text.append(
        "UPPERCASE writable, x executable, - no access; "
        "each doubling of a size adds the same width",
        style="dim",
    )
    return text


def bar_summary(maps_lines: list[str]) -> str:
    mapped = [s for s in segments(maps_lines) if s.is_mapping]
    return f"{plural(len(mapped), 'mapping')}, {human_size(sum(s.size for s in mapped))} mapped"


def maps_changes(changes: list[MapsChange]) -> Text:
    text = Text()
    for n, change in enumerate(changes):
        if n:
            text.append("\n")
        text.append(f"{change.mark} {change.line}", style=CHANGE_STYLES[change.mark])
        if change.was is not None:
            old = " ".join(change.was.split()[:2])
            text.append(f"   (was {old})", style="dim")
    return text if text.plain else Text("(no change)", style="dim")


def flow_tree(trace: Trace, max_depth: int | None = None, ascii_only: bool = False) -> Text:
    """The call flow with tree guides; below ``max_depth`` levels a call's children are
    folded into a count (the same depth rule as ``Trace.render``)."""
    guides = ("|-- ", "`-- ", "|   ", "    ") if ascii_only else ("├── ", "└── ", "│   ", "    ")
    text = Text()
    for call in trace.calls:
        _node(text, call, "", "", 0, max_depth, guides)
    text.rstrip()
    return text if text.plain else Text("(no call flow)", style="dim")


def _node(
    text: Text,
    node: CallNode,
    lead: str,
    rest: str,
    depth: int,
    max_depth: int | None,
    guides: tuple[str, ...],
) -> None:
    text.append(lead, style="dim")
    text.append(node.name, style="bold")
    text.append(f"({node.args})")
    if node.result is not None:
        text.append(" = ")
        text.append(node.result, style="red" if node.result.startswith("-E") else "green")
    if node.children and max_depth is not None and depth + 1 >= max_depth:
        calls = sum(1 for child in node.children if isinstance(child, CallNode))
        what = plural(calls, "call") if calls else "notes"
        text.append(f"  {{ {what} folded }}", "dim")
        node_children: list[CallNode | str] = []
    else:
        node_children = node.children
    text.append("\n")
    for n, child in enumerate(node_children):
        last = n == len(node_children) - 1
        branch = rest + guides[1 if last else 0]
        below = rest + guides[3 if last else 2]
        if isinstance(child, CallNode):
            _node(text, child, branch, below, depth + 1, max_depth, guides)
        else:
            text.append(branch, style="dim")
            text.append(f"/* {child} */\n", style="italic cyan")


class CallPrinter:
    """A sink for call records: prints each call, numbered, with the views asked for."""

    def __init__(self, views: set[str], depth: int | None, out: Console | None = None) -> None:
        self.views = views
        self.depth = depth
        self.out = out or console()
        self.count = 0

    def __call__(self, record: CallRecord) -> None:
        out = self.out
        self.count += 1
        where = f" (line {record.line})" if record.line is not None else ""
        out.print(Text(f"#{self.count}{where} ", style="bold").append(record.call, "bold cyan"))
        if record.logged is not None:
            out.print(Text(f"  model {record.outcome}, log {record.logged}", style="red"))
        if "bar" in self.views:
            out.print(address_bar(record.maps_after, out.width))
        if "diff" in self.views:
            out.print(maps_changes(diff_maps(record.maps_before, record.maps_after)))
        if "tree" in self.views:
            out.print(flow_tree(record.flow, self.depth, ascii_only=not utf8(out)))


def utf8(out: Console) -> bool:
    """Tree guides need box-drawing characters; other encodings get ASCII ones."""
    return out.encoding.lower().replace("-", "").startswith("utf8")
