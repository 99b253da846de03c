"""Hostile input, at every boundary: the public API and each file format the CLI reads.

Whatever arrives, the answer is the kernel's (OSError, a signal as SegmentationFault or
BusError, the OOM killer as OutOfMemoryKill), a ValueError naming what no register or
file can hold, or for the CLI one message and a non-zero exit.  Never a traceback, a
hang, or a model that fails ``Process.check()``.

``make test`` runs 200 cases in all; ``make fuzz`` runs the same properties with
``VMSIM_FUZZ_CASES`` cases in all (a million by default), in the same proportions.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vmsim
from vmsim.cli import main
from vmsim.kernel import syscalls
from vmsim.mm.mm_types import KernelConfig
from vmsim.process import Process
from vmsim.verify.randops import apply
from vmsim.verify.shrink import load_reproducer

DATA = Path(__file__).parent / "data"
PAGE = 4096
# Small enough that a populate or a fault past it ends fast; big enough for real layouts.
SMALL_RAM_PAGES = (256 << 20) // PAGE

# Values every register boundary has trouble with: signs, widths, alignment, the top.
EDGES = [
    0, 1, 2, -1, -2, 7, 4095, 4096, 4097, 8192, 1 << 21, (1 << 21) + 4096, 1 << 30,
    (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 32) | 3, 1 << 46, 1 << 47,
    (1 << 47) - 4096, (1 << 47) - 1, 1 << 56, 1 << 63, (1 << 63) - 1, (1 << 64) - 1,
    (1 << 64) - 4096, -4096, -(1 << 31), -(1 << 63), 1 << 64, 1 << 70, -(1 << 64) - 1,
]  # fmt: skip
EDGE_TEXT = [
    "0", "-1", "0x", "0x-1", "NULL", "18446744073709551616", "0xffffffffffffffffff",
    "99999999999999999999999", "", " ", "?", "...", "\\x00", '"', "(", ")", "=", "{",
]  # fmt: skip

OPS = [row.name for row in syscalls.modelled()]
OTHER_OPS = ["read", "write", "fork", "setrlimit", "open", "close", "create_file"]


# An argument, as a function of the addresses the process has used: an edge value,
# anything, or near one of those addresses.  Built once: making strategies per draw
# costs more than the calls they drive.
REGISTER: st.SearchStrategy[Callable[[list[int]], int]] = st.one_of(
    st.sampled_from(EDGES).map(lambda v: lambda known: v),
    st.integers(-(1 << 65), 1 << 65).map(lambda v: lambda known: v),
    st.integers(0, 64).map(lambda v: lambda known: v),
    st.builds(
        lambda i, pages, off: lambda known: known[i % len(known)] + pages * PAGE + off,
        st.integers(0, 1 << 16),
        st.integers(-600, 600),
        st.sampled_from([0, 0, 0, 1, -1, PAGE // 2]),
    ),
)
CALLS = st.sampled_from(OPS + OTHER_OPS)
FILES = st.sampled_from(["/f", "/g"])
SIZES = st.one_of(st.none(), st.integers(-PAGE, 1 << 45), st.sampled_from(EDGES))


# The tests' shares of make test's 200 cases; make fuzz scales them to its total.
SCALE = int(os.environ.get("VMSIM_FUZZ_CASES", "200")) / 200
# The most cases one hypothesis run makes: a run keeps every case's choices, so a long
# fuzz is many runs (pytest items, which make fuzz spreads over the cores).
ROUND = 5000


def fuzz_settings(examples: int) -> Callable[[Any], Any]:
    """``examples`` of make test's 200 cases (scaled up by make fuzz), in rounds of at most
    ROUND: the test takes the round's number as ``fuzz_round``."""
    total = max(1, round(examples * SCALE))
    rounds = -(-total // ROUND)

    def decorate(test: Any) -> Any:
        test = settings(
            max_examples=-(-total // rounds),
            # No case comes near this: one that does is a hang in the making.
            deadline=timedelta(seconds=10),
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )(test)
        return pytest.mark.parametrize("fuzz_round", range(rounds))(test)

    return decorate


def one_op(p: Process, procs: list[Process], data: st.DataObject, known: list[int]) -> None:
    """Draw one call of the API with hostile arguments and make it."""
    name = data.draw(CALLS, label="call")

    def arg() -> int:
        return data.draw(REGISTER)(known)

    if name in OPS:
        row = syscalls.lookup(name)
        n = data.draw(st.integers(len(row.args) - 2, len(row.args) + 1), label="nargs")
        args = [arg() for _ in range(max(n, 0))]
        result = p.syscall(name, *args)
        if row.result == syscalls.RESULT_ADDRESS:
            known.append(result)
    elif name == "read":
        p.read(arg(), data.draw(st.integers(-2, 3 * PAGE)))
    elif name == "write":
        p.write(arg(), data.draw(st.binary(max_size=3 * PAGE)))
    elif name == "fork":
        procs.append(p.fork())
    elif name == "setrlimit":
        p.setrlimit(data.draw(st.integers(-1, 20)), arg(), arg())
    elif name == "open":
        path = data.draw(st.sampled_from(["/f", "/g", "/missing", ""]))
        p.open(path, data.draw(st.sampled_from([0, 1, 2, 3, -1, 1 << 40])))
    elif name == "close":
        p.close(arg())
    else:
        p.create_file(data.draw(FILES), b"x" * 5000, data.draw(SIZES))


# What a call of the API may raise besides its result.
KERNEL_ANSWERS = (
    OSError,
    vmsim.SegmentationFault,
    vmsim.BusError,
    vmsim.OutOfMemoryKill,
    ValueError,
)


@fuzz_settings(40)
@given(data=st.data())
def test_api_answers_hostile_calls_as_the_kernel_would(
    fuzz_round: int, data: st.DataObject
) -> None:
    p = Process(config=KernelConfig(totalram_pages=SMALL_RAM_PAGES))
    p.create_file("/f", b"abc" * 3000)
    procs = [p]
    known = [0x555555554000, 0x7FFFF7FF0000, p.mm.mmap_base, p.mm.brk]
    for _ in range(data.draw(st.integers(1, 25), label="calls")):
        proc = data.draw(st.sampled_from(procs), label="process")
        try:
            one_op(proc, procs, data, known)
        except KERNEL_ANSWERS as err:
            if isinstance(err, ValueError) and not isinstance(err, OSError):
                assert str(err), "a ValueError must say what it refuses"
        for q in procs:
            q.check()


# -- the file formats the CLI reads ------------------------------------------------------

NUMBER = re.compile(r"0x[0-9a-f]+|\b\d+\b")


@st.composite
def mutated(draw: st.DrawFn, sample: list[str]) -> str:
    """A real file's lines, cut, shuffled, corrupted: what a damaged or hostile file holds."""
    lines = list(sample)
    for _ in range(draw(st.integers(0, 6), label="mutations")):
        if not lines:
            lines.append(draw(st.text(max_size=40)))
            continue
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(
            st.sampled_from(["drop", "dup", "junk", "number", "cut", "char", "swap", "keep"])
        )
        if how == "drop":
            del lines[i]
        elif how == "dup":
            lines.insert(i, lines[i])
        elif how == "junk":
            lines.insert(i, draw(st.text(max_size=60)))
        elif how == "number":
            matches = list(NUMBER.finditer(lines[i]))
            if matches:
                m = draw(st.sampled_from(matches))
                new = draw(st.one_of(st.sampled_from(EDGE_TEXT), st.sampled_from(EDGES).map(hex)))
                lines[i] = lines[i][: m.start()] + new + lines[i][m.end() :]
        elif how == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif how == "char":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.characters()) + lines[i][at:]
        elif how == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""]))


