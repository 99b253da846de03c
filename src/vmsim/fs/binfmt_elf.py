"""Laying out an ELF program at execve (fs/binfmt_elf.c), with ASLR off.

Only the program headers matter to the layout: the PT_LOAD segments are mapped
from the file (the first one of a PIE at ELF_ET_DYN_BASE, masked to the largest
segment alignment), a segment's memory beyond its file contents becomes an
anonymous brk-style VMA, the interpreter (PT_INTERP, ld.so) is mapped top-down
wherever the free-area search puts it, then come the vDSO and the initial stack
contents.  :func:`read_elf` takes the headers from a file with pyelftools;
bundles from ``vmsim record`` carry them so that a log replays anywhere.
"""

from __future__ import annotations

import errno
import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..arch.x86.mmap import DEFAULT_MAP_WINDOW
from ..errors import SegmentationFault, syscall_error
from ..kernel.trace import hexargs, note, traced
from ..mm import vma as vmalib
from ..mm.memory import access_vm
from ..mm.mmap import do_mmap, vm_brk_flags
from ..mm.vm_flags import VM_EXEC
from ..uapi import (
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)
from .file import ROOT_DEV, OpenFile

if TYPE_CHECKING:
    from ..mm.mm_types import MmStruct
    from .exec import LinuxBinprm

PF_X, PF_W, PF_R = 1, 2, 4
ELF_MIN_ALIGN = PAGE_SIZE
# arch/x86/include/asm/elf.h: two thirds of the 47-bit window (0x555555554aaa).
ELF_ET_DYN_BASE = DEFAULT_MAP_WINDOW // 3 * 2
ELF_PLATFORM = b"x86_64"
# create_elf_tables() on x86-64: ARCH_DLINFO's AT_SYSINFO_EHDR and AT_MINSIGSTKSZ, the
# fifteen generic entries, AT_HWCAP2, AT_EXECFN, AT_PLATFORM and CONFIG_RSEQ's two.
AUXV_ENTRIES = 22


def elf_pagestart(v: int) -> int:  # ELF_PAGESTART()
    return v & ~(ELF_MIN_ALIGN - 1)


def elf_pageoffset(v: int) -> int:  # ELF_PAGEOFFSET()
    return v & (ELF_MIN_ALIGN - 1)


def elf_pagealign(v: int) -> int:  # ELF_PAGEALIGN()
    return (v + ELF_MIN_ALIGN - 1) & ~(ELF_MIN_ALIGN - 1)


@dataclass(frozen=True)
class ElfPhdr:
    """struct elf64_phdr; ``p_type`` by name (PT_LOAD, PT_INTERP, ...)."""

    p_type: str
    p_flags: int
    p_offset: int
    p_vaddr: int
    p_filesz: int
    p_memsz: int
    p_align: int


@dataclass
class ElfImage:
    """What exec needs of an ELF file: its type, program headers, interpreter, identity.

    ``path`` is the name exec was given, ``realpath`` the one /proc/pid/maps shows.
    """

    path: str
    e_type: str  # ET_EXEC or ET_DYN
    phdrs: list[ElfPhdr]
    interp: str | None = None
    realpath: str = ""
    dev: tuple[int, int] = ROOT_DEV
    ino: int = 0
    size: int = 0
    e_phoff: int = 64
    e_entry: int = 0
    loads: list[ElfPhdr] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.realpath = self.realpath or self.path
        self.loads = [p for p in self.phdrs if p.p_type == "PT_LOAD"]

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["loads"]
        out["phdrs"] = [list(asdict(p).values()) for p in self.phdrs]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ElfImage:
        fields = dict(data)
        fields["phdrs"] = [ElfPhdr(*p) for p in data["phdrs"]]
        fields["dev"] = tuple(data.get("dev", ROOT_DEV))
        return cls(**fields)


