"""Which page tables exist, compactly: enough to say, for any address, how far a
hardware walk gets (PGD entry, PUD table, PMD table, PTE table, present PTE).

A PTE table's present entries are a 512-bit map in 128 hex digits, so the report
never lists PTEs one by one; past ``BITMAP_LIMIT`` tables only the counts stay.
"""

from __future__ import annotations

from ..arch.x86.pgtable import PageTables

BITMAP_LIMIT = 4096

# [[pgd index, [[pud index, [[pmd index, PTE bitmap (hex) or PTE count], ...]], ...]], ...]
Summary = list[list[object]]


def summarize(pgtables: PageTables) -> Summary:
    pte_tables = sum(len(pmd) for pud in pgtables.pgd.values() for pmd in pud.values())
    bitmaps = pte_tables <= BITMAP_LIMIT
    return [
        [
            pgd_i,
            [
                [
                    pud_i,
                    [
                        [pmd_i, _bitmap(ptes) if bitmaps else len(ptes)]
                        for pmd_i, ptes in sorted(pmd.items())
                    ],
                ]
                for pud_i, pmd in sorted(pud.items())
            ],
        ]
        for pgd_i, pud in sorted(pgtables.pgd.items())
    ]


def _bitmap(ptes: dict[int, object]) -> str:
    bits = 0
    for index in ptes:
        bits |= 1 << index
    return f"{bits:0128x}"
