"""The system-call table: one row per call, as ``syscall_64.tbl`` and the kernel's
``SYSCALL_DEFINEn`` prototypes describe it.

A row holds everything about a call once: its x86-64 number and name, its arguments with
the C types of the kernel's prototype (which decide width, sign and truncation), the
model function that handles it, how strace prints each argument and the result, and
what each errno means for it.  The rest of vmsim derives from the rows: ``Process``'s
methods, the strace reader and writer, replay's dispatch, verify's random calls and
reproducers, and the names and errno texts the views show.  A new call is one row
(:func:`register`) plus its model function in ``mm/``.

Rows without a handler are calls that change an address space (or can) which the
model does not handle yet: a log that makes them is told so, by name and line.
"""

from __future__ import annotations

import errno as errno_mod
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

from ..lib.errname import errname
from . import trace
from .sysargs import (
    ADDRESS,
    FD,
    INT,
    LENGTH,
    MADV_ADVICE,
    MAP_FLAGS,
    MREMAP_FLAGS,
    NUMBER,
    OFFSET,
    POINTER,
    PROT,
    SIZE_T,
    UINT,
    ULONG,
    CType,
    Show,
)

if TYPE_CHECKING:
    from .task import Task

# What an argument is for: verify draws values by it, and the views name it.
ADDR: Final = "addr"
LEN: Final = "len"
FLAGS: Final = "flags"
FILE: Final = "fd"
OFF: Final = "offset"
NUM: Final = "number"

# How a call's result reads: an address (strace prints it in hex) or a number.
RESULT_ADDRESS: Final = "address"
RESULT_NUMBER: Final = "number"

RESULT_COLUMN: Final = 39  # strace pads the call to this column before " = "


class Arg:
    """One argument: its name (as the C library's manual page calls it), its C type in
    the kernel's prototype, how strace prints it, what it is for, and the value a caller
    may leave out (None: required)."""

    __slots__ = ("name", "ctype", "show", "role", "default")

    def __init__(
        self, name: str, ctype: CType, show: Show, role: str, default: int | None = None
    ) -> None:
        self.name = name
        self.ctype = ctype
        self.show = show
        self.role = role
        self.default = default


# A model function: the task, then the converted arguments; the result (None for 0).
Handler = Callable[..., "int | None"]


