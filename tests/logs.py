"""strace logs made up for the report's tests."""

from __future__ import annotations

import contextlib

from vmsim import MAP_ANONYMOUS, MAP_PRIVATE, MREMAP_MAYMOVE, PROT_READ, PROT_WRITE, Process

SCRIPT_PATH = "<script>alert(1)</script>"
# A file whose name is markup, mapped: the name shows in the strace line and the maps.
SCRIPT_LOG = "\n".join(
    [
        "brk(NULL) = 0x555555559000",  # the replay starts at the first memory call
        f'openat(AT_FDCWD, "{SCRIPT_PATH}", O_RDONLY) = 3',
        "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7ffff7ffe000",
        "close(3) = 0",
    ]
)


def synthetic_log(calls: int) -> str:
    """``calls`` lines of mmap, mremap (one that moves, one that fails) and munmap, as the
    model prints them, so that replaying the log predicts every result."""
    lines: list[str] = []
    p = Process(strace=lines.append)
    for n in range(8):
        p.mmap(0, 4096 * (n + 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    n = 0
    while len(lines) < calls:
        a = p.mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        size = 16384 + 4096 * (n % 4)
        b = p.mremap(a, 8192, size, MREMAP_MAYMOVE)
        with contextlib.suppress(OSError):  # EFAULT: nothing is mapped there
            p.mremap(0x1000, 4096, 8192, 0)
        p.munmap(b, size)
        n += 1
    return "\n".join(lines[:calls]) + "\n"
