"""The arguments of system calls: their C types, and how strace prints them.

A ``CType`` is the type an argument has in the kernel's ``SYSCALL_DEFINEn`` prototype.
The caller passes 64-bit registers; the kernel's wrapper (``__se_sys_*``) casts each to
its declared type, so an ``int`` keeps the low 32 bits, sign-extended, and an
``unsigned long`` all 64.  :meth:`CType.convert` does that cast.

A ``Show`` prints one argument as strace 6.1 (the tracer on our machines) does, and
names the constants it prints, which the strace reader takes back.
"""

from __future__ import annotations

from typing import Final

from .. import uapi

SMALL_INT_MAX: Final = (1 << 62) - 1
REGISTER_MIN: Final = -(1 << 63)
REGISTER_MAX: Final = (1 << 64) - 1


class CType:
    """An integer type of the kernel's prototype (pointers are unsigned long)."""

    __slots__ = ("name", "bits", "signed", "mask", "small")

    def __init__(self, name: str, bits: int, signed: bool) -> None:
        self.name = name
        self.bits = bits
        self.signed = signed
        self.mask = (1 << bits) - 1
        # Values up to this pass unchanged, without big-integer arithmetic.
        self.small = SMALL_INT_MAX if bits == 64 else self.mask >> 1

    def convert(self, value: int) -> int:
        """The value the kernel's function receives for a register holding ``value`` (a
        signed or unsigned 64-bit number; anything wider is a ValueError)."""
        if 0 <= value <= self.small:
            return value  # the common case
        if not REGISTER_MIN <= value <= REGISTER_MAX:
            raise ValueError(f"{value:#x} does not fit in a 64-bit register")
        value &= self.mask
        if self.signed and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value

    def __repr__(self) -> str:
        return self.name


ULONG: Final = CType("unsigned long", 64, False)
SIZE_T: Final = CType("size_t", 64, False)
LONG: Final = CType("long", 64, True)
INT: Final = CType("int", 32, True)
UINT: Final = CType("unsigned int", 32, False)
POINTER: Final = CType("unsigned long", 64, False)  # addresses: void __user * as a number


class Show:
    """How strace prints an argument (base: a signed or unsigned decimal of the type)."""

    def __init__(self, bits: int = 64, signed: bool = False) -> None:
        self.bits = bits
        self.signed = signed

    def raw(self, value: int) -> int:
        value &= (1 << self.bits) - 1
        if self.signed and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value

    def text(self, value: int) -> str:
        return str(self.raw(value))

    def constants(self) -> dict[str, int]:
        """The names this printer may print, with their values."""
        return {}


class Pointer(Show):
    """An address: NULL or hexadecimal."""

    def text(self, value: int) -> str:
        value = self.raw(value)
        return "NULL" if value == 0 else f"{value:#x}"

    def constants(self) -> dict[str, int]:
        return {"NULL": 0}


class Hex(Show):
    """A number strace prints in hexadecimal (0 as ``0``): a file offset."""

    def text(self, value: int) -> str:
        value = self.raw(value)
        return f"{value:#x}" if value else "0"


def _unknown(value: int, prefix: str) -> str:
    return f"{value:#x} /* {prefix}_??? */"


class Flags(Show):
    """A set of bits: the known names in strace's order, then what is left in hex; a
    value with no known bit as ``0x10 /* PREFIX_??? */``."""

    def __init__(
        self,
        prefix: str,
        names: list[tuple[int, str]],
        zero: str = "0",
        bits: int = 64,
    ) -> None:
        super().__init__(bits)
        self.prefix = prefix
        self.names = names
        self.zero = zero

    def text(self, value: int) -> str:
        value = self.raw(value)
        if not value:
            return self.zero
        parts, rest = _bits(value, self.names)
        if not parts:
            return _unknown(value, self.prefix)
        if rest:
            parts.append(f"{rest:#x}")
        return "|".join(parts)

    def constants(self) -> dict[str, int]:
        found = {name: bit for bit, name in self.names}
        if self.zero != "0":
            found[self.zero] = 0
        return found


class Enum(Show):
    """One of a list of values (madvise's advice): its name, or ``0x63 /* MADV_??? */``."""

    def __init__(self, prefix: str, names: dict[int, str], bits: int = 32) -> None:
        super().__init__(bits)
        self.prefix = prefix
        self.names = names

    def text(self, value: int) -> str:
        value = self.raw(value)
        name = self.names.get(value)
        return name if name is not None else _unknown(value, self.prefix)

    def constants(self) -> dict[str, int]:
        return {name: value for value, name in self.names.items()}