class Syscall:
    """One row of the table."""

    def __init__(
        self,
        nr: int,
        name: str,
        args: Sequence[Arg],
        handler: Handler | None,
        *,
        result: str = RESULT_NUMBER,
        errors: dict[str, list[str]] | None = None,
        note: str = "",
        shown: Callable[[list[int]], int] | None = None,
        summary: str = "",
    ) -> None:
        self.nr = nr
        self.name = name
        self.args = tuple(args)
        self.handler = handler
        self.result = result
        self.errors: dict[str, list[str]] = errors or {}
        self.note = note  # about the call's failures in general (brk has no errno)
        self.shown = shown  # how many arguments strace prints, when it depends on them
        self.summary = summary
        self.label = f"SYSCALL_DEFINE{len(self.args)}({name})"
        self.required = sum(1 for a in self.args if a.default is None)
        # What a call that leaves arguments out passes for them (0 for required ones).
        self.defaults = [0 if a.default is None else a.ctype.convert(a.default) for a in args]
        # The fewest arguments strace prints (mremap leaves new_address out).
        self.logged = len(self.args) if shown is None else shown([0] * len(self.args))

    @property
    def modelled(self) -> bool:
        return self.handler is not None

    # -- calling ------------------------------------------------------------------------
    def convert(self, raw: Sequence[int]) -> list[int]:
        """The arguments as the kernel's function receives them: each register cast to
        the prototype's type; arguments left out take their defaults."""
        regs = raw if isinstance(raw, list) else list(raw)  # compiled, a list indexes fast
        args = self.args
        n = len(regs)
        if n < self.required or n > len(args):
            raise ValueError(
                f"{self.name}() takes {self.required} to {len(args)} arguments, got {n}"
                if self.required < len(args)
                else f"{self.name}() takes {len(args)} arguments, got {n}"
            )
        values = self.defaults[:]
        i = 0
        try:
            while i < n:
                values[i] = args[i].ctype.convert(regs[i])
                i += 1
        except ValueError as err:
            raise ValueError(f"{self.name}() argument {args[i].name}: {err}") from None
        return values

    def call(self, task: Task, raw: Sequence[int]) -> int:
        """Run the call on ``task``: its result, or OSError with the kernel's errno."""
        values = self.convert(raw)
        if trace.tracing():
            return self.traced(task, values)
        return self.run(task, values)

    def traced(self, task: Task, values: list[int]) -> int:
        """Run the call as the SYSCALL_DEFINE node of the active trace (a function of its
        own: compiled, the closure would otherwise be built on every call)."""
        return trace.record(self.label, self.format_args(values), lambda: self.run(task, values))

    def run(self, task: Task, v: list[int]) -> int:
        handler = self.handler
        if handler is None:
            raise NotImplementedError(f"{self.name}() is not modelled yet")
        # Spelled out by arity: compiled, a direct call passes the values along where
        # handler(task, *v) would build a tuple through the interpreter.
        n = len(v)
        if n == 3:
            result = handler(task, v[0], v[1], v[2])
        elif n == 6:
            result = handler(task, v[0], v[1], v[2], v[3], v[4], v[5])
        elif n == 2:
            result = handler(task, v[0], v[1])
        elif n == 5:
            result = handler(task, v[0], v[1], v[2], v[3], v[4])
        elif n == 1:
            result = handler(task, v[0])
        elif n == 4:
            result = handler(task, v[0], v[1], v[2], v[3])
        else:
            result = handler(task, *v)
        return 0 if result is None else result

    # -- strace's text --------------------------------------------------------------------
    def format_args(self, values: Sequence[int]) -> str:
        n = len(self.args) if self.shown is None else self.shown(list(values))
        return ", ".join(self.args[i].show.text(values[i]) for i in range(n))

    def format_call(self, values: Sequence[int]) -> str:
        return f"{self.name}({self.format_args(values)})"

    def format_result(self, result: int | OSError) -> str:
        if isinstance(result, OSError):
            err = result.errno or 0
            return f"-1 {errname(err)} ({os.strerror(err)})"
        if self.result == RESULT_ADDRESS and result:
            return f"{result & ULONG.mask:#x}"
        return str(result)

    def strace_line(self, values: Sequence[int], result: int | OSError) -> str:
        """The call as ``strace`` prints it, padded to the result column."""
        return f"{self.format_call(values).ljust(RESULT_COLUMN)} = {self.format_result(result)}"

    # -- C ----------------------------------------------------------------------------------
    def prototype(self) -> str:
        params = ", ".join(f"{a.ctype.name} {a.name}" for a in self.args) or "void"
        return f"long {self.name}({params})"

    def c_call(self, raw: Sequence[int]) -> str:
        """The call as a C expression for a reproducer: the raw syscall, each register
        as the caller filled it (the kernel casts them itself)."""
        values = [f"{v & ULONG.mask:#x}UL" for v in raw]
        values += [
            f"{a.default & ULONG.mask:#x}UL" for a in self.args[len(raw) :] if a.default is not None
        ]
        return f"syscall({self.nr} /* {self.name} */{''.join(', ' + v for v in values)})"

    def explain(self, errno_name: str) -> list[str]:
        """Why the call fails with ``errno_name`` in the model (empty if it never does)."""
        return self.errors.get(errno_name, [])

    def __repr__(self) -> str:
        return f"<syscall {self.nr} {self.name}>"


SYSCALLS: dict[str, Syscall] = {}
BY_NUMBER: dict[int, Syscall] = {}


def register(row: Syscall) -> Syscall:
    """Add a row (or replace the row of that name): it is callable from then on."""
    old = SYSCALLS.get(row.name)
    if old is not None:
        BY_NUMBER.pop(old.nr, None)
    SYSCALLS[row.name] = row
    BY_NUMBER[row.nr] = row
    return row


