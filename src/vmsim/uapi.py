"""User-visible constants with the values of the x86-64 kernel headers.

include/uapi/asm-generic/mman-common.h, include/uapi/linux/mman.h and
arch/x86/include/uapi/asm/mman.h.
"""

from __future__ import annotations

from typing import Final

PROT_NONE: Final = 0x0
PROT_READ: Final = 0x1
PROT_WRITE: Final = 0x2
PROT_EXEC: Final = 0x4
PROT_SEM: Final = 0x8
PROT_GROWSDOWN: Final = 0x01000000
PROT_GROWSUP: Final = 0x02000000

MAP_SHARED: Final = 0x01
MAP_PRIVATE: Final = 0x02
MAP_SHARED_VALIDATE: Final = 0x03
MAP_DROPPABLE: Final = 0x08
MAP_TYPE: Final = 0x0F
MAP_FIXED: Final = 0x10
MAP_ANONYMOUS: Final = 0x20
MAP_ANON: Final = MAP_ANONYMOUS
MAP_32BIT: Final = 0x40
MAP_ABOVE4G: Final = 0x80
MAP_GROWSDOWN: Final = 0x0100
MAP_DENYWRITE: Final = 0x0800
MAP_EXECUTABLE: Final = 0x1000
MAP_LOCKED: Final = 0x2000
MAP_NORESERVE: Final = 0x4000
MAP_POPULATE: Final = 0x8000
MAP_NONBLOCK: Final = 0x10000
MAP_STACK: Final = 0x20000
MAP_HUGETLB: Final = 0x40000
MAP_SYNC: Final = 0x80000
MAP_FIXED_NOREPLACE: Final = 0x100000
MAP_UNINITIALIZED: Final = 0x4000000

MAP_FAILED: Final = (1 << 64) - 1

MREMAP_MAYMOVE: Final = 1
MREMAP_FIXED: Final = 2
MREMAP_DONTUNMAP: Final = 4

MADV_NORMAL: Final = 0
MADV_RANDOM: Final = 1
MADV_SEQUENTIAL: Final = 2
MADV_WILLNEED: Final = 3
MADV_DONTNEED: Final = 4
MADV_FREE: Final = 8
MADV_REMOVE: Final = 9
MADV_DONTFORK: Final = 10
MADV_DOFORK: Final = 11
MADV_MERGEABLE: Final = 12
MADV_UNMERGEABLE: Final = 13
MADV_HUGEPAGE: Final = 14
MADV_NOHUGEPAGE: Final = 15
MADV_DONTDUMP: Final = 16
MADV_DODUMP: Final = 17
MADV_WIPEONFORK: Final = 18
MADV_KEEPONFORK: Final = 19
MADV_COLD: Final = 20
MADV_PAGEOUT: Final = 21
MADV_POPULATE_READ: Final = 22
MADV_POPULATE_WRITE: Final = 23
MADV_DONTNEED_LOCKED: Final = 24
MADV_COLLAPSE: Final = 25
MADV_HWPOISON: Final = 100
MADV_SOFT_OFFLINE: Final = 101
MADV_GUARD_INSTALL: Final = 102
MADV_GUARD_REMOVE: Final = 103

O_RDONLY: Final = 0o0
O_WRONLY: Final = 0o1
O_RDWR: Final = 0o2
O_ACCMODE: Final = 0o3
O_CLOEXEC: Final = 0o2000000
F_DUPFD: Final = 0  # fcntl() commands
F_SETFD: Final = 2
F_DUPFD_CLOEXEC: Final = 1030
FD_CLOEXEC: Final = 1

PAGE_SHIFT: Final = 12
PAGE_SIZE: Final = 1 << PAGE_SHIFT
# The masks are negative numbers: the same bits as the kernel's for any unsigned long,
# and compiled code applies them without a big-integer operation.
PAGE_MASK: Final = ~(PAGE_SIZE - 1)
PMD_SHIFT: Final = 21
PMD_SIZE: Final = 1 << PMD_SHIFT
PMD_MASK: Final = ~(PMD_SIZE - 1)
PUD_SHIFT: Final = 30
PUD_SIZE: Final = 1 << PUD_SHIFT
PUD_MASK: Final = ~(PUD_SIZE - 1)
PGDIR_SHIFT: Final = 39
PGDIR_SIZE: Final = 1 << PGDIR_SHIFT
ULONG_MAX: Final = (1 << 64) - 1


