"""How the model reports what the kernel reports.

A failing system call raises ``OSError`` with the kernel's errno (see
:func:`syscall_error`).  An access the kernel answers with a signal raises
:class:`SegmentationFault` (SIGSEGV) or :class:`BusError` (SIGBUS), carrying the
faulting address and the ``si_code`` name a signal handler would see.
"""

from __future__ import annotations

import errno as _errno
import os


def syscall_error(err: int) -> OSError:
    """An ``OSError`` for a failed system call, as glibc's errno would show it."""
    return OSError(err, os.strerror(err))


class SegmentationFault(Exception):
    """The access raised SIGSEGV.  ``code`` is 'SEGV_MAPERR' or 'SEGV_ACCERR'."""

    signal_name = "SIGSEGV"

    def __init__(self, addr: int, code: str) -> None:
        super().__init__(f"{self.signal_name} ({code}) at {addr:#x}")
        self.addr = addr
        self.code = code


class BusError(SegmentationFault):
    """The access raised SIGBUS (e.g. past the end of a file mapping): code 'BUS_ADRERR'."""

    signal_name = "SIGBUS"


__all__ = ["BusError", "SegmentationFault", "syscall_error", "_errno"]