def read_elf(path: str) -> ElfImage:
    """The ELF header fields and program headers load_elf_phdrs() reads, from the file."""
    from elftools.common.exceptions import ELFError
    from elftools.construct import ConstructError
    from elftools.elf.elffile import ELFFile

    st = os.stat(path)
    with open(path, "rb") as f:
        phdrs: list[ElfPhdr] = []
        interp = None
        try:
            elf = ELFFile(f)
            for seg in elf.iter_segments():
                h = seg.header
                fields = (h.p_flags, h.p_offset, h.p_vaddr, h.p_filesz, h.p_memsz, h.p_align)
                phdrs.append(ElfPhdr(str(h.p_type), *fields))
                if h.p_type == "PT_INTERP":
                    interp = seg.get_interp_name()  # type: ignore[attr-defined]  # InterpSegment
        except (ELFError, ConstructError):
            raise syscall_error(errno.ENOEXEC) from None  # no binary format takes the file
        return ElfImage(
            path=path,
            e_type=str(elf.header.e_type),
            phdrs=phdrs,
            interp=interp,
            realpath=os.path.realpath(path),
            dev=(os.major(st.st_dev), os.minor(st.st_dev)),
            ino=st.st_ino,
            size=st.st_size,
            e_phoff=elf.header.e_phoff,
            e_entry=elf.header.e_entry,
        )


def total_mapping_size(loads: list[ElfPhdr]) -> int:
    """From the first PT_LOAD's page to the end of the highest one."""
    if not loads:
        return 0
    low = min(elf_pagestart(p.p_vaddr) for p in loads)
    return max(p.p_vaddr + p.p_memsz for p in loads) - low


def maximum_alignment(loads: list[ElfPhdr]) -> int:
    alignment = 0
    for p in loads:
        if p.p_align and not p.p_align & (p.p_align - 1):  # only powers of two count
            alignment = max(alignment, p.p_align)
    return elf_pagealign(alignment)


def make_prot(p_flags: int) -> int:
    return (
        (PROT_READ if p_flags & PF_R else 0)
        | (PROT_WRITE if p_flags & PF_W else 0)
        | (PROT_EXEC if p_flags & PF_X else 0)
    )


def padzero(mm: MmStruct, address: int) -> bool:
    """Clear the rest of the page after a segment's file contents; False if that faults.
    A writable segment's page is copied on write here, as clear_user() does."""
    nbyte = elf_pageoffset(address)
    if nbyte:
        try:
            access_vm(mm, address, bytes(ELF_MIN_ALIGN - nbyte), ELF_MIN_ALIGN - nbyte)
        except SegmentationFault:
            return False
    return True


def elf_map(
    mm: MmStruct,
    file: OpenFile,
    addr: int,
    phdr: ElfPhdr,
    prot: int,
    type_: int,
    total_size: int,
) -> int:
    """Map a segment's file pages; the first mapping of an image reserves ``total_size``
    (so the search finds room for all of it) and gives the tail back."""
    size = elf_pagealign(phdr.p_filesz + elf_pageoffset(phdr.p_vaddr))
    off = phdr.p_offset - elf_pageoffset(phdr.p_vaddr)
    addr = elf_pagestart(addr)
    if not size:
        return addr
    if total_size:
        total_size = elf_pagealign(total_size)
        map_addr, _ = do_mmap(mm, file, addr, total_size, prot, type_, off >> PAGE_SHIFT)
        if total_size > size:
            vmalib.do_vmi_munmap(mm, map_addr + size, total_size - size)
        return map_addr
    map_addr, _ = do_mmap(mm, file, addr, size, prot, type_, off >> PAGE_SHIFT)
    return map_addr


