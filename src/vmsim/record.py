"""`vmsim record`: run a program under strace with ASLR off, and capture the address space
it has right after execve, before its first instruction.

The exec-time maps come from a first run stopped by ptrace at the exec; with ASLR off
and the same arguments and environment, the strace run starts from the same maps.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence

PTRACE_TRACEME = 0
ADDR_NO_RANDOMIZE = 0x0040000
STRACE_MISSING = (
    "strace is not installed: install it from Debian's packages "
    "(apt-get install strace) and try again"
)


def exec_maps(argv: Sequence[str]) -> str:
    """/proc/pid/maps of ``argv`` stopped right after its execve (ASLR off)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:  # the child: be traced, lose ASLR, exec
        try:
            libc.ptrace(PTRACE_TRACEME, 0, None, None)
            libc.personality(ADDR_NO_RANDOMIZE)
            os.execvp(argv[0], list(argv))
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    try:
        if not os.WIFSTOPPED(status):
            raise OSError(f"{argv[0]}: could not be started")
        with open(f"/proc/{pid}/maps") as maps:
            return maps.read()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def record(argv: Sequence[str]) -> tuple[str, str, int]:
    """(exec-time maps, strace log, exit status) of running ``argv``."""
    strace = shutil.which("strace")
    if strace is None:
        raise FileNotFoundError(STRACE_MISSING)
    maps = exec_maps(argv)
    with tempfile.TemporaryDirectory(prefix="vmsim-record-") as tmp:
        log_path = os.path.join(tmp, "log")
        # setarch -R is inherited by the traced child: both runs start without ASLR.
        done = subprocess.run(
            ["setarch", "-R", strace, "-f", "-o", log_path, "--", *argv], check=False
        )
        with open(log_path) as log:
            return maps, log.read(), done.returncode
