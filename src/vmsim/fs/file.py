"""Files as mm sees them: an inode with a page cache, and open file descriptions.

Two mappings can only merge when they use the same ``struct file`` (the same
open file description), which is why :class:`OpenFile` and :class:`Inode` are
distinct objects.  Shared anonymous memory is backed by a shmem inode named
``/dev/zero (deleted)``, one per mmap call (mm/shmem.c: shmem_zero_setup).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from ..uapi import O_RDWR, O_WRONLY, PAGE_SHIFT, PAGE_SIZE

if TYPE_CHECKING:
    from ..mm.page import Page

# Device numbers as this machine shows them: ext4 root is fe:00, shmem 00:01.
ROOT_DEV = (0xFE, 0x00)
SHMEM_DEV = (0x00, 0x01)

_shmem_ino = itertools.count(1026)
_file_ino = itertools.count(1_000_000)


class Inode:
    """A file's identity, size and page cache (address_space)."""

    __slots__ = (
        "path",
        "size",
        "dev",
        "ino",
        "data",
        "pages",
        "folio_orders",
        "shmem",
        "thp_aligned",
    )

    def __init__(
        self,
        path: str,
        data: bytes = b"",
        size: int | None = None,
        dev: tuple[int, int] = ROOT_DEV,
        ino: int | None = None,
        shmem: bool = False,
    ) -> None:
        self.path = path
        self.size = len(data) if size is None else size
        self.dev = dev
        self.ino = next(_file_ino) if ino is None else ino
        self.data = bytes(data)
        self.pages: dict[int, Page] = {}
        # The page cache's large folios (first page -> order); pages not covered are
        # order-0 folios.  Shmem stays order-0 (shmem_enabled=never).
        self.folio_orders: dict[int, int] = {}
        self.shmem = shmem
        # ext4 regular files place mappings with thp_get_unmapped_area();
        # shmem (shmem_enabled=never here) uses the plain search.
        self.thp_aligned = not shmem

    def initial_bytes(self, pgoff: int) -> bytes:
        """What a page of the file holds when first read into the page cache."""
        chunk = self.data[pgoff << PAGE_SHIFT : (pgoff + 1) << PAGE_SHIFT]
        return chunk.ljust(PAGE_SIZE, b"\0")

    def pages_in_file(self) -> int:
        return (self.size + PAGE_SIZE - 1) >> PAGE_SHIFT


def shmem_inode(size: int) -> Inode:
    """The inode behind one MAP_SHARED|MAP_ANONYMOUS mapping (shmem_zero_setup)."""
    return Inode("/dev/zero (deleted)", size=size, dev=SHMEM_DEV, ino=next(_shmem_ino), shmem=True)


class OpenFile:
    """An open file description (struct file): what VMAs point at."""

    __slots__ = ("inode", "flags")

    def __init__(self, inode: Inode, flags: int = O_RDWR) -> None:
        self.inode = inode
        self.flags = flags

    @property
    def readable(self) -> bool:  # FMODE_READ
        return self.flags & 3 != O_WRONLY

    @property
    def writable(self) -> bool:  # FMODE_WRITE
        return self.flags & 3 in (O_WRONLY, O_RDWR)


class FilesStruct:
    """A task's fd table (struct files_struct with its fdtable): the open file behind each
    fd and which fds execve closes (close_on_exec)."""

    __slots__ = ("fdt", "close_on_exec")

    def __init__(
        self, fdt: dict[int, OpenFile] | None = None, close_on_exec: set[int] | None = None
    ) -> None:
        self.fdt: dict[int, OpenFile] = fdt if fdt is not None else {}
        self.close_on_exec: set[int] = close_on_exec if close_on_exec is not None else set()

    def alloc_fd(self, start: int = 0) -> int:
        """The lowest free fd from ``start`` (alloc_fd())."""
        fd = start
        while fd in self.fdt:
            fd += 1
        return fd

    def fd_install(self, fd: int, file: OpenFile, cloexec: bool = False) -> None:
        self.fdt[fd] = file
        self.set_close_on_exec(fd, cloexec)

    def set_close_on_exec(self, fd: int, on: bool) -> None:
        if on:
            self.close_on_exec.add(fd)
        else:
            self.close_on_exec.discard(fd)

    def close_fd(self, fd: int) -> OpenFile | None:
        """Drop ``fd``; the file it held, or None if it was not open (EBADF)."""
        self.close_on_exec.discard(fd)
        return self.fdt.pop(fd, None)

    def dup_fd(self) -> FilesStruct:
        """A copy for a child made without CLONE_FILES: the same open files under the same
        fds, close-on-exec marks and all (fs/file.c: dup_fd())."""
        return FilesStruct(dict(self.fdt), set(self.close_on_exec))

    def do_close_on_exec(self) -> None:
        """execve closes the fds marked close-on-exec (fs/file.c)."""
        for fd in self.close_on_exec:
            self.fdt.pop(fd, None)
        self.close_on_exec.clear()
