"""What each errno means for each system call of the model, in words.

Every reason names a check the model makes (mm/mmap.py, mm/mremap.py, mm/vma.py,
mm/mprotect.py, mm/madvise.py, mm/mseal.py), in the order the kernel makes them;
the report shows the ones a log's calls ran into.
"""

from __future__ import annotations

import errno
import os

_SPLIT_LIMIT = "splitting a VMA would pass vm.max_map_count"
_SPECIAL = "it would cut a special mapping ([vdso], [vvar]) in two"
_SEALED = "a mapping in the range is sealed (mseal)"
_NOT_ALIGNED = "the address is not a multiple of the page size (4096)"

REASONS: dict[tuple[str, str], list[str]] = {
    ("mmap", "EINVAL"): [
        "the length is 0, or the file offset is not page-aligned",
        "the mapping type is none of MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, MAP_DROPPABLE",
        "MAP_GROWSDOWN on a shared or file mapping; MAP_DROPPABLE with MAP_LOCKED, "
        "MAP_HUGETLB or MAP_GROWSDOWN",
        "MAP_HUGETLB on a file that is not on hugetlbfs, or with a huge-page size this "
        "machine lacks",
        f"MAP_FIXED over part of a special mapping: {_SPECIAL}",
    ],
    ("mmap", "ENOMEM"): [
        "no free range is large enough (the gap search failed), or a MAP_FIXED range "
        "ends above the address space",
        "the length rounds up to 0 or is larger than the address space",
        "the process already has more than vm.max_map_count mappings",
        "RLIMIT_AS or RLIMIT_DATA would be exceeded, or the overcommit policy refuses "
        "the commit charge",
        "MAP_HUGETLB: the huge-page pool is empty",
    ],
    ("mmap", "EEXIST"): ["MAP_FIXED_NOREPLACE and the range overlaps an existing mapping"],
    ("mmap", "EPERM"): [
        "the address is below vm.mmap_min_addr without CAP_SYS_RAWIO",
        "MAP_LOCKED without the right to lock memory",
    ],
    ("mmap", "EAGAIN"): ["MAP_LOCKED and the locked memory would pass RLIMIT_MEMLOCK"],
    ("mmap", "EBADF"): ["not MAP_ANONYMOUS, and the fd is not an open file"],
    ("mmap", "EACCES"): [
        "the file is not open for reading",
        "MAP_SHARED with PROT_WRITE on a file not open for writing",
    ],
    ("mmap", "EOVERFLOW"): [
        "offset + length overflows the page index, or passes the largest file size"
    ],
    ("mmap", "EOPNOTSUPP"): ["MAP_SHARED_VALIDATE with a flag the kernel does not know"],
    ("munmap", "EINVAL"): [
        _NOT_ALIGNED,
        "the length is 0, or the range passes the end of the address space",
        _SPECIAL,
    ],
    ("munmap", "ENOMEM"): [f"unmapping the middle of a VMA: {_SPLIT_LIMIT}"],
    ("munmap", "EPERM"): [_SEALED],
    ("mremap", "EINVAL"): [
        "a flag other than MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP",
        f"old_address: {_NOT_ALIGNED}",
        "new_size is 0 or larger than the address space",
        "MREMAP_FIXED or MREMAP_DONTUNMAP: new_address not page-aligned or the new range "
        "passes the end, MREMAP_MAYMOVE missing, or the old and new ranges overlap",
        "MREMAP_DONTUNMAP with old_size != new_size, or on a VM_DONTEXPAND/VM_PFNMAP mapping",
        "old_size 0 (make a second view) on a private mapping: only shared memory can be "
        "duplicated",
        f"moving part of a special mapping: {_SPECIAL}",
    ],
    ("mremap", "EFAULT"): [
        "nothing is mapped at old_address",
        "growing or moving: the old range runs past the end of its VMA (into a gap or "
        "another mapping)",
        "growing a VM_DONTEXPAND or VM_PFNMAP mapping ([vdso], [vvar])",
        "MREMAP_FIXED with old_size == new_size: the range starts in a gap",
    ],
    ("mremap", "ENOMEM"): [
        "growing in place is blocked by the next mapping and MREMAP_MAYMOVE is not given",
        "no free range is large enough to move to",
        "the move could need more than vm.max_map_count mappings",
        "RLIMIT_AS or RLIMIT_DATA would be exceeded, or the overcommit policy refuses "
        "the extra commit charge",
    ],
    ("mremap", "EAGAIN"): ["growing a locked mapping past RLIMIT_MEMLOCK"],
    ("mremap", "EPERM"): ["the mapping at old_address is sealed (mseal)"],
    ("mprotect", "EINVAL"): [
        _NOT_ALIGNED,
        "prot has bits other than PROT_READ, PROT_WRITE, PROT_EXEC, PROT_SEM, or both "
        "PROT_GROWSDOWN and PROT_GROWSUP",
        "PROT_GROWSDOWN on a mapping that does not grow down",
        _SPECIAL,
    ],
    ("mprotect", "ENOMEM"): [
        "part of the range is not mapped (the mappings before the hole are changed)",
        "the range wraps past the end of the address space",
        _SPLIT_LIMIT,
        "becoming writable: RLIMIT_AS/RLIMIT_DATA or the commit charge refuses",
    ],
    ("mprotect", "EACCES"): [
        "a right the mapping may never have: PROT_WRITE on a MAP_SHARED mapping of a file "
        "open read-only"
    ],
    ("mprotect", "EPERM"): [_SEALED],
    ("madvise", "EINVAL"): [
        "advice the model does not know or support (MADV_COLLAPSE, guard regions, ...)",
        _NOT_ALIGNED,
        "the range wraps past the end of the address space",
        "the advice does not fit the mapping: MADV_DONTNEED/MADV_FREE on locked or "
        "VM_PFNMAP memory, MADV_FREE on file memory, MADV_WIPEONFORK on shared or file "
        "memory, MADV_REMOVE on private or locked memory, MADV_POPULATE_* without the "
        "permission it needs",
        _SPECIAL,
    ],
    ("madvise", "ENOMEM"): [
        "part of the range is not mapped (the advice is still applied to the mapped parts)"
    ],
    ("madvise", "EACCES"): ["MADV_REMOVE on a mapping that is not shared and writable"],
    ("madvise", "EPERM"): [
        "discarding advice (MADV_DONTNEED, MADV_FREE, ...) on sealed read-only anonymous memory"
    ],
    ("madvise", "EFAULT"): ["MADV_POPULATE_*: a page lies beyond the end of its file"],
    ("mseal", "EINVAL"): [
        "flags are not 0",
        _NOT_ALIGNED,
        "the range wraps past the end of the address space",
    ],
    ("mseal", "ENOMEM"): ["part of the range is not mapped (nothing is sealed)"],
}

# brk() has no errno: a refused request returns the old break unchanged.
NOTES = {
    "brk": "brk() never fails with an errno: when the kernel refuses (RLIMIT_DATA, no room "
    "below the next mapping) it returns the break unchanged.",
}


def strerror(name: str) -> str:
    number = getattr(errno, name, None)
    return os.strerror(number) if isinstance(number, int) else name


def explain(call: str, name: str) -> list[str]:
    """Why ``call`` can fail with errno ``name`` in the model (empty if it never does)."""
    return REASONS.get((call, name), [])


def table() -> list[dict[str, object]]:
    """Every (call, errno) the model returns, with its reasons, for the report."""
    return [
        {"call": call, "errno": name, "text": strerror(name), "reasons": reasons}
        for (call, name), reasons in REASONS.items()
    ]
