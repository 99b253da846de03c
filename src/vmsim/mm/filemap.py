"""The page cache side of file faults (mm/filemap.c): which page-cache folios a file
has, and which of them a fault may map.

Since 6.16, ext4 (like xfs) keeps regular files in large folios, and a fault maps a
whole folio where it fits.  How many pages a fault leaves resident therefore depends
on how the page cache was filled: a file written in one write() gets folios sized by
what was left to write at each step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..errors import BusError
from .page import Page

if TYPE_CHECKING:
    from ..fs.file import Inode

# MAX_PAGECACHE_ORDER on x86-64: a PMD-sized folio.
MAX_PAGECACHE_ORDER: Final = 9
_PMD_PAGES = 1 << MAX_PAGECACHE_ORDER


def fgf_set_order(size: int) -> int:
    """The folio order a write of ``size`` bytes asks for: the largest power of two
    pages not above it (include/linux/pagemap.h)."""
    shift = size.bit_length() - 1
    return max(shift - 12, 0)


def written_folios(size: int) -> dict[int, int]:
    """The large folios (first page -> order) one buffered write() of ``size`` bytes
    into an empty file leaves in the page cache.

    generic_perform_write() copies in steps that end at max-folio-size boundaries; each
    step's write_begin asks __filemap_get_folio() for a folio of fgf_set_order(bytes
    left in the step), shrunk until its index is aligned to it.  Order-0 folios are
    not listed.
    """
    chunk = _PMD_PAGES << 12
    layout: dict[int, int] = {}
    pos = 0
    while pos < size:
        index = pos >> 12
        order = min(fgf_set_order(min(chunk - pos % chunk, size - pos)), MAX_PAGECACHE_ORDER)
        if index & ((1 << order) - 1):
            order = (index & -index).bit_length() - 1  # __ffs(index)
        if order:
            layout[index] = order
        pos = (index + (1 << order)) << 12
    return layout


def folio_of(inode: Inode, pgoff: int) -> tuple[int, int]:
    """(first page, pages) of the page-cache folio holding ``pgoff``."""
    orders = inode.folio_orders
    if orders:
        for order in range(1, MAX_PAGECACHE_ORDER + 1):
            head = pgoff & -(1 << order)
            if orders.get(head) == order:
                return head, 1 << order
    return pgoff, 1


def filemap_get_page(inode: Inode, pgoff: int, addr: int) -> Page:  # filemap_fault()/shmem_fault()
    """The page-cache page, read in on first use; SIGBUS past the end of the file."""
    if pgoff >= inode.pages_in_file():
        raise BusError(addr, "BUS_ADRERR")
    page = inode.pages.get(pgoff)
    if page is None:
        page = Page(anon=False, inode=inode, index=pgoff)
        if not inode.shmem:
            page.fill(inode.initial_bytes(pgoff))
        inode.pages[pgoff] = page
    return page


def next_uptodate_folio(inode: Inode, start: int, end: int) -> tuple[int, int] | None:
    """The first cached folio meeting [start, end], as (first page, pages).  A regular
    file's pages are all cached (it was written, or it is a library everyone reads);
    shmem has only what was touched."""
    end = min(end, inode.pages_in_file() - 1)
    if not inode.shmem:
        return folio_of(inode, start) if start <= end else None
    for pgoff in range(start, end + 1):
        if pgoff in inode.pages:
            return pgoff, 1
    return None
