"""Demand paging and unmapping of pages (mm/memory.c, mm/rmap.c, mm/filemap.c, mm/shmem.c).

A fault maps a page at one address: the shared zero page for a read of
private anonymous memory, a fresh anonymous page for a write, the file's
page-cache page for file and shmem mappings, and a private copy when a private
mapping is written (copy-on-write).

Running out of memory.  An allocation that finds no free page, reclaim done, calls the OOM
killer, which SIGKILLs the process with the largest badness (its Rss, swap entries and
page tables).  The model takes the allocating process to be that one, as it is when that
process is the one filling memory; the others' memory is what the available figure
(KernelConfig.available_pages) leaves out.  In a memory cgroup, which runs the same code
against its own limit, 6.18 kills on a store, MAP_POPULATE, MAP_LOCKED, mlock() and
MADV_POPULATE_* alike: none of them returns ENOMEM to a process the killer can pick.
What a process holds against the limit is :func:`oom_charge`: the pages no reclaim frees
without swap.  A regular file's page cache is not among them: reclaim drops it, so
populating a file four times the size of the cgroup reads through.  Every allocation checks
one sum; a populate first counts what it will need (:func:`populate_charge`) so that a
range far larger than memory is refused before a page of it is made.
"""

from __future__ import annotations

from typing import Final

from ..arch.x86.pgtable import Table, pte_index
from ..errors import OutOfMemoryKill, SegmentationFault
from ..uapi import PAGE_MASK, PMD_SHIFT, PMD_SIZE
from . import vma as vmalib
from .filemap import filemap_get_page, folio_of, next_uptodate_folio
from .mm_types import AnonVma, MmStruct, VmAreaStruct
from .page import ZERO_PAGE, Page
from .vm_flags import (
    VM_ACCESS_FLAGS,
    VM_ACCOUNT,
    VM_GROWSDOWN,
    VM_LOCKED,
    VM_SHARED,
    VM_SOFTDIRTY,
    VM_WRITE,
)


def mm_counter_add(mm: MmStruct, page: Page, n: int) -> None:  # add_mm_counter(mm_counter(page))
    if page.anon:
        mm.rss_anon += n
    elif page.inode is not None and page.inode.shmem:
        mm.rss_shmem += n
    else:
        mm.rss_file += n


def oom_charge(mm: MmStruct) -> int:
    """The pages the process holds that reclaim cannot free without swap: anonymous and
    shmem pages (MM_ANONPAGES, MM_SHMEMPAGES) and PTE tables (pgtables_bytes)."""
    return mm.rss_anon + mm.rss_shmem + mm.nr_ptes


def oom_check(mm: MmStruct, address: int, pending: int = 0) -> None:
    """Before allocating a page or a PTE table: the OOM killer's SIGKILL if none is left.
    ``pending`` counts what this fault allocated that is not counted yet."""
    free = mm.config.oom_pages() - mm.rss_anon - mm.rss_shmem - mm.nr_ptes - pending
    if free <= 0:
        raise OutOfMemoryKill(address, 1, free)


def pte_alloc(mm: MmStruct, addr: int) -> Table:
    """The PTE table covering ``addr``, made (and counted) if there is none."""
    pgt = mm.pgtables
    table = pgt.pte_table(addr)
    if table is None:
        table = pgt.pte_table(addr, alloc=True)
        assert table is not None
        mm.nr_ptes += 1
    return table


def set_pte_at(mm: MmStruct, addr: int, page: Page) -> None:
    """Point the PTE for ``addr`` at ``page``, making its table if needed."""
    table = mm.pgtables.pte_table(addr)
    if table is None:
        table = pte_alloc(mm, addr)
    table[pte_index(addr)] = page


def count_pte_tables(mm: MmStruct, start: int, end: int) -> int:
    return sum(1 for _ in mm.pgtables.pte_tables(start, end))


def empty_pte_tables(mm: MmStruct, start: int, end: int, lo: int, hi: int) -> int:
    """The empty PTE tables meeting [start, end) whose whole span lies in [lo, hi): the
    ones freeing page tables over [start, end) within those bounds removes."""
    freed = 0
    for addr, table in mm.pgtables.pte_tables(start, end):
        if not table and addr >= lo and addr + PMD_SIZE <= hi:
            freed += 1
    return freed


