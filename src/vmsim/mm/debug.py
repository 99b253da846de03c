"""validate_mm(): the model's invariants, checked from scratch (mm/debug.c, mm/vma.c)."""

from __future__ import annotations

from ..uapi import PAGE_MASK
from . import vma as vmalib
from .mm_types import MmStruct
from .page import ZERO_PAGE
from .vm_flags import VM_ACCOUNT, is_data_mapping, is_exec_mapping, is_stack_mapping


def validate_mm(mm: MmStruct) -> None:
    mm.mm_mt.validate()
    vmas = list(vmalib.all_vmas(mm))
    prev_end = 0
    total = data = exec_ = stack = accounted = 0
    for vma in vmas:
        where = repr(vma)
        assert vma.vm_start < vma.vm_end, f"empty VMA {where}"
        assert not vma.vm_start & ~PAGE_MASK and not vma.vm_end & ~PAGE_MASK, f"unaligned {where}"
        assert vma.vm_start >= prev_end, f"overlapping VMA {where}"
        assert mm.mm_mt.load(vma.vm_start) is vma and mm.mm_mt.load(vma.vm_end - 1) is vma, (
            f"tree range does not match {where}"
        )
        prev_end = vma.vm_end
        pages = vma.pages()
        total += pages
        if is_exec_mapping(vma.vm_flags):
            exec_ += pages
        elif is_stack_mapping(vma.vm_flags):
            stack += pages
        elif is_data_mapping(vma.vm_flags):
            data += pages
        if vma.vm_flags & VM_ACCOUNT:
            accounted += pages
    assert mm.map_count == len(vmas), f"map_count {mm.map_count} != {len(vmas)} VMAs"
    assert mm.total_vm == total, f"total_vm {mm.total_vm} != {total}"
    assert (mm.data_vm, mm.exec_vm, mm.stack_vm) == (data, exec_, stack), "vm stats drifted"
    accounted += mm.committed_leaked
    assert mm.committed == accounted, f"committed {mm.committed} != {accounted} VM_ACCOUNT pages"
    rss = {"anon": 0, "file": 0, "shmem": 0}
    for addr, page in mm.pgtables.present(0, 1 << 48):
        owner = vmalib.vma_lookup(mm, addr)
        assert owner is not None, f"page table entry at {addr:#x} outside any VMA"
        if page is ZERO_PAGE:
            continue
        kind = "anon" if page.anon else ("shmem" if page.inode and page.inode.shmem else "file")
        rss[kind] += 1
    assert (mm.rss_anon, mm.rss_file, mm.rss_shmem) == (rss["anon"], rss["file"], rss["shmem"]), (
        f"Rss counters {(mm.rss_anon, mm.rss_file, mm.rss_shmem)} != recount {rss}"
    )
    tables = sum(1 for _ in mm.pgtables.pte_tables(0, 1 << 48))
    assert mm.nr_ptes == tables, f"nr_ptes {mm.nr_ptes} != {tables} PTE tables"
