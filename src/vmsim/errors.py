"""How the model reports what the kernel reports.

A failing system call raises ``OSError`` with the kernel's errno (see
:func:`syscall_error`).  An access the kernel answers with a signal raises
:class:`SegmentationFault` (SIGSEGV) or :class:`BusError` (SIGBUS), carrying the
faulting address and the ``si_code`` name a signal handler would see.  An
allocation that finds the machine's memory used up raises :class:`OutOfMemoryKill`:
the OOM killer's SIGKILL, which no handler sees.

Input the model is given from a file (a strace log, a bundle, /proc/pid/maps text, a
reproducer) that its reader refuses raises :class:`BadInput`, a ``ValueError`` whose
one-line message names the file, the line and the field; the command line prints it as
it is.
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Iterable
from typing import Any


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


class OutOfMemoryKill(Exception):
    """The OOM killer ended the process with SIGKILL: a fault, or a call that faults pages
    in (MAP_POPULATE, MAP_LOCKED, MADV_POPULATE_*), needed memory the machine no longer had.

    The kernel kills rather than fail the call: a populate never returns ENOMEM to a
    process the OOM killer can pick.  ``addr`` is where the access (or the populated range)
    that needed memory begins, ``needed`` how many pages it needed (at least), ``free`` how
    many were left.  The model keeps what the process held when it was killed.
    """

    signal_name = "SIGKILL"

    def __init__(self, addr: int, needed: int, free: int) -> None:
        free = max(free, 0)
        super().__init__(
            f"{self.signal_name} (out of memory) at {addr:#x}: {needed} pages needed, {free} free"
        )
        self.addr = addr
        self.needed = needed
        self.free = free


class BadInput(ValueError):
    """A file (or text standing for one) its reader refuses: ``source`` names it, ``line``
    is the line (counted from 1) if there is one, ``where`` says more precisely where
    ("field perms", "section maps", "byte 24"), ``problem`` what is wrong there."""

    def __init__(self, source: str, problem: str, line: int | None = None, *where: str) -> None:
        self.source = source
        self.problem = problem
        self.line = line
        self.where = where
        super().__init__(str(self))

    def __str__(self) -> str:
        place = self.source if self.line is None else f"{self.source} line {self.line}"
        return ", ".join((place, *self.where)) + ": " + self.problem

    def __reduce__(self) -> tuple[type[BadInput], tuple[object, ...]]:
        return BadInput, (self.source, self.problem, self.line, *self.where)

    def within(self, source: str, first_line: int, *where: str) -> BadInput:
        """The same complaint about text that is a part of ``source``, starting at its
        line ``first_line`` (a bundle's section)."""
        line = None if self.line is None else self.line + first_line - 1
        return BadInput(source, self.problem, line, *where, *self.where)


def decode_text(data: bytes, source: str, what: str) -> str:
    """A file's bytes as text: ``what`` the file should be is named if they are not UTF-8
    (every format the model reads is)."""
    try:
        return data.decode()
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise BadInput(
            source,
            f"{data[err.start]:#04x} is not UTF-8 text, so this is not {what}",
            line,
            f"byte {err.start}",
        ) from None


class JsonFields:
    """Checks of a JSON document's fields, each complaint a BadInput naming the field's
    path (``calls[3].args[1]``) after ``where`` (the line, the section)."""

    def __init__(self, source: str, line: int | None = None, *where: str) -> None:
        self.source, self.line, self.where = source, line, where

    def fail(self, path: str, problem: str) -> BadInput:
        where = (*self.where, f"field {path}") if path else self.where
        return BadInput(self.source, problem, self.line, *where)

    def keys(
        self, data: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, Any]:
        """``data`` is an object with only the ``allowed`` fields and every ``required``."""
        if not isinstance(data, dict):
            raise self.fail(path, f"{json_kind(data)} where an object was expected")
        allowed = list(allowed)
        for key in data:
            if key not in allowed:
                raise self.fail(
                    f"{path}.{key}" if path else str(key),
                    f"no such field (the fields are {', '.join(allowed)})",
                )
        for key in required:
            if key not in data:
                raise self.fail(f"{path}.{key}" if path else key, "missing")
        return data

    def number(self, value: Any, path: str, low: int = 0, limit: int = 1 << 64) -> int:
        """A whole number in [low, limit)."""
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(path, f"{json_kind(value)} where a whole number was expected")
        if not low <= value < limit:
            raise self.fail(path, f"{value} is not in [{low:#x}, {limit:#x})")
        return value

    def string(self, value: Any, path: str, nullable: bool = False) -> None:
        if not (isinstance(value, str) or (nullable and value is None)):
            raise self.fail(path, f"{json_kind(value)} where a string was expected")

    def array(self, value: Any, path: str, length: int | None = None) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, f"{json_kind(value)} where an array was expected")
        if length is not None and len(value) != length:
            raise self.fail(path, f"{len(value)} items where {length} were expected")
        return value


def json_kind(value: Any) -> str:
    """What a JSON value is, for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    names = {
        int: "a whole number",
        float: "a number with a fraction",
        str: "a string",
        list: "an array",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)


__all__ = [
    "BadInput",
    "BusError",
    "JsonFields",
    "OutOfMemoryKill",
    "SegmentationFault",
    "decode_text",
    "json_kind",
    "syscall_error",
    "_errno",
]
