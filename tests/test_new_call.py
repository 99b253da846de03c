"""A new call is one row of the system-call table plus its model function: with no other
edit it is a Process method, printed as strace prints it, replayed from a log (by name,
or by number as an older strace prints it), and drawn, made and written out by verify."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from vmsim import MADV_DONTNEED, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, Process
from vmsim.kernel import syscalls
from vmsim.kernel.sysargs import ADDRESS, LENGTH, POINTER, SIZE_T
from vmsim.kernel.syscalls import ADDR, LEN, Arg, Syscall
from vmsim.kernel.task import Task
from vmsim.mm.madvise import do_madvise
from vmsim.replay import replay_text
from vmsim.verify.randops import Generator, Op, apply
from vmsim.verify.shrink import Reproducer, c_program

NAME = "vmsim_discard"
NR = 1000  # no x86-64 call has it


def sys_vmsim_discard(task: Task, addr: int, length: int) -> int:
    """The new call's model function: drop the range's pages, as MADV_DONTNEED does."""
    do_madvise(task.mm, addr, length, MADV_DONTNEED)
    return 0


@pytest.fixture
def new_call() -> Iterator[Syscall]:
    row = syscalls.register(
        Syscall(
            NR,
            NAME,
            [Arg("addr", POINTER, ADDRESS, ADDR), Arg("length", SIZE_T, LENGTH, LEN)],
            sys_vmsim_discard,
            summary="drop a range's pages",
        )
    )
    try:
        yield row
    finally:
        syscalls.unregister(NAME)


def test_the_new_call_is_a_process_method_printed_as_strace_prints(new_call: Syscall) -> None:
    lines: list[str] = []
    p = Process(strace=lines.append)
    a = p.mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    p.write(a, b"x" * 8192)
    assert getattr(p, NAME)(a, 4096) == 0
    assert p.read(a, 1) == b"\0" and p.read(a + 4096, 1) == b"x"
    assert p.syscall(NAME, a + 4096, 4096) == 0
    assert p.read(a + 4096, 1) == b"\0"
    assert lines[-2] == f"{NAME}({a:#x}, 4096)".ljust(39) + " = 0"
    with pytest.raises(OSError):
        getattr(p, NAME)(a + 1, 4096)  # do_madvise's own checks: EINVAL
    assert lines[-1].endswith("= -1 EINVAL (Invalid argument)")


def test_the_new_call_replays_from_a_log_by_name_and_by_number(new_call: Syscall) -> None:
    a = Process().mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    log = "\n".join(
        [
            f"mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = {a:#x}",
            f"{NAME}({a:#x}, 4096) = 0",
            f"syscall_{NR:#x}({a + 4096:#x}, 0x1000, {a:#x}, 0, 0x1, 0) = 0",
            f"{NAME}({a + 1:#x}, 4096) = -1 EINVAL (Invalid argument)",
            f"{NAME}({a:#x}, 4096) = -1 ENOMEM (Cannot allocate memory)",
        ]
    )
    report = replay_text(log)
    assert report.calls[NAME] == 4
    assert report.checked == 5
    assert [m.line for m in report.mismatches] == [5]  # the model says 0, not ENOMEM
    assert not report.bad_lines


def test_verify_draws_makes_and_writes_out_the_new_call(new_call: Syscall) -> None:
    model = Process()
    a = model.mmap(0x7FFF00000000, 1 << 20, PROT_READ | PROT_WRITE, 0x32)
    gen = Generator(random.Random(7), "default", [], model)
    drawn = [op for op in (gen.next() for _ in range(3000)) if op.kind == NAME]
    assert drawn, "the generator never drew the new call"
    for op in drawn[:20]:
        assert len(op.args) == 2 and apply(model, op)[0] in ("ok", "errno")
    assert apply(model, Op(NAME, (a, 4096))) == ("ok", 0)
    program = "\n".join(c_program(Reproducer([Op(NAME, (a, 4096))])))
    assert f"syscall({NR} /* {NAME} */, {a:#x}UL, 0x1000UL)" in program