def free_pgtables(mm: MmStruct, start: int, end: int, floor: int, ceiling: int) -> None:
    """free_pgtables(), uncounting the PTE tables it frees."""
    mm.nr_ptes -= empty_pte_tables(mm, start, end, floor, ceiling)
    mm.pgtables.free_pgtables(start, end, floor, ceiling)


def reclaim_empty_pte_tables(mm: MmStruct, start: int, end: int) -> None:
    """What MADV_DONTNEED frees after zapping, uncounted likewise."""
    mm.nr_ptes -= empty_pte_tables(mm, start, end, start, end)
    mm.pgtables.reclaim_empty_pte_tables(start, end)


def map_page(mm: MmStruct, addr: int, page: Page) -> None:
    """set_pte_at() plus the rmap and Rss bookkeeping of a newly mapped page."""
    set_pte_at(mm, addr, page)
    if page is not ZERO_PAGE:
        page.mapcount += 1
        mm_counter_add(mm, page, 1)


def unmap_page(mm: MmStruct, page: Page) -> None:
    """The rmap side of clearing a PTE (folio_remove_rmap_pte + Rss)."""
    if page is not ZERO_PAGE:
        page.mapcount -= 1
        mm_counter_add(mm, page, -1)


def zap_page_range(
    mm: MmStruct, start: int, end: int
) -> int:  # zap_page_range_single()/unmap_vmas()
    """Clear every present PTE in [start, end); returns how many were present."""
    present = list(mm.pgtables.present(start, end))
    for addr, page in present:
        mm.pgtables.clear_pte(addr)
        unmap_page(mm, page)
    return len(present)


def anon_vma_compatible(a: VmAreaStruct, b: VmAreaStruct) -> bool:
    """Could b share a's anon_vma (a directly below b)? (mm/vma.c)"""
    return (
        a.vm_end == b.vm_start
        and a.vm_file is b.vm_file
        and not ((a.vm_flags ^ b.vm_flags) & ~(VM_ACCESS_FLAGS | VM_SOFTDIRTY))
        and b.vm_pgoff == a.vm_pgoff + ((b.vm_start - a.vm_start) >> 12)
    )


def _reusable(anon_vma: AnonVma | None) -> bool:
    # reusable_anon_vma(): only a neighbour whose anon_vma chain is singular (not a fork
    # child's) lends its anon_vma.
    return anon_vma is not None and anon_vma.parent is None


def anon_vma_prepare(mm: MmStruct, vma: VmAreaStruct) -> AnonVma:
    """Give the VMA an anon_vma, reusing a compatible neighbour's (find_mergeable_anon_vma)."""
    anon_vma = vma.anon_vma
    if anon_vma is None:
        # Reusing the neighbour's anon_vma is what later lets the two VMAs merge.
        nxt = vmalib.vma_next(mm, vma)
        if nxt is not None and _reusable(nxt.anon_vma) and anon_vma_compatible(vma, nxt):
            anon_vma = nxt.anon_vma
        else:
            prev = vmalib.vma_prev(mm, vma)
            if prev is not None and _reusable(prev.anon_vma) and anon_vma_compatible(prev, vma):
                anon_vma = prev.anon_vma
        vma.anon_vma = anon_vma = anon_vma or AnonVma()
    return anon_vma


FAULT_AROUND_PAGES: Final = 16  # fault_around_bytes = 64 KiB
PTRS_PER_PTE: Final = 512


def folio_fits(vma: VmAreaStruct, head: int, nr: int) -> bool:
    """folio_within_vma() and not across a page-table boundary: mappable as a whole."""
    if head < vma.vm_pgoff:
        return False
    start = vma.vm_start + ((head - vma.vm_pgoff) << 12)
    end = start + (nr << 12)
    return end <= vma.vm_end and start >> PMD_SHIFT == (end - 1) >> PMD_SHIFT


def map_file_pages(mm: MmStruct, vma: VmAreaStruct, first: int, last: int) -> None:
    """Map the cached pages [first, last] of the VMA's file wherever their PTE is none."""
    assert vma.vm_file is not None
    inode = vma.vm_file.inode
    for pgoff in range(first, last + 1):
        addr = vma.vm_start + ((pgoff - vma.vm_pgoff) << 12)
        if mm.pgtables.lookup(addr) is None:
            map_page(mm, addr, filemap_get_page(inode, pgoff, addr))


