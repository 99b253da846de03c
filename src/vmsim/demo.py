"""The seed's example program, run through the model, and the other mremap paths.

The example starts from the address space the program really has at its first
mmap on our machines (captured with ASLR off and kept in ``data/seed``): the
executable, libc, ld.so, the vdso block and the stack, with their resident
pages.  Each step prints what strace would, and the mremap's call flow is
recorded and explained.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from importlib import resources
from typing import NamedTuple

from .kernel.trace import Trace
from .process import Process
from .uapi import (
    MAP_ANONYMOUS,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MAP_SHARED,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PROT_READ,
    PROT_WRITE,
    PUD_SIZE,
)
from .views.calls import CallRecord, Sink, watch_process
from .views.why import explain

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
# Steps of the seed in the 6.18 source, for readers who know the older walk-through.
SEED_NAMES = {
    "do_vmi_munmap": "do_vmi_munmap() (seed: shrink / unmap old range)",
    "vma_merge_extend": "vma_merge_extend() (seed: vma_merge())",
    "vma_merge_new_range": "vma_merge_new_range() (seed: vma_merge())",
    "get_unmapped_area": "get_unmapped_area()",
    "move_vma": "move_vma()",
    "copy_vma": "copy_vma() (seed: vm_area_dup() + vma_link())",
    "move_page_tables": "move_page_tables()",
}


def seed_file(name: str) -> str:
    return resources.files("vmsim").joinpath("data", "seed", name).read_text()


def seed_process(strace: Callable[[str], None] | None = None) -> Process:
    """The example program's address space at its first mmap() (ASLR off)."""
    resident = [int(x, 16) for x in seed_file("init_resident.txt").split()]
    return Process.from_maps(
        seed_file("init_maps.txt"), seed_file("init_smaps.txt"), resident=resident, strace=strace
    )


@dataclass
class Report:
    """What a demo run shows: output lines, strace lines, the trace and maps around it."""

    title: str
    program_output: list[str] = field(default_factory=list)
    strace: list[str] = field(default_factory=list)
    trace: Trace | None = None
    maps_before: str = ""
    maps_after: str = ""
    explanation: list[str] = field(default_factory=list)
    kernel_maps_after: str | None = None
    calls: list[CallRecord] = field(default_factory=list)  # every mm call, for the views


def run(name: str, sink: Sink | None = None) -> Report:
    """The seed's example ("seed") or one of SCENARIOS; ``sink`` also gets each call."""
    if name == "seed":
        return run_seed_example(sink)
    return _scenario(SCENARIOS[name], sink)


def run_seed_example(sink: Sink | None = None) -> Report:
    """The seed's program: mmap a page, write, mremap to two pages, write, munmap."""
    report = Report("The seed's example: mremap(buf, 4096, 8192, MREMAP_MAYMOVE)")
    p = seed_process(strace=report.strace.append)
    with _watch(p, report, sink):
        buf = p.mmap(0, 4096, RW, ANON)
        p.write(buf, b"\x11")
        _printf(p, report, f"buf[0] 0x{p.read(buf, 1)[0]:x}\n")
        report.maps_before = p.maps()
        buf = p.mremap(buf, 4096, 8192, MREMAP_MAYMOVE)
        report.trace = report.calls[-1].flow
        p.write(buf + 4096, b"\x12")
        report.maps_after = p.maps()
        _printf(p, report, f"buf[4096] 0x{p.read(buf + 4096, 1)[0]:x}\n")
        p.munmap(buf, 8192)
    report.explanation = explain(report.trace)
    report.kernel_maps_after = seed_file("after_maps.txt")
    return report


def _watch(p: Process, report: Report, sink: Sink | None) -> AbstractContextManager[None]:
    """Record every call into ``report.calls`` (and hand it to ``sink``)."""

    def record(call: CallRecord) -> None:
        report.calls.append(call)
        if sink is not None:
            sink(call)

    return watch_process(p, record)


def _printf(p: Process, report: Report, text: str) -> None:
    """glibc's first printf allocates stdout's buffer with malloc, i.e. two brk calls."""
    if p.mm.brk == p.mm.start_brk:
        cur = p.brk(0)
        p.brk(cur + 0x21000)
    report.program_output.append(text.rstrip("\n"))
    report.strace.append(f'write(1, "{text.rstrip()}\\n", {len(text)}) = {len(text)}')


# -- the other paths --------------------------------------------------------------------


class Scenario(NamedTuple):
    title: str
    setup: Callable[[Process], tuple[int, ...]]  # makes the mappings; returns the addresses
    call: Callable[[Process, tuple[int, ...]], int]  # the mremap shown


def _scenario(scenario: Scenario, sink: Sink | None) -> Report:
    report = Report(scenario.title)
    p = seed_process(strace=report.strace.append)
    with _watch(p, report, sink):
        args = scenario.setup(p)
        report.maps_before = p.maps()
        scenario.call(p, args)
    report.trace = report.calls[-1].flow
    report.maps_after = p.maps()
    report.explanation = explain(report.trace)
    return report


