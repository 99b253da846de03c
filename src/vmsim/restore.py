"""Rebuilding a process from what /proc shows of a real one.

maps gives the VMAs; smaps adds the exact VmFlags and how much of each VMA is
resident and anonymous.  What neither shows has to be assumed, as the reference
notes explain: an anonymous VMA with anonymous pages (or, without smaps, every
private writable one) owns an anon_vma of its own, and private anonymous
vm_pgoff equals vm_start >> 12, as for a fresh mapping.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .fs.file import Inode, OpenFile
from .fs.proc.parse import MapsEntry, parse_maps, parse_smaps
from .mm import vma as vmalib
from .mm.memory import map_page
from .mm.mm_types import AnonVma, VmAreaStruct
from .mm.mmap import vm_stat_account
from .mm.page import Page
from .mm.vm_flags import (
    MNEMONIC_TO_FLAG,
    VM_ACCOUNT,
    VM_DONTDUMP,
    VM_DONTEXPAND,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_IO,
    VM_LOCKED,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_PFNMAP,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
)
from .uapi import O_RDONLY, O_RDWR, PAGE_SHIFT

if TYPE_CHECKING:
    from .process import Process

SPECIAL_NAMES = {"[vdso]", "[vvar]", "[vvar_vclock]"}
VVAR_FLAGS = VM_READ | VM_MAYREAD | VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP
VDSO_FLAGS = VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_DONTEXPAND


def flags_from_entry(entry: MapsEntry) -> int:
    if entry.vmflags is not None:
        return sum(MNEMONIC_TO_FLAG.get(name, 0) for name in set(entry.vmflags))
    if entry.name in ("[vvar]", "[vvar_vclock]"):
        return VVAR_FLAGS
    if entry.name == "[vdso]":
        return VDSO_FLAGS
    perms = entry.perms
    flags = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
    flags |= (VM_READ if perms[0] == "r" else 0) | (VM_WRITE if perms[1] == "w" else 0)
    flags |= VM_EXEC if perms[2] == "x" else 0
    if perms[3] == "s":
        flags |= VM_SHARED | VM_MAYSHARE
    elif perms[1] == "w":
        flags |= VM_ACCOUNT  # private writable memory is charged when mapped
    if entry.name == "[stack]":
        flags |= VM_GROWSDOWN
    return flags


def _is_file(entry: MapsEntry) -> bool:
    return entry.inode != 0 or (entry.major, entry.minor) != (0, 0)


def restore_process(
    cls: type[Process],
    maps_text: str,
    smaps_text: str | None = None,
    resident: Iterable[int] | None = None,
    brk: int | None = None,
    **kwargs: Any,
) -> Process:
    """See Process.from_maps(); ``resident`` lists page addresses known to be present
    (from /proc/pid/pagemap), ``brk`` the exact current break if known."""
    entries = parse_smaps(smaps_text) if smaps_text is not None else parse_maps(maps_text)
    if smaps_text is not None:
        # smaps and maps are read at different moments; maps decides the layout.
        by_range = {(e.start, e.end): e for e in entries}
        entries = [by_range.get((e.start, e.end), e) for e in parse_maps(maps_text)]
    gate = any(e.name == "[vsyscall]" for e in entries)
    entries = [e for e in entries if e.name != "[vsyscall]"]
    start_brk, cur_brk = _brk_area(entries)
    stack = next((e for e in entries if e.name == "[stack]"), None)
    kwargs.setdefault("start_brk", start_brk)
    if stack is not None:
        kwargs.setdefault("start_stack", stack.end - 1)
    proc = cls(gate_vma=gate, **kwargs)
    mm = proc.mm
    mm.brk = brk if brk is not None else max(cur_brk, mm.start_brk)
    files: dict[tuple[int, int, int, str], OpenFile] = {}
    resident_pages = sorted(resident) if resident is not None else None
    for entry in entries:
        flags = flags_from_entry(entry)
        file = None
        special = entry.name if entry.name in SPECIAL_NAMES else None
        if _is_file(entry) and special is None:
            key = (entry.major, entry.minor, entry.inode, entry.name)
            file = files.get(key)
            if file is None:
                shmem = entry.name.startswith("/dev/zero")
                inode = Inode(
                    entry.name, dev=(entry.major, entry.minor), ino=entry.inode, shmem=shmem
                )
                file = files[key] = OpenFile(inode, O_RDWR if flags & VM_SHARED else O_RDONLY)
            pgoff = entry.offset >> PAGE_SHIFT
            inode = file.inode
            inode.size = max(inode.size, (pgoff << PAGE_SHIFT) + entry.end - entry.start)
        else:
            pgoff = entry.start >> PAGE_SHIFT
        vma = VmAreaStruct(entry.start, entry.end, flags, pgoff, file, special=special)
        has_anon = (
            entry.fields.get("Anonymous", 0) > 0
            if entry.vmflags is not None
            else (not flags & VM_SHARED and bool(flags & VM_WRITE))
        )
        if has_anon and special is None:
            vma.anon_vma = AnonVma()
        vmalib.vma_link(mm, vma)
        _account(mm, vma)
        _restore_pages(mm, vma, entry, resident_pages)
    return proc


def _account(mm: Any, vma: VmAreaStruct) -> None:
    pages = vma.pages()
    vm_stat_account(mm, vma.vm_flags, pages)
    if vma.vm_flags & VM_LOCKED:
        mm.locked_vm += pages
    if vma.vm_flags & VM_ACCOUNT:
        mm.committed += pages
    mm.hiwater_vm = max(mm.hiwater_vm, mm.total_vm)


def _restore_pages(
    mm: Any, vma: VmAreaStruct, entry: MapsEntry, resident: list[int] | None
) -> None:
    """Put resident pages where the real process had them (or, without pagemap, as many
    as smaps counts, from the start of the VMA); their old contents are unknown (zero)."""
    if vma.special is not None:
        return
    if resident is not None:
        import bisect

        lo = bisect.bisect_left(resident, vma.vm_start)
        hi = bisect.bisect_left(resident, vma.vm_end)
        addrs = resident[lo:hi]
    elif "Rss" in entry.fields:
        addrs = [vma.vm_start + (i << PAGE_SHIFT) for i in range(entry.fields["Rss"] // 4)]
    else:
        return
    # Of a private file mapping's resident pages, smaps' Anonymous ones were COWed.
    anon_left = entry.fields.get("Anonymous", 0) // 4
    for addr in addrs:
        if vma.vm_file is None:
            page = Page(anon=True)
        elif not vma.vm_flags & VM_MAYSHARE and anon_left > 0:
            anon_left -= 1
            page = Page(anon=True)
        else:
            page = _file_page(vma, addr)
        map_page(mm, addr, page)


def _file_page(vma: VmAreaStruct, addr: int) -> Page:
    assert vma.vm_file is not None
    inode = vma.vm_file.inode
    pgoff = vma.pgoff_of(addr)
    page = inode.pages.get(pgoff)
    if page is None:
        page = inode.pages[pgoff] = Page(anon=False, inode=inode, index=pgoff)
    return page


def _brk_area(entries: list[MapsEntry]) -> tuple[int, int]:
    """(start_brk, brk): the [heap] VMA if any, else the end of the executable's image."""
    heap = next((e for e in entries if e.name == "[heap]"), None)
    if heap is not None:
        return heap.start, heap.end
    files = [e for e in entries if _is_file(e) and e.name.startswith("/")]
    if not files:
        return 0x555555559000, 0x555555559000
    exe = files[0].name
    end = max(e.end for e in files if e.name == exe)
    following = [e for e in entries if e.start == end and not _is_file(e) and not e.name]
    if following:
        end = following[0].end  # the bss VMA that vm_brk_flags() made at exec
    return end, end
