"""VMA flags and the helpers that classify them (include/linux/mm.h)."""

from __future__ import annotations

from typing import Final

VM_NONE: Final = 0x00000000
VM_READ: Final = 0x00000001
VM_WRITE: Final = 0x00000002
VM_EXEC: Final = 0x00000004
VM_SHARED: Final = 0x00000008
VM_MAYREAD: Final = 0x00000010
VM_MAYWRITE: Final = 0x00000020
VM_MAYEXEC: Final = 0x00000040
VM_MAYSHARE: Final = 0x00000080
VM_GROWSDOWN: Final = 0x00000100
VM_UFFD_MISSING: Final = 0x00000200
VM_PFNMAP: Final = 0x00000400
VM_UFFD_WP: Final = 0x00001000
VM_LOCKED: Final = 0x00002000
VM_IO: Final = 0x00004000
VM_SEQ_READ: Final = 0x00008000
VM_RAND_READ: Final = 0x00010000
VM_DONTCOPY: Final = 0x00020000
VM_DONTEXPAND: Final = 0x00040000
VM_LOCKONFAULT: Final = 0x00080000
VM_ACCOUNT: Final = 0x00100000
VM_NORESERVE: Final = 0x00200000
VM_HUGETLB: Final = 0x00400000
VM_SYNC: Final = 0x00800000
VM_ARCH_1: Final = 0x01000000
VM_WIPEONFORK: Final = 0x02000000
VM_DONTDUMP: Final = 0x04000000
VM_SOFTDIRTY: Final = 0x08000000
VM_MIXEDMAP: Final = 0x10000000
VM_HUGEPAGE: Final = 0x20000000
VM_NOHUGEPAGE: Final = 0x40000000
VM_MERGEABLE: Final = 0x80000000
VM_SEALED: Final = 1 << 42

VM_ACCESS_FLAGS: Final = VM_READ | VM_WRITE | VM_EXEC
VM_STACK: Final = VM_GROWSDOWN
VM_SPECIAL: Final = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP
VM_LOCKED_MASK: Final = VM_LOCKED | VM_LOCKONFAULT
VM_STARTGAP_FLAGS: Final = VM_GROWSDOWN
# What do_brk_flags() gives the heap on x86 (VM_DATA_DEFAULT_FLAGS, no READ_IMPLIES_EXEC).
VM_DATA_DEFAULT_FLAGS: Final = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC

# show_smap_vma_flags(): two-letter names, printed in bit order.
MNEMONICS: dict[int, str] = {
    VM_READ: "rd",
    VM_WRITE: "wr",
    VM_EXEC: "ex",
    VM_SHARED: "sh",
    VM_MAYREAD: "mr",
    VM_MAYWRITE: "mw",
    VM_MAYEXEC: "me",
    VM_MAYSHARE: "ms",
    VM_GROWSDOWN: "gd",
    VM_UFFD_MISSING: "um",
    VM_PFNMAP: "pf",
    VM_UFFD_WP: "uw",
    VM_LOCKED: "lo",
    VM_IO: "io",
    VM_SEQ_READ: "sr",
    VM_RAND_READ: "rr",
    VM_DONTCOPY: "dc",
    VM_DONTEXPAND: "de",
    VM_LOCKONFAULT: "lf",
    VM_ACCOUNT: "ac",
    VM_NORESERVE: "nr",
    VM_HUGETLB: "ht",
    VM_SYNC: "sf",
    VM_ARCH_1: "ar",
    VM_WIPEONFORK: "wf",
    VM_DONTDUMP: "dd",
    VM_SOFTDIRTY: "sd",
    VM_MIXEDMAP: "mm",
    VM_HUGEPAGE: "hg",
    VM_NOHUGEPAGE: "nh",
    VM_MERGEABLE: "mg",
    VM_SEALED: "sl",
}
MNEMONIC_TO_FLAG = {name: bit for bit, name in MNEMONICS.items()}


def vm_flags_to_string(flags: int) -> str:
    """The VmFlags: line's value, each name followed by a space."""
    return "".join(f"{MNEMONICS[bit]} " for bit in sorted(MNEMONICS) if flags & bit)


def is_exec_mapping(flags: int) -> bool:
    return flags & (VM_EXEC | VM_WRITE | VM_STACK) == VM_EXEC


def is_stack_mapping(flags: int) -> bool:
    return flags & VM_STACK == VM_STACK


def is_data_mapping(flags: int) -> bool:
    return flags & (VM_WRITE | VM_SHARED | VM_STACK) == VM_WRITE
