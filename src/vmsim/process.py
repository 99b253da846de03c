"""The public face of the model: a process and its memory-mapping system calls."""

from __future__ import annotations

import copy
import errno
import inspect
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from .arch.x86.mmap import TASK_SIZE_4LEVEL, arch_pick_mmap_layout
from .errors import OutOfMemoryKill, syscall_error
from .fs.file import Inode, OpenFile
from .fs.proc.task_mmu import show_maps, show_smaps, show_vma_header, smaps_rss
from .kernel import syscalls
from .kernel.fork import copy_process, mm_alloc
from .kernel.sys import do_prlimit
from .kernel.sysargs import POINTER, UINT, ULONG
from .kernel.task import SignalStruct, Task
from .kernel.trace import Trace
from .mm import vma as vmalib
from .mm.debug import validate_mm
from .mm.filemap import written_folios
from .mm.memory import access_vm
from .mm.mm_types import RLIMIT_STACK, Credentials, KernelConfig, MmStruct, VmAreaStruct
from .mm.page import ZERO_PAGE
from .uapi import O_RDWR

MAX_LFS_FILESIZE: Final = (1 << 63) - 1

if TYPE_CHECKING:
    from .fs.exec import ExecImage

DEFAULT_START_BRK = 0x555555559000  # end of a small PIE's bss with ASLR off


