"""The "bits" mix: every modelled call with high and sign bits in its arguments.

The model's answers to such calls, checked against what Linux 6.18 x86-64 answers (on the
model always, on the live kernel where it runs); the generator's rule for which of them
the live helper may make; and the table-driven parts of verify (calls drawn from a row's
argument roles, reproducers checked against the table, C calls from the table)."""

from __future__ import annotations

import errno
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sides import ANON, PAGE, errno_of, is_model, layout
from vmsim.demo import seed_process
from vmsim.kernel import syscalls
from vmsim.kernel.sysargs import ADDRESS, LENGTH, MADV_ADVICE, POINTER, SIZE_T, UINT
from vmsim.kernel.syscalls import ADDR, FLAGS, LEN, Arg, Syscall
from vmsim.kernel.task import Task
from vmsim.process import Process
from vmsim.uapi import (
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_SHARED,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PROT_READ,
    PROT_WRITE,
    ULONG_MAX,
)
from vmsim.verify.randops import (
    SAFE_LO,
    TASK_SIZE,
    WEIGHTS,
    Generator,
    Op,
    apply,
)
from vmsim.verify.shrink import Reproducer, c_program, load_reproducer

RW = PROT_READ | PROT_WRITE
LIBC = 0x7FFFF7DD5000  # where the helper's (and the seed program's) libc starts


# -- the model's answers, as the kernel gives them -----------------------------------------


@pytest.mark.parametrize("brk", [-1, -4095, 1 << 63, ULONG_MAX - PAGE + 1])
def test_brk_far_above_the_address_space_leaves_the_break(side: Any, brk: int) -> None:
    """brk(-1): PAGE_ALIGN() wraps the new break to 0, so newbrk - oldbrk is a huge
    unsigned length, check_brk_limits() refuses it and brk returns the old break."""
    start = side.brk(0)
    maps = side.maps()
    assert side.brk(brk) == start
    assert side.maps() == maps


@pytest.mark.parametrize(
    ("addr", "err"),
    [
        (-1, errno.EPERM),
        (-errno.EACCES, errno.EACCES),
        (-4095, 4095),
        (-4096, errno.ENOMEM),
    ],
)
@pytest.mark.parametrize("flags", [ANON | MAP_FIXED, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED])
def test_mmap_fixed_in_the_last_page_is_read_as_an_error(
    side: Any, addr: int, err: int, flags: int
) -> None:
    """__get_unmapped_area(): a MAP_FIXED address comes back from the search as it was,
    and IS_ERR_VALUE() reads the top 4095 values as -errno."""
    assert errno_of(side.mmap, addr, PAGE, PROT_READ, flags) == err


def test_mmap_fixed_noreplace_in_the_last_page_too(side: Any) -> None:
    assert errno_of(side.mmap, -errno.EACCES, PAGE, PROT_READ, ANON | MAP_FIXED_NOREPLACE) == (
        errno.EACCES
    )
    assert side.mmap(-errno.EACCES, PAGE, PROT_READ, ANON) < TASK_SIZE  # a hint: rounded


def test_mremap_old_range_wrapping_past_2_64_does_not_overlap_the_target(side: Any) -> None:
    """vrm_overlaps() adds in unsigned longs: an old range that wraps ends low, so the
    move goes ahead, unmaps the target (MREMAP_FIXED), then fails in the shrink's
    munmap of a length above TASK_SIZE: EINVAL with the target gone."""
    a = side.mmap(SAFE_LO, 3 * PAGE, RW, ANON | MAP_FIXED)
    b = side.mmap(SAFE_LO + 0x100000, 3 * PAGE, PROT_READ, ANON | MAP_FIXED)
    flags = MREMAP_MAYMOVE | MREMAP_FIXED
    assert errno_of(side.mremap, a, 0xFFFFFFFF00003000, 3 * PAGE, flags, b) == errno.EINVAL
    assert layout(side, a, b + 3 * PAGE - a) == ["0-3 rw-p"]


def test_an_int_argument_keeps_its_low_half(side: Any) -> None:
    """madvise's advice is an int: 0xffffffff00000000 | MADV_DONTNEED is MADV_DONTNEED;
    mprotect's prot is an unsigned long: (1 << 32) | PROT_READ is EINVAL."""
    a = side.mmap(0, PAGE, RW, ANON)
    side.write(a, b"x")
    side.madvise(a, PAGE, 0xFFFFFFFF_00000000 | MADV_DONTNEED)
    assert side.read(a, 1) == b"\0"
    assert errno_of(side.mprotect, a, PAGE, (1 << 32) | PROT_READ) == errno.EINVAL
    if not is_model(side):
        # The helper's registers reach the kernel as they are.
        assert side.syscall("madvise", a, PAGE, (1 << 32) | MADV_DONTNEED) == 0


# -- which calls the helper may make ---------------------------------------------------------