@traced(
    "elf_load",
    args=lambda mm, file, addr, phdr, prot, type_, total_size: hexargs(
        addr, phdr.p_vaddr, phdr.p_filesz, phdr.p_memsz
    ),
)
def elf_load(
    mm: MmStruct,
    file: OpenFile,
    addr: int,
    phdr: ElfPhdr,
    prot: int,
    type_: int,
    total_size: int,
) -> int:
    """Map one PT_LOAD segment: its file part, then zeroed memory up to p_memsz."""
    if phdr.p_filesz:
        map_addr = elf_map(mm, file, addr, phdr, prot, type_, total_size)
        zero_start = map_addr + elf_pageoffset(phdr.p_vaddr) + phdr.p_filesz
        zero_end = map_addr + elf_pageoffset(phdr.p_vaddr) + phdr.p_memsz
        if phdr.p_memsz > phdr.p_filesz and not padzero(mm, zero_start) and prot & PROT_WRITE:
            raise syscall_error(errno.EFAULT)
    else:
        map_addr = zero_start = elf_pagestart(addr)
        zero_end = zero_start + elf_pageoffset(phdr.p_vaddr) + phdr.p_memsz
    if phdr.p_memsz > phdr.p_filesz:
        zero_start, zero_end = elf_pagealign(zero_start), elf_pagealign(zero_end)
        # The bss beyond the last file page: a separate anonymous VMA.
        vm_brk_flags(mm, zero_start, zero_end - zero_start, VM_EXEC if prot & PROT_EXEC else 0)
    return map_addr


@traced("load_elf_interp", args=lambda mm, image, file, no_base: image.path)
def load_elf_interp(mm: MmStruct, image: ElfImage, file: OpenFile, no_base: int) -> int:
    """Map the interpreter; returns its load address (its bias)."""
    if image.e_type not in ("ET_EXEC", "ET_DYN"):
        raise syscall_error(errno.ENOEXEC)
    total_size = total_mapping_size(image.loads)
    if not total_size:
        raise syscall_error(errno.EINVAL)
    load_addr = 0
    load_addr_set = False
    for phdr in image.loads:
        elf_type = MAP_PRIVATE
        vaddr = phdr.p_vaddr
        if image.e_type == "ET_EXEC" or load_addr_set:
            elf_type |= MAP_FIXED
        elif no_base and image.e_type == "ET_DYN":
            load_addr = -vaddr
        # With no hint, ld.so goes top-down: it ends at mmap_base.
        map_addr = elf_load(
            mm,
            file,
            (load_addr + vaddr) & ((1 << 64) - 1),
            phdr,
            make_prot(phdr.p_flags),
            elf_type,
            total_size,
        )
        total_size = 0
        if not load_addr_set and image.e_type == "ET_DYN":
            load_addr = map_addr - elf_pagestart(vaddr)
            load_addr_set = True
    return load_addr


def create_elf_tables(bprm: LinuxBinprm) -> None:
    """Put the platform string, random bytes, argc, argv/envp pointers and the auxiliary
    vector below the strings; the stack pages this writes become resident."""
    mm = bprm.mm
    strings = bprm.p
    p = strings & ~0xF  # arch_align_stack() without randomisation
    p -= len(ELF_PLATFORM) + 1  # AT_PLATFORM's string
    p -= 16  # AT_RANDOM's bytes
    ei_index = AUXV_ENTRIES * 2 + 2  # and AT_NULL
    sp = p - ei_index * 8
    items = (bprm.argc + 1) + (bprm.envc + 1) + 1
    bprm.p = (sp - items * 8) & ~0xF  # STACK_ROUND()
    vma = vmalib.find_vma(mm, bprm.p)
    if vma is not None and vma.vm_start > bprm.p:
        # find_extend_vma_locked(): grow the stack down to the new sp first.
        from ..mm.memory import expand_downwards

        if not expand_downwards(mm, vma, bprm.p):
            raise syscall_error(errno.EFAULT)
    access_vm(mm, bprm.p, bytes(strings - bprm.p), strings - bprm.p)