class Process:
    """One process (a task and its address space), driven by the same calls a program
    makes.

    Every system call of the table (:mod:`vmsim.kernel.syscalls`) is a method with the
    C call's name and arguments (``p.mmap(addr, length, prot, flags, fd, offset)``), and
    ``p.syscall(name, *args)`` makes any of them.  Every failing call raises ``OSError``
    with the kernel's errno and leaves the model as the kernel would.  A call or access
    that needs memory past what the machine has (``KernelConfig.available_pages``) raises
    ``OutOfMemoryKill``: the OOM killer's SIGKILL.  ``strace`` (a callable taking one line)
    receives each call as strace would print it.
    """

    def __init__(
        self,
        *,
        rlimit_stack: int = 8 << 20,
        legacy_layout: bool = False,
        start_brk: int = DEFAULT_START_BRK,
        start_stack: int = TASK_SIZE_4LEVEL - 1,
        config: KernelConfig | None = None,
        creds: Credentials | None = None,
        gate_vma: bool = True,
        strace: Callable[[str], None] | None = None,
        task: Task | None = None,
    ) -> None:
        if task is None:
            mm = mm_alloc(config or KernelConfig())
            mm.start_brk = mm.brk = start_brk
            mm.start_stack = start_stack
            signal = SignalStruct()
            signal.rlim[RLIMIT_STACK] = (rlimit_stack, signal.rlim[RLIMIT_STACK][1])
            task = Task(mm, signal=signal, cred=creds)
            arch_pick_mmap_layout(mm, rlimit_stack, legacy_layout)
        self.task = task
        self.gate_vma = gate_vma
        self.strace = strace

    # The task's parts, by the names the model's users know them.
    @property
    def mm(self) -> MmStruct:
        return self.task.mm

    @property
    def files(self) -> dict[str, Inode]:
        """The files every process sees, by path."""
        return self.task.vfs

    @files.setter
    def files(self, files: dict[str, Inode]) -> None:
        self.task.vfs = files

    @property
    def fds(self) -> dict[int, OpenFile]:
        """The fd table: the open file behind each fd."""
        return self.task.files.fdt

    @classmethod
    def from_maps(cls, maps_text: str, smaps_text: str | None = None, **kwargs: Any) -> Process:
        """A process whose address space is the one a real /proc/pid/maps (and smaps) shows."""
        from .restore import restore_process

        return restore_process(cls, maps_text, smaps_text, **kwargs)

    @classmethod
    def execve(
        cls,
        filename: str,
        argv: Sequence[str | bytes],
        envp: Sequence[str | bytes],
        open_exec: Callable[[str], ExecImage | None] | None = None,
        *,
        rlimit_stack: int = 8 << 20,
        legacy_layout: bool = False,
        config: KernelConfig | None = None,
        creds: Credentials | None = None,
        files: dict[str, Inode] | None = None,
    ) -> Process:
        """A process as execve(filename, argv, envp) leaves it with ASLR off: the program
        and its interpreter mapped, [vdso], [vvar], the stack holding the strings.

        ``open_exec(path)`` gives the ELF headers (or ``#!`` line) of the file at a path;
        by default they are read from this machine's files.  ``files`` shares inodes with
        other processes.
        """
        from .fs.exec import do_execve, read_exec_image

        proc = cls(
            rlimit_stack=rlimit_stack, legacy_layout=legacy_layout, config=config, creds=creds
        )
        if files is not None:
            proc.files = files
        do_execve(
            proc.task,
            filename,
            [os.fsencode(a) for a in argv],
            [os.fsencode(e) for e in envp],
            open_exec or read_exec_image,
            legacy_layout,
        )
        return proc

    def fork(self) -> Process:
        """The child of fork(), or of clone() without CLONE_VM: a copy of this address space
        (dup_mm()) and of the fd table, sharing the open files themselves."""
        return Process(gate_vma=self.gate_vma, strace=self.strace, task=copy_process(self.task, 0))

    def __deepcopy__(self, memo: dict[int, Any]) -> Process:
        """A copy of the process to try calls on, sharing files as a forked child does."""
        new = Process(
            gate_vma=self.gate_vma, strace=self.strace, task=copy.deepcopy(self.task, memo)
        )
        memo[id(self)] = new
        return new

    # -- files --------------------------------------------------------------------------
    def create_file(self, path: str, data: bytes = b"", size: int | None = None) -> Inode:
        """A regular file holding ``data``, its page cache as one write() of it left it;
        ``size`` makes it longer (a sparse tail) or shorter than ``data``."""
        if size is not None and not 0 <= size <= MAX_LFS_FILESIZE:
            raise ValueError(f"a file size of {size} bytes")
        inode = Inode(path, data, size)
        inode.folio_orders = written_folios(len(data))
        self.files[path] = inode
        return inode

    def open(self, file: str | Inode, flags: int = O_RDWR) -> int:
        """An fd for a file made with create_file() (by path) or an Inode shared with others."""
        if isinstance(file, str):
            if file not in self.files:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), file)
            inode = self.files[file]
        else:
            inode = file
        files = self.task.files
        fd = files.alloc_fd(3)
        files.fd_install(fd, OpenFile(inode, flags))
        return fd

    def close(self, fd: int) -> None:
        if self.task.files.close_fd(fd) is None:
            raise syscall_error(errno.EBADF)

    # -- system calls -------------------------------------------------------------------
    def syscall(self, name: str, *args: int) -> int:
        """Make the call ``name`` of the system-call table with these arguments (as the C
        caller passes them; each is cast to the type the kernel's prototype gives it)."""
        return self.call_row(syscalls.lookup(name), args)

    def call_row(self, row: syscalls.Syscall, args: Sequence[int]) -> int:
        """Make the call of ``row`` (what :meth:`syscall` and the call methods share)."""
        if self.strace is None:
            return row.call(self.task, args)
        values = row.convert(args)
        try:
            result = row.call(self.task, values)
        except OSError as err:
            self.strace(row.strace_line(values, err))
            raise
        except OutOfMemoryKill:
            # The call never returns: strace shows it unfinished, then the death.
            self.strace(f"{row.format_call(values).ljust(syscalls.RESULT_COLUMN)} = ?")
            self.strace(f"+++ killed by {OutOfMemoryKill.signal_name} +++")
            raise
        self.strace(row.strace_line(values, result))
        return result

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """A call added to the table after this class was made (see :func:`install_calls`)."""
        row = syscalls.SYSCALLS.get(name)
        if row is None or not row.modelled:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return call_method(row).__get__(self)

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        """Change a limit the mm code consults (RLIMIT_AS, RLIMIT_DATA, RLIMIT_MEMLOCK, ...).

        As in the kernel, a new RLIMIT_STACK does not move mmap_base: that was chosen at exec.
        A resource past RLIM_NLIMITS or soft above hard is EINVAL; raising a hard limit
        needs CAP_SYS_RESOURCE (EPERM), which root on our machines lacks.
        """
        do_prlimit(self.task, UINT.convert(resource), ULONG.convert(soft), ULONG.convert(hard))

    # -- memory -------------------------------------------------------------------------
    def read(self, addr: int, n: int) -> bytes:
        """A user-mode load of ``n`` bytes at ``addr`` (a 64-bit address): faults pages in,
        raises SegmentationFault where the CPU would, OutOfMemoryKill where a page table
        finds no memory."""
        return access_vm(self.mm, user_address(addr), None, load_size(n))

    def write(self, addr: int, data: bytes) -> None:
        """A user-mode store of ``data`` at ``addr``; OutOfMemoryKill (the OOM killer's
        SIGKILL) when a page it needs finds no memory left (KernelConfig.oom_pages())."""
        access_vm(self.mm, user_address(addr), bytes(data), len(data))

    # -- what /proc shows -----------------------------------------------------------------
    def vmas(self) -> list[VmAreaStruct]:
        return list(vmalib.all_vmas(self.mm))

    def maps(self) -> str:
        return show_maps(self.mm, vmalib.all_vmas(self.mm), self.gate_vma)

    def smaps(self) -> str:
        return show_smaps(self.mm, vmalib.all_vmas(self.mm), self.gate_vma)

    def rss_by_range(
        self, wanted: Callable[[int, int], bool] | None = None
    ) -> dict[tuple[int, int], int]:
        """Each VMA's smaps Rss in kB, keyed by (start, end); only the ``wanted`` ones."""
        mm = self.mm
        return {
            (v.vm_start, v.vm_end): smaps_rss(mm, v) >> 10
            for v in vmalib.all_vmas(mm)
            if wanted is None or wanted(v.vm_start, v.vm_end)
        }

    def maps_between(self, lo: int, hi: int) -> list[str]:
        """The /proc/pid/maps lines of the VMAs meeting [lo, hi)."""
        mm = self.mm
        return [show_vma_header(mm, v) for v in vmalib.vmas_in_range(mm, lo, hi)]

    def rss_between(
        self, lo: int, hi: int, wanted: Callable[[int, int], bool]
    ) -> dict[tuple[int, int], int]:
        """Like :meth:`rss_by_range`, for the ``wanted`` VMAs meeting [lo, hi)."""
        mm = self.mm
        return {
            (v.vm_start, v.vm_end): smaps_rss(mm, v) >> 10
            for v in vmalib.vmas_in_range(mm, lo, hi)
            if wanted(v.vm_start, v.vm_end)
        }

    def resident_pages(self, start: int, end: int) -> list[int]:
        """Addresses of the pages in [start, end) that smaps counts as resident (the shared
        zero page is mapped but not counted)."""
        return [a for a, page in self.mm.pgtables.present(start, end) if page is not ZERO_PAGE]

    def trace(self) -> Trace:
        """``with p.trace() as t:`` records the model's kernel call flow."""
        return Trace()

    def check(self) -> None:
        """Raise AssertionError if any invariant of the model is broken."""
        validate_mm(self.mm)


