"""Random call sequences, run on the model and on the live kernel side by side.

The calls are the modelled rows of the system-call table (:mod:`vmsim.kernel.syscalls`)
and memory reads and writes.  The generator only aims calls that can change mappings at
memory the sequence made itself (or at free space), never at the helper's own code, data
or stack, so the helper survives every call (see :meth:`Generator.harmless`).  After each
call the two sides are compared: the result or errno, /proc/pid/maps line for line, Rss
of every mapping the sequence made, and the bytes read.
"""

from __future__ import annotations

import bisect
import errno
import os
import random
import re
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from ..errors import SegmentationFault
from ..fs.file import OpenFile
from ..fs.proc.task_mmu import smaps_rss
from ..kernel import syscalls
from ..kernel.syscalls import ADDR, FILE, FLAGS, LEN, OFF, RESULT_ADDRESS, Syscall
from ..kernel.trace import Trace
from ..mm.vm_flags import VM_LOCKED
from ..mm.vma import all_vmas, find_vma, vma_is_sealed, vmas_in_range
from ..process import Process
from ..uapi import (
    MADV_DODUMP,
    MADV_DOFORK,
    MADV_DONTDUMP,
    MADV_DONTFORK,
    MADV_DONTNEED,
    MADV_NORMAL,
    MADV_POPULATE_READ,
    MADV_POPULATE_WRITE,
    MADV_RANDOM,
    MADV_SEQUENTIAL,
    MADV_WILLNEED,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_GROWSDOWN,
    MAP_LOCKED,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_STACK,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE_MASK,
    PAGE_SIZE,
    PMD_SIZE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    PUD_SIZE,
    ULONG_MAX,
    page_align,
)
from ..views.words import plural
from .live import page_cache_folios

ARENA_LO = 0x7FFFF0000000  # where MAP_FIXED mostly lands: among the top-down mmaps
ARENA_HI = 0x7FFFF7800000
SAFE_LO = 0x7FFF00000000  # nothing of the helper's lives in [SAFE_LO, its libraries)
SAFE_HI = 0x7FFFF7800000 + (1 << 30)
MIXES = ("default", "mremap", "huge", "bad", "files", "maxmap", "bits")
FILL_BASE = 0x7FFF40000000  # where "maxmap" lays out its one-page VMAs
FILL_TARGET = 65515  # a few below vm.max_map_count, where each kind of call hits its limit
SHMEM_INODE = re.compile(r" 00:01 \d+ +")
TASK_SIZE = 0x7FFFFFFFF000
# Every call is checked around the range it touched; all of maps and Rss are compared every
# FULL_EVERY calls (and after a sequence's last call), which catches a change anywhere else.
FULL_EVERY = 50
FULL_EVERY_MAXMAP = 1000  # with ~65,000 VMAs a full comparison costs seconds
# Populated 1 GiB regions add up: past this many resident pages the next call unmaps the
# sequence's VMA with the most of them, so a long run never meets the OOM killer.
RSS_BUDGET_PAGES = (3 << 30) // PAGE_SIZE
# "bits" never lets one call fault in more than this (MAP_POPULATE or MAP_LOCKED with a
# length of 2^32, MADV_POPULATE_WRITE over one, growing a locked mapping to one).
POPULATE_MAX = 64 << 20

# How often each mix makes each call, per hundred or so.  read and write are memory
# accesses; the rest are rows of the system-call table, and a modelled row a mix does not
# name (one registered later) is made OTHER_CALL_WEIGHT times as often.  mseal is rare:
# a sealed mapping can never be unmapped again, so "huge" (whose populated 1 GiB regions
# must be released) makes none.
ACCESSES: Final = ("read", "write")
WEIGHTS: Final[dict[str, dict[str, int]]] = {
    "default": {
        "mmap": 25, "munmap": 14, "mremap": 20, "mprotect": 10, "madvise": 8, "brk": 4,
        "mseal": 1, "read": 9, "write": 10,
    },
    "files": {
        "mmap": 30, "munmap": 12, "mremap": 18, "mprotect": 8, "madvise": 6, "brk": 2,
        "mseal": 1, "read": 12, "write": 12,
    },
    "mremap": {
        "mmap": 18, "munmap": 6, "mremap": 50, "mprotect": 4, "madvise": 3, "brk": 2,
        "mseal": 1, "read": 8, "write": 9,
    },
    "huge": {
        "mmap": 25, "munmap": 12, "mremap": 30, "mprotect": 8, "madvise": 5, "brk": 0,
        "mseal": 0, "read": 10, "write": 10,
    },
    "bad": {
        "mmap": 22, "munmap": 12, "mremap": 22, "mprotect": 12, "madvise": 10, "brk": 4,
        "mseal": 2, "read": 8, "write": 10,
    },
    "maxmap": {
        "mmap": 30, "munmap": 25, "mremap": 25, "mprotect": 8, "madvise": 4, "brk": 2,
        "mseal": 1, "read": 3, "write": 3,
    },
    "bits": {
        "mmap": 20, "munmap": 12, "mremap": 15, "mprotect": 12, "madvise": 12, "brk": 8,
        "mseal": 4, "read": 8, "write": 9,
    },
}  # fmt: skip
OTHER_CALL_WEIGHT = 2
BITS_SHARE = 0.6  # of the system calls of "bits", those with high bits set


