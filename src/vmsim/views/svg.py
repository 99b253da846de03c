"""The address space as inline SVG with a legend: how a ``Process`` shows in Jupyter.

Colour says what a mapping is, shading its protection: solid when writable, pale
when read-only, faint when inaccessible, a dark top edge when executable.  Every
string from the maps (paths, names) is escaped.
"""

from __future__ import annotations

from html import escape

from .layout import COLOURS, KIND_LABELS, KINDS, Segment, allocate, human_size, segments, weight
from .words import plural

BAR_HEIGHT = 34
EXEC_EDGE = 5


def opacity(perms: str) -> float:
    if perms[1] == "w":
        return 1.0
    return 0.6 if perms[0] == "r" or perms[2] == "x" else 0.25


def _rect(seg: Segment, x: int, width: int) -> str:
    if seg.is_mapping:
        what = f"{seg.perms} {seg.name or KIND_LABELS[seg.kind]}"
        shade = f' fill-opacity="{opacity(seg.perms)}"'
    else:
        what, shade = KIND_LABELS[seg.kind], ""
    tip = f"{seg.start:#x}-{seg.end:#x} {human_size(seg.size)} {what}"
    rect = (
        f'<rect x="{x}" y="0" width="{width}" height="{BAR_HEIGHT}" '
        f'fill="{COLOURS[seg.kind]}"{shade}><title>{escape(tip)}</title></rect>'
    )
    if seg.is_mapping and seg.perms[2] == "x":
        rect += f'<rect x="{x}" y="0" width="{width}" height="{EXEC_EDGE}" fill="#263238"/>'
    return rect


def address_space_html(maps_lines: list[str], width: int = 960) -> str:
    """A bar of VMAs and gaps (log-scaled widths), a legend and the maps text."""
    segs = segments(maps_lines)
    widths = allocate([weight(s) for s in segs], width)
    parts, x = [], 0
    for n, (seg, w) in enumerate(zip(segs, widths, strict=True)):
        parts.append(_rect(seg, x, w))
        if n and seg.is_mapping and segs[n - 1].is_mapping:
            # Where two mappings touch, a white hairline keeps them apart.
            parts.append(f'<rect x="{x}" y="0" width="1" height="{BAR_HEIGHT}" fill="#fff"/>')
        x += w
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{x}" height="{BAR_HEIGHT}" '
        f'role="img" aria-label="address space">{"".join(parts)}</svg>'
    )
    keys = "".join(
        f'<span style="margin-right:1em"><span style="display:inline-block;width:1em;'
        f'height:1em;vertical-align:middle;background:{COLOURS[kind]}"></span> '
        f"{escape(KIND_LABELS[kind])}</span>"
        for kind in (*KINDS, "gap", "kernel")
    )
    mapped = [s for s in segs if s.is_mapping]
    note = (
        f"{plural(len(mapped), 'mapping')}, {human_size(sum(s.size for s in mapped))} mapped. "
        "Solid: writable, pale: read-only, faint: no access, dark top edge: executable; "
        "each doubling of a size adds the same width. Hover for details."
    )
    maps = escape("\n".join(maps_lines))
    return (
        f'<div class="vmsim-address-space">{svg}<div style="font-size:90%">{keys}</div>'
        f'<div style="font-size:90%;color:#555">{note}</div>'
        f"<details><summary>/proc/pid/maps</summary><pre>{maps}</pre></details></div>"
    )
