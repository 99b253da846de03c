"""The system-call table: C types, strace's text, and what derives from it."""

from __future__ import annotations

import ast
import errno
from pathlib import Path

import pytest

from vmsim import (
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_READ,
    PROT_WRITE,
    Process,
)
from vmsim.kernel import syscalls
from vmsim.kernel.sysargs import INT, SIZE_T, UINT, ULONG
from vmsim.strace.parse import parse
from vmsim.views import syscall_table

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "vmsim"


def test_arguments_take_the_c_type_of_the_kernels_prototype() -> None:
    assert ULONG.convert(-1) == (1 << 64) - 1
    assert ULONG.convert(-(1 << 63)) == 1 << 63
    assert SIZE_T.convert((1 << 63) + 5) == (1 << 63) + 5
    assert INT.convert(0xFFFFFFFF) == -1
    assert INT.convert((1 << 32) | 4) == 4
    assert INT.convert(1 << 31) == -(1 << 31)
    assert UINT.convert(-1) == 0xFFFFFFFF
    assert UINT.convert((1 << 32) | 3) == 3


def test_a_value_no_register_holds_is_refused() -> None:
    p = Process()
    with pytest.raises(ValueError, match="mmap.. argument addr: 0x4.* 64-bit register"):
        p.mmap(1 << 70, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    with pytest.raises(ValueError, match="length"):
        p.munmap(0, -(1 << 63) - 1)
    assert p.mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -(1 << 63), 0)


def test_high_bits_reach_the_model_as_the_kernel_sees_them() -> None:
    p = Process()
    a = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    # prot is an unsigned long: bit 32 is an unknown protection bit (kernel: EINVAL).
    with pytest.raises(OSError) as caught:
        p.mprotect(a, 4096, (1 << 32) | PROT_READ)
    assert caught.value.errno == errno.EINVAL
    # mremap's flags too.
    with pytest.raises(OSError) as caught:
        p.mremap(a, 4096, 8192, 1 << 32)
    assert caught.value.errno == errno.EINVAL
    # madvise's advice is an int: the high half is dropped, this is MADV_DONTNEED.
    p.write(a, b"x")
    p.madvise(a, 4096, (1 << 32) | MADV_DONTNEED)
    assert p.read(a, 1) == b"\0"
    # fget() takes an unsigned int: the fd's high half is dropped too.
    p.create_file("/data", b"y" * 4096)
    fd = p.open("/data")
    b = p.mmap(0, 4096, PROT_READ, MAP_SHARED, (1 << 32) | fd, 0)
    assert p.read(b, 1) == b"y"
    # A negative length is a huge size_t.
    with pytest.raises(OSError) as caught:
        p.munmap(a, -4096)
    assert caught.value.errno == errno.EINVAL


# Lines strace 6.1 printed on this machine for these calls, and the registers behind them.
STRACE_LINES = [
    (
        "mremap",
        [0x7FFFF7FBC000, 4096, 4096, 0x10, 0x7FFFF7FBE000],
        "mremap(0x7ffff7fbc000, 4096, 4096, 0x10 /* MREMAP_??? */)",
    ),
    (
        "mremap",
        [0x7FFFF7FBE000, 4096, 4096, 3, 0x7FFFF7FBC000],
        "mremap(0x7ffff7fbe000, 4096, 4096, MREMAP_MAYMOVE|MREMAP_FIXED, 0x7ffff7fbc000)",
    ),
    (
        "mremap",
        [0x1000, 4096, 4096, 7 | 0x100, 0x5000],
        "mremap(0x1000, 4096, 4096, MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP|0x100, 0x5000)",
    ),
    (
        "mprotect",
        [0x7FFFF7FBC000, 4096, (1 << 32) | 1],
        "mprotect(0x7ffff7fbc000, 4096, PROT_READ|0x100000000)",
    ),
    ("mprotect", [0, 4096, 0], "mprotect(NULL, 4096, PROT_NONE)"),
    ("madvise", [0, 4096, 99], "madvise(NULL, 4096, 0x63 /* MADV_??? */)"),
    ("madvise", [0, 4096, -5], "madvise(NULL, 4096, 0xfffffffb /* MADV_??? */)"),
    ("madvise", [0, 0, 102], "madvise(NULL, 0, 0x66 /* MADV_??? */)"),
    ("madvise", [0, 4096, (1 << 32) | 4], "madvise(NULL, 4096, MADV_DONTNEED)"),
    (
        "mmap",
        [0, 4096, 3, 0x20, -1, 0],
        "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_FILE|MAP_ANONYMOUS, -1, 0)",
    ),
    (
        "mmap",
        [0, 4096, 3, 0x2F, -1, 0],
        "mmap(NULL, 4096, PROT_READ|PROT_WRITE, 0xf /* MAP_??? */|MAP_ANONYMOUS, -1, 0)",
    ),
    (
        "mmap",
        [0, 4096, 0x10, 0x22 | 0x80000000, -1, 0],
        "mmap(NULL, 4096, 0x10 /* PROT_??? */, MAP_PRIVATE|MAP_ANONYMOUS|32<<MAP_HUGE_SHIFT, "
        "-1, 0)",
    ),
    (
        "mmap",
        [0, 4096, 3, 0x22 | (1 << 40), 0xFFFFFFFF, 4096 << 20],
        "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0x100000000)",
    ),
    (
        "mmap",
        [-1, -1, -1, -1, -1, -1],
        "mmap(0xffffffffffffffff, 18446744073709551615, PROT_READ|PROT_WRITE|PROT_EXEC|"
        "PROT_SEM|PROT_GROWSDOWN|PROT_GROWSUP|0xfffffffffcfffff0, 0xf /* MAP_??? */|MAP_FIXED|"
        "MAP_ANONYMOUS|MAP_32BIT|MAP_NORESERVE|MAP_POPULATE|MAP_NONBLOCK|MAP_GROWSDOWN|"
        "MAP_DENYWRITE|MAP_EXECUTABLE|MAP_LOCKED|MAP_STACK|MAP_HUGETLB|MAP_SYNC|"
        "MAP_FIXED_NOREPLACE|0x3e00680|63<<MAP_HUGE_SHIFT, -1, 0xffffffffffffffff)",
    ),
    (
        "mmap",
        [1 << 63, 1 << 63, 1 << 31, 1 << 31, 1 << 31, 1 << 63],
        "mmap(0x8000000000000000, 9223372036854775808, 0x80000000 /* PROT_??? */, "
        "MAP_FILE|32<<MAP_HUGE_SHIFT, -2147483648, 0x8000000000000000)",
    ),
    ("munmap", [-1, -1], "munmap(0xffffffffffffffff, 18446744073709551615)"),
    ("brk", [-1], "brk(0xffffffffffffffff)"),
]


