"""Property-based tests: the model's invariants hold after every call of any sequence."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmsim.arch.x86.mmap import TASK_SIZE_4LEVEL as TASK_SIZE
from vmsim.demo import seed_process
from vmsim.fs.proc.parse import rss_by_range
from vmsim.verify.randops import MIXES, Generator, apply


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32), mix=st.sampled_from(MIXES))
def test_invariants_hold_after_every_call(seed: int, mix: str) -> None:
    p = seed_process()
    gen = Generator(random.Random(seed), mix, [(v.vm_start, v.vm_end) for v in p.vmas()], p)
    for _ in range(150):
        apply(p, gen.next())
        p.check()
    # The fast Rss that verify compares after every call is what smaps shows.
    user = {key: kb for key, kb in rss_by_range(p.smaps()).items() if key[1] <= TASK_SIZE}
    assert p.rss_by_range() == user  # (smaps also shows the [vsyscall] gate, not a VMA)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_moves_carry_bytes(seed: int) -> None:
    """Whatever is written before a move is read back at the new address."""
    from vmsim import MAP_ANONYMOUS, MAP_PRIVATE, MREMAP_MAYMOVE, PROT_READ, PROT_WRITE

    rng = random.Random(seed)
    p = seed_process()
    size = rng.choice([1, 2, 5, 512, 513]) * 4096
    a = p.mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    blob = bytes(rng.randrange(256) for _ in range(64))
    offsets = [64 * k for k in rng.sample(range(size // 64), 4)]  # disjoint
    for off in offsets:
        p.write(a + off, blob)
    b = p.mremap(a, size, size + rng.choice([4096, 2 << 20]), MREMAP_MAYMOVE)
    for off in offsets:
        assert p.read(b + off, 64) == blob
    p.check()