def unregister(name: str) -> None:
    row = SYSCALLS.pop(name)
    BY_NUMBER.pop(row.nr, None)


def lookup(name: str) -> Syscall:
    """The row of ``name``, or of ``syscall_0x1ce`` as a strace that does not know the
    call prints it (KeyError if the table has neither)."""
    row = SYSCALLS.get(name)
    if row is None and name.startswith("syscall_0x"):
        try:
            row = BY_NUMBER.get(int(name[8:], 16))
        except ValueError:
            row = None
    if row is None:
        raise KeyError(name)
    return row


def canonical_name(name: str) -> str:
    """The table's name for a call strace printed as ``name`` (unknown names as they are)."""
    if name.startswith("syscall_0x"):
        try:
            return lookup(name).name
        except KeyError:
            return name
    return name


def modelled() -> list[Syscall]:
    return [row for row in SYSCALLS.values() if row.modelled]


def unmodelled() -> list[Syscall]:
    return [row for row in SYSCALLS.values() if not row.modelled]


def constants() -> dict[str, int]:
    """Every name the rows' printers print, with its value (for the strace reader)."""
    found: dict[str, int] = {}
    for row in SYSCALLS.values():
        for arg in row.args:
            found.update(arg.show.constants())
    return found


def strerror(name: str) -> str:
    number = getattr(errno_mod, name, None)
    return os.strerror(number) if isinstance(number, int) else name


# -- the rows ----------------------------------------------------------------------------


