"""The vDSO data pages, [vvar] (lib/vdso/datastore.c)."""

from __future__ import annotations

from ...mm.mm_types import MmStruct, VmAreaStruct
from ...mm.mmap import install_special_mapping
from ...mm.vm_flags import VM_DONTDUMP, VM_IO, VM_MAYREAD, VM_PFNMAP, VM_READ
from ...uapi import PAGE_SHIFT

VDSO_NR_PAGES = 4  # the time, random-state, arch and rng data pages
# The flags smaps shows for [vvar] on 6.18 ("rd mr pf io de dd"; VM_DONTEXPAND is added
# by every special mapping).
VVAR_VM_FLAGS = VM_READ | VM_MAYREAD | VM_IO | VM_DONTDUMP | VM_PFNMAP


def vdso_install_vvar_mapping(mm: MmStruct, addr: int) -> VmAreaStruct:
    return install_special_mapping(mm, addr, VDSO_NR_PAGES << PAGE_SHIFT, VVAR_VM_FLAGS, "[vvar]")
