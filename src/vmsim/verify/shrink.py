"""Shrinking a diverging call sequence to a small reproducer, and writing it out.

Every call the generator makes is safe for the helper whatever came before it
(it never aims at the helper's own mappings), so any subsequence can be rerun;
a subsequence that still diverges is a smaller witness of the same kind of bug.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadInput, JsonFields, decode_text, json_kind
from ..kernel import syscalls
from ..kernel.sysargs import INT
from ..kernel.syscalls import FILE
from ..process import Process
from ..views.words import plural
from .randops import (
    ACCESSES,
    Divergence,
    Generator,
    Op,
    apply,
    compare,
    model_like,
    open_test_file,
    test_file_data,
)

Runner = Callable[[list[Op]], Divergence | None]


@dataclass
class Reproducer:
    """A call sequence and the test file its calls map (the seed its bytes come from)."""

    ops: list[Op]
    file_seed: int | None = None


def replay(
    case: Reproducer,
    kernel_factory: Callable[[], Any],
    watch: Callable[[Process], AbstractContextManager[object]] | None = None,
) -> Divergence | None:
    """Run the calls on a fresh helper and a model seeded from it; the first divergence.
    ``watch`` is entered around the calls with the model (the views draw them)."""
    with kernel_factory() as kernel, tempfile.TemporaryDirectory(prefix="vmsim-") as tmp:
        model = model_like(kernel)
        reserved = [(v.vm_start, v.vm_end) for v in model.vmas()]
        gen = Generator(random.Random(0), "default", reserved, model)
        if case.file_seed is not None:
            open_test_file(model, kernel, os.path.join(tmp, "data"), case.file_seed)
        with watch(model) if watch is not None else nullcontext():
            for index, op in enumerate(case.ops):
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


def op_from_json(item: Any, fields: JsonFields, path: str) -> Op:
    """One call of a reproducer: a memory access (read, write) or a modelled call of the
    system-call table, with as many arguments as it takes; anything else is a BadInput
    naming the field (``path`` is the call's own, ``calls[3]``)."""
    fields.keys(item, path, ("call", "args", "data"), ("call", "args"))
    fields.string(item["call"], f"{path}.call")
    args = fields.array(item["args"], f"{path}.args")
    for i, arg in enumerate(args):
        if not isinstance(arg, int) or isinstance(arg, bool):
            raise fields.fail(
                f"{path}.args[{i}]", f"{json_kind(arg)} where a whole number was expected"
            )
    data = item.get("data", "")
    fields.string(data, f"{path}.data")
    try:
        op = Op(item["call"], tuple(args), bytes.fromhex(data))
    except ValueError:
        raise fields.fail(f"{path}.data", f"{data[:40]!r} is not bytes in hexadecimal") from None
    if op.kind in ACCESSES:
        wanted = 1 if op.kind == "write" else 2  # write(addr) with data, read(addr, n)
        if len(op.args) != wanted:
            raise fields.fail(
                f"{path}.args", f"{op.kind} takes {plural(wanted, 'argument')}, got {len(op.args)}"
            )
        return op
    row = syscalls.SYSCALLS.get(op.kind)
    if row is None or not row.modelled:
        raise fields.fail(f"{path}.call", f"{op.kind[:40]!r} is not a call the model makes")
    try:
        row.convert(op.args)
    except ValueError as err:
        # The argument no register takes, if one is; else their number is wrong.
        where = f"{path}.args"
        for i, (arg, spec) in enumerate(zip(op.args, row.args, strict=False)):
            try:
                spec.ctype.convert(arg)
            except ValueError:
                where = f"{path}.args[{i}]"
                break
        raise fields.fail(where, str(err)) from None
    return op


def load_reproducer(path: Path) -> Reproducer:
    """The calls of a reproducer (.json) that write_reproducer() wrote; anything else is
    a BadInput naming the file and the field."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise BadInput(source, f"cannot read a reproducer: {err.strerror}") from None
    text = decode_text(raw, source, "a reproducer")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInput(
            source,
            f"cannot read a reproducer: not JSON: {err.msg}",
            err.lineno,
            f"column {err.colno}",
        ) from None
    except (ValueError, RecursionError) as err:  # a number too long, nesting too deep
        raise BadInput(
            source, f"cannot read a reproducer: JSON nested too deeply or a number too long ({err})"
        ) from None
    fields = JsonFields(source)
    if not isinstance(record, dict):
        raise BadInput(
            source,
            f"cannot read a reproducer: {json_kind(record)} where an object with its "
            "calls was expected",
        )
    fields.keys(record, "", ("divergence", "calls", "test_file"), ("calls",))
    if "divergence" in record:
        fields.string(record["divergence"], "divergence")
    items = fields.array(record["calls"], "calls")
    ops = [op_from_json(item, fields, f"calls[{n}]") for n, item in enumerate(items)]
    file_seed = None
    if "test_file" in record:
        fields.keys(record["test_file"], "test_file", ("seed",))
        if "seed" in record["test_file"]:
            file_seed = fields.number(
                record["test_file"]["seed"], "test_file.seed", -(1 << 63), 1 << 63
            )
    return Reproducer(ops, file_seed)


def write_reproducer(case: Reproducer, divergence: Divergence, stem: Path) -> list[Path]:
    """A JSON record (for --replay), a Python script and a C program of the calls."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "divergence": str(divergence),
        "calls": [op_to_json(op) for op in case.ops],
    }
    if case.file_seed is not None:
        record["test_file"] = {"seed": case.file_seed}
    json_path = stem.with_suffix(".json")
    json_path.write_text(json.dumps(record, indent=1))
    py_path = stem.with_suffix(".py")
    py_path.write_text(
        '"""Reproducer written by vmsim verify: rerun with `python3 THIS_FILE`."""\n'
        "from pathlib import Path\n\n"
        "from vmsim.verify.live import LiveProcess\n"
        "from vmsim.verify.shrink import load_reproducer, replay\n\n"
        "case = load_reproducer(Path(__file__).with_suffix('.json'))\n"
        "print(replay(case, LiveProcess) or 'no divergence')\n"
    )
    c_path = stem.with_suffix(".c")
    c_path.write_text("\n".join(c_program(case)) + "\n")
    return [json_path, py_path, c_path]


