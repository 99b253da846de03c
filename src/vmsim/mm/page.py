"""Physical pages (struct page / folio) with real contents.

A page's bytes are allocated on the first store into it, so mapping and
faulting large zero-filled areas costs only the bookkeeping.  The shared zero
page is a single object that is never counted in Rss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..uapi import PAGE_SIZE

if TYPE_CHECKING:
    from ..fs.file import Inode


class Page:
    __slots__ = ("data", "anon", "mapcount", "dirty", "inode", "index", "lazyfree")

    def __init__(self, anon: bool, inode: Inode | None = None, index: int = 0) -> None:
        self.data: bytearray | None = None
        self.anon = anon
        self.mapcount = 0
        self.dirty = False
        self.inode = inode
        self.index = index
        self.lazyfree = False

    def read(self, offset: int, n: int) -> bytes:
        if self.data is None:
            return bytes(n)
        return bytes(self.data[offset : offset + n])

    def write(self, offset: int, chunk: bytes) -> None:
        if self.data is None:
            self.data = bytearray(PAGE_SIZE)
        self.data[offset : offset + len(chunk)] = chunk
        self.dirty = True

    def fill(self, content: bytes | bytearray | None) -> None:
        if content is not None and any(content):
            self.data = bytearray(content)

    def copy_from(self, other: Page) -> None:
        self.data = None if other.data is None else bytearray(other.data)

    def __deepcopy__(self, memo: dict[int, Any]) -> Page:
        # Copying an address space must keep the zero page the one shared object, or its
        # copies would count in Rss.
        if self is ZERO_PAGE:
            return self
        new = Page(self.anon, self.inode, self.index)  # the file's page cache is shared
        new.copy_from(self)
        new.mapcount, new.dirty, new.lazyfree = self.mapcount, self.dirty, self.lazyfree
        memo[id(self)] = new
        return new


ZERO_PAGE = Page(anon=False)