def _hole(p: Process, size: int, align: int = 4096) -> int:
    """An address with ``size`` free bytes, aligned, found the way mmap would."""
    base = p.mmap(0, size + align, 0, ANON)
    p.munmap(base, size + align)
    return (base + align - 1) & ~(align - 1)


def _touch(p: Process, addr: int, length: int, stride: int = 4096) -> None:
    for off in range(0, length, stride):
        p.write(addr + off, b"\x5a")


def _two(p: Process) -> tuple[int, ...]:
    a = p.mmap(0, 16384, RW, ANON)
    _touch(p, a, 16384)
    return (a,)


SCENARIOS: dict[str, Scenario] = {
    "shrink": Scenario(
        "Shrink: mremap(a, 16 KiB, 4 KiB, 0) unmaps the tail",
        _two,
        lambda p, a: p.mremap(a[0], 16384, 4096, 0),
    ),
    "expand": Scenario(
        "Expand in place: mremap(a, 16 KiB, 32 KiB, 0) with free space above",
        lambda p: (p.mmap(_hole(p, 1 << 20), 16384, RW, ANON | MAP_FIXED_NOREPLACE),),
        lambda p, a: p.mremap(a[0], 16384, 32768, 0),
    ),
    "move": Scenario(
        "Move: growth blocked by a read-only neighbour, MREMAP_MAYMOVE moves it",
        lambda p: _blocked(p),
        lambda p, a: p.mremap(a[0], 16384, 65536, MREMAP_MAYMOVE),
    ),
    "fixed": Scenario(
        "MREMAP_FIXED: move onto an existing mapping, which is unmapped first",
        lambda p: _onto_existing(p),
        lambda p, a: p.mremap(a[0], 16384, 16384, MREMAP_MAYMOVE | MREMAP_FIXED, a[1]),
    ),
    "dontunmap": Scenario(
        "MREMAP_DONTUNMAP: the old VMA stays, empty; the pages move",
        _two,
        lambda p, a: p.mremap(a[0], 16384, 16384, MREMAP_MAYMOVE | MREMAP_DONTUNMAP),
    ),
    "multi-vma": Scenario(
        "Multi-VMA move (6.17+): rw + gap + r-- moved together with MREMAP_FIXED",
        lambda p: _multi(p),
        lambda p, a: p.mremap(a[0], 0x6000, 0x6000, MREMAP_MAYMOVE | MREMAP_FIXED, a[1]),
    ),
    "pmd": Scenario(
        "PMD-aligned move: 8 MiB between 2 MiB-aligned addresses moves 4 PMD entries",
        lambda p: _aligned(p, 8 << 20, 2 << 20),
        lambda p, a: p.mremap(a[0], 8 << 20, 8 << 20, MREMAP_MAYMOVE | MREMAP_FIXED, a[1]),
    ),
    "pud": Scenario(
        "PUD-aligned move: 1 GiB between 1 GiB-aligned addresses moves one PUD entry",
        lambda p: _aligned(p, PUD_SIZE, PUD_SIZE),
        lambda p, a: p.mremap(a[0], PUD_SIZE, PUD_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, a[1]),
    ),
    "dup": Scenario(
        "old_size 0 on shared memory: a second view of the same pages",
        lambda p: (p.mmap(0, 16384, RW, MAP_SHARED | MAP_ANONYMOUS),),
        lambda p, a: p.mremap(a[0], 0, 16384, MREMAP_MAYMOVE),
    ),
}


def _blocked(p: Process) -> tuple[int, ...]:
    base = _hole(p, 1 << 20)
    a = p.mmap(base, 16384, RW, ANON | MAP_FIXED_NOREPLACE)
    p.mmap(base + 16384, 4096, PROT_READ, ANON | MAP_FIXED_NOREPLACE)
    _touch(p, a, 16384)
    return (a,)


def _onto_existing(p: Process) -> tuple[int, ...]:
    (a,) = _two(p)
    dst = _hole(p, 1 << 20)
    p.mmap(dst + 4096, 8192, PROT_READ, ANON | MAP_FIXED_NOREPLACE)
    return (a, dst)


def _multi(p: Process) -> tuple[int, ...]:
    base = _hole(p, 1 << 20)
    a = p.mmap(base, 0x2000, RW, ANON | MAP_FIXED_NOREPLACE)
    p.mmap(base + 0x4000, 0x2000, PROT_READ, ANON | MAP_FIXED_NOREPLACE)
    _touch(p, a, 0x2000)
    return (a, base + 0x80000)


def _aligned(p: Process, size: int, align: int) -> tuple[int, ...]:
    src = _hole(p, size, align)
    a = p.mmap(src, size, RW, ANON | MAP_FIXED_NOREPLACE)
    _touch(p, a, size, stride=2 << 20)
    dst = _hole(p, size, align)
    return (a, dst)
