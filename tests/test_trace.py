"""Call-flow tracing costs nothing outside a trace, and records everything inside one."""

from __future__ import annotations

import pytest

import vmsim.mm.mmap
import vmsim.mm.mremap
from vmsim import MAP_ANONYMOUS, MAP_PRIVATE, MREMAP_MAYMOVE, PROT_READ, PROT_WRITE, Process
from vmsim.kernel.trace import Trace

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def test_plain_functions_outside_a_trace() -> None:
    # What the modules hold is the function itself, not a wrapper around it.
    assert not hasattr(vmsim.mm.mremap.do_mremap, "__wrapped__")
    assert vmsim.mm.mremap.get_unmapped_area is vmsim.mm.mmap.get_unmapped_area
    p = Process()
    a = p.mmap(0, 8192, RW, ANON)
    with p.trace() as t:
        assert hasattr(vmsim.mm.mremap.do_mremap, "__wrapped__")
        p.mremap(a, 8192, 1 << 20, MREMAP_MAYMOVE)
    assert not hasattr(vmsim.mm.mremap.do_mremap, "__wrapped__")
    names = t.names()
    assert names[:2] == ["SYSCALL_DEFINE5(mremap)", "do_mremap"]
    assert "get_unmapped_area" in names  # called across modules, recorded all the same


def test_nested_traces_and_errors() -> None:
    p = Process()
    with Trace() as outer:
        with Trace() as inner, pytest.raises(OSError):
            p.munmap(1, 4096)
        p.mmap(0, 4096, RW, ANON)
    assert inner.calls[0].result == "-EINVAL"
    assert [c.name for c in outer.calls] == ["SYSCALL_DEFINE6(mmap)"]
    assert not hasattr(vmsim.mm.mmap.do_mmap, "__wrapped__")


def test_a_monkeypatch_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = vmsim.mm.mmap.get_unmapped_area

    def spy(*args: object) -> int:
        calls.append(args)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(vmsim.mm.mmap, "get_unmapped_area", spy)
    p = Process()
    with p.trace():
        assert vmsim.mm.mmap.get_unmapped_area is spy
        p.mmap(0, 4096, RW, ANON)
    assert vmsim.mm.mmap.get_unmapped_area is spy and len(calls) == 1
