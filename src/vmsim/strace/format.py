"""One syscall as strace prints it: ``name(args) = result``, padded like strace."""

from __future__ import annotations

import errno
import os

from .flags import madvise_str, map_flags_str, mremap_flags_str, prot_str

RESULT_COLUMN = 39


def ptr(value: int) -> str:
    return "NULL" if value == 0 else f"{value:#x}"


def result_str(result: int | OSError, hex_result: bool) -> str:
    if isinstance(result, OSError):
        err = result.errno or 0
        return f"-1 {errno.errorcode.get(err, str(err))} ({os.strerror(err)})"
    return f"{result:#x}" if hex_result and result else str(result)


def line(call: str, result: int | OSError, hex_result: bool = False) -> str:
    return f"{call.ljust(RESULT_COLUMN)} = {result_str(result, hex_result)}"


def mmap_call(addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> str:
    off = f"{offset:#x}" if offset else "0"
    return f"mmap({ptr(addr)}, {length}, {prot_str(prot)}, {map_flags_str(flags)}, {fd}, {off})"


def munmap_call(addr: int, length: int) -> str:
    return f"munmap({ptr(addr)}, {length})"


def mremap_call(addr: int, old_len: int, new_len: int, flags: int, new_addr: int) -> str:
    # strace shows the fifth argument only when the kernel reads it (MREMAP_FIXED).
    tail = f", {ptr(new_addr)}" if flags & 2 else ""
    return f"mremap({ptr(addr)}, {old_len}, {new_len}, {mremap_flags_str(flags)}{tail})"


def mprotect_call(addr: int, length: int, prot: int) -> str:
    return f"mprotect({ptr(addr)}, {length}, {prot_str(prot)})"


def madvise_call(addr: int, length: int, advice: int) -> str:
    return f"madvise({ptr(addr)}, {length}, {madvise_str(advice)})"


def brk_call(addr: int) -> str:
    return f"brk({ptr(addr)})"