class Side(Protocol):
    """What both the model and the live helper offer."""

    def syscall(self, name: str, *args: int) -> int: ...
    def read(self, addr: int, n: int) -> bytes: ...
    def write(self, addr: int, data: bytes) -> None: ...
    def maps(self) -> str: ...
    def smaps(self) -> str: ...
    def rss_by_range(
        self, wanted: Callable[[int, int], bool] | None = None
    ) -> dict[tuple[int, int], int]: ...
    def maps_between(self, lo: int, hi: int) -> list[str]: ...
    def rss_between(
        self, lo: int, hi: int, wanted: Callable[[int, int], bool]
    ) -> dict[tuple[int, int], int]: ...


@dataclass(frozen=True)
class Op:
    kind: str
    args: tuple[int, ...]
    data: bytes = b""

    def __str__(self) -> str:
        args = ", ".join(f"{a:#x}" for a in self.args)
        extra = f", {plural(len(self.data), 'byte')}" if self.data else ""
        return f"{self.kind}({args}{extra})"


def apply(side: Any, op: Op) -> tuple[Any, ...]:
    """Run one op; the outcome as a comparable tuple."""
    try:
        if op.kind == "write":
            side.write(op.args[0], op.data)
            return ("ok",)
        if op.kind == "read":
            return ("bytes", side.read(*op.args))
        return ("ok", side.syscall(op.kind, *op.args))
    except SegmentationFault as fault:
        return ("signal", fault.signal_name, fault.code, fault.addr)
    except OSError as err:
        return ("errno", errno.errorcode.get(err.errno or 0, err.errno))