def load_size(n: int) -> int:
    """How many bytes a load asks for (never fewer than none)."""
    if n < 0:
        raise ValueError(f"a load of {n} bytes")
    return n


def user_address(addr: int) -> int:
    """An address as the CPU takes it from a register (-1 is the last byte)."""
    try:
        return POINTER.convert(addr)
    except ValueError as err:
        raise ValueError(f"address: {err}") from None


def call_method(row: syscalls.Syscall, owner: str = "Process") -> Callable[..., int]:
    """A method of ``owner`` making the call of ``row`` through its ``call_row()``, with
    the C call's signature."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)]
    params += [
        inspect.Parameter(
            arg.name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=inspect.Parameter.empty if arg.default is None else arg.default,
            annotation="int",
        )
        for arg in row.args
    ]
    signature = inspect.Signature(params, return_annotation="int")

    def method(self: Any, *args: int, **kwargs: int) -> int:
        if kwargs:
            args = tuple(signature.bind(self, *args, **kwargs).args[1:])
        result: int = self.call_row(row, args)
        return result

    method.__name__ = row.name
    method.__qualname__ = f"{owner}.{row.name}"
    method.__signature__ = signature  # type: ignore[attr-defined]
    failures = ", ".join(row.errors) or "none"
    method.__doc__ = (
        f"{row.summary[:1].upper()}{row.summary[1:]}: system call {row.nr}, "
        f"``{row.prototype()}``.\n\nErrors (OSError): {failures}."
    ) + (f" {row.note}" if row.note else "")
    return method


def install_calls(cls: type, rows: Iterable[syscalls.Syscall]) -> None:
    """Give ``cls`` (a class with a ``call_row(row, args)`` method) a method for each of
    these calls of the table."""
    for row in rows:
        if not hasattr(cls, row.name):
            setattr(cls, row.name, call_method(row, cls.__name__))


install_calls(Process, syscalls.modelled())