MAP_HUGE_SHIFT: Final = 26
MAP_HUGE_MASK: Final = 0x3F


class MmapFlags(Flags):
    """mmap's flags: the mapping type, then the flags, then the huge-page size field
    (``MAP_PRIVATE|MAP_ANONYMOUS|21<<MAP_HUGE_SHIFT``); strace reads them as 32 bits."""

    def __init__(self, types: dict[int, str], names: list[tuple[int, str]]) -> None:
        super().__init__("MAP", names, bits=32)
        self.types = types

    def text(self, value: int) -> str:
        value = self.raw(value)
        kind = value & uapi.MAP_TYPE
        huge = (value >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK
        rest = value & ~uapi.MAP_TYPE & ~(MAP_HUGE_MASK << MAP_HUGE_SHIFT)
        name = self.types.get(kind)
        parts = [name if name is not None else _unknown(kind, self.prefix)]
        named, rest = _bits(rest, self.names)
        parts += named
        if rest:
            parts.append(f"{rest:#x}")
        if huge:
            parts.append(f"{huge}<<MAP_HUGE_SHIFT")
        return "|".join(parts)

    def constants(self) -> dict[str, int]:
        found = super().constants()
        found.update({name: kind for kind, name in self.types.items()})
        return found


def _bits(value: int, names: list[tuple[int, str]]) -> tuple[list[str], int]:
    parts = []
    for bit, name in names:
        if (value & bit) == bit:
            parts.append(name)
            value &= ~bit
    return parts, value


# -- the printers of the memory calls' arguments, with strace 6.1's names and order ------

ADDRESS: Final = Pointer()
LENGTH: Final = Show(64)  # size_t and unsigned long sizes: unsigned decimal
FD: Final = Show(32, signed=True)
OFFSET: Final = Hex()
NUMBER: Final = Show(32, signed=True)

PROT: Final = Flags(
    "PROT",
    [
        (uapi.PROT_READ, "PROT_READ"),
        (uapi.PROT_WRITE, "PROT_WRITE"),
        (uapi.PROT_EXEC, "PROT_EXEC"),
        (uapi.PROT_SEM, "PROT_SEM"),
        (uapi.PROT_GROWSDOWN, "PROT_GROWSDOWN"),
        (uapi.PROT_GROWSUP, "PROT_GROWSUP"),
    ],
    zero="PROT_NONE",
)
MAP_FLAGS: Final = MmapFlags(
    {
        0: "MAP_FILE",
        uapi.MAP_SHARED: "MAP_SHARED",
        uapi.MAP_PRIVATE: "MAP_PRIVATE",
        uapi.MAP_SHARED_VALIDATE: "MAP_SHARED_VALIDATE",
    },
    [
        (uapi.MAP_FIXED, "MAP_FIXED"),
        (uapi.MAP_ANONYMOUS, "MAP_ANONYMOUS"),
        (uapi.MAP_32BIT, "MAP_32BIT"),
        (uapi.MAP_NORESERVE, "MAP_NORESERVE"),
        (uapi.MAP_POPULATE, "MAP_POPULATE"),
        (uapi.MAP_NONBLOCK, "MAP_NONBLOCK"),
        (uapi.MAP_GROWSDOWN, "MAP_GROWSDOWN"),
        (uapi.MAP_DENYWRITE, "MAP_DENYWRITE"),
        (uapi.MAP_EXECUTABLE, "MAP_EXECUTABLE"),
        (uapi.MAP_LOCKED, "MAP_LOCKED"),
        (uapi.MAP_STACK, "MAP_STACK"),
        (uapi.MAP_HUGETLB, "MAP_HUGETLB"),
        (uapi.MAP_SYNC, "MAP_SYNC"),
        (uapi.MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"),
    ],
)
MREMAP_FLAGS: Final = Flags(
    "MREMAP",
    [
        (uapi.MREMAP_MAYMOVE, "MREMAP_MAYMOVE"),
        (uapi.MREMAP_FIXED, "MREMAP_FIXED"),
        (uapi.MREMAP_DONTUNMAP, "MREMAP_DONTUNMAP"),
    ],
)
# strace 6.1 knows the advice up to MADV_COLLAPSE, and the two memory-failure ones.
MADV_ADVICE: Final = Enum(
    "MADV",
    {
        value: name
        for name, value in vars(uapi).items()
        if name.startswith("MADV_")
        and isinstance(value, int)
        and (value <= uapi.MADV_COLLAPSE or value in (uapi.MADV_HWPOISON, uapi.MADV_SOFT_OFFLINE))
    },
)