@dataclass
class Generator:
    """Draws the next call from the model's current state (which equals the kernel's
    as long as nothing diverged)."""

    rng: random.Random
    mix: str
    reserved: list[tuple[int, int]]  # the helper's own mappings, in address order: never touched
    model: Process
    fd: int | None = None  # a file open on both sides, for file mappings
    fill_slot: int = 0  # the next one-page VMA the "maxmap" mix lays out

    # The sequence's own VMAs, in address order; None means "recount from the model".
    _ours: list[tuple[int, int]] | None = None

    def ours(self) -> list[tuple[int, int]]:
        if self._ours is None:
            self._ours = [
                (v.vm_start, v.vm_end) for v in self.model.vmas() if self.safe(v.vm_start, v.vm_end)
            ]
        return self._ours

    def note_changes(self, windows: list[tuple[int, int]] | None) -> None:
        """Bring :meth:`ours` up to date after a call that changed only ``windows``
        (None: anything), without a walk over every VMA."""
        ours = self._ours
        if ours is None:
            return
        if windows is None:
            self._ours = None
            return
        for lo, hi in windows:
            first = bisect.bisect_left(ours, (lo,))
            if first and ours[first - 1][1] > lo:
                first -= 1
            now = [
                (v.vm_start, v.vm_end)
                for v in vmas_in_range(self.model.mm, lo, hi)
                if self.safe(v.vm_start, v.vm_end)
            ]
            ours[first : bisect.bisect_left(ours, (hi,))] = now
            # A stack VMA grown down into the window by a fault reached beyond it.
            after = first + len(now)
            while now and after < len(ours) and ours[after][0] < now[-1][1]:
                del ours[after]

    def safe(self, start: int, end: int) -> bool:
        """May a call aim at [start, end)?  Only within [SAFE_LO, SAFE_HI), off the helper's."""
        return SAFE_LO <= start < end <= SAFE_HI and self.not_the_helpers(start, end)

    def not_the_helpers(self, start: int, end: int) -> bool:
        # Only the last reserved mapping starting below ``end`` can overlap: they are sorted
        # and disjoint.
        below = bisect.bisect_left(self.reserved, (end,))
        return below == 0 or self.reserved[below - 1][1] <= start

    def length(self) -> int:
        r = self.rng.random()
        if self.mix == "huge" and r < 0.05:
            return PUD_SIZE  # whole PUD entries move when both ends are 1 GiB aligned
        if self.mix == "huge" and r < 0.5:
            return PMD_SIZE * self.rng.randint(1, 3) + (0 if r < 0.4 else PAGE_SIZE)
        if r < 0.05:
            return self.rng.randint(1, 3 * PAGE_SIZE)  # unaligned lengths round up
        return PAGE_SIZE * self.rng.choice([1, 1, 2, 3, 4, 8, 16, 32])

    def address(self, length: int) -> int:
        """An address for a call that may change mappings: near our VMAs or in the arena."""
        ours = self.ours()
        for _ in range(20):
            if ours and self.rng.random() < 0.7:
                lo, hi = self.rng.choice(ours)
                base = self.rng.choice([lo, hi, lo + (hi - lo) // 2 // PAGE_SIZE * PAGE_SIZE])
                addr = base + PAGE_SIZE * self.rng.randint(-4, 4)
            elif length >= PUD_SIZE:
                addr = self.rng.randrange(SAFE_LO, SAFE_LO + (2 << 30), PUD_SIZE)
            else:
                align = PMD_SIZE if self.mix == "huge" else PAGE_SIZE
                addr = self.rng.randrange(ARENA_LO, ARENA_HI, align)
            if self.safe(addr, addr + max(length, PAGE_SIZE)):
                return addr
        return SAFE_LO

    def prot(self) -> int:
        return self.rng.choice(
            [PROT_READ | PROT_WRITE] * 4 + [PROT_READ, PROT_NONE, PROT_READ | PROT_EXEC, PROT_WRITE]
        )

    @property
    def filling(self) -> bool:
        """The "maxmap" mix first drives the VMA count up to just below the limit."""
        return self.mix == "maxmap" and self.model.mm.map_count < FILL_TARGET

    def next(self) -> Op:
        if self.filling:
            # Alternating protections keep neighbours from merging: one VMA per call.
            slot = self.fill_slot
            self.fill_slot += 1
            prot = PROT_READ if slot % 2 else PROT_READ | PROT_WRITE
            return Op(
                "mmap",
                (
                    FILL_BASE + slot * 2 * PAGE_SIZE,
                    PAGE_SIZE,
                    prot,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                ),
            )
        if self.model.mm.get_mm_rss() > RSS_BUDGET_PAGES:
            release = self.release()
            if release is not None:
                return release
        kinds = [row.name for row in syscalls.modelled()] + list(ACCESSES)
        weights = WEIGHTS[self.mix]
        kind = self.rng.choices(kinds, [weights.get(k, OTHER_CALL_WEIGHT) for k in kinds])[0]
        op = self.draw(kind)
        if self.mix == "bad" and self.rng.random() < 0.5:
            op = self.spoil(op)
        elif self.mix == "bits" and kind not in ACCESSES and self.rng.random() < BITS_SHARE:
            op = self.with_high_bits(op)
        return op

    def release(self) -> Op | None:
        """munmap() of the sequence's VMA with the most resident pages, wherever it lies:
        once the area below the helper's libraries is full, mmap() places 1 GiB regions
        below SAFE_LO, where no other call aims.  Sealed VMAs cannot be unmapped: None
        when only they hold pages."""
        mm = self.model.mm
        made = [
            v
            for v in all_vmas(mm)
            if self.not_the_helpers(v.vm_start, v.vm_end) and not vma_is_sealed(v)
        ]
        vma = max(made, key=lambda v: smaps_rss(mm, v), default=None)
        if vma is None or not smaps_rss(mm, vma):
            return None
        return Op("munmap", (vma.vm_start, vma.vm_end - vma.vm_start))

    def draw(self, kind: str) -> Op:
        """A call of ``kind``: from its ``gen_<kind>`` method where there is one, else
        drawn from its arguments' roles (:meth:`gen_call`)."""
        special: Callable[[], Op] | None = getattr(self, f"gen_{kind}", None)
        return special() if special is not None else self.gen_call(syscalls.lookup(kind))

    def gen_call(self, row: Syscall) -> Op:
        """A call of any row, its arguments drawn by what they are for: addresses near
        the sequence's VMAs or in the arena (safe for the longest of the call's lengths),
        lengths as :meth:`length` draws them, flags as one of the names strace prints
        for them (or 0), the test file or -1 for a file, a page multiple or 0 for an
        offset, and a small number for anything else."""
        lengths = [self.length() for arg in row.args if arg.role == LEN]
        reach = max(lengths, default=PAGE_SIZE)
        drawn = iter(lengths)
        args = []
        for arg in row.args:
            if arg.role == ADDR:
                args.append(self.address(reach))
            elif arg.role == LEN:
                args.append(next(drawn))
            elif arg.role == FLAGS:
                args.append(self.rng.choice([0, *arg.show.constants().values()]))
            elif arg.role == FILE:
                args.append(self.fd if self.fd is not None and self.rng.random() < 0.5 else -1)
            elif arg.role == OFF:
                args.append(PAGE_SIZE * self.rng.choice([0, 0, 1, 2, 8]))
            else:
                args.append(self.rng.randint(0, 8))
        return Op(row.name, tuple(args))

    # -- "bits": high and sign bits in every argument --------------------------------------

    def with_high_bits(self, op: Op) -> Op:
        """``op`` (every argument given) with high or sign bits set in one argument, or
        now and then in several; the first such variant that is :meth:`harmless`, else
        ``op`` itself."""
        row = syscalls.lookup(op.kind)
        full = [*op.args, *(a.default or 0 for a in row.args[len(op.args) :])]
        for _ in range(20):
            args = list(full)
            several = len(args) > 1 and self.rng.random() < 0.3
            count = self.rng.randint(2, len(args)) if several else 1
            for i in self.rng.sample(range(len(args)), count):
                args[i] = self.high_bits(args[i])
            if self.harmless(row, args):
                return Op(op.kind, tuple(args), op.data)
        return op

    def high_bits(self, value: int) -> int:
        """``value`` as a register with bits set that the kernel's type may drop (the
        high half of an int) or must refuse (a sign bit, bits above the address space)."""
        value &= ULONG_MAX
        low = value & 0xFFFFFFFF
        return self.rng.choice(
            [
                value | 1 << 31,
                value | 1 << 32,  # (1 << 32) | PROT_READ, (1 << 32) | fd
                value | 1 << 63,
                value | 1 << self.rng.randint(47, 62),
                value | self.rng.getrandbits(16) << 47,  # bits 47-62
                0xFFFFFFFF_00000000 | low,  # 0xffffffff00000000 | MADV_DONTNEED
                0xFFFFFFFF,  # -1 as an int, zero-extended
                ULONG_MAX,  # -1
                1 << 31,
                1 << 63,
            ]
        )

    def harmless(self, row: Syscall, raw: list[int]) -> bool:
        """May the helper make this call?  Calls that change mappings take their ranges
        as the kernel does (each register cast to its type, the address rounded down to
        a page, the length up, modulo 2^64); a range is harmless when it

        - lies in the safe area (:meth:`safe`),
        - is empty once rounded (a length within a page of 2^64 rounds to 0),
        - wraps past 2^64: mprotect, madvise and mseal refuse an end below the start,
          munmap and a MAP_FIXED mmap an end above TASK_SIZE, mremap a new range above it;
          an old range of mremap that wraps is longer than any new one, and the shrink's
          munmap refuses the rest (a move of equal lengths wraps only from above
          TASK_SIZE),
        - starts at or above TASK_SIZE, where no VMA is (the [vsyscall] page is none),
        - or ends above TASK_SIZE in a call that checks that before it touches anything:
          munmap (do_vmi_munmap), mmap with MAP_FIXED (__get_unmapped_area) and mremap's
          new range (check_mremap_params); not mremap's old range, whose VMAs a
          MREMAP_FIXED move takes along one after the other, nor mprotect, madvise or
          mseal, which walk every VMA up to the end (madvise(addr, 1 << 63,
          MADV_DONTNEED) from the sequence's VMAs would zap the helper's stack).

        So brk (which only ever unmaps its own heap and grows into free space) and mmap
        without MAP_FIXED (a hint; MAP_FIXED_NOREPLACE never replaces anything) are always
        harmless; munmap and MAP_FIXED mmap have one range, mremap its old range and, with
        MREMAP_FIXED, its new one; any other call pairs each address with each length.
        A call that could fault in more than POPULATE_MAX is never harmless either.
        """
        v = row.convert(raw)
        name = row.name
        if name == "brk":
            return True
        if name == "mmap":
            if v[3] & (MAP_POPULATE | MAP_LOCKED) and page_align(v[1]) > POPULATE_MAX:
                return False
            return not v[3] & MAP_FIXED or self.range_harmless(v[0], v[1], checked=True)
        if name == "munmap":
            return self.range_harmless(v[0], v[1], checked=True)
        if name == "mremap":
            vma = find_vma(self.model.mm, v[0])
            if vma is not None and vma.vm_flags & VM_LOCKED and v[2] > POPULATE_MAX:
                return False
            new_ok = not v[3] & MREMAP_FIXED or self.range_harmless(v[4], v[2], checked=True)
            return new_ok and self.range_harmless(v[0], v[1], checked=False)
        populating = name == "madvise" and v[2] in (MADV_POPULATE_READ, MADV_POPULATE_WRITE)
        if populating and page_align(v[1]) > POPULATE_MAX:
            return False
        addrs = [x for arg, x in zip(row.args, v, strict=True) if arg.role == ADDR]
        lengths = [x for arg, x in zip(row.args, v, strict=True) if arg.role == LEN]
        return all(
            self.range_harmless(addr, length, checked=False)
            for addr in addrs
            for length in lengths or [PAGE_SIZE]
        )

    def range_harmless(self, addr: int, length: int, checked: bool) -> bool:
        """One range of :meth:`harmless`; ``checked``: the call refuses an end above
        TASK_SIZE before it touches anything."""
        start = addr & PAGE_MASK
        end = start + page_align(length)
        return (
            end == start
            or end > ULONG_MAX
            or start >= TASK_SIZE
            or (checked and end > TASK_SIZE)
            or self.safe(start, end)
        )

    def gen_mmap(self) -> Op:
        if self.fd is not None and self.mix == "files" and self.rng.random() < 0.3:
            return self.gen_file_mmap()
        length = self.length()
        shared = self.rng.random() < 0.15
        flags = (MAP_SHARED if shared else MAP_PRIVATE) | MAP_ANONYMOUS
        extra = self.rng.random()
        if extra < 0.05:
            flags |= MAP_POPULATE
        elif extra < 0.08 and not shared:
            flags |= self.rng.choice([MAP_NORESERVE, MAP_STACK, MAP_GROWSDOWN, MAP_LOCKED])
        r = self.rng.random()
        if r < 0.5:
            addr = 0
        else:
            addr = self.address(length)
            if r < 0.8:
                flags |= MAP_FIXED
            elif r < 0.9:
                flags |= MAP_FIXED_NOREPLACE
        return Op("mmap", (addr, length, self.prot(), flags))

    def gen_file_mmap(self) -> Op:
        """Private or shared mappings of the test file, some reaching past its end."""
        assert self.fd is not None
        length = PAGE_SIZE * self.rng.randint(1, 16)
        flags = self.rng.choice([MAP_PRIVATE, MAP_SHARED])
        addr = 0 if self.rng.random() < 0.5 else self.address(length)
        if addr:
            flags |= MAP_FIXED
        offset = PAGE_SIZE * self.rng.randint(0, 8)
        return Op("mmap", (addr, length, self.prot(), flags, self.fd, offset))

    def gen_munmap(self) -> Op:
        length = self.length()
        return Op("munmap", (self.address(length), length))

    def gen_mremap(self) -> Op:
        ours = self.ours()
        if not ours:
            return self.gen_mmap()
        lo, hi = self.rng.choice(ours)
        addr = lo + PAGE_SIZE * self.rng.randrange(max((hi - lo) // PAGE_SIZE, 1))
        if self.rng.random() < 0.5:
            addr = lo
        old = hi - addr if self.rng.random() < 0.6 else self.length()
        r = self.rng.random()
        if r < 0.3:
            new = old
        elif r < 0.55:
            new = max(old // 2 // PAGE_SIZE * PAGE_SIZE, PAGE_SIZE)
        else:
            new = old + self.length()
        if self.mix == "huge" and self.rng.random() < 0.4:
            new = PMD_SIZE * self.rng.randint(1, 4) if old < PUD_SIZE else old
        if not self.safe(addr, addr + old):
            old = min(old, hi - addr)
        flags = self.rng.choice(
            [
                0,
                MREMAP_MAYMOVE,
                MREMAP_MAYMOVE,
                MREMAP_MAYMOVE | MREMAP_FIXED,
                MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
            ]
        )
        new_addr = 0
        if flags & MREMAP_DONTUNMAP:
            new = old
            new_addr = 0 if self.rng.random() < 0.6 else self.address(new)
        if flags & MREMAP_FIXED:
            if self.rng.random() < 0.5:
                new = old
            new_addr = self.address(new)
        if self.rng.random() < 0.05 and not flags & MREMAP_DONTUNMAP:
            old = 0  # duplicate (shared) or EINVAL (private)
        return Op("mremap", (addr, old, new, flags, new_addr))

    def gen_mprotect(self) -> Op:
        length = self.length()
        return Op("mprotect", (self.address(length), length, self.prot()))

    def gen_madvise(self) -> Op:
        advice = self.rng.choice(
            [MADV_DONTNEED] * 4
            + [
                MADV_NORMAL,
                MADV_RANDOM,
                MADV_SEQUENTIAL,
                MADV_WILLNEED,
                MADV_DONTFORK,
                MADV_DOFORK,
                MADV_DONTDUMP,
                MADV_DODUMP,
                MADV_POPULATE_READ,
                MADV_POPULATE_WRITE,
            ]
        )
        length = self.length()
        return Op("madvise", (self.address(length), length, advice))

    def gen_brk(self) -> Op:
        cur = self.model.mm.brk
        r = self.rng.random()
        if r < 0.2:
            return Op("brk", (0,))
        if r < 0.7:
            return Op("brk", (cur + self.rng.randint(1, 64) * PAGE_SIZE - self.rng.randint(0, 99),))
        return Op("brk", (max(cur - self.rng.randint(1, 32) * PAGE_SIZE, 0),))

    def gen_read(self) -> Op:
        n = self.rng.choice([1, 8, 100, PAGE_SIZE, 2 * PAGE_SIZE + 7])
        # The range checked covers the offset too: a store must never reach the helper.
        return Op("read", (self.address(n + PAGE_SIZE) + self.rng.randrange(0, PAGE_SIZE, 8), n))

    def gen_write(self) -> Op:
        n = self.rng.choice([1, 8, 100, PAGE_SIZE, 2 * PAGE_SIZE + 7])
        data = bytes([self.rng.randrange(1, 256)]) * n
        addr = self.address(n + PAGE_SIZE) + self.rng.randrange(0, PAGE_SIZE, 8)
        return Op("write", (addr,), data)

    def spoil(self, op: Op) -> Op:
        """Bad arguments that fail in parameter checks, before any mapping is looked at."""
        a = list(op.args)
        if op.kind in ("mmap", "munmap", "mremap", "mprotect", "madvise") and a[0]:
            choice = self.rng.random()
            if choice < 0.4:
                a[0] += self.rng.randint(1, PAGE_SIZE - 1)  # unaligned
            elif op.kind == "mmap":
                a[3] = self.rng.choice([a[3] & ~0xF, a[3] | 0x3, (1 << 64) - 1 & a[3]])
                a[1] = self.rng.choice([a[1], 0, 1 << 62])
            elif op.kind == "munmap":
                a[1] = self.rng.choice([0, 1 << 62, (1 << 64) - 1])
            elif op.kind == "mremap":
                a[2] = self.rng.choice([0, 1 << 62, (1 << 64) - 1])
                a[3] |= self.rng.choice([0, 8, 0x10])
            elif op.kind == "mprotect":
                a[2] = self.rng.choice([0x10, 0x3000000, 0x80])
                if a[2] == 0x80:  # unknown bits: EINVAL before the lookup
                    a[1] = self.rng.choice([a[1], 0])
            else:
                a[2] = self.rng.choice([7, 99, 1000])
        return Op(op.kind, tuple(a), op.data)


@dataclass
class Divergence:
    index: int
    op: Op
    model: Any
    kernel: Any
    what: str
    detail: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"op {self.index}: {self.op}: {self.what}"
        return "\n".join(
            [
                head,
                f"  model:  {_short(self.model)}",
                f"  kernel: {_short(self.kernel)}",
                *self.detail,
            ]
        )


def _short(outcome: Any) -> str:
    text = repr(outcome)
    return text if len(text) < 200 else text[:200] + "..."


def normalised_maps(text: str) -> list[str]:
    return [SHMEM_INODE.sub(" 00:01 * ", line) for line in text.splitlines()]


def compare(
    model: Process, kernel: Any, gen: Generator, op: Op, index: int, out_m: Any, out_k: Any
) -> Divergence | None:
    """Results, then all of maps, then every sequence-made VMA's Rss."""
    if out_m != out_k:
        return Divergence(index, op, out_m, out_k, "different results")
    divergence = _compare_maps(model.maps(), kernel.maps(), op, index, out_m, out_k)
    if divergence is None:
        divergence = _compare_rss(
            model.rss_by_range(gen.safe), kernel.rss_by_range(gen.safe), op, index, out_m, out_k
        )
    return divergence


def compare_near(
    model: Process,
    kernel: Any,
    gen: Generator,
    op: Op,
    index: int,
    out_m: Any,
    out_k: Any,
    windows: list[tuple[int, int]],
) -> Divergence | None:
    """Like :func:`compare`, for the VMAs meeting the windows a call touched."""
    if out_m != out_k:
        return Divergence(index, op, out_m, out_k, "different results")
    for lo, hi in windows:
        divergence = _compare_maps(
            "\n".join(model.maps_between(lo, hi)),
            "\n".join(kernel.maps_between(lo, hi)),
            op,
            index,
            out_m,
            out_k,
        )
        if divergence is None:
            divergence = _compare_rss(
                model.rss_between(lo, hi, gen.safe),
                kernel.rss_between(lo, hi, gen.safe),
                op,
                index,
                out_m,
                out_k,
            )
        if divergence is not None:
            return divergence
    return None


def _compare_maps(
    model_text: str, kernel_text: str, op: Op, index: int, out_m: Any, out_k: Any
) -> Divergence | None:
    mm, km = normalised_maps(model_text), normalised_maps(kernel_text)
    if mm == km:
        return None
    diff = [f"  model-only:  {line}" for line in mm if line not in km][:6]
    diff += [f"  kernel-only: {line}" for line in km if line not in mm][:6]
    return Divergence(index, op, out_m, out_k, "/proc/pid/maps differ", diff)


def _compare_rss(
    rm: dict[tuple[int, int], int],
    rk: dict[tuple[int, int], int],
    op: Op,
    index: int,
    out_m: Any,
    out_k: Any,
) -> Divergence | None:
    if rm == rk:
        return None
    diff = [
        f"  {lo:x}-{hi:x} Rss model {rm.get((lo, hi))} kB, kernel {rk.get((lo, hi))} kB"
        for lo, hi in sorted(set(rm) | set(rk))
        if rm.get((lo, hi)) != rk.get((lo, hi))
    ]
    return Divergence(index, op, out_m, out_k, "smaps Rss differ", diff[:6])


def touched(
    op: Op, outcome: tuple[Any, ...], brk_before: int, start_brk: int
) -> list[tuple[int, int]]:
    """The address ranges a call may have changed, each widened by a byte on both sides so
    that a neighbour it merged with (or split from) is compared too."""
    a = op.args
    spans: list[tuple[int, int]] = []
    if op.kind == "read":
        spans.append((a[0], a[0] + a[1]))
    elif op.kind == "write":
        spans.append((a[0], a[0] + len(op.data)))
    elif op.kind == "brk":
        # The [heap] name of every VMA between start_brk and the break follows the break.
        top = max(brk_before, outcome[1]) if outcome[0] == "ok" else brk_before
        spans.append((start_brk, top))
    else:
        # From every address as far as the longest length reaches (mremap: the old range,
        # its growth and the new one; mmap: the range a failed MAP_FIXED may have unmapped),
        # and from an address the call returned.
        row = syscalls.lookup(op.kind)
        values = row.convert(a)
        pairs = list(zip(row.args, values, strict=True))
        reach = max((v for arg, v in pairs if arg.role == LEN), default=0)
        spans += [(v, v + reach) for arg, v in pairs if arg.role == ADDR]
        if outcome[0] == "ok" and row.result == RESULT_ADDRESS:
            spans.append((outcome[1], outcome[1] + reach))
    windows: list[tuple[int, int]] = []
    # Lengths round up to whole pages.
    pages = [(lo & -PAGE_SIZE, (hi + PAGE_SIZE - 1) & -PAGE_SIZE) for lo, hi in spans]
    for lo, hi in sorted((max(lo - 1, 0), min(hi + 1, TASK_SIZE)) for lo, hi in pages):
        if lo >= hi:
            continue
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], hi))
        else:
            windows.append((lo, hi))
    return windows


def model_like(kernel: Any) -> Process:
    """A model process seeded from the live helper's maps, smaps and resident pages."""
    return Process.from_maps(
        kernel.maps(), kernel.smaps(), resident=kernel.resident_pages(0, 1 << 47)
    )


def run_sequence(
    kernel: Any,
    seed: int,
    ops: int,
    mix: str = "default",
    check: bool = True,
    coverage: Coverage | None = None,
) -> tuple[int, Divergence | None, list[Op]]:
    """Run ``ops`` random calls on both sides; stop at the first divergence."""
    model = model_like(kernel)
    reserved = [(v.vm_start, v.vm_end) for v in model.vmas()]
    gen = Generator(random.Random(seed), mix, reserved, model)
    with tempfile.TemporaryDirectory(prefix="vmsim-") as tmp:
        gen.fd = open_test_file(model, kernel, os.path.join(tmp, "data"), seed)
        return _run(model, kernel, gen, ops, check, coverage)


def test_file_data(seed: int) -> bytes:
    """The test file's bytes: a 256-byte pattern drawn from the seed, over 10 whole pages.

    Whole pages, because writeback zeroes the part of a last partial page beyond the end
    of the file (ext4_bio_write_folio) once it has been dirty for 30 seconds: a time
    nothing in the run decides.
    """
    rng = random.Random(seed)
    return bytes(rng.randrange(1, 256) for _ in range(256)) * 160


def open_test_file(model: Process, kernel: Any, path: str, seed: int) -> int:
    """The test file, open on both sides under the same fd.

    It is written in one write(), which on ext4 leaves an 8-page folio and a 2-page one in
    the page cache; the model takes the layout the kernel reports, since a fault maps
    whole folios and a file system without large folios would lay it out otherwise.
    """
    data = test_file_data(seed)
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(out, data)
    finally:
        os.close(out)
    st = os.stat(path)
    inode = model.create_file(path, data)
    inode.dev, inode.ino = (os.major(st.st_dev), os.minor(st.st_dev)), st.st_ino
    folios = page_cache_folios(path)
    if folios is not None:
        inode.folio_orders = folios
    fd = kernel.open(path, os.O_RDWR)
    model.fds[fd] = OpenFile(inode, os.O_RDWR)
    return fd


@dataclass
class Coverage:
    """What a run exercised: calls and errno by syscall, mremap paths, page-table levels."""

    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    mremap_paths: Counter[str] = field(default_factory=Counter)
    moved: Counter[str] = field(default_factory=Counter)

    def record(self, op: Op, outcome: tuple[Any, ...], trace: Trace | None) -> None:
        self.calls[op.kind] += 1
        if outcome[0] in ("errno", "signal"):
            self.errors[f"{op.kind} {outcome[1 if outcome[0] == 'errno' else 2]}"] += 1
        if trace is not None and outcome[0] == "ok":
            self.mremap_paths[mremap_path(op, trace)] += 1
            self.moved.update(trace.counters)

    def add(self, other: Coverage) -> None:
        self.calls.update(other.calls)
        self.errors.update(other.errors)
        self.mremap_paths.update(other.mremap_paths)
        self.moved.update(other.moved)


def mremap_path(op: Op, trace: Trace) -> str:
    """Which of mremap's paths a successful call took, from the model's call flow."""
    names = set(trace.names())
    flags = syscalls.lookup(op.kind).convert(op.args)[3]
    if "remap_move" in names:
        pieces = len(trace.find("mremap_to"))
        kind = "FIXED+DONTUNMAP" if flags & MREMAP_DONTUNMAP else "FIXED"
        return f"multi-VMA {kind}" if pieces > 1 else f"{kind} move"
    if flags & MREMAP_DONTUNMAP:
        return "DONTUNMAP move"
    if "mremap_to" in names:
        return "FIXED resize+move"
    if "expand_vma_in_place" in names:
        return "expand in place"
    if "move_vma" in names:
        return "duplicate (old_size 0)" if op.args[1] == 0 else "move"
    if "shrink_vma" in names:
        return "shrink"
    return "no resize"


def _run(
    model: Process,
    kernel: Any,
    gen: Generator,
    ops: int,
    check: bool,
    coverage: Coverage | None = None,
) -> tuple[int, Divergence | None, list[Op]]:
    done: list[Op] = []
    full_every = FULL_EVERY_MAXMAP if gen.mix == "maxmap" else FULL_EVERY
    mm = model.mm
    for index in range(ops):
        op = gen.next()
        done.append(op)
        trace = Trace() if coverage is not None and op.kind == "mremap" else None
        brk_before = mm.brk
        if trace is not None:
            with trace:
                out_m = apply(model, op)
        else:
            out_m = apply(model, op)
        out_k = apply(kernel, op)
        if coverage is not None:
            coverage.record(op, out_m, trace)
        if gen.filling:
            # Laying out thousands of VMAs: only results are compared, which keeps it fast.
            gen.note_changes(None)
            if out_m != out_k:
                return index + 1, Divergence(index, op, out_m, out_k, "different results"), done
            continue
        if check:
            model.check()
        if index % full_every == full_every - 1 or index == ops - 1:
            gen.note_changes(None)
            divergence = compare(model, kernel, gen, op, index, out_m, out_k)
        else:
            windows = touched(op, out_m, brk_before, mm.start_brk)
            gen.note_changes(windows)
            divergence = compare_near(model, kernel, gen, op, index, out_m, out_k, windows)
        if divergence is not None:
            return index + 1, divergence, done
    return ops, None, done
