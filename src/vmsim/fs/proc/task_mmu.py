"""/proc/pid/maps and /proc/pid/smaps (fs/proc/task_mmu.c)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import countOf

from ...mm.mm_types import MmStruct, VmAreaStruct
from ...mm.page import ZERO_PAGE
from ...mm.vm_flags import (
    VM_EXEC,
    VM_HUGEPAGE,
    VM_LOCKED,
    VM_MAYSHARE,
    VM_NOHUGEPAGE,
    VM_READ,
    VM_WRITE,
    vm_flags_to_string,
)
from ...uapi import PAGE_SHIFT, PMD_SIZE

GATE_LINE = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
NAME_COLUMN = 72  # seq_setwidth(m, 25 + sizeof(void *) * 6 - 1)
PSS_SHIFT = 12


def get_vma_name(mm: MmStruct, vma: VmAreaStruct) -> str | None:
    if vma.vm_file is not None:
        return vma.vm_file.inode.path
    if vma.special is not None:
        return vma.special
    if vma.vm_start < mm.brk and vma.vm_end > mm.start_brk:
        return "[heap]"
    if vma.vm_start <= mm.start_stack <= vma.vm_end:
        return "[stack]"
    return None


def show_vma_header(mm: MmStruct, vma: VmAreaStruct) -> str:
    flags = vma.vm_flags
    perms = (
        ("r" if flags & VM_READ else "-")
        + ("w" if flags & VM_WRITE else "-")
        + ("x" if flags & VM_EXEC else "-")
        + ("s" if flags & VM_MAYSHARE else "p")
    )
    if vma.vm_file is not None:
        inode = vma.vm_file.inode
        pgoff, (major, minor), ino = vma.vm_pgoff << 12, inode.dev, inode.ino
    else:
        # Anonymous memory shows offset 0 whatever its vm_pgoff is.
        pgoff, major, minor, ino = 0, 0, 0, 0
    name = get_vma_name(mm, vma)
    return maps_line(vma.vm_start, vma.vm_end, perms, pgoff, major, minor, ino, name)


def maps_line(
    start: int,
    end: int,
    perms: str,
    pgoff: int,
    major: int,
    minor: int,
    ino: int,
    name: str | None,
) -> str:
    """One /proc/pid/maps line from its fields (show_vma_header_prefix() and the name)."""
    prefix = f"{start:08x}-{end:08x} {perms} {pgoff:08x} {major:02x}:{minor:02x} {ino} "
    return _with_name(prefix, name)


def _with_name(prefix: str, name: str | None) -> str:
    if name is None:
        return prefix
    return prefix.ljust(NAME_COLUMN) + " " + name


def gate_header() -> str:
    return _with_name(GATE_LINE + " ", "[vsyscall]")


def show_maps(mm: MmStruct, vmas: Iterable[VmAreaStruct], gate: bool) -> str:
    lines = [show_vma_header(mm, vma) for vma in vmas]
    if gate:
        lines.append(gate_header())
    return "".join(line + "\n" for line in lines)


@dataclass(slots=True)
class MemSizeStats:
    """struct mem_size_stats: what smaps_pte_entry() adds up for one VMA."""

    resident: int = 0
    pss: int = 0
    pss_dirty: int = 0
    shared_clean: int = 0
    shared_dirty: int = 0
    private_clean: int = 0
    private_dirty: int = 0
    referenced: int = 0
    anonymous: int = 0
    lazyfree: int = 0

    def account(
        self, page_size: int, anon: bool, dirty: bool, mapcount: int, lazyfree: bool
    ) -> None:
        self.resident += page_size
        self.referenced += page_size
        if anon:
            self.anonymous += page_size
            if lazyfree:
                self.lazyfree += page_size
        share = (page_size << PSS_SHIFT) // max(mapcount, 1)
        self.pss += share
        if dirty:
            self.pss_dirty += share
        if mapcount >= 2:
            if dirty:
                self.shared_dirty += page_size
            else:
                self.shared_clean += page_size
        elif dirty:
            self.private_dirty += page_size
        else:
            self.private_clean += page_size


def smaps_for_vma(mm: MmStruct, vma: VmAreaStruct) -> MemSizeStats:
    mss = MemSizeStats()
    for _, page in mm.pgtables.present(vma.vm_start, vma.vm_end):
        if page is ZERO_PAGE:
            continue  # vm_normal_page() is NULL for the zero page: not resident
        mss.account(4096, page.anon, page.dirty, page.mapcount, page.lazyfree)
    return mss


def smaps_rss(mm: MmStruct, vma: VmAreaStruct) -> int:
    """The Rss smaps shows for ``vma``, in bytes, without the rest of its accounting.

    Counts whole PTE tables at a time, so a differential check can ask for every
    VMA's Rss after every call without paying for the full smaps text.
    """
    start, end = vma.vm_start, vma.vm_end
    pages = 0
    for base, table in mm.pgtables.pte_tables(start, end):
        if base >= start and base + PMD_SIZE <= end:
            pages += len(table) - countOf(table.values(), ZERO_PAGE)
        else:
            pages += sum(
                1
                for index, page in table.items()
                if page is not ZERO_PAGE and start <= base + (index << PAGE_SHIFT) < end
            )
    return pages << PAGE_SHIFT


def _kb(label: str, value: int) -> str:
    return f"{label + ':':<16}{value >> 10:>8} kB\n"


def thp_eligible(vma: VmAreaStruct) -> int:
    # THP enabled=madvise: only anonymous VMAs that asked for huge pages.
    flags = vma.vm_flags
    return int(vma.is_anonymous() and bool(flags & VM_HUGEPAGE) and not flags & VM_NOHUGEPAGE)


def show_smap(mm: MmStruct, vma: VmAreaStruct) -> str:
    mss = smaps_for_vma(mm, vma)
    pss = mss.pss >> PSS_SHIFT
    out = [show_vma_header(mm, vma) + "\n"]
    out.append(_kb("Size", vma.vm_end - vma.vm_start))
    out.append(_kb("KernelPageSize", 4096))
    out.append(_kb("MMUPageSize", 4096))
    out.append(_kb("Rss", mss.resident))
    out.append(_kb("Pss", pss))
    out.append(_kb("Pss_Dirty", mss.pss_dirty >> PSS_SHIFT))
    out.append(_kb("Shared_Clean", mss.shared_clean))
    out.append(_kb("Shared_Dirty", mss.shared_dirty))
    out.append(_kb("Private_Clean", mss.private_clean))
    out.append(_kb("Private_Dirty", mss.private_dirty))
    out.append(_kb("Referenced", mss.referenced))
    out.append(_kb("Anonymous", mss.anonymous))
    out.append(_kb("KSM", 0))
    out.append(_kb("LazyFree", mss.lazyfree))
    for label in (
        "AnonHugePages",
        "ShmemPmdMapped",
        "FilePmdMapped",
        "Shared_Hugetlb",
        "Private_Hugetlb",
        "Swap",
        "SwapPss",
    ):
        out.append(_kb(label, 0))
    out.append(_kb("Locked", pss if vma.vm_flags & VM_LOCKED else 0))
    out.append(f"THPeligible:    {thp_eligible(vma)}\n")
    out.append(f"VmFlags: {vm_flags_to_string(vma.vm_flags)}\n")
    return "".join(out)


def show_smaps(mm: MmStruct, vmas: Iterable[VmAreaStruct], gate: bool) -> str:
    text = "".join(show_smap(mm, vma) for vma in vmas)
    if gate:
        zero = "".join(
            _kb(label, 0)
            for label in (
                "Rss",
                "Pss",
                "Pss_Dirty",
                "Shared_Clean",
                "Shared_Dirty",
                "Private_Clean",
                "Private_Dirty",
                "Referenced",
                "Anonymous",
                "KSM",
                "LazyFree",
                "AnonHugePages",
                "ShmemPmdMapped",
                "FilePmdMapped",
                "Shared_Hugetlb",
                "Private_Hugetlb",
                "Swap",
                "SwapPss",
                "Locked",
            )
        )
        text += (
            gate_header()
            + "\n"
            + _kb("Size", 4096)
            + _kb("KernelPageSize", 4096)
            + _kb("MMUPageSize", 4096)
            + zero
            + "THPeligible:    0\nVmFlags: ex \n"
        )
    return text
