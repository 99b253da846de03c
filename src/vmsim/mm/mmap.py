"""mmap, brk and the accounting they share (mm/mmap.c, the mmap half of mm/vma.c).

``do_mmap`` validates and chooses the address; ``mmap_region`` clears what a
MAP_FIXED mapping replaces, charges the memory, and merges the new range
with its neighbours or links a new VMA.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Final

from ..arch.x86.mmap import mm_get_unmapped_area
from ..errors import syscall_error
from ..fs.file import OpenFile, shmem_inode
from ..kernel.trace import hexargs, note, traced
from ..uapi import (
    MAP_DROPPABLE,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_GROWSDOWN,
    MAP_HUGETLB,
    MAP_LOCKED,
    MAP_NONBLOCK,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_SHARED_VALIDATE,
    MAP_STACK,
    MAP_SYNC,
    MAP_TYPE,
    PAGE_MASK,
    PAGE_SHIFT,
    PMD_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    ULONG_MAX,
    page_align,
    ulong,
)
from . import vma as vmalib
from .gup import mm_populate
from .huge_memory import thp_get_unmapped_area
from .mm_types import (
    RLIM_INFINITY,
    RLIMIT_AS,
    RLIMIT_DATA,
    RLIMIT_MEMLOCK,
    RLIMIT_STACK,
    AnonVma,
    MmStruct,
    VmAreaStruct,
    vm_start_gap,
)
from .vm_flags import (
    VM_ACCOUNT,
    VM_DATA_DEFAULT_FLAGS,
    VM_DONTCOPY,
    VM_DONTDUMP,
    VM_DONTEXPAND,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_HUGETLB,
    VM_LOCKED,
    VM_LOCKED_MASK,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_MIXEDMAP,
    VM_NOHUGEPAGE,
    VM_NORESERVE,
    VM_PFNMAP,
    VM_READ,
    VM_SHARED,
    VM_SPECIAL,
    VM_SYNC,
    VM_WIPEONFORK,
    VM_WRITE,
    is_data_mapping,
    is_exec_mapping,
    is_stack_mapping,
)

if TYPE_CHECKING:
    from ..kernel.task import Task

LEGACY_MAP_MASK = (
    MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | 0x20  # MAP_ANONYMOUS
    | 0x0800  # MAP_DENYWRITE
    | 0x1000  # MAP_EXECUTABLE
    | 0x4000000  # MAP_UNINITIALIZED
    | MAP_GROWSDOWN
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB
    | 0x40  # MAP_32BIT
    | 0x80  # MAP_ABOVE4G
    | 21 << 26  # MAP_HUGE_2MB
    | 30 << 26  # MAP_HUGE_1GB
)
MAX_LFS_FILESIZE: Final = (1 << 63) - 1
MAX_ERRNO: Final = 4095  # include/linux/err.h: the top 4095 values are errors


# -- accounting -------------------------------------------------------------------------


def vm_stat_account(mm: MmStruct, flags: int, npages: int) -> None:
    mm.total_vm += npages
    if is_exec_mapping(flags):
        mm.exec_vm += npages
    elif is_stack_mapping(flags):
        mm.stack_vm += npages
    elif is_data_mapping(flags):
        mm.data_vm += npages


def may_expand_vm(mm: MmStruct, flags: int, npages: int) -> bool:
    """RLIMIT_AS for every mapping, RLIMIT_DATA for private writable ones."""
    if mm.total_vm + npages > mm.rlimit(RLIMIT_AS) >> PAGE_SHIFT:
        return False
    if is_data_mapping(flags) and mm.data_vm + npages > mm.rlimit(RLIMIT_DATA) >> PAGE_SHIFT:
        # The Valgrind workaround: a zero soft limit is judged by the hard one.
        return (
            mm.rlimit(RLIMIT_DATA) == 0
            and mm.data_vm + npages <= mm.rlimit_max(RLIMIT_DATA) >> PAGE_SHIFT
        )
    return True


def vm_enough_memory(mm: MmStruct, pages: int) -> None:  # security_vm_enough_memory_mm()
    """Charge ``pages`` of commit; ENOMEM as overcommit policy decides."""
    cfg = mm.config
    if cfg.overcommit_memory == 0:
        # The heuristic judges each request alone against RAM + swap.
        if pages > cfg.totalram_pages + cfg.total_swap_pages:
            raise syscall_error(errno.ENOMEM)
    elif cfg.overcommit_memory == 2:
        limit = cfg.totalram_pages // 2 + cfg.total_swap_pages
        if mm.committed + pages > limit:
            raise syscall_error(errno.ENOMEM)
    mm.committed += pages


def vm_unacct_memory(mm: MmStruct, pages: int) -> None:
    mm.committed -= pages


def mlock_future_ok(mm: MmStruct, flags: int, nbytes: int) -> bool:
    if not flags & VM_LOCKED or mm.creds().cap_ipc_lock:
        return True
    return (nbytes >> PAGE_SHIFT) + mm.locked_vm <= mm.rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT


def acct_stack_growth(mm: MmStruct, vma: VmAreaStruct, size: int, grow: int) -> bool:
    if not may_expand_vm(mm, vma.vm_flags, grow):
        return False
    if size > mm.rlimit(RLIMIT_STACK):
        return False
    if not mlock_future_ok(mm, vma.vm_flags, grow << PAGE_SHIFT):
        return False
    if vma.vm_flags & VM_ACCOUNT:
        cfg = mm.config
        if cfg.overcommit_memory == 0 and grow > cfg.totalram_pages + cfg.total_swap_pages:
            return False
    vm_stat_account(mm, vma.vm_flags, grow)
    return True


# -- choosing the address ---------------------------------------------------------------


@traced(
    "get_unmapped_area",
    args=lambda mm, file, addr, length, pgoff, flags: hexargs(addr, length, pgoff, flags),
)
def get_unmapped_area(
    mm: MmStruct, file: OpenFile | None, addr: int, length: int, pgoff: int, flags: int
) -> int:  # __get_unmapped_area()
    """Pick the search by backing, run it, then check the result as the kernel does."""
    if length > mm.task_size:
        raise syscall_error(errno.ENOMEM)
    if file is None:
        pgoff = 0
    if file is not None and file.inode.thp_aligned:
        addr = thp_get_unmapped_area(mm, addr, length, pgoff, flags)
    elif file is not None or flags & MAP_SHARED:
        # shmem_get_unmapped_area() with shmem_enabled=never: the plain search.
        addr = mm_get_unmapped_area(mm, addr, length, pgoff, flags)
    elif not addr and length % PMD_SIZE == 0:
        # Private anonymous mappings of whole 2 MiB blocks are THP-aligned.
        addr = thp_get_unmapped_area(mm, addr, length, pgoff, flags)
    else:
        addr = mm_get_unmapped_area(mm, addr, length, pgoff, flags)
    if addr > ULONG_MAX - MAX_ERRNO:
        # IS_ERR_VALUE(): a MAP_FIXED address in the last 4095 bytes below 2^64 comes back
        # from the search as it was, and reads as the error -addr (mmap(-1, ...) is EPERM).
        raise syscall_error(ULONG_MAX + 1 - addr)
    if addr > mm.task_size - length:
        raise syscall_error(errno.ENOMEM)
    if addr & ~PAGE_MASK:
        raise syscall_error(errno.EINVAL)
    if addr < mm.config.dac_mmap_min_addr and not mm.creds().cap_sys_rawio:
        # cap_mmap_addr()
        raise syscall_error(errno.EPERM)
    return addr


def round_hint_to_min(mm: MmStruct, hint: int) -> int:
    hint &= PAGE_MASK
    if hint and hint < mm.config.mmap_min_addr:
        return page_align(mm.config.mmap_min_addr)
    return hint


def calc_vm_prot_bits(prot: int) -> int:
    return (
        (VM_READ if prot & PROT_READ else 0)
        | (VM_WRITE if prot & PROT_WRITE else 0)
        | (VM_EXEC if prot & PROT_EXEC else 0)
    )


def calc_vm_flag_bits(flags: int) -> int:
    return (
        (VM_GROWSDOWN if flags & MAP_GROWSDOWN else 0)
        | (VM_LOCKED if flags & MAP_LOCKED else 0)
        | (VM_SYNC if flags & MAP_SYNC else 0)
        | (VM_NOHUGEPAGE if flags & MAP_STACK else 0)
    )


def _mmap_args(
    mm: MmStruct, file: OpenFile | None, addr: int, length: int, prot: int, flags: int, pgoff: int
) -> str:
    return hexargs(addr, length, prot, flags, pgoff)


@traced("do_mmap", args=_mmap_args)
def do_mmap(
    mm: MmStruct, file: OpenFile | None, addr: int, length: int, prot: int, flags: int, pgoff: int
) -> tuple[int, int]:
    """Validate, choose the address, build the VMA flags; returns (addr, bytes to populate)."""
    if not length:
        raise syscall_error(errno.EINVAL)
    if flags & MAP_FIXED_NOREPLACE:
        flags |= MAP_FIXED
    if not flags & MAP_FIXED:
        addr = round_hint_to_min(mm, addr)
    length = page_align(length)
    if not length:
        raise syscall_error(errno.ENOMEM)
    if pgoff + (length >> PAGE_SHIFT) >= 1 << 64:
        raise syscall_error(errno.EOVERFLOW)
    if mm.map_count > mm.config.max_map_count:
        raise syscall_error(errno.ENOMEM)
    if mm.def_flags & VM_LOCKED:
        flags |= MAP_LOCKED
    addr = get_unmapped_area(mm, file, addr, length, pgoff, flags)
    if flags & MAP_FIXED_NOREPLACE and vmalib.find_vma_intersection(mm, addr, addr + length):
        raise syscall_error(errno.EEXIST)
    vm_flags = (
        calc_vm_prot_bits(prot)
        | calc_vm_flag_bits(flags)
        | mm.def_flags
        | VM_MAYREAD
        | VM_MAYWRITE
        | VM_MAYEXEC
    )
    # can_do_mlock() holds for root and whenever RLIMIT_MEMLOCK is non-zero.
    if flags & MAP_LOCKED and not (mm.creds().cap_ipc_lock or mm.rlimit(RLIMIT_MEMLOCK)):
        raise syscall_error(errno.EPERM)
    if not mlock_future_ok(mm, vm_flags, length):
        raise syscall_error(errno.EAGAIN)
    map_type = flags & MAP_TYPE
    if file is not None:
        vm_flags, flags = _file_vm_flags(file, vm_flags, flags, prot, pgoff, length)
    elif map_type == MAP_SHARED:
        if vm_flags & VM_GROWSDOWN:
            raise syscall_error(errno.EINVAL)
        pgoff = 0
        vm_flags |= VM_SHARED | VM_MAYSHARE
    elif map_type in (MAP_PRIVATE, MAP_DROPPABLE):
        if map_type == MAP_DROPPABLE:
            if flags & (MAP_LOCKED | MAP_HUGETLB) or vm_flags & VM_GROWSDOWN:
                raise syscall_error(errno.EINVAL)
            vm_flags |= VM_WIPEONFORK | VM_DONTDUMP | VM_NORESERVE
        # Private anonymous pgoff follows the address so neighbours line up for merging.
        pgoff = addr >> PAGE_SHIFT
    else:
        raise syscall_error(errno.EINVAL)
    if flags & MAP_NORESERVE and mm.config.overcommit_memory != 2:
        vm_flags |= VM_NORESERVE
    addr = mmap_region(mm, file, addr, length, vm_flags, pgoff)
    populate = 0
    if vm_flags & VM_LOCKED or flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE:
        populate = length
    return addr, populate


def _file_vm_flags(
    file: OpenFile, vm_flags: int, flags: int, prot: int, pgoff: int, length: int
) -> tuple[int, int]:
    """The file half of do_mmap(): permissions against the open mode."""
    maxsize = MAX_LFS_FILESIZE
    if length > maxsize or pgoff > (maxsize - length) >> PAGE_SHIFT:
        raise syscall_error(errno.EOVERFLOW)
    map_type = flags & MAP_TYPE
    if map_type in (MAP_SHARED, MAP_SHARED_VALIDATE):
        if map_type == MAP_SHARED:
            # Plain MAP_SHARED silently drops flags it never knew.
            flags &= LEGACY_MAP_MASK
        if flags & ~LEGACY_MAP_MASK:
            raise syscall_error(errno.EOPNOTSUPP)
        if prot & PROT_WRITE and not file.writable:
            raise syscall_error(errno.EACCES)
        vm_flags |= VM_SHARED | VM_MAYSHARE
        if not file.writable:
            vm_flags &= ~(VM_MAYWRITE | VM_SHARED)
    elif map_type != MAP_PRIVATE:
        raise syscall_error(errno.EINVAL)
    if not file.readable:
        raise syscall_error(errno.EACCES)
    if vm_flags & VM_GROWSDOWN:
        raise syscall_error(errno.EINVAL)
    return vm_flags, flags


def accountable_mapping(vm_flags: int) -> bool:
    return vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE | VM_HUGETLB) == VM_WRITE


@traced(
    "mmap_region",
    args=lambda mm, file, addr, length, vm_flags, pgoff: hexargs(addr, length, vm_flags, pgoff),
)
def mmap_region(
    mm: MmStruct, file: OpenFile | None, addr: int, length: int, vm_flags: int, pgoff: int
) -> int:  # __mmap_region()
    end = addr + length
    pglen = length >> PAGE_SHIFT
    vms = None
    overlap = vmalib.find_vma_intersection(mm, addr, end)
    if overlap is not None:
        # __mmap_prepare(): gather (and split) what MAP_FIXED replaces, still reversible.
        vms = vmalib.VmaMunmapStruct(mm, overlap, addr, end)
        vms.gather()
        prev, nxt = vms.prev, vms.next
    else:
        prev, nxt = vmalib.vma_below(mm, addr), vmalib.find_vma(mm, end)
    nr_pages = vms.nr_pages if vms else 0
    if not may_expand_vm(mm, vm_flags, pglen - nr_pages):
        raise syscall_error(errno.ENOMEM)
    charged = 0
    if accountable_mapping(vm_flags):
        charged = pglen - (vms.nr_accounted if vms else 0)
        if charged:
            vm_enough_memory(mm, charged)
        if vms:
            # The replaced pages' charge carries over to the new mapping.
            vms.nr_accounted = 0
        vm_flags |= VM_ACCOUNT
    if vms is not None:
        vms.complete()
    if file is None and vm_flags & VM_SHARED and not vm_flags & VM_NORESERVE:
        # shmem_acct_size(): the shmem object is charged for its whole size up front.
        cfg = mm.config
        if cfg.overcommit_memory == 0 and pglen > cfg.totalram_pages + cfg.total_swap_pages:
            vm_unacct_memory(mm, charged)
            raise syscall_error(errno.ENOMEM)
    vma = None
    if prev is not None or nxt is not None:
        vmg = vmalib.VmaMergeStruct(
            mm,
            prev=prev,
            middle=None,
            next=nxt,
            start=addr,
            end=end,
            pgoff=pgoff,
            vm_flags=vm_flags,
            file=file,
            anon_vma=None,
        )
        vma = vmalib.vma_merge_new_range(vmg)
    if vma is None:
        if file is None and vm_flags & VM_SHARED:
            file = OpenFile(shmem_inode(length))
            note(lambda: f"shmem_zero_setup(): inode {file.inode.ino}")
        vma = VmAreaStruct(addr, end, vm_flags, pgoff, file)
        vmalib.vma_link(mm, vma)
    vm_stat_account(mm, vm_flags, pglen)
    if vm_flags & VM_LOCKED:
        if vm_flags & VM_SPECIAL:
            vma.vm_flags &= ~VM_LOCKED_MASK
        else:
            mm.locked_vm += pglen
    mm.hiwater_vm = max(mm.hiwater_vm, mm.total_vm)
    return addr


# -- munmap and brk ---------------------------------------------------------------------


def check_brk_limits(mm: MmStruct, addr: int, length: int) -> bool:
    try:
        get_unmapped_area(mm, None, addr, length, 0, MAP_FIXED)
    except OSError:
        return False
    return mlock_future_ok(mm, mm.def_flags, length)


@traced("do_brk_flags", args=lambda mm, vma, addr, length, vm_flags=0: hexargs(addr, length))
def do_brk_flags(
    mm: MmStruct, vma: VmAreaStruct | None, addr: int, length: int, vm_flags: int = 0
) -> None:
    flags = vm_flags | VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT | mm.def_flags
    npages = length >> PAGE_SHIFT
    if not may_expand_vm(mm, flags, npages) or mm.map_count > mm.config.max_map_count:
        raise syscall_error(errno.ENOMEM)
    vm_enough_memory(mm, npages)
    merged = None
    if vma is not None and vma.vm_end == addr:
        # Only the VMA below may grow: the heap never merges upwards here.
        vmg = vmalib.VmaMergeStruct(
            mm,
            prev=vma,
            middle=None,
            next=None,
            start=addr,
            end=addr + length,
            pgoff=addr >> PAGE_SHIFT,
            vm_flags=flags,
            file=None,
            anon_vma=None,
            just_expand=True,
        )
        merged = vmalib.vma_merge_new_range(vmg)
    if merged is None:
        vmalib.vma_link(mm, VmAreaStruct(addr, addr + length, flags, addr >> PAGE_SHIFT))
    mm.total_vm += npages
    mm.data_vm += npages
    if flags & VM_LOCKED:
        mm.locked_vm += npages
    mm.hiwater_vm = max(mm.hiwater_vm, mm.total_vm)


def sys_brk(task: Task, brk: int) -> int:
    """brk(2): the new break, or the unchanged one on any failure (never an errno)."""
    mm = task.mm
    origbrk = mm.brk
    if brk < mm.start_brk:
        return origbrk
    data_limit = mm.rlimit(RLIMIT_DATA)
    if (
        data_limit < RLIM_INFINITY
        and (brk - mm.start_brk) + (mm.end_data - mm.start_data) > data_limit
    ):
        return origbrk
    newbrk = page_align(brk)  # 0 for a break in the last page below 2^64
    oldbrk = page_align(mm.brk)
    if oldbrk == newbrk:
        mm.brk = brk
        return brk
    if brk <= mm.brk:
        brkvma = vmalib.find_vma_intersection(mm, newbrk, oldbrk)
        if brkvma is None or brkvma.vm_start >= oldbrk:
            return origbrk
        mm.brk = brk
        try:
            vmalib.do_vmi_align_munmap(mm, brkvma, newbrk, oldbrk)
        except OSError:
            mm.brk = origbrk
            return origbrk
        return brk
    # Growing: newbrk - oldbrk is an unsigned long, so a newbrk that wrapped to 0 asks
    # for a length no address space has, and check_brk_limits() refuses it.
    if not check_brk_limits(mm, oldbrk, ulong(newbrk - oldbrk)):
        return origbrk
    nxt = vmalib.find_vma_intersection(mm, oldbrk, newbrk + 4096 + mm.config.stack_guard_gap)
    if nxt is not None and newbrk + 4096 > vm_start_gap(nxt, mm.config.stack_guard_gap):
        # One free page must stay above the break.
        return origbrk
    brkvma = vmalib.vma_below(mm, oldbrk)
    if brkvma is not None and brkvma.vm_end <= mm.start_brk:
        brkvma = None  # vma_prev_limit(): only a VMA above start_brk is the heap
    try:
        do_brk_flags(mm, brkvma, oldbrk, newbrk - oldbrk)
    except OSError:
        return origbrk
    mm.brk = brk
    return brk


# -- the system calls -------------------------------------------------------------------

MAP_HUGE_SHIFT: Final = 26
MAP_HUGE_MASK: Final = 0x3F


def sys_mmap(
    task: Task,
    addr: int,
    length: int,
    prot: int,
    flags: int,
    fd: int,
    off: int,
) -> int:
    """x86's SYSCALL_DEFINE6(mmap) -> ksys_mmap_pgoff -> vm_mmap_pgoff -> do_mmap, then
    populate."""
    mm = task.mm
    if off & ~PAGE_MASK:
        raise syscall_error(errno.EINVAL)
    file = None
    if not flags & 0x20:  # MAP_ANONYMOUS
        file = task.files.fdt.get(fd & 0xFFFFFFFF)  # fget() takes an unsigned int
        if file is None:
            raise syscall_error(errno.EBADF)
        if flags & MAP_HUGETLB:
            raise syscall_error(errno.EINVAL)  # not a hugetlbfs file
    elif flags & MAP_HUGETLB:
        # Anonymous hugetlb: a size the machine lacks is EINVAL; the pool is empty here.
        if (flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK not in (0, 21, 30):
            raise syscall_error(errno.EINVAL)
        raise syscall_error(errno.EINVAL if not length else errno.ENOMEM)
    addr, populate = do_mmap(mm, file, addr, length, prot, flags, off >> PAGE_SHIFT)
    if populate:
        mm_populate(mm, addr, populate)
    return addr


def sys_munmap(task: Task, addr: int, length: int) -> int:
    vmalib.do_vmi_munmap(task.mm, addr, length)
    return 0


def vm_brk_flags(mm: MmStruct, addr: int, request: int, vm_flags: int = 0) -> None:
    """An anonymous brk-style area at ``addr`` for exec (an ELF segment's bss): whatever was
    there is unmapped first, and it grows the VMA below only if that is one too."""
    length = page_align(request)
    if length < request:
        raise syscall_error(errno.ENOMEM)
    if not length:
        return
    if not check_brk_limits(mm, addr, length):
        raise syscall_error(errno.ENOMEM)
    vmalib.do_vmi_munmap(mm, addr, length)
    do_brk_flags(mm, vmalib.vma_below(mm, addr), addr, length, vm_flags)


def dup_mmap(mm: MmStruct, oldmm: MmStruct) -> None:
    """Fill a forked child's empty ``mm`` with copies of ``oldmm``'s VMAs.

    VM_DONTCOPY VMAs stay behind; VM_WIPEONFORK ones come without pages or anon_vma.
    A VMA with an anon_vma gets a new one chained to the parent's (anon_vma_fork()) and
    all its present pages (copy_page_range()): anonymous pages are copied here rather
    than shared copy-on-write, which reads and counts the same from either side.  Other
    VMAs get no page-table entries; the child faults them in again.
    """
    from .memory import map_page
    from .page import Page

    mm.total_vm, mm.data_vm = oldmm.total_vm, oldmm.data_vm
    mm.exec_vm, mm.stack_vm = oldmm.exec_vm, oldmm.stack_vm
    for mpnt in vmalib.all_vmas(oldmm):
        if mpnt.vm_flags & VM_DONTCOPY:
            vm_stat_account(mm, mpnt.vm_flags, -mpnt.pages())
            continue
        if mpnt.vm_flags & VM_ACCOUNT:
            vm_enough_memory(mm, mpnt.pages())
        tmp = mpnt.dup()
        tmp.vm_flags &= ~VM_LOCKED_MASK
        if tmp.vm_flags & VM_WIPEONFORK or mpnt.anon_vma is None:
            tmp.anon_vma = None
        else:
            # anon_vma_fork(): a new anon_vma for each VMA, so even pieces of one parent
            # VMA no longer share one in the child.
            tmp.anon_vma = AnonVma(mpnt.anon_vma)
        vmalib.vma_link(mm, tmp)
        if tmp.vm_flags & VM_WIPEONFORK or not (
            mpnt.anon_vma is not None or mpnt.vm_flags & (VM_PFNMAP | VM_MIXEDMAP)
        ):
            continue  # vma_needs_copy() says no
        for addr, page in oldmm.pgtables.present(mpnt.vm_start, mpnt.vm_end):
            if page.anon:
                copy = Page(anon=True)
                copy.copy_from(page)
                copy.dirty = page.dirty
                page = copy
            map_page(mm, addr, page)
    mm.hiwater_vm = mm.total_vm


def install_special_mapping(
    mm: MmStruct, addr: int, length: int, vm_flags: int, name: str
) -> VmAreaStruct:  # _install_special_mapping()
    """A kernel-provided mapping ([vdso], [vvar], ...): never merged, never expanded."""
    vma = VmAreaStruct(
        addr,
        addr + length,
        (vm_flags | mm.def_flags | VM_DONTEXPAND) & ~VM_LOCKED_MASK,
        0,
        special=name,
    )
    vmalib.insert_vm_struct(mm, vma)
    vm_stat_account(mm, vma.vm_flags, length >> PAGE_SHIFT)
    return vma
