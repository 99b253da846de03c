"""Why an mremap took the path it took, in words, read from its recorded call flow.

The model's functions leave notes in the trace where they decide (``note()`` in
mm/mremap.py and mm/vma.py); this gathers them and names the path.
"""

from __future__ import annotations

from ..kernel.trace import CallNode, Trace
from .words import plural


def explain(trace: Trace) -> list[str]:
    """Which mremap path the recorded call flow took, and why, in words."""
    names = set(trace.names())
    out: list[str] = []
    for node in trace.find("do_mremap"):
        out += [str(child) for child in node.children if isinstance(child, str)]
    if "remap_move" in names:
        out.append("MREMAP_FIXED with equal lengths: remap_move() moved each VMA of the range.")
    if "expand_vma_in_place" in names:
        out.append(
            "Grown in place: the range ends at the VMA's end and the space above is free, "
            "so vma_merge_extend() just extended the VMA (merging the next one if it fits)."
        )
    elif "move_vma" in names:
        for node in trace.find("expand_vma"):
            out += [f"{child}" for child in node.children if isinstance(child, str)]
        for node in trace.find("vma_expandable"):
            out += [f"{child}" for child in node.children if isinstance(child, str)]
        moved = (
            "Moved: get_unmapped_area() chose the new place, copy_vma() made the new VMA, "
            "move_page_tables() moved the entries (the pages stay, only their addresses change)"
        )
        if (
            any("remap type: expand" in line for line in out)
            and trace.find("do_vmi_munmap")
            and (trace.find("do_vmi_munmap")[-1].result == "-EINVAL")
        ):
            out.append(f"{moved}. old_size was 0: the old mapping stays, both views share pages.")
        else:
            kept = "kept, without pages" if "unmap_source_vma" not in names else "unmapped"
            out.append(f"{moved}, and the old range was {kept}.")
        for node in trace.find("copy_vma"):
            out += [f"copy_vma: {child}" for child in _notes(node)]
    elif "shrink_vma" in names:
        out.append("Shrunk: do_vmi_munmap() unmapped the tail; the mapping stays where it was.")
    counters = trace.counters
    entries = [
        f"{plural(counters[k], one, many)} ({size}{' each' if counters[k] > 1 else ''})"
        for k, one, many, size in (
            ("pud_entries_moved", "PUD entry", "PUD entries", "1 GiB"),
            ("pmd_entries_moved", "PMD entry", "PMD entries", "2 MiB"),
            ("ptes_moved", "PTE", "PTEs", "4 KiB"),
        )
        if counters[k]
    ]
    if entries:
        out.append("Page-table entries moved: " + ", ".join(entries) + ".")
    return out


def _notes(node: CallNode) -> list[str]:
    found: list[str] = []
    for child in node.children:
        if isinstance(child, str):
            found.append(child)
        else:
            found += _notes(child)
    return found
