"""Run every benchmark once and print the figures as ratios measured in this run."""

from __future__ import annotations

import functools
import gc
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

from vmsim import (
    COMPILED,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_NORESERVE,
    MAP_PRIVATE,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Process,
)
from vmsim.strace.parse import Event

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
GIB = 1 << 30
ARENA = 0x100000000000


def per_call(fn: Callable[[], None], repeat: int) -> float:
    """Seconds per call, best of three batches."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - start) / repeat)
    return best


def populated(nvmas: int) -> Process:
    """nvmas one-page VMAs that cannot merge (a hole between each pair)."""
    p = Process()
    for i in range(nvmas):
        p.mmap(ARENA + i * 0x2000, 4096, RW, ANON | MAP_FIXED)
    return p


def bench_vma_count() -> None:
    print("mmap+munmap of 4 pages, by the number of VMAs in the address space")
    times = {}
    for n in (100, 1_000, 10_000, 60_000):
        p = populated(n)

        def pair(p: Process = p) -> None:
            a = p.mmap(0, 16384, RW, ANON)
            p.munmap(a, 16384)

        times[n] = per_call(pair, 2000)
        print(f"  {n:>6} VMAs: {times[n] * 1e6:8.1f} us per pair")
    print(f"  ratio 60,000 vs 100 VMAs: {times[60_000] / times[100]:.2f} (must be <= 3)")


def bench_memory() -> None:
    gc.collect()
    tracemalloc.start()
    p = populated(60_000)
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"memory per VMA (60,000 VMAs): {size / 60_000:.0f} bytes (must be < 1024)")
    del p
    gc.collect()
    tracemalloc.start()
    q = Process()
    a = q.mmap(0, 64 << 40, PROT_NONE, ANON | MAP_NORESERVE)
    q.mprotect(a + (32 << 40), 4096, RW)
    q.write(a + (32 << 40), b"x")
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"64 TiB PROT_NONE mapping + one touched page: {size / 1024:.0f} KiB (must be < 1024)")


def live_process() -> object | None:
    try:
        from vmsim.verify.live import LiveProcess, live_kernel_available
    except ImportError:
        return None
    ok, why = live_kernel_available()
    if not ok:
        print(f"(live kernel not measured: {why})")
        return None
    return LiveProcess()


def bench_mremap_1gib() -> None:
    print("mremap of a populated 1 GiB region (MREMAP_FIXED), model vs kernel")
    live = live_process()
    cases = [
        ("PUD-aligned (1 PUD entry)", 0, 0),
        ("PMD-aligned (512 PMD entries)", 0, 2 << 20),
        ("page-aligned (PTE by PTE)", 4096, 8192),
    ]
    for touch, stride in (("one page per 2 MiB", 2 << 20), ("every page", 4096)):
        for label, src_off, dst_off in cases:
            p = Process()
            src = ARENA + src_off
            dst = ARENA + 4 * GIB + dst_off
            p.mmap(src, GIB, RW, ANON | MAP_FIXED)
            for off in range(0, GIB, stride):
                p.write(src + off, b"\x01")
            start = time.perf_counter()
            p.mremap(src, GIB, GIB, MREMAP_MAYMOVE | MREMAP_FIXED, dst)
            model = time.perf_counter() - start
            line = f"  {touch:<18} {label:<30} model {model * 1e3:9.3f} ms"
            if live is not None:
                kernel = kernel_move(live, src_off, dst_off, stride)
                line += f"  kernel {kernel * 1e3:8.3f} ms  ratio {model / kernel:8.1f}"
            print(line)
            del p
            gc.collect()
    if live is not None:
        live.close()  # type: ignore[attr-defined]


def kernel_move(live: object, src_off: int, dst_off: int, stride: int) -> float:
    """The same move in the helper; the arena is reserved PROT_NONE first, then reused."""
    lp = live  # LiveProcess
    reserved = lp.mmap(0, 8 * GIB, PROT_NONE, ANON | MAP_NORESERVE)  # type: ignore[attr-defined]
    base = (reserved + GIB - 1) & ~(GIB - 1)
    src, dst = base + src_off, base + 4 * GIB + dst_off
    lp.mmap(src, GIB, RW, ANON | MAP_FIXED)  # type: ignore[attr-defined]
    lp.touch(src, GIB, stride)  # type: ignore[attr-defined]
    lp.mremap(src, GIB, GIB, MREMAP_MAYMOVE | MREMAP_FIXED, dst)  # type: ignore[attr-defined]
    ns = lp.last_ns  # type: ignore[attr-defined]
    lp.munmap(reserved, 8 * GIB)  # type: ignore[attr-defined]
    return ns / 1e9


def bench_sequence(ops: int = 3000) -> None:
    """The same random calls on both sides; the kernel's time is the syscalls' own."""
    import random

    from vmsim.verify.randops import Generator, apply, model_like

    live = live_process()
    if live is None:
        return
    model = model_like(live)
    gen = Generator(
        random.Random(1), "mremap", [(v.vm_start, v.vm_end) for v in model.vmas()], model
    )
    model_s = kernel_s = 0.0
    for _ in range(ops):
        op = gen.next()
        start = time.perf_counter()
        apply(model, op)
        model_s += time.perf_counter() - start
        apply(live, op)
        kernel_s += live.last_ns / 1e9  # type: ignore[attr-defined]
    live.close()  # type: ignore[attr-defined]
    print(
        f"random sequence ({ops} calls, mremap-heavy): model {model_s / ops * 1e6:.1f} us/call, "
        f"kernel {kernel_s / ops * 1e6:.2f} us/call, ratio {model_s / kernel_s:.0f}"
    )


def best_rate(count: int, fn: Callable[[], object], rounds: int, repeat: int = 3) -> float:
    """``count`` items per call of ``fn``: the best rate (items per second) of ``repeat``
    batches of ``rounds`` calls each."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - start) / rounds)
    return count / best


