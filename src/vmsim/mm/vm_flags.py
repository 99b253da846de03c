"""VMA flags and the helpers that classify them (include/linux/mm.h)."""

from __future__ import annotations

VM_NONE = 0x00000000
VM_READ = 0x00000001
VM_WRITE = 0x00000002
VM_EXEC = 0x00000004
VM_SHARED = 0x00000008
VM_MAYREAD = 0x00000010
VM_MAYWRITE = 0x00000020
VM_MAYEXEC = 0x00000040
VM_MAYSHARE = 0x00000080
VM_GROWSDOWN = 0x00000100
VM_UFFD_MISSING = 0x00000200
VM_PFNMAP = 0x00000400
VM_UFFD_WP = 0x00001000
VM_LOCKED = 0x00002000
VM_IO = 0x00004000
VM_SEQ_READ = 0x00008000
VM_RAND_READ = 0x00010000
VM_DONTCOPY = 0x00020000
VM_DONTEXPAND = 0x00040000
VM_LOCKONFAULT = 0x00080000
VM_ACCOUNT = 0x00100000
VM_NORESERVE = 0x00200000
VM_HUGETLB = 0x00400000
VM_SYNC = 0x00800000
VM_ARCH_1 = 0x01000000
VM_WIPEONFORK = 0x02000000
VM_DONTDUMP = 0x04000000
VM_SOFTDIRTY = 0x08000000
VM_MIXEDMAP = 0x10000000
VM_HUGEPAGE = 0x20000000
VM_NOHUGEPAGE = 0x40000000
VM_MERGEABLE = 0x80000000
VM_SEALED = 1 << 42

VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC
VM_STACK = VM_GROWSDOWN
VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP
VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT
VM_STARTGAP_FLAGS = VM_GROWSDOWN
# What do_brk_flags() gives the heap on x86 (VM_DATA_DEFAULT_FLAGS, no READ_IMPLIES_EXEC).
VM_DATA_DEFAULT_FLAGS = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC

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