def c_program(case: Reproducer) -> list[str]:
    """The calls as a C program; one that maps the test file first writes it, in one
    write() as verify does (the page cache's folios depend on it), under the same fd."""
    lines = [
        "/* Reproducer written by vmsim verify; build with gcc, run under setarch -R. */",
        "#define _GNU_SOURCE",
        "#include <stdio.h>",
        "#include <stdlib.h>",
        "#include <string.h>",
        "#include <errno.h>",
        "#include <setjmp.h>",
        "#include <signal.h>",
        "#include <unistd.h>",
        "#include <sys/syscall.h>",
        "",
        "/* A faulting access is reported and the sequence goes on, as verify's helper does. */",
        "static sigjmp_buf fault_jmp;",
        "",
        "static void on_fault(int sig, siginfo_t *si, void *uc)",
        "{",
        "\t(void)uc;",
        '\tprintf("  -> %s at %p\\n", sig == SIGBUS ? "SIGBUS" : "SIGSEGV", si->si_addr);',
        "\tsiglongjmp(fault_jmp, 1);",
        "}",
        "",
        "int main(void)",
        "{",
        "\tlong r;",
        "\tstruct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO };",
        "",
        "\tsetvbuf(stdout, NULL, _IONBF, 0);",
        "\tsigaction(SIGSEGV, &sa, NULL);",
        "\tsigaction(SIGBUS, &sa, NULL);",
    ]
    file_fds = sorted({fd for op in case.ops for fd in _file_fds(op)})
    uses_file = case.file_seed is not None and bool(file_fds)
    if case.file_seed is not None and file_fds:
        data = test_file_data(case.file_seed)
        pattern = ", ".join(str(b) for b in data[:256])
        lines += [
            f"\tstatic const unsigned char pattern[256] = {{{pattern}}};",
            f"\tstatic unsigned char data[{len(data)}];",
            '\tchar path[] = "/tmp/vmsim-XXXXXX";',
            "\tint fd = mkstemp(path);",
            f"\tfor (int i = 0; i < {len(data)}; i++)",
            "\t\tdata[i] = pattern[i % 256];",
            "\tif (fd < 0 || write(fd, data, sizeof(data)) != sizeof(data))",
            '\t\treturn perror("test file"), 1;',
            *(f"\tdup2(fd, {fd});" for fd in file_fds),
        ]
    for op in case.ops:
        if op.kind not in ACCESSES:
            call = syscalls.lookup(op.kind).c_call(op.args)
            lines.append(
                f'\tr = {call}; printf("{op}: %#lx %s\\n", r, r == -1 ? strerror(errno) : "");'
            )
        else:
            addr = op.args[0]
            n = len(op.data) if op.kind == "write" else op.args[1]
            access = (
                f"memset((void *){addr:#x}UL, {op.data[0]}, {n})"
                if op.kind == "write"
                else f"for (unsigned long p = {addr:#x}UL; p < {addr + n:#x}UL; p = (p | 4095) + 1)"
                "\n\t\t\tr = *(volatile char *)p"
            )
            lines.append(f'\tprintf("{op}\\n");')
            lines.append(f"\tif (!sigsetjmp(fault_jmp, 1))\n\t\t{access};")
    lines += [
        '\tFILE *maps = fopen("/proc/self/maps", "r");',
        "\tchar line[512];",
        "\twhile (fgets(line, sizeof(line), maps))",
        "\t\tfputs(line, stdout);",
        *(["\tunlink(path);"] if uses_file else []),
        "\treturn 0;",
        "}",
    ]
    return lines


def _file_fds(op: Op) -> list[int]:
    """The fds a call names, as the kernel's fget() reads them (the low 32 bits), where
    they can be an fd at all (not negative as an int)."""
    if op.kind in ACCESSES:
        return []
    row = syscalls.lookup(op.kind)
    values = row.convert(op.args)
    fds = [INT.convert(v) for arg, v in zip(row.args, values, strict=True) if arg.role == FILE]
    return [fd for fd in fds if fd >= 0]
