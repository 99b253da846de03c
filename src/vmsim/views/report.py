"""The data behind an HTML report: every memory call of a log or a demo scenario.

A browser must load a 100,000-call report in well under two seconds, so nothing is
stored twice: /proc/pid/maps lines are interned once and each call keeps only the
splices that turn the maps before it into the maps after it.  A full copy (a
keyframe) is added whenever the splices since the last one outgrow it a few times
over, so rebuilding the maps at any call in the browser stays cheap.  Call flows
are kept up to a budget of nodes, page-table summaries only when they change.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .. import demo as demolib
from ..kernel.trace import CallNode
from ..replay import read_bundle, replay_text
from .calls import CallRecord, LogWatcher
from .errnos import notes, table
from .mapsdiff import splices
from .pagetables import Summary, summarize
from .why import explain

# Kept call flows, in nodes; mremap calls and failures may use twice as many.
FLOW_NODE_BUDGET = 60_000
# A keyframe when the splices since the last one hold this many times its lines...
KEYFRAME_FACTOR = 4
# ... or after this many calls, whichever comes first.
KEYFRAME_CALLS = 2000
MOVED = ("ptes_moved", "pmd_entries_moved", "pud_entries_moved", "ptes_zapped")
# Bits of a call's "kind": the syscall's index in ``names`` times 4, plus these.
FAILED, DIFFERS = 1, 2


class Collector:
    """A sink for call records that keeps what the page needs, compactly."""

    def __init__(self) -> None:
        # Interned strings: each maps line, system call and kernel function name once.
        self.lines: dict[str, int] = {}
        self.names: dict[str, int] = {}
        self.functions: dict[str, int] = {}
        # One row a call: [log line, strace text, kind, flow index, moved, splices(, model)].
        self.rows: list[list[Any]] = []
        self.keyframes: list[list[Any]] = []  # [call index, line ids of the maps before it]
        self.flows: list[list[Any]] = []
        self.why: dict[int, list[str]] = {}  # mremap explanations by call index
        self.tables: list[list[Any]] = []  # [call index, page tables after it] when changed
        self.errors: Counter[str] = Counter()
        self.flow_nodes = 0
        self.flows_dropped = 0
        self._since_lines = 0
        self._since_calls = 0
        self._last_tables: Summary | None = None

    def __call__(self, record: CallRecord) -> None:
        index = len(self.rows)
        before = record.maps_before
        if (
            not self.keyframes
            or self._since_lines >= KEYFRAME_FACTOR * len(before)
            or self._since_calls >= KEYFRAME_CALLS
        ):
            self.keyframes.append([index, [self._line(line) for line in before]])
            self._since_lines = self._since_calls = 0
        ops: list[tuple[int, int, list[int]]] = [
            (pos, removed, [self._line(line) for line in inserted])
            for pos, removed, inserted in splices(before, record.maps_after)
        ]
        self._since_lines += sum(op[1] + len(op[2]) for op in ops)
        self._since_calls += 1
        name = record.name
        kind = self.names.setdefault(name, len(self.names)) * 4
        kind |= (FAILED if record.errno else 0) | (DIFFERS if record.logged is not None else 0)
        if record.errno:
            self.errors[f"{name} {record.errno}"] += 1
        counters = record.flow.counters
        moved = [counters[key] for key in MOVED]
        row: list[Any] = [
            record.line,
            record.call,
            kind,
            self._flow(record, index),
            moved if any(moved) else 0,
            ops,
        ]
        if record.logged is not None:
            row.append(record.outcome)
        self.rows.append(row)
        tables = summarize(record.process.mm.pgtables)
        if tables != self._last_tables:
            self.tables.append([index, tables])
            self._last_tables = tables

    def _line(self, line: str) -> int:
        return self.lines.setdefault(line, len(self.lines))

    def _flow(self, record: CallRecord, index: int) -> int:
        calls = record.flow.calls
        if not calls:
            return -1
        size = sum(1 for call in calls for _ in call.walk())
        generous = record.name == "mremap" or record.errno is not None
        if self.flow_nodes + size > FLOW_NODE_BUDGET * (2 if generous else 1):
            self.flows_dropped += 1
            return -1
        self.flow_nodes += size
        self.flows.append([self._node(call) for call in calls])
        if record.name == "mremap":
            self.why[index] = explain(record.flow)
        return len(self.flows) - 1

    def _node(self, node: CallNode) -> list[Any]:
        """[function index, arguments, result, children...]; a note is a plain string."""
        out: list[Any] = [
            self.functions.setdefault(node.name, len(self.functions)),
            node.args,
            node.result,
        ]
        out += [self._node(c) if isinstance(c, CallNode) else c for c in node.children]
        return out

    def data(self, title: str, source: str, summary: dict[str, Any]) -> dict[str, Any]:
        return {
            "title": title,
            "source": source,
            "summary": summary,
            "names": list(self.names),
            "lines": list(self.lines),
            "keyframes": self.keyframes,
            "rows": self.rows,
            "functions": list(self.functions),
            "flows": self.flows,
            "flowBudget": FLOW_NODE_BUDGET,
            "flowsDropped": self.flows_dropped,
            "why": {str(k): v for k, v in self.why.items()},
            "tables": self.tables,
            "errnos": table(),
            "notes": notes(),
            "errors": dict(self.errors),
        }


def from_log(
    text: str, source: str, maps: str | None = None, follow: bool = False
) -> dict[str, Any]:
    """Replay a strace log or bundle, collecting every memory call."""
    collector = Collector()
    # Split as the replay splits the log, so that a call's line number finds its text.
    log_lines = read_bundle(text, source)[1].split("\n")
    report = replay_text(
        text, maps, follow, observer=LogWatcher(log_lines, collector), source=source
    )
    summary = report.as_dict()
    summary["mismatches"] = summary["mismatches"][:50]
    summary["bad_lines"] = summary["bad_lines"][:50]
    summary["unmodelled_text"] = report.unmodelled_text()
    mode = "follow" if follow else "predict"
    return collector.data(f"replay of {source} ({mode} mode)", source, summary)


def from_scenario(name: str) -> dict[str, Any]:
    """Run a demo scenario ("seed" is the seed's example program), collecting every call."""
    collector = Collector()
    report = demolib.run(name, collector)
    summary: dict[str, Any] = {
        "calls": dict(Counter(record.name for record in report.calls)),
        "program_output": report.program_output,
    }
    if report.kernel_maps_after is not None:
        summary["kernel_maps_match"] = report.maps_after == report.kernel_maps_after
    return collector.data(report.title, f"vmsim demo --scenario {name}", summary)