def _rows() -> None:
    from ..mm.madvise import sys_madvise
    from ..mm.mmap import sys_brk, sys_mmap, sys_munmap
    from ..mm.mprotect import sys_mprotect
    from ..mm.mremap import sys_mremap
    from ..mm.mseal import sys_mseal

    split_limit = "splitting a VMA would pass vm.max_map_count"
    special = "it would cut a special mapping ([vdso], [vvar]) in two"
    sealed = "a mapping in the range is sealed (mseal)"
    not_aligned = "the address is not a multiple of the page size (4096)"

    def addr(name: str = "addr") -> Arg:
        return Arg(name, POINTER, ADDRESS, ADDR)

    def length(name: str = "len", ctype: CType = SIZE_T) -> Arg:
        return Arg(name, ctype, LENGTH, LEN)

    register(
        Syscall(
            9,
            "mmap",
            [
                addr(),
                length("length", ULONG),
                Arg("prot", ULONG, PROT, FLAGS),
                Arg("flags", ULONG, MAP_FLAGS, FLAGS),
                Arg("fd", ULONG, FD, FILE, default=-1),
                Arg("offset", ULONG, OFFSET, OFF, default=0),
            ],
            sys_mmap,
            result=RESULT_ADDRESS,
            summary="map files or anonymous memory",
            errors={
                "EINVAL": [
                    "the length is 0, or the file offset is not page-aligned",
                    "the mapping type is none of MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, "
                    "MAP_DROPPABLE",
                    "MAP_GROWSDOWN on a shared or file mapping; MAP_DROPPABLE with MAP_LOCKED, "
                    "MAP_HUGETLB or MAP_GROWSDOWN",
                    "MAP_HUGETLB on a file that is not on hugetlbfs, or with a huge-page size "
                    "this machine lacks",
                    f"MAP_FIXED over part of a special mapping: {special}",
                ],
                "ENOMEM": [
                    "no free range is large enough (the gap search failed), or a MAP_FIXED "
                    "range ends above the address space",
                    "the length rounds up to 0 or is larger than the address space",
                    "the process already has more than vm.max_map_count mappings",
                    "RLIMIT_AS or RLIMIT_DATA would be exceeded, or the overcommit policy "
                    "refuses the commit charge",
                    "MAP_HUGETLB: the huge-page pool is empty",
                ],
                "EEXIST": ["MAP_FIXED_NOREPLACE and the range overlaps an existing mapping"],
                "EPERM": [
                    "the address is below vm.mmap_min_addr without CAP_SYS_RAWIO",
                    "MAP_LOCKED without the right to lock memory",
                ],
                "EAGAIN": ["MAP_LOCKED and the locked memory would pass RLIMIT_MEMLOCK"],
                "EBADF": ["not MAP_ANONYMOUS, and the fd is not an open file"],
                "EACCES": [
                    "the file is not open for reading",
                    "MAP_SHARED with PROT_WRITE on a file not open for writing",
                ],
                "EOVERFLOW": [
                    "offset + length overflows the page index, or passes the largest file size"
                ],
                "EOPNOTSUPP": ["MAP_SHARED_VALIDATE with a flag the kernel does not know"],
            },
        )
    )
    register(
        Syscall(
            11,
            "munmap",
            [addr(), length("length")],
            sys_munmap,
            summary="unmap a range",
            errors={
                "EINVAL": [
                    not_aligned,
                    "the length is 0, or the range passes the end of the address space",
                    special,
                ],
                "ENOMEM": [f"unmapping the middle of a VMA: {split_limit}"],
                "EPERM": [sealed],
            },
        )
    )
    register(
        Syscall(
            25,
            "mremap",
            [
                addr("old_address"),
                length("old_size", ULONG),
                length("new_size", ULONG),
                Arg("flags", ULONG, MREMAP_FLAGS, FLAGS, default=0),
                Arg("new_address", ULONG, ADDRESS, ADDR, default=0),
            ],
            sys_mremap,
            result=RESULT_ADDRESS,
            # strace prints new_address only with both MREMAP_MAYMOVE and MREMAP_FIXED.
            shown=lambda v: 5 if v[3] & 3 == 3 else 4,
            summary="grow, shrink or move a mapping",
            errors={
                "EINVAL": [
                    "a flag other than MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP",
                    f"old_address: {not_aligned}",
                    "new_size is 0 or larger than the address space",
                    "MREMAP_FIXED or MREMAP_DONTUNMAP: new_address not page-aligned or the "
                    "new range passes the end, MREMAP_MAYMOVE missing, or the old and new "
                    "ranges overlap",
                    "MREMAP_DONTUNMAP with old_size != new_size, or on a "
                    "VM_DONTEXPAND/VM_PFNMAP mapping",
                    "old_size 0 (make a second view) on a private mapping: only shared "
                    "memory can be duplicated",
                    f"moving part of a special mapping: {special}",
                ],
                "EFAULT": [
                    "nothing is mapped at old_address",
                    "growing or moving: the old range runs past the end of its VMA (into a "
                    "gap or another mapping)",
                    "growing a VM_DONTEXPAND or VM_PFNMAP mapping ([vdso], [vvar])",
                    "MREMAP_FIXED with old_size == new_size: the range starts in a gap",
                ],
                "ENOMEM": [
                    "growing in place is blocked by the next mapping and MREMAP_MAYMOVE is "
                    "not given",
                    "no free range is large enough to move to",
                    "the move could need more than vm.max_map_count mappings",
                    "RLIMIT_AS or RLIMIT_DATA would be exceeded, or the overcommit policy "
                    "refuses the extra commit charge",
                ],
                "EAGAIN": ["growing a locked mapping past RLIMIT_MEMLOCK"],
                "EPERM": ["the mapping at old_address is sealed (mseal)"],
            },
        )
    )
    register(
        Syscall(
            10,
            "mprotect",
            [addr(), length(), Arg("prot", ULONG, PROT, FLAGS)],
            sys_mprotect,
            summary="change the access rights of a range",
            errors={
                "EINVAL": [
                    not_aligned,
                    "prot has bits other than PROT_READ, PROT_WRITE, PROT_EXEC, PROT_SEM, or "
                    "both PROT_GROWSDOWN and PROT_GROWSUP",
                    "PROT_GROWSDOWN on a mapping that does not grow down",
                    special,
                ],
                "ENOMEM": [
                    "part of the range is not mapped (the mappings before the hole are changed)",
                    "the range wraps past the end of the address space",
                    split_limit,
                    "becoming writable: RLIMIT_AS/RLIMIT_DATA or the commit charge refuses",
                ],
                "EACCES": [
                    "a right the mapping may never have: PROT_WRITE on a MAP_SHARED mapping "
                    "of a file open read-only"
                ],
                "EPERM": [sealed],
            },
        )
    )
    register(
        Syscall(
            28,
            "madvise",
            [addr(), length("length"), Arg("advice", INT, MADV_ADVICE, FLAGS)],
            sys_madvise,
            summary="advise the kernel about a range (discard, populate, flags)",
            errors={
                "EINVAL": [
                    "advice the model does not know or support (MADV_COLLAPSE, guard regions, ...)",
                    not_aligned,
                    "the range wraps past the end of the address space",
                    "the advice does not fit the mapping: MADV_DONTNEED/MADV_FREE on locked "
                    "or VM_PFNMAP memory, MADV_FREE on file memory, MADV_WIPEONFORK on shared "
                    "or file memory, MADV_REMOVE on private or locked memory, "
                    "MADV_POPULATE_* without the permission it needs",
                    special,
                ],
                "ENOMEM": [
                    "part of the range is not mapped (the advice is still applied to the "
                    "mapped parts)"
                ],
                "EACCES": ["MADV_REMOVE on a mapping that is not shared and writable"],
                "EPERM": [
                    "discarding advice (MADV_DONTNEED, MADV_FREE, ...) on sealed read-only "
                    "anonymous memory"
                ],
                "EFAULT": ["MADV_POPULATE_*: a page lies beyond the end of its file"],
            },
        )
    )
    register(
        Syscall(
            12,
            "brk",
            [addr()],
            sys_brk,
            result=RESULT_ADDRESS,
            summary="move the end of the heap",
            note="brk() never fails with an errno: when the kernel refuses (RLIMIT_DATA, no "
            "room below the next mapping) it returns the break unchanged.",
        )
    )
    register(
        Syscall(
            462,
            "mseal",
            [addr(), length(), Arg("flags", ULONG, LENGTH, FLAGS, default=0)],
            sys_mseal,
            summary="seal mappings against change",
            errors={
                "EINVAL": [
                    "flags are not 0",
                    not_aligned,
                    "the range wraps past the end of the address space",
                ],
                "ENOMEM": ["part of the range is not mapped (nothing is sealed)"],
            },
        )
    )

    # Calls that change an address space which the model does not handle yet.
    def flags(name: str, ctype: CType = INT) -> Arg:
        return Arg(name, ctype, NUMBER if ctype.bits == 32 else LENGTH, FLAGS)

    def number(name: str, ctype: CType = INT) -> Arg:
        return Arg(name, ctype, NUMBER if ctype.bits == 32 else LENGTH, NUM)

    for nr, name, args in (
        (149, "mlock", [addr("start"), length()]),
        (150, "munlock", [addr("start"), length()]),
        (151, "mlockall", [flags("flags")]),
        (152, "munlockall", []),
        (325, "mlock2", [addr("start"), length(), flags("flags")]),
        (
            237,
            "mbind",
            [
                addr("start"),
                length("len", ULONG),
                number("mode", ULONG),
                addr("nmask"),
                number("maxnode", ULONG),
                flags("flags", UINT),
            ],
        ),
        (
            329,
            "pkey_mprotect",
            [addr("start"), length(), Arg("prot", ULONG, PROT, FLAGS), number("pkey")],
        ),
        (30, "shmat", [number("shmid"), addr("shmaddr"), flags("shmflg")]),
        (67, "shmdt", [addr("shmaddr")]),
        (
            216,
            "remap_file_pages",
            [
                addr("start"),
                length("size", ULONG),
                Arg("prot", ULONG, PROT, FLAGS),
                number("pgoff", ULONG),
                flags("flags", ULONG),
            ],
        ),
        (
            440,
            "process_madvise",
            [
                Arg("pidfd", INT, FD, FILE),
                addr("vec"),
                length("vlen"),
                Arg("behavior", INT, MADV_ADVICE, FLAGS),
                flags("flags", UINT),
            ],
        ),
        (453, "map_shadow_stack", [addr(), length("size", ULONG), flags("flags", UINT)]),
    ):
        register(Syscall(nr, name, args, None))


_rows()