@pytest.fixture
def gen() -> Generator:
    p = seed_process()
    return Generator(random.Random(1), "bits", [(v.vm_start, v.vm_end) for v in p.vmas()], p)


def ours(gen: Generator) -> int:
    return gen.model.mmap(SAFE_LO, 4 * PAGE, RW, ANON | MAP_FIXED)


def harmless(gen: Generator, name: str, *args: int) -> bool:
    return gen.harmless(syscalls.lookup(name), list(args))


def test_walking_calls_must_stay_in_the_safe_area(gen: Generator) -> None:
    a = ours(gen)
    assert harmless(gen, "madvise", a, 4 * PAGE, MADV_DONTNEED)
    # From the sequence's VMAs to the helper's stack and beyond: the walk would zap them.
    assert not harmless(gen, "madvise", a, 1 << 63, MADV_DONTNEED)
    assert not harmless(gen, "mprotect", a, 1 << 40, PROT_READ)
    assert not harmless(gen, "mseal", a, TASK_SIZE - a + PAGE, 0)
    # Wrapping past 2^64 is refused before the walk; nothing lies at or above TASK_SIZE.
    assert harmless(gen, "madvise", a, ULONG_MAX - a, MADV_DONTNEED)
    assert harmless(gen, "mprotect", a, -PAGE, PROT_READ)  # rounds to an empty range
    assert harmless(gen, "mseal", TASK_SIZE, 1 << 40, 0)
    assert harmless(gen, "madvise", 1 << 63 | a, 4 * PAGE, MADV_DONTNEED)


def test_unmapping_calls_may_end_above_task_size(gen: Generator) -> None:
    a = ours(gen)
    assert harmless(gen, "munmap", a, 1 << 63)  # do_vmi_munmap(): EINVAL first
    assert not harmless(gen, "munmap", a, LIBC - a + PAGE)  # below TASK_SIZE: libc too
    assert harmless(gen, "mmap", a, 1 << 63, RW, ANON | MAP_FIXED)
    assert not harmless(gen, "mmap", 1 << 31, PAGE, RW, ANON | MAP_FIXED)
    assert harmless(gen, "mmap", 1 << 31, PAGE, RW, ANON)  # a hint
    assert harmless(gen, "mmap", 1 << 31, PAGE, RW, ANON | MAP_FIXED_NOREPLACE)


def test_mremap_old_range_must_stay_safe_its_new_range_may_end_above_task_size(
    gen: Generator,
) -> None:
    a = ours(gen)
    fixed = MREMAP_MAYMOVE | MREMAP_FIXED
    # A MREMAP_FIXED move of equal lengths takes every VMA of the old range along.
    assert not harmless(gen, "mremap", a, 1 << 40, 1 << 40, fixed, SAFE_LO + (1 << 30))
    assert harmless(gen, "mremap", a, PAGE, 1 << 63, fixed, SAFE_LO + (1 << 30))
    assert harmless(gen, "mremap", a, 2 * PAGE, 2 * PAGE, fixed, TASK_SIZE - PAGE)
    assert not harmless(gen, "mremap", a, PAGE, PAGE, fixed, 1 << 31)
    assert harmless(gen, "mremap", a, PAGE, 1 << 31, MREMAP_MAYMOVE, 1 << 31)  # no target


def test_brk_and_hints_are_always_harmless(gen: Generator) -> None:
    assert harmless(gen, "brk", -1)
    assert harmless(gen, "brk", 1 << 46)
    assert harmless(gen, "mmap", -1, -1, -1, ANON, -1, 0)


def test_calls_that_fault_in_are_kept_small(gen: Generator) -> None:
    assert not harmless(gen, "mmap", 0, 1 << 32, RW, ANON | 0x8000)  # MAP_POPULATE
    assert not harmless(gen, "mmap", 0, 1 << 31, RW, ANON | 0x2000)  # MAP_LOCKED
    assert harmless(gen, "mmap", 0, 1 << 32, RW, ANON)


def test_a_bits_sequence_leaves_the_helpers_mappings_alone(gen: Generator) -> None:
    """What the live helper relies on, run on the model: however the arguments are
    spoilt, every mapping the process started with keeps its pages and rights."""
    model = gen.model
    before = {(lo, hi): _rights(model, lo) for lo, hi in gen.reserved}
    resident = model.resident_pages(0, TASK_SIZE)
    kinds: set[str] = set()
    for _ in range(3000):
        op = gen.next()
        kinds.add(op.kind)
        apply(model, op)
        gen.note_changes(None)
    assert kinds >= {row.name for row in syscalls.modelled()}
    for (lo, hi), rights in before.items():
        for addr in range(lo, hi, PAGE):
            assert _rights(model, addr) == rights, f"{addr:#x} of the helper's {lo:#x}-{hi:#x}"
    still = set(model.resident_pages(0, TASK_SIZE))
    assert not [a for a in resident if a not in still]
    model.check()


