"""A long strace log of an allocator-like program, for measuring sustained replay speed.

The recorded logs in tests/data are short (a few dozen memory calls each).  This one is
written by running a seeded workload through the model with ``Process(strace=...)``, so
it has the shape of real output: an allocator mapping and freeing blocks of many sizes,
growing buffers with mremap, guard pages with mprotect, madvise on freed runs, brk for
the heap, and the odd failing call.  Replaying it in predict mode must reproduce every
result, which also shows that every call really went through the model.
"""

from __future__ import annotations

import random

from vmsim import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MREMAP_MAYMOVE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Process,
)
from vmsim.uapi import MADV_DONTNEED, MADV_FREE

PAGE = 4096
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
SIZES = [1, 1, 2, 3, 4, 8, 16, 33, 64, 256, 512, 1024]  # pages; 512 = one 2 MiB block


def synthetic_log(calls: int, seed: int = 1, live_max: int = 2000) -> str:
    """An strace log of ``calls`` memory calls (mmap, munmap, mremap, mprotect, madvise,
    brk) as one process would make them."""
    rng = random.Random(seed)
    lines: list[str] = []
    p = Process(strace=lines.append)
    live: list[tuple[int, int]] = []  # (address, length) of each block handed out
    heap = p.brk(0)
    start_brk = heap

    def call(fn: object, *args: int) -> int | None:
        try:
            return fn(*args)  # type: ignore[operator]
        except OSError:
            return None

    while len(lines) < calls:
        r = rng.random()
        if not live or r < 0.25 and len(live) < live_max:
            length = rng.choice(SIZES) * PAGE
            if rng.random() < 0.2:
                length += rng.randrange(1, PAGE)  # sizes need not be page multiples
            prot = PROT_NONE if rng.random() < 0.1 else RW
            addr = call(p.mmap, 0, length, prot, ANON)
            if addr is not None:
                if prot == PROT_NONE:  # a reservation: commit its first part
                    call(p.mprotect, addr, max(PAGE, length // 2 & ~(PAGE - 1)), RW)
                live.append((addr, length))
            continue
        i = rng.randrange(len(live))
        addr, length = live[i]
        pages = -(-length // PAGE)
        if r < 0.45 or len(live) >= live_max:
            if pages > 2 and rng.random() < 0.15:  # give back the tail only
                keep = rng.randrange(1, pages) * PAGE
                call(p.munmap, addr + keep, pages * PAGE - keep)
                live[i] = (addr, keep)
            else:
                call(p.munmap, addr, length)
                live[i] = live[-1]
                live.pop()
        elif r < 0.62:
            new = pages * PAGE * rng.choice((2, 2, 3)) if rng.random() < 0.8 else PAGE
            moved = call(p.mremap, addr, length, new, MREMAP_MAYMOVE)
            if moved is not None:
                live[i] = (moved, new)
        elif r < 0.74:
            # Whole blocks (W^X flips) as often as parts of one (guard pages).
            first = rng.randrange(pages) if rng.random() < 0.5 else 0
            n = rng.randrange(1, pages - first + 1) if first else pages
            prot = rng.choice((PROT_NONE, PROT_READ, RW, RW))
            call(p.mprotect, addr + first * PAGE, n * PAGE, prot)
        elif r < 0.84:
            first = rng.randrange(pages)
            n = rng.randrange(1, pages - first + 1)
            advice = rng.choice((MADV_DONTNEED, MADV_FREE))
            call(p.madvise, addr + first * PAGE, n * PAGE, advice)
        elif r < 0.97:
            if heap - start_brk > (64 << 20) or rng.random() < 0.3:
                heap = max(start_brk, heap - rng.choice((1, 4, 16, 33)) * PAGE)
            else:
                heap += rng.choice((1, 4, 16, 33)) * PAGE + rng.randrange(PAGE)
            heap = p.brk(heap)
        else:  # what a real log also has: calls the kernel refuses
            if rng.random() < 0.5:
                call(p.munmap, addr + 1, PAGE)  # EINVAL: not page-aligned
            else:
                call(p.mremap, addr + pages * PAGE + (1 << 40), PAGE, 2 * PAGE, 0)  # EFAULT
    return "\n".join(lines[:calls]) + "\n"
