"""Shrinking a diverging call sequence to a small reproducer, and writing it out.

Every call the generator makes is safe for the helper whatever came before it
(it never aims at the helper's own mappings), so any subsequence can be rerun;
a subsequence that still diverges is a smaller witness of the same kind of bug.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from ..process import Process
from .randops import Divergence, Generator, Op, apply, compare, model_like

Runner = Callable[[list[Op]], Divergence | None]


def replay(
    ops: list[Op],
    kernel_factory: Callable[[], Any],
    watch: Callable[[Process], AbstractContextManager[object]] | None = None,
) -> Divergence | None:
    """Run ``ops`` on a fresh helper and a model seeded from it; the first divergence.
    ``watch`` is entered around the calls with the model (the views draw them)."""
    import random

    with kernel_factory() as kernel:
        model = model_like(kernel)
        reserved = [(v.vm_start, v.vm_end) for v in model.vmas()]
        gen = Generator(random.Random(0), "default", reserved, model)
        with watch(model) if watch is not None else nullcontext():
            for index, op in enumerate(ops):
                try:
                    out_m, out_k = apply(model, op), apply(kernel, op)
                except RuntimeError as err:
                    # The helper died: a different failure from the one being shrunk.
                    return Divergence(index, op, "-", "-", f"the live helper failed: {err}")
                divergence = compare(model, kernel, gen, op, index, out_m, out_k)
                if divergence is not None:
                    return divergence
    return None


def shrink(
    ops: list[Op],
    run: Runner,
    budget: int = 400,
    what: str | None = None,
    seconds: float = 900.0,
) -> list[Op]:
    """Delta debugging: drop ever smaller chunks while the sequence still diverges (in
    the way ``what`` names, if given: different results, maps, Rss, a dead helper), within
    ``budget`` reruns and ``seconds``; what is left then is the reproducer."""
    deadline = time.monotonic() + seconds

    def exhausted() -> bool:
        return budget <= 0 or time.monotonic() > deadline

    def diverges(candidate: list[Op]) -> bool:
        nonlocal budget
        budget -= 1
        found = run(candidate) if candidate else None
        return found is not None and what in (None, found.what)

    current = list(ops)
    # A long run's divergence rarely needs more than its last calls, and a short tail is
    # far cheaper to rerun than the halves delta debugging starts with.
    for tail in (30, 300, 3000):
        if tail < len(current) and not exhausted() and diverges(current[-tail:]):
            current = current[-tail:]
            break
    chunk = max(len(current) // 2, 1)
    while chunk >= 1 and not exhausted():
        start = 0
        removed = False
        while start < len(current) and not exhausted():
            candidate = current[:start] + current[start + chunk :]
            if diverges(candidate):
                current = candidate
                removed = True
            else:
                start += chunk
        if not removed:
            chunk //= 2
    return current


def op_to_json(op: Op) -> dict[str, Any]:
    return {"call": op.kind, "args": list(op.args), "data": op.data.hex()}


def op_from_json(item: dict[str, Any], where: str) -> Op:
    try:
        return Op(
            str(item["call"]),
            tuple(int(a) for a in item["args"]),
            bytes.fromhex(item.get("data", "")),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{where}: not a call record ({err})") from None


def load_ops(path: Path) -> list[Op]:
    try:
        items = json.loads(path.read_text())["calls"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: cannot read a reproducer ({err})") from None
    return [op_from_json(item, f"{path} call {n}") for n, item in enumerate(items)]


C_CALLS = {
    "mmap": "syscall(SYS_mmap, {0}UL, {1}UL, {2}UL, {3}UL, {4}UL, {5}UL)",
    "munmap": "syscall(SYS_munmap, {0}UL, {1}UL)",
    "mremap": "syscall(SYS_mremap, {0}UL, {1}UL, {2}UL, {3}UL, {4}UL)",
    "mprotect": "syscall(SYS_mprotect, {0}UL, {1}UL, {2}UL)",
    "madvise": "syscall(SYS_madvise, {0}UL, {1}UL, {2}UL)",
    "brk": "syscall(SYS_brk, {0}UL)",
}


def write_reproducer(ops: list[Op], divergence: Divergence, stem: Path) -> list[Path]:
    """A JSON record (for --replay), a Python script and a C program of the calls."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    record = {"divergence": str(divergence), "calls": [op_to_json(op) for op in ops]}
    json_path = stem.with_suffix(".json")
    json_path.write_text(json.dumps(record, indent=1))
    py_path = stem.with_suffix(".py")
    py_path.write_text(
        '"""Reproducer written by vmsim verify: rerun with `python3 THIS_FILE`."""\n'
        "from pathlib import Path\n\n"
        "from vmsim.verify.live import LiveProcess\n"
        "from vmsim.verify.shrink import load_ops, replay\n\n"
        "ops = load_ops(Path(__file__).with_suffix('.json'))\n"
        "print(replay(ops, LiveProcess) or 'no divergence')\n"
    )
    c_path = stem.with_suffix(".c")
    lines = [
        "/* Reproducer written by vmsim verify; build with gcc, run under setarch -R. */",
        "#define _GNU_SOURCE",
        "#include <stdio.h>",
        "#include <string.h>",
        "#include <errno.h>",
        "#include <unistd.h>",
        "#include <sys/syscall.h>",
        "",
        "int main(void)",
        "{",
        "\tlong r;",
    ]
    for op in ops:
        if op.kind in C_CALLS:
            args = list(op.args)
            if op.kind == "mmap" and len(args) == 4:
                args += [(1 << 64) - 1, 0]  # anonymous: fd -1, offset 0
            call = C_CALLS[op.kind].format(*args)
            lines.append(
                f'\tr = {call}; printf("{op}: %#lx %s\\n", r, r == -1 ? strerror(errno) : "");'
            )
        elif op.kind == "write":
            lines.append(f"\tmemset((void *){op.args[0]:#x}UL, {op.data[0]}, {len(op.data)});")
        elif op.kind == "read":
            lines.append(f"\tr = *(volatile char *){op.args[0]:#x}UL;")
    lines += [
        '\tFILE *maps = fopen("/proc/self/maps", "r");',
        "\tchar line[512];",
        "\twhile (fgets(line, sizeof(line), maps))",
        "\t\tfputs(line, stdout);",
        "\treturn 0;",
        "}",
    ]
    c_path.write_text("\n".join(lines) + "\n")
    return [json_path, py_path, c_path]