def do_fault_around(mm: MmStruct, vma: VmAreaStruct, addr: int) -> None:
    """A read fault on a file first maps what the page cache holds around it: 64 KiB
    from the aligned boundary below the fault (or the VMA's start), within the VMA and
    the PTE table (filemap_map_pages)."""
    assert vma.vm_file is not None
    inode = vma.vm_file.inode
    pte_off = pte_index(addr)
    pgoff = vma.pgoff_of(addr)
    vma_off = pgoff - vma.vm_pgoff
    from_pte = max(pte_off & ~(FAULT_AROUND_PAGES - 1), pte_off - min(pte_off, vma_off))
    to_pte = min(from_pte + FAULT_AROUND_PAGES, PTRS_PER_PTE, pte_off + vma.pages() - vma_off)
    start = pgoff - (pte_off - from_pte)
    end = min(pgoff + (to_pte - 1 - pte_off), inode.pages_in_file() - 1)
    folio = next_uptodate_folio(inode, start, end)
    if folio is None:
        return
    # can_map_large, judged once by the window's first folio: no folio may be mapped
    # whole (nor by PMD) when that one reaches the file's last page, where SIGBUS begins.
    # Only when it may is the preallocated PTE table installed, so otherwise a window
    # with no PTE table yet maps nothing and the fault falls through to finish_fault().
    can_map_large = inode.shmem or folio[0] + folio[1] <= inode.pages_in_file() - 1
    if can_map_large:
        pte_alloc(mm, addr)
    elif mm.pgtables.pte_table(addr) is None:
        return
    while folio is not None:
        head, nr = folio
        if nr > 1 and can_map_large and folio_fits(vma, head, nr):
            map_file_pages(mm, vma, head, head + nr - 1)
        else:
            map_file_pages(mm, vma, max(head, start), min(head + nr - 1, end))
        folio = next_uptodate_folio(inode, head + nr, end)


def finish_fault(mm: MmStruct, vma: VmAreaStruct, addr: int, page: Page) -> None:
    """Map a file page the fault read in, with the rest of its folio where the folio
    fits the VMA and the PTE table and none of its PTEs is set yet."""
    assert vma.vm_file is not None
    inode = vma.vm_file.inode
    head, nr = folio_of(inode, page.index)
    if nr > 1 and head + nr <= inode.pages_in_file() and folio_fits(vma, head, nr):
        first = addr - ((page.index - head) << 12)
        if not any(True for _ in mm.pgtables.present(first, first + (nr << 12))):
            map_file_pages(mm, vma, head, head + nr - 1)
            return
    map_page(mm, addr, page)


def do_anonymous_page(
    mm: MmStruct, vma: VmAreaStruct, addr: int, write: bool, table: Table | None
) -> Page:
    """``table`` is the PTE table covering ``addr``, None if there is none yet."""
    if table is None:
        oom_check(mm, addr)  # pte_alloc(): even the zero page needs a table
        table = pte_alloc(mm, addr)
    if not write:
        # A read of never-written private memory maps the zero page: no Rss, no anon_vma.
        table[pte_index(addr)] = ZERO_PAGE
        return ZERO_PAGE
    oom_check(mm, addr)
    anon_vma_prepare(mm, vma)
    page = Page(anon=True)
    page.dirty = True
    table[pte_index(addr)] = page
    page.mapcount = 1
    mm.rss_anon += 1
    return page


def do_wp_page(mm: MmStruct, vma: VmAreaStruct, addr: int, old: Page) -> Page:
    """Copy-on-write: a private mapping writes to a page it does not own."""
    oom_check(mm, addr)
    anon_vma_prepare(mm, vma)
    page = Page(anon=True)
    page.copy_from(old)
    page.dirty = True
    mm.pgtables.clear_pte(addr)
    unmap_page(mm, old)
    map_page(mm, addr, page)
    return page