def bench_replay() -> None:
    """strace parsing and replay speed, in predict mode with the model included: every real
    log recorded in tests/data (seeding from its maps each round counts too), then a long
    synthetic log of memory calls only."""
    from pathlib import Path

    from vmsim.bundle import parse_bundle
    from vmsim.replay import replay_text
    from vmsim.strace.parse import parse

    data = Path(__file__).parent.parent / "tests" / "data"
    text = (data / "python-buffers.bundle").read_text()
    lines = parse_bundle(text).log.splitlines() * 250
    parse_rate = best_rate(len(lines), lambda: sum(1 for _ in parse(lines)), 1)
    split_rate = best_rate(len(lines), lambda: sum(len(e.args) for e in parse(lines)), 1)
    print(
        f"strace parsing: {parse_rate:,.0f} lines/s "
        f"({split_rate:,.0f} lines/s with every line's arguments split)"
    )
    print("replay of the real logs (calls: every system call in the log; memory: mmap, munmap,")
    print("mremap, mprotect, madvise, brk)")
    all_calls = all_memory = 0
    all_seconds = 0.0
    for path in sorted(data.glob("*.bundle")):
        text = path.read_text()
        report = replay_text(text)
        assert not report.mismatches and not report.bad_lines, path.name
        calls = sum(1 for e in parse(parse_bundle(text).log.splitlines()) if _is_call(e))
        seconds = 1 / best_rate(1, functools.partial(replay_text, text), 10)
        all_calls, all_memory, all_seconds = (
            all_calls + calls,
            all_memory + report.checked,
            all_seconds + seconds,
        )
        print(
            f"  {path.stem:16} {calls:5} calls {report.checked:4} memory: "
            f"{calls / seconds:9,.0f} calls/s {report.checked / seconds:8,.0f} memory calls/s"
        )
    print(
        f"  {'all':16} {all_calls:5} calls {all_memory:4} memory: "
        f"{all_calls / all_seconds:9,.0f} calls/s {all_memory / all_seconds:8,.0f} memory calls/s"
    )
    n = 100_000
    rate, peak = synthetic_replay_rate(n)
    print(
        f"replay of a synthetic log ({n:,} memory calls, peak {peak:,} VMAs; best of 5 "
        f"seeds): {rate:,.0f} memory calls/s"
    )
    if COMPILED:
        pure = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from benchmarks.__main__ import *; print(*synthetic_replay_rate({n}))",
            ],
            env={**os.environ, "VMSIM_PURE": "1"},
            capture_output=True,
            text=True,
            check=True,
        )
        pure_rate = float(pure.stdout.split()[0])
        print(
            f"  the same on the Python sources: {pure_rate:,.0f} memory calls/s "
            f"(compiled {rate / pure_rate:.2f}x as fast)"
        )


def synthetic_replay_rate(n: int, rounds: int = 5) -> tuple[float, int]:
    """Memory calls per second replaying an n-call synthetic log, the best of ``rounds``
    logs of different seeds (so that no round finds the previous one's lines already
    read), and the first log's peak VMA count."""
    from benchmarks.synthetic import synthetic_log
    from vmsim.replay import replay_text

    best, peak = 0.0, 0
    for seed in range(1, rounds + 1):
        long_log = synthetic_log(n, seed)
        start = time.perf_counter()
        report = replay_text(long_log)
        replay_s = time.perf_counter() - start
        assert report.checked == n and not report.mismatches and not report.bad_lines
        best, peak = max(best, n / replay_s), peak or report.peak_vmas
    return best, peak


def _is_call(event: Event) -> bool:
    """A completed system call (an unfinished one counts once, when it resumes)."""
    return not event.unfinished and event.error is None and event.name not in ("exit", "signal")


def main() -> None:
    print(f"model: {'compiled with mypyc' if COMPILED else 'Python sources'}")
    bench_vma_count()
    bench_memory()
    bench_replay()
    bench_sequence()
    bench_mremap_1gib()


if __name__ == "__main__":
    main()
