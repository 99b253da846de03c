"""The core structures: struct vm_area_struct, struct anon_vma, struct mm_struct.

(include/linux/mm_types.h, include/linux/rmap.h)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..arch.x86.pgtable import PageTables
from ..fs.file import OpenFile
from ..lib.maple_tree import MapleTree
from ..lib.memo_copy import deepcopy_memo
from ..uapi import PAGE_SHIFT
from .vm_flags import VM_GROWSDOWN

if TYPE_CHECKING:
    from ..kernel.task import Task

_anon_vma_ids = itertools.count(1)


class AnonVma:
    """Identity of an anonymous reverse-mapping root.

    Only identity matters to the model: two VMAs that both own anon_vmas merge
    only if they are the same object (is_mergeable_anon_vma()), and one made by
    fork for a child's VMA keeps its ``parent``.
    """

    __slots__ = ("id", "parent")

    def __init__(self, parent: AnonVma | None = None) -> None:
        self.id = next(_anon_vma_ids)
        # anon_vma_fork() gives a child's VMA a new anon_vma chained to the parent's; the
        # VMAs that use it are fork children (vma_is_fork_child()), which merge less.
        self.parent = parent

    def __repr__(self) -> str:
        return f"AnonVma#{self.id}"

    def __deepcopy__(self, memo: dict[int, Any]) -> AnonVma:
        # The copy module cannot take compiled classes apart: each copies itself.
        new = AnonVma(deepcopy_memo(self.parent, memo))
        new.id = self.id
        memo[id(self)] = new
        return new


class VmAreaStruct:
    """One VMA: [vm_start, vm_end) with its flags, offset and backing."""

    __slots__ = ("vm_start", "vm_end", "vm_flags", "vm_pgoff", "vm_file", "anon_vma", "special")

    def __init__(
        self,
        vm_start: int,
        vm_end: int,
        vm_flags: int,
        vm_pgoff: int,
        vm_file: OpenFile | None = None,
        anon_vma: AnonVma | None = None,
        special: str | None = None,
    ) -> None:
        self.vm_start = vm_start
        self.vm_end = vm_end
        self.vm_flags = vm_flags
        self.vm_pgoff = vm_pgoff
        self.vm_file = vm_file
        self.anon_vma = anon_vma
        # vm_ops->name() of a special mapping ([vdso], [vvar], ...); such VMAs
        # have vm_ops, so they are not "anonymous" in vma_is_anonymous()'s sense.
        self.special = special

    def dup(self) -> VmAreaStruct:  # vm_area_dup()
        return VmAreaStruct(
            self.vm_start,
            self.vm_end,
            self.vm_flags,
            self.vm_pgoff,
            self.vm_file,
            self.anon_vma,
            self.special,
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> VmAreaStruct:
        # Field by field: the generic copy costs several times more, and whole address
        # spaces are copied to try out orders of overlapping calls.
        new = self.dup()
        # The open file stays shared, as a forked child's VMA maps its parent's.
        new.vm_file = self.vm_file
        new.anon_vma = deepcopy_memo(self.anon_vma, memo)
        memo[id(self)] = new
        return new

    def pages(self) -> int:  # vma_pages()
        return (self.vm_end - self.vm_start) >> PAGE_SHIFT

    def is_anonymous(self) -> bool:  # vma_is_anonymous()
        return self.vm_file is None and self.special is None

    def pgoff_of(self, addr: int) -> int:  # linear_page_index()
        return self.vm_pgoff + ((addr - self.vm_start) >> PAGE_SHIFT)

    def trace_name(self) -> str:
        return f"vma[{self.vm_start:#x}-{self.vm_end:#x}]"

    def __repr__(self) -> str:
        return (
            f"VMA({self.vm_start:#x}-{self.vm_end:#x} flags={self.vm_flags:#x} "
            f"pgoff={self.vm_pgoff:#x} anon_vma={self.anon_vma} special={self.special})"
        )


@dataclass
class KernelConfig:
    """Sysctls, boot parameters and machine facts that change results (see the reference)."""

    max_map_count: int = 65530
    mmap_min_addr: int = 0x10000  # max(vm.mmap_min_addr, CONFIG_LSM_MMAP_MIN_ADDR)
    dac_mmap_min_addr: int = 4096  # vm.mmap_min_addr, checked by cap_mmap_addr()
    stack_guard_gap: int = 256 << PAGE_SHIFT
    totalram_pages: int = 24684092 // 4  # MemTotal in pages
    total_swap_pages: int = 0
    overcommit_memory: int = 0
    # What a process can allocate before the OOM killer runs, in pages (MemAvailable, or a
    # memory cgroup's limit); None: all of totalram_pages.
    available_pages: int | None = None

    def oom_pages(self) -> int:
        """Pages of memory nothing can reclaim (see memory.oom_charge()) a process may hold
        before its next allocation calls the OOM killer: what is available, and the swap
        its anonymous and shmem pages could go to."""
        ram = self.totalram_pages if self.available_pages is None else self.available_pages
        return ram + self.total_swap_pages


@dataclass
class Credentials:
    """The capabilities that mm code asks about (root here has all but CAP_SYS_RESOURCE)."""

    cap_sys_rawio: bool = True
    cap_ipc_lock: bool = True
    cap_sys_resource: bool = False


RLIM_INFINITY: Final = (1 << 64) - 1
RLIMIT_DATA: Final = 2
RLIMIT_STACK: Final = 3
RLIMIT_MEMLOCK: Final = 8
RLIMIT_AS: Final = 9


def default_rlimits() -> dict[int, tuple[int, int]]:
    return {
        RLIMIT_DATA: (RLIM_INFINITY, RLIM_INFINITY),
        RLIMIT_STACK: (8 << 20, RLIM_INFINITY),
        RLIMIT_MEMLOCK: (8 << 20, 8 << 20),
        RLIMIT_AS: (RLIM_INFINITY, RLIM_INFINITY),
    }


class MmStruct:
    """An address space: the VMA tree, page tables, layout and counters."""

    # Not a dataclass: compiled, a dataclass's generated __init__ runs in the interpreter,
    # and trying out orders of threads' calls copies whole address spaces often.
    def __init__(
        self,
        task_size: int,
        mmap_base: int,
        mmap_legacy_base: int,
        topdown: bool = True,  # MMF_TOPDOWN
        config: KernelConfig | None = None,
        start_brk: int = 0,
        brk: int = 0,
        start_stack: int = 0,
        start_data: int = 0,
        end_data: int = 0,
        def_flags: int = 0,
    ) -> None:
        self.task_size = task_size
        self.mmap_base = mmap_base
        self.mmap_legacy_base = mmap_legacy_base
        self.topdown = topdown
        self.config = config if config is not None else KernelConfig()
        # mm->owner: the task whose limits and credentials the mm code consults (the
        # kernel's code asks current, which for these calls is a task using this mm).
        self.owner: Task | None = None
        self.start_brk = start_brk
        self.brk = brk
        self.start_stack = start_stack
        self.start_data = start_data
        self.end_data = end_data
        self.def_flags = def_flags
        self.mm_mt: MapleTree[VmAreaStruct] = MapleTree()
        self.pgtables = PageTables()
        self.map_count = 0
        self.total_vm = 0
        self.locked_vm = 0
        self.data_vm = 0
        self.exec_vm = 0
        self.stack_vm = 0
        self.hiwater_vm = 0
        self.committed = 0  # this mm's share of vm_committed_as, in pages
        self.committed_leaked = 0  # commit no VMA will ever return (see vrm_calc_charge)
        self.rss_anon = 0  # MM_ANONPAGES
        self.rss_file = 0  # MM_FILEPAGES
        self.rss_shmem = 0  # MM_SHMEMPAGES
        self.nr_ptes = 0  # PTE tables (mm_inc_nr_ptes(); a part of pgtables_bytes)

    def rlimit(self, resource: int) -> int:
        assert self.owner is not None, "an mm runs calls only once a task owns it"
        return self.owner.signal.rlim[resource][0]

    def rlimit_max(self, resource: int) -> int:
        assert self.owner is not None
        return self.owner.signal.rlim[resource][1]

    def creds(self) -> Credentials:
        assert self.owner is not None
        return self.owner.cred

    def get_mm_rss(self) -> int:
        """Resident pages of every kind (include/linux/mm.h)."""
        return self.rss_anon + self.rss_file + self.rss_shmem

    def copy_layout(self, def_flags: int) -> MmStruct:
        """A new mm with this one's layout, sharing its settings (sysctls) as dup_mm()
        does; no VMAs, counters at zero, no owner yet."""
        return MmStruct(
            self.task_size,
            self.mmap_base,
            self.mmap_legacy_base,
            self.topdown,
            self.config,
            self.start_brk,
            self.brk,
            self.start_stack,
            self.start_data,
            self.end_data,
            def_flags,
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> MmStruct:
        """A copy to try calls on: the layout as copy_layout() gives it, then the tree,
        page tables and counters copied."""
        new = self.copy_layout(self.def_flags)
        memo[id(self)] = new
        new.owner = deepcopy_memo(self.owner, memo)
        new.mm_mt = deepcopy_memo(self.mm_mt, memo)
        new.pgtables = deepcopy_memo(self.pgtables, memo)
        new.map_count = self.map_count
        new.total_vm = self.total_vm
        new.locked_vm = self.locked_vm
        new.data_vm = self.data_vm
        new.exec_vm = self.exec_vm
        new.stack_vm = self.stack_vm
        new.hiwater_vm = self.hiwater_vm
        new.committed = self.committed
        new.committed_leaked = self.committed_leaked
        new.rss_anon = self.rss_anon
        new.rss_file = self.rss_file
        new.rss_shmem = self.rss_shmem
        new.nr_ptes = self.nr_ptes
        return new


def vm_start_gap(vma: VmAreaStruct, stack_guard_gap: int) -> int:
    """Where a VMA's territory begins: a grows-down stack claims a guard gap below it."""
    if vma.vm_flags & VM_GROWSDOWN:
        return max(vma.vm_start - stack_guard_gap, 0)
    return vma.vm_start


def vm_end_gap(vma: VmAreaStruct) -> int:
    # Only VM_GROWSUP (not on x86) claims a gap above.
    return vma.vm_end