@traced("load_elf_binary", args=lambda bprm: bprm.filename)
def load_elf_binary(bprm: LinuxBinprm) -> None:
    """Map the program and its interpreter into the new mm and finish the stack."""
    from ..arch.x86.entry.vdso.vma import arch_setup_additional_pages
    from .exec import (
        EXSTACK_DEFAULT,
        EXSTACK_DISABLE_X,
        EXSTACK_ENABLE_X,
        STACK_TOP,
        open_exec_file,
        setup_arg_pages,
    )

    image = bprm.image
    assert isinstance(image, ElfImage)
    mm = bprm.mm
    if image.e_type not in ("ET_EXEC", "ET_DYN"):
        raise syscall_error(errno.ENOEXEC)
    interpreter = None
    if image.interp is not None:
        found = bprm.open_exec(image.interp)
        if found is None:
            raise syscall_error(errno.ENOENT)
        if not isinstance(found, ElfImage):
            raise syscall_error(errno.ELIBBAD)
        interpreter = found
    executable_stack = EXSTACK_DEFAULT
    for phdr in image.phdrs:
        if phdr.p_type == "PT_GNU_STACK":
            executable_stack = EXSTACK_ENABLE_X if phdr.p_flags & PF_X else EXSTACK_DISABLE_X
    # begin_new_exec() and setup_new_exec(): the mm (layout chosen from the stack rlimit)
    # was made for this exec.
    setup_arg_pages(bprm, STACK_TOP, executable_stack)
    file = open_exec_file(bprm, image)
    load_bias = 0
    first_pt_load = True
    elf_brk = 0
    start_code, end_code, start_data, end_data = (1 << 64) - 1, 0, 0, 0
    for phdr in image.loads:
        elf_prot = make_prot(phdr.p_flags)
        elf_flags = MAP_PRIVATE
        vaddr = phdr.p_vaddr
        total_size = 0
        if not first_pt_load:
            elf_flags |= MAP_FIXED
        elif image.e_type == "ET_EXEC":
            elf_flags |= MAP_FIXED_NOREPLACE
        else:
            total_size = total_mapping_size(image.loads)
            alignment = maximum_alignment(image.loads)
            if interpreter is not None:
                # A PIE goes at ELF_ET_DYN_BASE (no arch_mmap_rnd() without ASLR).
                load_bias = ELF_ET_DYN_BASE
                if alignment:
                    load_bias &= ~(alignment - 1)
                elf_flags |= MAP_FIXED_NOREPLACE
            elif alignment > ELF_MIN_ALIGN:
                # A loader run directly: find room top-down, then align inside it.
                load_bias = elf_load(mm, file, 0, phdr, elf_prot, elf_flags, total_size)
                vmalib.do_vmi_munmap(mm, load_bias, elf_pagealign(total_size))
                load_bias &= ~(alignment - 1)
                elf_flags |= MAP_FIXED_NOREPLACE
            else:
                load_bias = 0
            load_bias = elf_pagestart(load_bias - vaddr)
        mapped = elf_load(mm, file, load_bias + vaddr, phdr, elf_prot, elf_flags, total_size)
        if first_pt_load:
            first_pt_load = False
            if image.e_type == "ET_DYN":
                load_bias += mapped - elf_pagestart(load_bias + vaddr)
        k = phdr.p_vaddr
        if phdr.p_flags & PF_X and k < start_code:
            start_code = k
        start_data = max(start_data, k)
        k = phdr.p_vaddr + phdr.p_filesz
        if phdr.p_flags & PF_X:
            end_code = max(end_code, k)
        end_data = max(end_data, k)
        elf_brk = max(elf_brk, phdr.p_vaddr + phdr.p_memsz)
    elf_brk += load_bias
    if interpreter is not None:
        interp_file = open_exec_file(bprm, interpreter)
        load_elf_interp(mm, interpreter, interp_file, load_bias)
    arch_setup_additional_pages(mm)
    create_elf_tables(bprm)
    mm.start_data, mm.end_data = start_data + load_bias, end_data + load_bias
    mm.start_stack = bprm.p
    if image.e_type == "ET_DYN" and interpreter is None:
        # A loader run directly keeps its brk away from the mmap area (brk_moved).
        elf_brk = ELF_ET_DYN_BASE
    mm.start_brk = mm.brk = elf_pagealign(elf_brk)
    note(lambda: f"start_brk = brk = {mm.start_brk:#x}")