def hostile_file(sample: list[str]) -> st.SearchStrategy[bytes]:
    """Mostly damaged copies of a real file; now and then bytes that are no text at all."""
    return st.one_of(
        mutated(sample).map(lambda s: s.encode("utf-8", "surrogatepass")),
        mutated(sample).map(lambda s: s.encode("utf-8", "surrogatepass")),
        mutated(sample).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.binary(max_size=300),
    )


def run_cli(args: list[str], files: dict[str, bytes]) -> None:
    """Run ``vmsim ARGS`` with FILE names standing for files holding these bytes; the CLI
    must answer in its own words: output and exit 0/1, or a message and exit 1/2."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            (Path(tmp) / name).write_bytes(content)
        argv = [str(Path(tmp) / a) if a in files else a for a in args]
        result = CliRunner().invoke(main, argv, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output


def sample_lines(name: str, limit: int = 40) -> list[str]:
    return (DATA / name).read_text().splitlines()[:limit]


SEED_BUNDLE = (DATA / "seed.bundle").read_text().splitlines()
SEED_MAPS = SEED_BUNDLE[SEED_BUNDLE.index("--- maps") + 1 : SEED_BUNDLE.index("--- strace")]
SEED_LOG = SEED_BUNDLE[SEED_BUNDLE.index("--- strace") + 1 :]
THREADS_LOG = sample_lines("threads.bundle", 400)
THREADS_LOG = THREADS_LOG[THREADS_LOG.index("--- strace") + 1 :][:40]


@fuzz_settings(25)
@given(log=hostile_file(SEED_LOG + THREADS_LOG[:10]), follow=st.booleans())
def test_replay_of_a_hostile_log(fuzz_round: int, log: bytes, follow: bool) -> None:
    run_cli(["replay", "LOG", *(["--follow"] if follow else [])], {"LOG": log})


@fuzz_settings(25)
@given(maps=hostile_file(SEED_MAPS), log=hostile_file(SEED_LOG[:12]))
def test_replay_with_hostile_maps(fuzz_round: int, maps: bytes, log: bytes) -> None:
    run_cli(["replay", "LOG", "--maps", "MAPS", "--json"], {"LOG": log, "MAPS": maps})


@fuzz_settings(25)
@given(bundle=hostile_file(sample_lines("seed.bundle", 60)))
def test_replay_of_a_hostile_bundle(fuzz_round: int, bundle: bytes) -> None:
    run_cli(["replay", "BUNDLE"], {"BUNDLE": bundle})


@fuzz_settings(10)
@given(bundle=hostile_file(sample_lines("seed.bundle", 30)))
def test_report_of_a_hostile_bundle(fuzz_round: int, bundle: bytes) -> None:
    run_cli(["report", "BUNDLE", "-o", "PAGE"], {"BUNDLE": bundle, "PAGE": b""})


@fuzz_settings(35)
@given(maps=mutated(SEED_MAPS))
def test_from_maps_refuses_or_builds_a_sound_model(fuzz_round: int, maps: str) -> None:
    try:
        p = Process.from_maps(maps)
    except ValueError as err:
        assert str(err)
        return
    p.check()


JSON = st.recursive(
    st.none() | st.booleans() | st.sampled_from(EDGES) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)
CALL = st.fixed_dictionaries(
    {"op": st.sampled_from([*OPS, "read", "write", "fork", "exec", "__init__", 5])},
    optional={"args": st.lists(st.sampled_from(EDGES) | JSON, max_size=7), "data": JSON},
)


@fuzz_settings(40)
@given(record=st.one_of(JSON, st.fixed_dictionaries({"calls": st.lists(CALL | JSON, max_size=8)})))
def test_reproducer_json_is_read_or_refused(fuzz_round: int, record: Any) -> None:
    """A reproducer is read whole or refused with a ValueError; what is read runs on the
    model with only the kernel's answers."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.json"
        path.write_text(json.dumps(record))
        try:
            case = load_reproducer(path)
        except ValueError as err:
            assert str(path) in str(err)
            return
    p = Process(config=KernelConfig(totalram_pages=SMALL_RAM_PAGES))
    for op in case.ops:
        with contextlib.suppress(*KERNEL_ANSWERS):
            apply(p, op)
        p.check()


@pytest.mark.parametrize("junk", [b"", b"\xff\xfe\x00", b"x" * 100_000, b"\n" * 1000])
def test_replay_of_junk_files(junk: bytes) -> None:
    run_cli(["replay", "LOG"], {"LOG": junk})