@pytest.mark.parametrize(("name", "raw", "text"), STRACE_LINES)
def test_calls_print_as_strace_prints_them(name: str, raw: list[int], text: str) -> None:
    row = syscalls.SYSCALLS[name]
    assert row.format_call(row.convert(raw)) == text


@pytest.mark.parametrize(("name", "raw", "text"), STRACE_LINES)
def test_the_strace_reader_reads_the_printed_values_back(
    name: str, raw: list[int], text: str
) -> None:
    row = syscalls.SYSCALLS[name]
    event = next(parse([f"{text} = 0"]))
    values = row.convert(raw)
    printed = [arg.show.raw(v) for arg, v in zip(row.args, values, strict=True)]
    assert [a.show.raw(v) for a, v in zip(row.args, event.int_args(), strict=False)] == (
        printed[: len(event.args)]
    )


def test_strace_result_column_and_errors() -> None:
    row = syscalls.SYSCALLS["munmap"]
    assert row.strace_line([-4096, 4096], OSError(errno.EINVAL, "x")) == (
        "munmap(0xfffffffffffff000, 4096)        = -1 EINVAL (Invalid argument)"
    )
    brk = syscalls.SYSCALLS["brk"]
    assert brk.strace_line([0], 0x555555559000) == (
        "brk(NULL)                               = 0x555555559000"
    )


def test_a_call_strace_prints_by_number_is_read_as_the_tables_call() -> None:
    line = (
        "syscall_0x1ce(0x7ffff7fbc000, 0x1000, 0, 0x7ffff7fbe000, 0x7ffff7fbc000, "
        "0x7ffff7fbc000) = 0"
    )
    event = next(parse([line]))
    assert event.name == "mseal"
    assert syscalls.lookup("syscall_0x1ce") is syscalls.SYSCALLS["mseal"]
    assert syscalls.canonical_name("syscall_0xfff") == "syscall_0xfff"


def test_reproducers_make_the_raw_call() -> None:
    row = syscalls.SYSCALLS["mmap"]
    assert row.c_call([0, 4096, 3, 0x22]) == (
        "syscall(9 /* mmap */, 0x0UL, 0x1000UL, 0x3UL, 0x22UL, 0xffffffffffffffffUL, 0x0UL)"
    )


def test_every_modelled_call_is_a_process_method_with_the_c_signature() -> None:
    import inspect

    for row in syscalls.modelled():
        method = getattr(Process, row.name)
        params = list(inspect.signature(method).parameters)[1:]
        assert params == [arg.name for arg in row.args]
        assert str(row.nr) in (method.__doc__ or "")


def test_the_readme_lists_the_calls_of_the_table() -> None:
    readme = (ROOT / "README.md").read_text()
    assert syscall_table.spliced(readme) == readme, "run `make readme`"
    for row in syscalls.modelled():
        assert f"`{row.prototype()}`" in readme


# -- the layers ---------------------------------------------------------------------------

MODEL = ("mm", "lib", "arch", "kernel", "fs", "process.py")
ABOVE = ("strace", "views", "replay", "demo", "verify", "cli", "report", "record", "bundle")


def _imports(path: Path) -> set[str]:
    """Every module of the package ``path`` imports, anywhere in it (functions and
    TYPE_CHECKING blocks too), as a dotted name below vmsim."""
    module = path.relative_to(PACKAGE).with_suffix("")
    parts = list(module.parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [target] + [[*target, alias.name] for alias in node.names]
            elif node.module and node.module.startswith("vmsim"):
                target = node.module.split(".")[1:]
                names = [target] + [[*target, alias.name] for alias in node.names]
            else:
                continue
            found.update(".".join(name) for name in names if name)
        elif isinstance(node, ast.Import):
            found.update(
                ".".join(alias.name.split(".")[1:])
                for alias in node.names
                if alias.name.startswith("vmsim.")
            )
    return found


def test_the_model_never_imports_the_layers_above_it() -> None:
    arrows = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] not in MODEL:
            continue
        for target in _imports(path):
            if target.split(".")[0] in ABOVE:
                arrows.append(f"{rel} -> {target}")
    assert not arrows, "\n".join(arrows)


def test_the_import_check_sees_an_upward_import(tmp_path: Path) -> None:
    fake = PACKAGE / "mm" / "mmap.py"
    found = _imports(fake)
    assert "mm.vma" in found  # from . import vma as vmalib
    assert "kernel.trace" in found
