"""The public face of the model: a process and its memory-mapping system calls."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .arch.x86.mmap import TASK_SIZE_4LEVEL, mmap_base, mmap_legacy_base
from .fs.file import Inode, OpenFile
from .fs.proc.task_mmu import show_maps, show_smaps, show_vma_header, smaps_rss
from .kernel.trace import Trace
from .mm import vma as vmalib
from .mm.debug import validate_mm
from .mm.filemap import written_folios
from .mm.madvise import do_madvise
from .mm.memory import access_vm
from .mm.mm_types import (
    RLIMIT_STACK,
    Credentials,
    KernelConfig,
    MmStruct,
    VmAreaStruct,
    default_rlimits,
)
from .mm.mmap import sys_brk, sys_mmap, sys_munmap
from .mm.mprotect import do_mprotect_pkey
from .mm.mremap import sys_mremap
from .mm.mseal import do_mseal
from .mm.page import ZERO_PAGE
from .strace import format as fmt
from .uapi import O_RDWR, ulong

if TYPE_CHECKING:
    from .fs.exec import ExecImage

DEFAULT_START_BRK = 0x555555559000  # end of a small PIE's bss with ASLR off


class Process:
    """One address space, driven by the same calls a program makes.

    Every failing call raises ``OSError`` with the kernel's errno and leaves
    the model as the kernel would.  ``strace`` (a callable taking one line)
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
    ) -> None:
        config = config or KernelConfig()
        rlimits = default_rlimits()
        rlimits[RLIMIT_STACK] = (rlimit_stack, rlimits[RLIMIT_STACK][1])
        task_size = TASK_SIZE_4LEVEL
        legacy_base = mmap_legacy_base(task_size)
        self.mm = MmStruct(
            task_size=task_size,
            mmap_base=legacy_base
            if legacy_layout
            else mmap_base(task_size, rlimit_stack, config.stack_guard_gap),
            mmap_legacy_base=legacy_base,
            topdown=not legacy_layout,
            config=config,
            creds=creds or Credentials(),
            rlimits=rlimits,
            start_brk=start_brk,
            brk=start_brk,
            start_stack=start_stack,
        )
        self.gate_vma = gate_vma
        self.strace = strace
        self.files: dict[str, Inode] = {}
        self.fds: dict[int, OpenFile] = {}

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
        from .fs.exec import do_execveat_common, read_exec_image

        proc = cls(
            rlimit_stack=rlimit_stack, legacy_layout=legacy_layout, config=config, creds=creds
        )
        if files is not None:
            proc.files = files
        do_execveat_common(
            proc.mm,
            proc.files,
            filename,
            [os.fsencode(a) for a in argv],
            [os.fsencode(e) for e in envp],
            open_exec or read_exec_image,
            rlimit_stack,
        )
        return proc

    def fork(self) -> Process:
        """The child of fork(), or of clone() without CLONE_VM: a copy of this address space
        (dup_mm()) and of the fd table, sharing the open files themselves."""
        from .kernel.fork import dup_mm

        return self._sharing_files(dup_mm(self.mm))

    def _sharing_files(self, mm: MmStruct) -> Process:
        """A process with this one's settings and the address space ``mm``, sharing the
        open files and their page cache; its fd table is a copy of this one's."""
        new = Process(gate_vma=self.gate_vma, strace=self.strace)
        new.mm = mm
        new.files = self.files
        new.fds = dict(self.fds)
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> Process:
        """A copy of the address space to try calls on, sharing files as a forked child
        does."""
        new = self._sharing_files(copy.deepcopy(self.mm, memo))
        memo[id(self)] = new
        return new

    # -- files --------------------------------------------------------------------------
    def create_file(self, path: str, data: bytes = b"", size: int | None = None) -> Inode:
        """A regular file holding ``data``, its page cache as one write() of it left it."""
        inode = Inode(path, data, size)
        inode.folio_orders = written_folios(len(data))
        self.files[path] = inode
        return inode

    def open(self, file: str | Inode, flags: int = O_RDWR) -> int:
        """An fd for a file made with create_file() (by path) or an Inode shared with others."""
        inode = self.files[file] if isinstance(file, str) else file
        fd = 3
        while fd in self.fds:
            fd += 1
        self.fds[fd] = OpenFile(inode, flags)
        return fd

    def close(self, fd: int) -> None:
        del self.fds[fd]

    # -- system calls -------------------------------------------------------------------
    # Each call runs straight into the model unless strace output is wanted: replay makes
    # millions of them, and the plumbing below would cost as much as a simple mmap.
    def _strace(self, call: str, hex_result: bool, run: Callable[[], int | None]) -> int:
        assert self.strace is not None
        try:
            result = run() or 0
        except OSError as err:
            self.strace(fmt.line(call, err))
            raise
        self.strace(fmt.line(call, result, hex_result))
        return result

    def mmap(
        self, addr: int, length: int, prot: int, flags: int, fd: int = -1, offset: int = 0
    ) -> int:
        addr, length, offset = ulong(addr), ulong(length), ulong(offset)
        prot, flags = prot & 0xFFFFFFFF, flags & 0xFFFFFFFF
        if self.strace is None:
            return sys_mmap(self.mm, self.fds, addr, length, prot, flags, fd, offset)
        return self._strace(
            fmt.mmap_call(addr, length, prot, flags, fd, offset),
            True,
            lambda: sys_mmap(self.mm, self.fds, addr, length, prot, flags, fd, offset),
        )

    def munmap(self, addr: int, length: int) -> None:
        addr, length = ulong(addr), ulong(length)
        if self.strace is None:
            sys_munmap(self.mm, addr, length)
        else:
            call = fmt.munmap_call(addr, length)
            self._strace(call, False, lambda: sys_munmap(self.mm, addr, length))

    def mremap(
        self, old_address: int, old_size: int, new_size: int, flags: int = 0, new_address: int = 0
    ) -> int:
        args = (
            ulong(old_address),
            ulong(old_size),
            ulong(new_size),
            flags & 0xFFFFFFFF,
            ulong(new_address),
        )
        if self.strace is None:
            return sys_mremap(self.mm, *args)
        return self._strace(fmt.mremap_call(*args), True, lambda: sys_mremap(self.mm, *args))

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        args = (ulong(addr), ulong(length), prot & 0xFFFFFFFF)
        if self.strace is None:
            do_mprotect_pkey(self.mm, *args)
        else:
            self._strace(fmt.mprotect_call(*args), False, lambda: do_mprotect_pkey(self.mm, *args))

    def madvise(self, addr: int, length: int, advice: int) -> None:
        args = (ulong(addr), ulong(length), advice & 0xFFFFFFFF)
        if self.strace is None:
            do_madvise(self.mm, *args)
        else:
            self._strace(fmt.madvise_call(*args), False, lambda: do_madvise(self.mm, *args))

    def brk(self, addr: int) -> int:
        """The new break, or the current one when the kernel refuses (brk never fails)."""
        addr = ulong(addr)
        if self.strace is None:
            return sys_brk(self.mm, addr)
        return self._strace(fmt.brk_call(addr), True, lambda: sys_brk(self.mm, addr))

    def mseal(self, addr: int, length: int, flags: int = 0) -> None:
        addr, length = ulong(addr), ulong(length)
        if self.strace is None:
            do_mseal(self.mm, addr, length, flags)
        else:
            call = f"mseal({fmt.ptr(addr)}, {length}, {flags})"
            self._strace(call, False, lambda: do_mseal(self.mm, addr, length, flags))

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        """Change a limit the mm code consults (RLIMIT_AS, RLIMIT_DATA, RLIMIT_MEMLOCK, ...).

        As in the kernel, a new RLIMIT_STACK does not move mmap_base: that was chosen at exec.
        """
        self.mm.rlimits[resource] = (ulong(soft), ulong(hard))

    # -- memory -------------------------------------------------------------------------
    def read(self, addr: int, n: int) -> bytes:
        """A user-mode load: faults pages in, raises SegmentationFault where the CPU would."""
        return access_vm(self.mm, addr, None, n)

    def write(self, addr: int, data: bytes) -> None:
        access_vm(self.mm, addr, bytes(data), len(data))

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

    def _repr_html_(self) -> str:
        """In Jupyter, a process shows as a picture of its address space."""
        from .views.svg import address_space_html

        return address_space_html(self.maps().splitlines())
