"""Terminal views: the address-space bar, the maps diff, the call-flow tree, and the
commands that print them (plain text into pipes, colour on a terminal)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from vmsim import (
    MAP_ANONYMOUS,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MREMAP_MAYMOVE,
    PROT_READ,
    PROT_WRITE,
    Process,
)
from vmsim.cli import main
from vmsim.uapi import MAP_FIXED
from vmsim.verify.live import live_kernel_available
from vmsim.verify.randops import ARENA_LO, Op
from vmsim.verify.shrink import op_to_json
from vmsim.views.calls import watch_process
from vmsim.views.layout import allocate, segments, weight
from vmsim.views.mapsdiff import diff_maps, splices
from vmsim.views.terminal import ADDRESS_WIDTH, address_bar, flow_tree, maps_changes

DATA = Path(__file__).parent / "data"
ANSI = re.compile(r"\x1b\[")
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def line(start: int, end: int, perms: str = "rw-p", name: str = "") -> str:
    head = f"{start:08x}-{end:08x} {perms} 00000000 00:00 0 "
    return head.ljust(72) + " " + name if name else head


def test_widths_grow_with_the_log_of_the_size() -> None:
    maps = [line(0x10000000, 0x10001000), line(0x20000000, 0x60000000, "r--p", "/lib/x")]
    segs = segments(maps)
    assert [s.kind for s in segs] == ["gap", "anon", "gap", "file", "gap"]
    assert weight(segs[1]) == 1  # one page: one unit
    assert weight(segs[3]) == 19  # 1 GiB = 2^30: 30 - 11
    widths = allocate([weight(s) for s in segs], 200)
    assert sum(widths) == 200 and min(widths) >= 1
    # Proportional to the weights, to within the cell every segment is given first.
    total = sum(weight(s) for s in segs)
    for seg, width in zip(segs, widths, strict=True):
        assert abs(width - 1 - weight(seg) * (200 - len(segs)) / total) <= 1


def test_allocate_gives_every_segment_a_cell_when_there_are_too_few() -> None:
    assert allocate([1.0, 50.0, 1.0], 2) == [1, 1, 1]


def test_bar_glyphs_say_kind_and_protection() -> None:
    maps = [
        line(0x555555554000, 0x555555555000, "r-xp", "/bin/prog"),
        line(0x555555559000, 0x55555557A000, "rw-p", "[heap]"),
        line(0x7FFFF7FC0000, 0x7FFFF7FC2000, "rw-p"),
        line(0x7FFFF7FC2000, 0x7FFFF7FC3000, "---p"),
        line(0x7FFFF7FC3000, 0x7FFFF7FC4000, "rw-s", "/dev/zero (deleted)"),
        line(0x7FFFFFFDE000, 0x7FFFFFFFF000, "rw-p", "[stack]"),
        "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0".ljust(72) + " [vsyscall]",
    ]
    bar = address_bar(maps, 100).plain
    cells = bar[ADDRESS_WIDTH + 1 :]
    assert len(cells) == 100 - ADDRESS_WIDTH - 1
    squeezed = re.sub(r"(.)\1+", r"\1", cells)
    assert squeezed == ".x.H.A-S.T~x"


def test_bar_wraps_into_rows_starting_with_their_address() -> None:
    maps = [line(0x10000000 + n * 0x2000, 0x10001000 + n * 0x2000) for n in range(60)]
    rows = address_bar(maps, 60).plain.splitlines()
    assert len(rows) > 1
    starts = [s.start for s in segments(maps)]
    for row in rows:
        assert int(row[:ADDRESS_WIDTH], 16) in starts


def test_diff_marks_added_removed_and_changed_lines() -> None:
    before = [line(0x1000, 0x3000), line(0x5000, 0x6000), line(0x8000, 0x9000, "r--p")]
    after = [line(0x1000, 0x2000), line(0x4000, 0x6000), line(0xA000, 0xB000)]
    changes = diff_maps(before, after)
    assert [(c.mark, c.line) for c in changes] == [
        ("~", after[0]),  # same start: shrunk
        ("~", after[1]),  # same end: grew down
        ("-", before[2]),
        ("+", after[2]),
    ]
    assert changes[0].was == before[0]
    text = maps_changes(changes).plain.splitlines()
    assert text[0].startswith("~ 00001000-00002000") and "(was 00001000-00003000 rw-p)" in text[0]
    assert maps_changes([]).plain == "(no change)"


@given(
    st.sets(st.integers(0, 40), max_size=20),
    st.sets(st.integers(0, 40), max_size=20),
    st.sets(st.integers(0, 40)),
)
def test_splices_turn_before_into_after(old: set[int], new: set[int], grown: set[int]) -> None:
    def maps(slots: set[int], bigger: set[int]) -> list[str]:
        return [
            line(s << 16, (s << 16) + (0x2000 if s in bigger else 0x1000)) for s in sorted(slots)
        ]

    before, after = maps(old, set()), maps(new, grown)
    rebuilt = list(before)
    for pos, removed, inserted in reversed(splices(before, after)):
        rebuilt[pos : pos + removed] = inserted
    assert rebuilt == after


def traced_mremap() -> tuple[Process, list]:
    p = Process()
    records: list = []
    with watch_process(p, records.append):
        a = p.mmap(0, 8192, RW, ANON)
        p.write(a, b"x")
        p.mmap(a + 8192, 4096, PROT_READ, ANON | MAP_FIXED_NOREPLACE)  # no room to grow
        p.mremap(a, 8192, 1 << 20, MREMAP_MAYMOVE)
    return p, records


def test_records_of_each_call() -> None:
    _, records = traced_mremap()
    mmap, neighbour, mremap = records
    assert mmap.name == "mmap" and mmap.outcome == mmap.call.split(" = ")[-1]
    assert len(mmap.maps_before) == 1 and len(mmap.maps_after) == 2  # and [vsyscall]
    assert neighbour.maps_before == mmap.maps_after
    assert mremap.maps_before == neighbour.maps_after
    assert mremap.flow.counters["ptes_moved"] == 1
    assert mremap.flow.calls[0].name == "SYSCALL_DEFINE5(mremap)"


def test_flow_tree_folds_by_depth() -> None:
    _, (*_, mremap) = traced_mremap()
    full = flow_tree(mremap.flow).plain.splitlines()
    assert full[0].startswith("SYSCALL_DEFINE5(mremap)(")
    assert any("move_page_tables(" in row for row in full)
    assert any("/* remap type: expand */" in row for row in full)
    two = flow_tree(mremap.flow, max_depth=2).plain.splitlines()
    assert len(two) == 2 and two[1].startswith("└── do_mremap()") and "folded }" in two[1]
    assert flow_tree(mremap.flow, max_depth=1).plain.count("\n") == 0
    assert "`-- do_mremap()" in flow_tree(mremap.flow, 2, ascii_only=True).plain


def test_demo_and_replay_views_are_plain_text_in_pipes() -> None:
    runner = CliRunner()
    demo = runner.invoke(main, ["demo", "--scenario", "pmd", "--depth", "3"])
    assert demo.exit_code == 0, demo.output
    assert "== address space after the mremap ==" in demo.output
    assert "folded }" in demo.output and "UPPERCASE writable" in demo.output
    replay = runner.invoke(
        main, ["replay", str(DATA / "seed.bundle"), "--show", "bar,diff,tree", "--depth", "2"]
    )
    assert replay.exit_code == 0, replay.output
    assert "#2 (line 3) 16738 mmap(NULL, 8192" in replay.output
    assert "+ 7ffff7fc0000-7ffff7fc2000 rw-p 00000000 00:00 0" in replay.output
    assert "└── do_mmap(" in replay.output
    for output in (demo.output, replay.output):
        assert not ANSI.search(output)


@pytest.mark.skipif(not live_kernel_available()[0], reason=live_kernel_available()[1])
def test_verify_draws_each_call_of_a_reproducer(tmp_path: Path) -> None:
    ops = [
        Op("mmap", (ARENA_LO, 8192, RW, ANON | MAP_FIXED)),
        Op("write", (ARENA_LO,), b"\x11"),
        Op("mremap", (ARENA_LO, 8192, 16384, MREMAP_MAYMOVE)),
    ]
    record = tmp_path / "ops.json"
    record.write_text(json.dumps({"calls": [op_to_json(op) for op in ops]}))
    args = ["verify", "--replay", str(record), "--show", "diff,tree", "--depth", "2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"#1 mmap({ARENA_LO:#x}, 8192, PROT_READ|PROT_WRITE" in result.output
    assert f"#2 mremap({ARENA_LO:#x}, 8192, 16384, MREMAP_MAYMOVE)" in result.output
    assert "└── do_mremap()" in result.output and "3 calls: no divergence" in result.output


def test_views_have_colour_on_a_terminal() -> None:
    _, (*_, mremap) = traced_mremap()
    out = io.StringIO()
    term = Console(file=out, force_terminal=True, color_system="truecolor", width=100)
    term.print(address_bar(mremap.maps_after, 100))
    term.print(maps_changes(diff_maps(mremap.maps_before, mremap.maps_after)))
    assert ANSI.search(out.getvalue())


def test_show_takes_known_views_only() -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["replay", str(DATA / "seed.bundle"), "--show", "bar,pie"])
    assert bad.exit_code != 0 and "no view 'pie'" in bad.output
    none = runner.invoke(main, ["demo", "--show", "none"])
    assert none.exit_code == 0 and "kernel call flow" not in none.output
    assert "--replay" in runner.invoke(main, ["verify", "--show", "bar"]).output


def test_a_process_shows_as_its_address_space_in_jupyter() -> None:
    p = Process()
    p.create_file("<script>alert(1)</script>", b"x" * 4096)
    fd = p.open("<script>alert(1)</script>")
    p.mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd)
    page = p._repr_html_()
    assert page.startswith('<div class="vmsim-address-space"><svg')
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "anonymous" in page and "[stack]" in page  # the legend