def handle_mm_fault(mm: MmStruct, vma: VmAreaStruct, address: int, write: bool) -> Page:
    """Make the page at ``address`` present (and writable, for a write); return it.
    A signal reports ``address`` itself, not its page."""
    addr = address & PAGE_MASK
    table = mm.pgtables.pte_table(addr)
    page = None if table is None else table.get(pte_index(addr))
    shared = bool(vma.vm_flags & VM_SHARED)
    if page is None:
        if vma.vm_file is None:
            return do_anonymous_page(mm, vma, addr, write, table)
        if table is None:
            oom_check(mm, addr)  # the table the fault will map into
        if not write:
            do_fault_around(mm, vma, addr)
            page = mm.pgtables.lookup(addr)
            if page is not None:
                return page
        inode = vma.vm_file.inode
        pgoff = vma.pgoff_of(addr)
        # Still no table: allocated by this fault, counted only when the page is mapped.
        pending = 1 if table is None and mm.pgtables.pte_table(addr) is None else 0
        if inode.shmem and pgoff not in inode.pages and pgoff < inode.pages_in_file():
            oom_check(mm, addr, pending)  # a new shmem page, which no reclaim frees
        page = filemap_get_page(inode, pgoff, address)
        if write and not shared:
            # do_cow_fault(): the private copy is made straight from the file page.
            oom_check(mm, addr, pending)
            anon_vma_prepare(mm, vma)
            copy = Page(anon=True)
            copy.copy_from(page)
            copy.dirty = True
            map_page(mm, addr, copy)
            return copy
        finish_fault(mm, vma, addr, page)
    elif write and (page is ZERO_PAGE or (not page.anon and not shared)):
        return do_wp_page(mm, vma, addr, page)
    if write:
        page.dirty = True
    return page


def expand_downwards(mm: MmStruct, vma: VmAreaStruct, address: int) -> bool:
    """Grow a VM_GROWSDOWN VMA down to ``address`` on a fault below it (mm/mmap.c)."""
    from .mmap import acct_stack_growth

    address &= PAGE_MASK
    if address < mm.config.mmap_min_addr:
        return False
    prev = vmalib.vma_prev(mm, vma)
    if (
        prev is not None
        and not prev.vm_flags & VM_GROWSDOWN
        and prev.vm_flags & VM_ACCESS_FLAGS
        and address - prev.vm_end < mm.config.stack_guard_gap
    ):
        return False
    anon_vma_prepare(mm, vma)
    grow = (vma.vm_start - address) >> 12
    if not acct_stack_growth(mm, vma, vma.vm_end - address, grow):
        return False
    if vma.vm_flags & VM_LOCKED:
        mm.locked_vm += grow
    if vma.vm_flags & VM_ACCOUNT:
        mm.committed += grow
    vmalib.vma_iter_clear(mm, vma.vm_start, vma.vm_end)
    vma.vm_start = address
    vma.vm_pgoff -= grow
    vmalib.vma_iter_store(mm, vma)
    return True


# With 4-level paging an address is canonical when bits 47-63 are all equal.
NONCANONICAL_START: Final = 1 << 47
NONCANONICAL_END: Final = (1 << 64) - (1 << 47)


def find_fault_vma(mm: MmStruct, addr: int) -> VmAreaStruct:
    """lock_mm_and_find_vma(): the VMA for a user access, growing a stack if needed."""
    vma = vmalib.find_vma(mm, addr)
    if vma is not None and vma.vm_start <= addr:
        return vma
    if vma is None or not vma.vm_flags & VM_GROWSDOWN or not expand_downwards(mm, vma, addr):
        raise SegmentationFault(addr, "SEGV_MAPERR")
    return vma


def access_vm(mm: MmStruct, addr: int, data: bytes | None, n: int) -> bytes:
    """A user-mode load (data is None) or store, page by page, faulting as the CPU would."""
    out = bytearray()
    pos = 0
    total = n if data is None else len(data)
    while pos < total:
        cur = addr + pos
        offset = cur & ~PAGE_MASK
        chunk = min(total - pos, 4096 - offset)
        if NONCANONICAL_START <= cur < NONCANONICAL_END:
            # Not a page fault but a general-protection fault: SIGSEGV with SI_KERNEL and
            # no address.
            raise SegmentationFault(0, "SI_KERNEL")
        vma = find_fault_vma(mm, cur)
        write = data is not None
        if write and not vma.vm_flags & VM_WRITE or not vma.vm_flags & VM_ACCESS_FLAGS:
            raise SegmentationFault(cur, "SEGV_ACCERR")
        page = mm.pgtables.lookup(cur & PAGE_MASK)
        if (
            page is None
            or write
            and (page is ZERO_PAGE or not page.anon and not vma.vm_flags & VM_SHARED)
        ):
            page = handle_mm_fault(mm, vma, cur, write)
        if data is None:
            out += page.read(offset, chunk)
        else:
            page.write(offset, data[pos : pos + chunk])
        pos += chunk
    return bytes(out)