def _rights(p: Process, addr: int) -> tuple[int, object] | None:
    vma = next((v for v in p.vmas() if v.vm_start <= addr < v.vm_end), None)
    if vma is None:
        return None
    return vma.vm_flags & 0xF, vma.vm_file and vma.vm_file.inode


# -- calls from the table ----------------------------------------------------------------------


def _sys_twin_mseal(task: Task, start: int, length: int, flags: int) -> None:
    """A test-only call: mseal's checks under another name."""
    syscalls.lookup("mseal").run(task, [start, length, flags])


@pytest.fixture
def extra_row() -> Iterator[Syscall]:
    row = syscalls.register(
        Syscall(
            1000,
            "twin_mseal",
            [
                Arg("addr", POINTER, ADDRESS, ADDR),
                Arg("len", SIZE_T, LENGTH, LEN),
                Arg("advice", UINT, MADV_ADVICE, FLAGS),
            ],
            _sys_twin_mseal,
        )
    )
    yield row
    syscalls.unregister(row.name)


def test_a_row_without_a_generator_of_its_own_is_drawn_from_its_roles(
    extra_row: Syscall,
) -> None:
    p = seed_process()
    gen = Generator(random.Random(3), "default", [(v.vm_start, v.vm_end) for v in p.vmas()], p)
    for _ in range(40):
        p.mmap(0, 8 * PAGE, RW, ANON)
    drawn = [op for op in (gen.next() for _ in range(3000)) if op.kind == extra_row.name]
    assert drawn
    advice = set(MADV_ADVICE.constants().values()) | {0}
    for op in drawn:
        addr, length, flags = op.args
        assert gen.safe(addr, addr + length)
        assert flags in advice
        # The model makes it through the table: mseal's answers under another name.
        expected = [("errno", "EINVAL")] if flags else [("ok", 0), ("errno", "ENOMEM")]
        assert apply(p, op) in expected


def test_the_bits_mix_makes_every_modelled_row(extra_row: Syscall) -> None:
    assert extra_row.name not in WEIGHTS["bits"]  # drawn all the same, at the default weight
    p = seed_process()
    gen = Generator(random.Random(2), "bits", [(v.vm_start, v.vm_end) for v in p.vmas()], p)
    kinds = set()
    for _ in range(2000):
        op = gen.next()
        kinds.add(op.kind)
        apply(p, op)
        gen.note_changes(None)
    assert kinds >= {row.name for row in syscalls.modelled()}


def _write_record(tmp_path: Path, calls: list[dict[str, Any]]) -> Path:
    path = tmp_path / "case.json"
    path.write_text(json.dumps({"calls": calls}))
    return path


@pytest.mark.parametrize(
    ("call", "why"),
    [
        ({"call": "execve", "args": [0, 0, 0]}, "'execve' is not a call the model makes"),
        ({"call": "mlock", "args": [0, 4096]}, "'mlock' is not a call the model makes"),
        ({"call": "__class__", "args": []}, "'__class__' is not a call the model makes"),
        ({"call": "munmap", "args": [0]}, r"munmap\(\) takes 2 arguments"),
        ({"call": "brk", "args": [1 << 64]}, r"brk\(\) argument addr: .* 64-bit register"),
        ({"call": "read", "args": [0]}, "read takes 2 arguments, got 1"),
    ],
)
def test_a_reproducer_names_only_modelled_calls(
    tmp_path: Path, call: dict[str, Any], why: str
) -> None:
    good = {"call": "brk", "args": [0]}
    path = _write_record(tmp_path, [good, call])
    # The file, then the JSON path of the field at fault within call 1.
    with pytest.raises(ValueError, match=rf"{path}, field calls\[1\][.a-z0-9\[\]]*: {why}"):
        load_reproducer(path)


def test_a_reproducer_takes_a_row_registered_later(tmp_path: Path, extra_row: Syscall) -> None:
    path = _write_record(tmp_path, [{"call": extra_row.name, "args": [SAFE_LO, PAGE, 0]}])
    assert load_reproducer(path).ops == [Op(extra_row.name, (SAFE_LO, PAGE, 0))]


def test_the_c_program_makes_each_call_from_the_table() -> None:
    ops = [
        Op("mmap", (SAFE_LO, PAGE, RW, 0x12, (1 << 32) | 3, 0)),
        Op("mseal", (SAFE_LO, PAGE)),
        Op("madvise", (SAFE_LO, PAGE, 0xFFFFFFFF_00000000 | MADV_DONTNEED)),
        Op("mmap", (0, PAGE, RW, ANON)),
    ]
    text = "\n".join(c_program(Reproducer(ops, file_seed=1)))
    for op in ops:
        assert syscalls.lookup(op.kind).c_call(op.args) in text
    assert "syscall(462 /* mseal */, 0x7fff00000000UL, 0x1000UL, 0x0UL)" in text
    # The test file goes where fget() looks: the low 32 bits of the fd; -1 names none.
    assert "dup2(fd, 3);" in text and "dup2(fd, 4294967295)" not in text
