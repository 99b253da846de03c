"""Mapping the vDSO into a new program (arch/x86/entry/vdso/vma.c).

One free-area search finds room for the data pages and the code together; with
ASLR off it lands right below the interpreter (the last thing exec mapped), and
the block is [vvar] (4 pages), [vvar_vclock] (2 pages), then [vdso] (the image).
"""

from __future__ import annotations

from .....kernel.trace import hexargs, traced
from .....lib.vdso.datastore import VDSO_NR_PAGES, VVAR_VM_FLAGS, vdso_install_vvar_mapping
from .....mm.mm_types import MmStruct
from .....mm.mmap import get_unmapped_area, install_special_mapping
from .....mm.vm_flags import VM_EXEC, VM_MAYEXEC, VM_MAYREAD, VM_MAYWRITE, VM_READ
from .....uapi import PAGE_SHIFT

VDSO_NR_VCLOCK_PAGES = 2  # pvclock and Hyper-V TSC pages
VDSO_PAGES = VDSO_NR_PAGES + VDSO_NR_VCLOCK_PAGES  # __VDSO_PAGES
VDSO64_IMAGE_SIZE = 2 << PAGE_SHIFT  # vdso64_image.size of this kernel build


@traced("map_vdso", args=lambda mm, image_size, addr: hexargs(addr, image_size))
def map_vdso(mm: MmStruct, image_size: int = VDSO64_IMAGE_SIZE, addr: int = 0) -> int:
    addr = get_unmapped_area(mm, None, addr, image_size + (VDSO_PAGES << PAGE_SHIFT), 0, 0)
    text_start = addr + (VDSO_PAGES << PAGE_SHIFT)
    # VM_MAYWRITE lets a debugger set breakpoints in its private copy.
    install_special_mapping(
        mm,
        text_start,
        image_size,
        VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC,
        "[vdso]",
    )
    vdso_install_vvar_mapping(mm, addr)
    install_special_mapping(
        mm,
        addr + (VDSO_NR_PAGES << PAGE_SHIFT),
        VDSO_NR_VCLOCK_PAGES << PAGE_SHIFT,
        VVAR_VM_FLAGS,
        "[vvar_vclock]",
    )
    return text_start


def arch_setup_additional_pages(mm: MmStruct) -> int:
    """The vDSO of a 64-bit program (vdso64_enabled); returns where its code starts."""
    return map_vdso(mm, VDSO64_IMAGE_SIZE, 0)
