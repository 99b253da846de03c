"""Symbolic names of mm syscall arguments, in the order strace prints them."""

from __future__ import annotations

from .. import uapi

PROT_NAMES = [
    (uapi.PROT_READ, "PROT_READ"),
    (uapi.PROT_WRITE, "PROT_WRITE"),
    (uapi.PROT_EXEC, "PROT_EXEC"),
    (uapi.PROT_SEM, "PROT_SEM"),
    (uapi.PROT_GROWSDOWN, "PROT_GROWSDOWN"),
    (uapi.PROT_GROWSUP, "PROT_GROWSUP"),
]
MAP_TYPE_NAMES = {
    uapi.MAP_SHARED: "MAP_SHARED",
    uapi.MAP_PRIVATE: "MAP_PRIVATE",
    uapi.MAP_SHARED_VALIDATE: "MAP_SHARED_VALIDATE",
    uapi.MAP_DROPPABLE: "MAP_DROPPABLE",
}
MAP_FLAG_NAMES = [
    (uapi.MAP_FIXED, "MAP_FIXED"),
    (uapi.MAP_ANONYMOUS, "MAP_ANONYMOUS"),
    (uapi.MAP_32BIT, "MAP_32BIT"),
    (uapi.MAP_ABOVE4G, "MAP_ABOVE4G"),
    (uapi.MAP_GROWSDOWN, "MAP_GROWSDOWN"),
    (uapi.MAP_DENYWRITE, "MAP_DENYWRITE"),
    (uapi.MAP_EXECUTABLE, "MAP_EXECUTABLE"),
    (uapi.MAP_LOCKED, "MAP_LOCKED"),
    (uapi.MAP_NORESERVE, "MAP_NORESERVE"),
    (uapi.MAP_POPULATE, "MAP_POPULATE"),
    (uapi.MAP_NONBLOCK, "MAP_NONBLOCK"),
    (uapi.MAP_STACK, "MAP_STACK"),
    (uapi.MAP_HUGETLB, "MAP_HUGETLB"),
    (uapi.MAP_SYNC, "MAP_SYNC"),
    (uapi.MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"),
    (uapi.MAP_UNINITIALIZED, "MAP_UNINITIALIZED"),
]
MREMAP_NAMES = [
    (uapi.MREMAP_MAYMOVE, "MREMAP_MAYMOVE"),
    (uapi.MREMAP_FIXED, "MREMAP_FIXED"),
    (uapi.MREMAP_DONTUNMAP, "MREMAP_DONTUNMAP"),
]
MADV_NAMES = {
    value: name
    for name, value in vars(uapi).items()
    if name.startswith("MADV_") and isinstance(value, int)
}


def _bits(value: int, names: list[tuple[int, str]]) -> list[str]:
    parts = []
    for bit, name in names:
        if value & bit:
            parts.append(name)
            value &= ~bit
    if value:
        parts.append(f"{value:#x}")
    return parts


def prot_str(prot: int) -> str:
    return "|".join(_bits(prot, PROT_NAMES)) or "PROT_NONE"


def map_flags_str(flags: int) -> str:
    kind = flags & uapi.MAP_TYPE
    parts = [MAP_TYPE_NAMES.get(kind, f"{kind:#x}")] if kind else []
    parts += _bits(flags & ~uapi.MAP_TYPE, MAP_FLAG_NAMES)
    return "|".join(parts) or "0"


def mremap_flags_str(flags: int) -> str:
    return "|".join(_bits(flags, MREMAP_NAMES)) or "0"


def madvise_str(advice: int) -> str:
    return MADV_NAMES.get(advice, str(advice))
