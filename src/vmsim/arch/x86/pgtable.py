"""Sparse 4-level x86-64 page tables (PGD -> PUD -> PMD -> PTE, 512 entries each).

Each table is a dict from index to the next level's table; a PTE table maps
index to the :class:`~vmsim.mm.page.Page` it points at.  Tables exist only where
something was faulted, so a 100 TiB mapping costs nothing until touched, and
moving a whole PMD table (one PUD entry) is one dict operation, as it is one
entry write in the kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from copy import deepcopy
from typing import TYPE_CHECKING, Any, Final

from ...uapi import PAGE_SHIFT, PGDIR_SHIFT, PMD_SHIFT, PUD_SHIFT

if TYPE_CHECKING:
    from ...mm.page import Page

Table = dict[int, Any]
LEVEL_SHIFTS: Final = (PGDIR_SHIFT, PUD_SHIFT, PMD_SHIFT, PAGE_SHIFT)
PTRS_PER_TABLE: Final = 512


def pgd_index(addr: int) -> int:
    return (addr >> PGDIR_SHIFT) & 511


def pud_index(addr: int) -> int:
    return (addr >> PUD_SHIFT) & 511


def pmd_index(addr: int) -> int:
    return (addr >> PMD_SHIFT) & 511


def pte_index(addr: int) -> int:
    return (addr >> PAGE_SHIFT) & 511


class PageTables:
    """One mm's page tables, rooted at its PGD."""

    def __init__(self) -> None:
        self.pgd: Table = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> PageTables:
        # The copy module cannot take compiled classes apart: each copies itself.
        new = PageTables()
        new.pgd = deepcopy(self.pgd, memo)
        memo[id(self)] = new
        return new

    # -- walking to the table that holds an entry --------------------------------------
    def pud_table(self, addr: int, alloc: bool = False) -> Table | None:
        """The PUD table covering ``addr`` (whose entries point at PMD tables)."""
        table = self.pgd.get(pgd_index(addr))
        if table is None and alloc:
            table = self.pgd[pgd_index(addr)] = {}
        return table

    def pmd_table(self, addr: int, alloc: bool = False) -> Table | None:
        """The PMD table covering ``addr`` (whose entries point at PTE tables)."""
        pud = self.pud_table(addr, alloc)
        if pud is None:
            return None
        table = pud.get(pud_index(addr))
        if table is None and alloc:
            table = pud[pud_index(addr)] = {}
        return table

    def pte_table(self, addr: int, alloc: bool = False) -> Table | None:
        pmd = self.pmd_table(addr, alloc)
        if pmd is None:
            return None
        table = pmd.get(pmd_index(addr))
        if table is None and alloc:
            table = pmd[pmd_index(addr)] = {}
        return table

    # -- single entries -----------------------------------------------------------------
    def lookup(self, addr: int) -> Page | None:
        pte = self.pte_table(addr)
        return None if pte is None else pte.get(pte_index(addr))

    def set_pte(self, addr: int, page: Page) -> None:
        table = self.pte_table(addr, alloc=True)
        assert table is not None
        table[pte_index(addr)] = page

    def clear_pte(self, addr: int) -> Page | None:
        table = self.pte_table(addr)
        return None if table is None else table.pop(pte_index(addr), None)

    # -- ranges -----------------------------------------------------------------------------
    def present(self, start: int, end: int) -> Iterator[tuple[int, Page]]:
        """Present PTEs in [start, end), in address order.

        Costs what is present, not the size of the range: a level is scanned by
        index only when the range is narrower than the table is full.
        """
        if start < end:
            yield from _walk(self.pgd, 0, 0, start, end, 3)

    def pte_tables(self, start: int, end: int) -> Iterator[tuple[int, Table]]:
        """The PTE tables present under [start, end), with the address each one starts at.

        For counters that can take a whole table at once (smaps' Rss) instead of
        visiting it entry by entry.
        """
        if start < end:
            yield from _walk(self.pgd, 0, 0, start, end, 2)

    def reclaim_empty_pte_tables(self, start: int, end: int) -> None:
        """Free the empty PTE tables whose whole 2 MiB span lies in [start, end): what
        MADV_DONTNEED does after zapping (mm/pt_reclaim.c, CONFIG_PT_RECLAIM)."""
        for addr, table in list(self.pte_tables(start, end)):
            if not table and start <= addr and addr + (1 << PMD_SHIFT) <= end:
                pmd = self.pmd_table(addr)
                assert pmd is not None
                del pmd[pmd_index(addr)]

    def free_pgtables(self, start: int, end: int, floor: int, ceiling: int) -> None:
        """Drop the tables of [start, end) that no VMA in [floor, ceiling) still needs.

        free_pgtables()/free_pgd_range(): a table goes only when its whole span
        lies inside the hole between the neighbouring VMAs.
        """
        if start < end:
            _free(self.pgd, 0, 0, start, end, floor, ceiling)


def _indices(table: Table, level: int, base: int, start: int, end: int) -> list[int]:
    if not table:
        return []
    shift = LEVEL_SHIFTS[level]
    lo = max(0, (start - base) >> shift)
    hi = min(PTRS_PER_TABLE - 1, (end - 1 - base) >> shift)
    if hi < lo:
        return []
    if hi - lo + 1 < len(table):
        return [i for i in range(lo, hi + 1) if i in table]
    return sorted(i for i in table if lo <= i <= hi)


def _walk(
    table: Table, level: int, base: int, start: int, end: int, last: int
) -> Iterator[tuple[int, Any]]:
    """The entries of level ``last`` under [start, end): PTEs (3) or PTE tables (2)."""
    shift = LEVEL_SHIFTS[level]
    for i in _indices(table, level, base, start, end):
        addr = base + (i << shift)
        if level == last:
            yield addr, table[i]
        else:
            yield from _walk(table[i], level + 1, addr, start, end, last)


def _free(
    table: Table, level: int, base: int, start: int, end: int, floor: int, ceiling: int
) -> None:
    shift = LEVEL_SHIFTS[level]
    for i in _indices(table, level, base, start, end):
        lo = base + (i << shift)
        hi = lo + (1 << shift)
        child = table[i]
        if level < 2:
            _free(child, level + 1, lo, start, end, floor, ceiling)
        if lo >= floor and hi <= ceiling and not child:
            del table[i]
