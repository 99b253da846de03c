"""The Process API's edges: files, fds, limits, accesses and exec answer as the kernel
does (OSError with its errno, a signal), or refuse what no program could pass.  Those
with a ``side`` run on the live kernel too, where it runs."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from sides import PAGE, is_model
from vmsim import MAP_ANONYMOUS, MAP_PRIVATE, MREMAP_MAYMOVE, PROT_READ, Process, SegmentationFault
from vmsim.mm.mm_types import RLIM_INFINITY, RLIMIT_AS, RLIMIT_MEMLOCK


def test_opening_a_missing_file_and_closing_a_closed_fd_fail_as_the_calls_do() -> None:
    p = Process()
    with pytest.raises(FileNotFoundError) as missing:
        p.open("/no/such/file")
    assert missing.value.errno == errno.ENOENT
    with pytest.raises(OSError) as closed:
        p.close(12345)
    assert closed.value.errno == errno.EBADF
    p.create_file("/f", b"x")
    fd = p.open("/f")
    p.close(fd)
    with pytest.raises(OSError):
        p.close(fd)


def test_a_file_size_no_file_has_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        Process().create_file("/f", b"", size=-1)


def test_setrlimit_checks_as_do_prlimit_does(side: Any) -> None:
    p = side
    with pytest.raises(OSError) as bad:
        p.setrlimit(999, 0, 0)
    assert bad.value.errno == errno.EINVAL
    with pytest.raises(OSError) as inverted:
        p.setrlimit(RLIMIT_AS, 2 << 30, 1 << 30)
    assert inverted.value.errno == errno.EINVAL
    # Root on our machines has no CAP_SYS_RESOURCE: the hard limit only goes down.
    with pytest.raises(OSError) as raised:
        p.setrlimit(RLIMIT_MEMLOCK, 8 << 20, 64 << 20)
    assert raised.value.errno == errno.EPERM
    p.setrlimit(RLIMIT_AS, 1 << 30, RLIM_INFINITY)
    p.setrlimit(RLIMIT_AS, -1, -1)  # RLIM_INFINITY as a C caller writes it
    if is_model(p):
        assert p.task.signal.rlim[RLIMIT_AS] == (RLIM_INFINITY, RLIM_INFINITY)


@pytest.mark.parametrize(
    ("addr", "code", "fault"),
    [
        (-1, "SEGV_MAPERR", (1 << 64) - 1),  # the kernel's half: a page fault
        (0xFFFF800000000000, "SEGV_MAPERR", 0xFFFF800000000000),
        (0x8000000000000000, "SI_KERNEL", 0),  # non-canonical: a general-protection fault
        (0x800000000000, "SI_KERNEL", 0),
        (0x7FFFFFFFF000, "SEGV_MAPERR", 0x7FFFFFFFF000),
    ],
)
def test_accesses_fault_where_and_as_the_cpu_does(
    side: Any, addr: int, code: str, fault: int
) -> None:
    """What a load at these addresses raises (SIGSEGV's si_code, si_addr)."""
    p = side
    with pytest.raises(SegmentationFault) as caught:
        p.read(addr, 1)
    assert (caught.value.code, caught.value.addr) == (code, fault)
    with pytest.raises(ValueError):
        p.read(1 << 64, 1)
    with pytest.raises(ValueError):
        p.read(0, -1)


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("mprotect", (0, PAGE, (1 << 32) | PROT_READ)),  # unsigned long prot: a high bit
        ("mremap", (0, PAGE, PAGE, (1 << 32) | MREMAP_MAYMOVE)),  # unsigned long flags
        ("mremap", (0, PAGE, 2 * PAGE, 1 << 63)),
        ("munmap", (1, PAGE)),
        ("mmap", (0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)),
        ("madvise", (0, PAGE, 1 << 31)),  # int advice: negative
    ],
)
def test_high_and_sign_bits_are_einval(side: Any, call: str, args: tuple[int, ...]) -> None:
    """Arguments are cast to the prototype's C types, never cut to 32 bits first."""
    a = side.mmap(0, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    args = (a + args[0] if args[0] < PAGE else args[0], *args[1:]) if call != "mmap" else args
    with pytest.raises(OSError) as caught:
        side.syscall(call, *args)
    assert caught.value.errno == errno.EINVAL


@pytest.mark.parametrize("value", [1 << 64, 1 << 70, -(1 << 63) - 1])
def test_a_value_no_register_holds_is_refused_by_name(side: Any, value: int) -> None:
    with pytest.raises(ValueError, match="mmap.*addr"):
        side.mmap(value, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)


def test_exec_of_a_file_that_is_no_program_is_enoexec(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x7fELF but not really" + bytes(100))
    text = tmp_path / "notes.txt"
    text.write_text("plain text\n")
    for path in (junk, text):
        with pytest.raises(OSError) as caught:
            Process.execve(str(path), [str(path)], [])
        assert caught.value.errno == errno.ENOEXEC, path


def test_a_mapping_still_reads_after_the_edge_checks() -> None:
    p = Process()
    a = p.mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    assert p.read(a, 2) == b"\0\0"
