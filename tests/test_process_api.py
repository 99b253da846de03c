"""The Process API's edges: files, fds, limits, accesses and exec answer as the kernel
does (OSError with its errno, a signal), or refuse what no program could pass."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from vmsim import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, Process, SegmentationFault
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


def test_setrlimit_checks_as_do_prlimit_does() -> None:
    p = Process()
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
def test_accesses_fault_where_and_as_the_cpu_does(addr: int, code: str, fault: int) -> None:
    """What a load at these addresses raised on this machine (SIGSEGV's si_code, si_addr)."""
    p = Process()
    with pytest.raises(SegmentationFault) as caught:
        p.read(addr, 1)
    assert (caught.value.code, caught.value.addr) == (code, fault)
    with pytest.raises(ValueError):
        p.read(1 << 64, 1)
    with pytest.raises(ValueError):
        p.read(0, -1)


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