# What `from vmsim.uapi import *` (and so the package) exports: the kernel's constants,
# not the helpers below them.
__all__ = [
    "PROT_NONE",
    "PROT_READ",
    "PROT_WRITE",
    "PROT_EXEC",
    "PROT_SEM",
    "PROT_GROWSDOWN",
    "PROT_GROWSUP",
    "MAP_SHARED",
    "MAP_PRIVATE",
    "MAP_SHARED_VALIDATE",
    "MAP_DROPPABLE",
    "MAP_TYPE",
    "MAP_FIXED",
    "MAP_ANONYMOUS",
    "MAP_ANON",
    "MAP_32BIT",
    "MAP_ABOVE4G",
    "MAP_GROWSDOWN",
    "MAP_DENYWRITE",
    "MAP_EXECUTABLE",
    "MAP_LOCKED",
    "MAP_NORESERVE",
    "MAP_POPULATE",
    "MAP_NONBLOCK",
    "MAP_STACK",
    "MAP_HUGETLB",
    "MAP_SYNC",
    "MAP_FIXED_NOREPLACE",
    "MAP_UNINITIALIZED",
    "MAP_FAILED",
    "MREMAP_MAYMOVE",
    "MREMAP_FIXED",
    "MREMAP_DONTUNMAP",
    "MADV_NORMAL",
    "MADV_RANDOM",
    "MADV_SEQUENTIAL",
    "MADV_WILLNEED",
    "MADV_DONTNEED",
    "MADV_FREE",
    "MADV_REMOVE",
    "MADV_DONTFORK",
    "MADV_DOFORK",
    "MADV_MERGEABLE",
    "MADV_UNMERGEABLE",
    "MADV_HUGEPAGE",
    "MADV_NOHUGEPAGE",
    "MADV_DONTDUMP",
    "MADV_DODUMP",
    "MADV_WIPEONFORK",
    "MADV_KEEPONFORK",
    "MADV_COLD",
    "MADV_PAGEOUT",
    "MADV_POPULATE_READ",
    "MADV_POPULATE_WRITE",
    "MADV_DONTNEED_LOCKED",
    "MADV_COLLAPSE",
    "MADV_HWPOISON",
    "MADV_SOFT_OFFLINE",
    "MADV_GUARD_INSTALL",
    "MADV_GUARD_REMOVE",
    "O_RDONLY",
    "O_WRONLY",
    "O_RDWR",
    "O_ACCMODE",
    "O_CLOEXEC",
    "F_DUPFD",
    "F_SETFD",
    "F_DUPFD_CLOEXEC",
    "FD_CLOEXEC",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "PAGE_MASK",
    "PMD_SHIFT",
    "PMD_SIZE",
    "PMD_MASK",
    "PUD_SHIFT",
    "PUD_SIZE",
    "PUD_MASK",
    "PGDIR_SHIFT",
    "PGDIR_SIZE",
    "ULONG_MAX",
]


# The largest integer compiled code keeps unboxed (mypyc's tagged integers have 63 bits).
# Comparing or masking a larger one takes a slow general path, so the helpers below test
# against this first: addresses and sizes are nearly always below it.
SMALL_INT_MAX: Final = (1 << 62) - 1


def ulong(value: int) -> int:
    """The unsigned long a C argument becomes (-1 is ULONG_MAX)."""
    return value if 0 <= value <= SMALL_INT_MAX else value & ULONG_MAX


def page_align(n: int) -> int:
    """PAGE_ALIGN() on an unsigned long: wraps to 0 above ULONG_MAX - 4095."""
    return ulong((n + PAGE_SIZE - 1) & PAGE_MASK)
