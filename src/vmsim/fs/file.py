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
