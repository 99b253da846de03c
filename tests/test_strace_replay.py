"""Reading strace output and replaying real programs' logs into the model."""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from vmsim import MAP_ANONYMOUS, MAP_PRIVATE, MREMAP_MAYMOVE, PROT_READ, PROT_WRITE
from vmsim.cli import main
from vmsim.kernel import syscalls
from vmsim.process import Process
from vmsim.replay import read_bundle, replay_text
from vmsim.strace.parse import (
    CALL,
    RESUMED,
    UNFINISHED,
    _pid,
    int_args,
    parse,
    plain_call,
    plain_resumed,
    plain_unfinished,
    split_args,
    value,
)

DATA = Path(__file__).parent / "data"


def events(text: str) -> list:
    return list(parse(text.splitlines()))


@pytest.mark.parametrize(
    "line",
    [
        "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000",
        "[pid  4242] mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
        " = 0x7f0000",
        "4242 12:00:01.123456 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS,"
        " -1, 0) = 0x7f0000",
        "1700000000.123456 mmap(NULL, 8192, 0x3, 0x22, -1, 0) = 0x7f0000",
        "     0.000123 mmap(NULL, 8192, 0x3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|"
        "MAP_ANONYMOUS */, -1, 0) = 0x7f0000",
        "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000"
        " <0.000012>",
    ],
)
def test_call_lines_in_every_format(line: str) -> None:
    (event,) = events(line)
    assert event.name == "mmap" and event.ret == 0x7F0000
    assert [event.arg(i) for i in range(6)] == [
        0,
        8192,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        -1,
        0,
    ]


TRICKY = [
    'openat(AT_FDCWD, "a) = 3", O_RDONLY) = 4',
    "brk(NULL)                               = 0x555555559000",
    "7 munmap(0x7f0000, 4096) = 0",
    "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = -1 EACCES (Permission denied)",
    "[pid  7] munmap(0x7f0000, 4096) = 0",
    "7 12:00:01.123 munmap(0x7f0000, 4096) = 0",
    "umask(022) = 022",
    'read(3, ""..., 10) = 10 <0.000012>',
    "exit_group(0) = ?",
    "x() = 0xzz",
    "x()= 1",
]


def test_the_plain_line_reader_agrees_with_the_full_expression() -> None:
    """plain_call() reads the commonest lines without the regular expression: wherever it
    answers, CALL must read the same name, arguments and result from the line."""
    lines = [
        line
        for path in DATA.glob("*.bundle")
        for line in read_bundle(path.read_text())[1].splitlines()
    ]
    read = 0
    for line in lines + TRICKY:
        plain = plain_call(line)
        if plain is None:
            continue
        match = CALL.match(line)
        assert match is not None and not (match["pid"] or match["errno"] or match["retpath"])
        pid = int(match["pid2"]) if match["pid2"] else None
        assert plain == (pid, match["name"], match["args"], int(match["ret"], 0)), line
        read += 1
    assert read > len(lines) // 2  # most lines take the short way
    assert [plain_call(line) is not None for line in TRICKY] == [True] * 3 + [False] * 8


UNFINISHED_TRICKY = [
    "16745 rseq(0x7ffff7dd1fe0, 0x20, 0, 0x53053053 <unfinished ...>",
    "getpid( <unfinished ...>",
    "[pid  7] munmap(0x7f0000, 4096 <unfinished ...>",
    "7 12:00:01.123 munmap(0x7f0000, 4096 <unfinished ...>",
    "munmap(0x7f0000, 4096 <unfinished ...>  ",
    "munmap(0x7f0000, 4096) = 3<unfinished ...>",
    "16745 <... rseq resumed>)               = 0",
    "<... mmap resumed> , 0) = 0x7f0000",
    "7 <... mmap resumed>) = -1 ENOMEM (Cannot allocate memory)",
    "[pid 7] <... mmap resumed>) = 0x7f0000",
    "<... mmap resumed>) = 0x7f0000 <0.000012>",
    "<... 1mmap resumed>) = 0",
]


def test_the_plain_unfinished_and_resumed_readers_agree_with_the_expressions() -> None:
    """plain_unfinished() and plain_resumed() read threads' split calls without the
    regular expressions: wherever they answer, UNFINISHED or RESUMED must read the same
    pid, name, arguments and result."""
    lines = [
        line
        for path in DATA.glob("*.bundle")
        for line in read_bundle(path.read_text())[1].splitlines()
    ] + UNFINISHED_TRICKY
    read = []
    for line in lines:
        unfinished = plain_unfinished(line)
        if unfinished is not None:
            match = UNFINISHED.match(line)
            assert match is not None and CALL.match(line) is None, line
            assert unfinished == (_pid(match), match["name"], match["args"]), line
            read.append(line)
        resumed = plain_resumed(line)
        if resumed is not None:
            match = RESUMED.match(line)
            assert match is not None and not (match["errno"] or match["retpath"]), line
            ret = int(match["ret"], 0)
            assert resumed == (_pid(match), match["name"], match["args"], ret), line
            read.append(line)
    assert len(read) > 150  # the threaded logs' split calls take the short way
    expected = [True] * 2 + [False] * 4 + [True] * 2 + [False] * 4
    assert [line in read for line in UNFINISHED_TRICKY] == expected


ARG_LISTS = [
    '"a,b", 3',
    "3</tmp/a,b>, 4096",
    "0x1000, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0",
    "0x3 /* PROT_READ|PROT_WRITE */, 0",
    "NULL, 010",
    "",
    "[1, 2], 3",
]


def test_the_plain_argument_reader_agrees_with_the_splitter() -> None:
    """int_args() reads plain lists of numbers and flags by splitting at every comma:
    wherever a list can be read as numbers, it must give what split_args() and value()
    give."""
    matches = [
        CALL.match(line)
        for path in DATA.glob("*.bundle")
        for line in read_bundle(path.read_text())[1].splitlines()
    ]
    lists = [match["args"] for match in matches if match is not None]
    compared = 0
    for text in lists + ARG_LISTS:
        try:
            expected = [value(token) for token in split_args(text)]
        except ValueError:
            with pytest.raises(ValueError):
                int_args(text)
            continue
        assert int_args(text) == expected, text
        compared += 1
    modelled = {row.name for row in syscalls.modelled()}
    memory_calls = [m for m in matches if m is not None and m["name"] in modelled]
    assert compared >= len(memory_calls) > 100  # every memory call's list among them


def test_errors_strings_fd_paths_signals_exits() -> None:
    log = "\n".join(
        [
            'openat(AT_FDCWD, "/weird) = name", O_RDONLY) = 3</weird) = name>',
            "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3</weird) = name>, 0) = 0x1000",
            "mremap(0x1000, 4096, 8192, 0) = -1 ENOMEM (Cannot allocate memory)",
            "fcntl(3, F_GETFD)                 = 0x1 (flags FD_CLOEXEC)",
            "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10} ---",
            "+++ killed by SIGSEGV (core dumped) +++",
            "+++ exited with 0 +++",
        ]
    )
    found = events(log)
    assert [e.name for e in found] == [
        "openat",
        "mmap",
        "mremap",
        "fcntl",
        "signal",
        "exit",
        "exit",
    ]
    assert found[0].ret_path == "/weird) = name" and found[1].arg(4) == 3
    assert found[2].errno == "ENOMEM" and found[2].arg(3) == 0
    assert value("MREMAP_MAYMOVE|0x4") == MREMAP_MAYMOVE | 4


def test_unfinished_and_resumed_calls_join() -> None:
    found = events(
        "11 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0 <unfinished ...>\n"
        "12 brk(NULL) = 0x5000\n"
        "11 <... mmap resumed>)               = 0x7000\n"
    )
    complete = [e for e in found if not e.unfinished]
    assert [(e.pid, e.name, e.ret) for e in complete] == [(12, "brk", 0x5000), (11, "mmap", 0x7000)]
    assert complete[1].arg(1) == 8192


def test_malformed_and_truncated_lines_are_reported_and_skipped() -> None:
    log = (DATA / "seed.bundle").read_text()
    maps, strace = read_bundle(log)
    lines = strace.splitlines()
    lines.insert(5, "this is not strace output")
    lines.insert(9, 'openat(AT_FDCWD, "/etc/ld.so.ca')  # cut off
    report = replay_text("\n".join(lines), maps)
    assert len(report.bad_lines) == 2 and report.bad_lines[0].startswith("line 6:")
    assert report.checked == 18 and not report.mismatches


def test_calls_with_missing_arguments_are_reported_and_skipped() -> None:
    """A line whose argument list lost its end still reads as a call; the replay names it
    and goes on instead of failing."""
    log = (
        "mmap(NULL, 4096) = 0x7ffff7fb0000\n"
        "munmap(0x7ffff7fb0000) = 0\n"
        "mremap(0x7ffff7fb0000, 4096) = 0x7ffff7fb0000\n"
        "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7ffe000\n"
    )
    report = replay_text(log)
    assert report.bad_lines == [
        "line 1: mmap: 6 arguments expected, the line has 2",
        "line 2: munmap: 2 arguments expected, the line has 1",
        "line 3: mremap: 4 arguments expected, the line has 2",
    ]
    assert report.checked == 1 and not report.mismatches


@pytest.mark.parametrize("bundle", ["seed.bundle", "python-buffers.bundle", "threads.bundle"])
def test_recorded_programs_are_predicted_exactly(bundle: str) -> None:
    report = replay_text((DATA / bundle).read_text())
    assert report.checked > 10 and not report.bad_lines
    assert report.mismatches == [], [str(m) for m in report.mismatches]


# tests/data/mseal.bundle's program: it seals ranges and tries to change them.
MSEAL_C = """\
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#define PAGE 4096
int main(void) {
    char *a = mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *b = mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *r = mmap(0, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    syscall(462, a + PAGE, 2 * PAGE, 0);               /* the middle of a: sealed */
    syscall(462, a, PAGE, 1);                          /* EINVAL: flags */
    syscall(462, (void *)0x10000, PAGE, 0);            /* ENOMEM: nothing there */
    syscall(462, r, 2 * PAGE, 0);                      /* read-only and sealed */
    munmap(a + PAGE, PAGE);                            /* EPERM */
    mprotect(a + 2 * PAGE, PAGE, PROT_READ);           /* EPERM */
    mremap(a + PAGE, PAGE, 2 * PAGE, MREMAP_MAYMOVE);  /* EPERM */
    madvise(r, PAGE, MADV_DONTNEED);                   /* EPERM: would discard */
    madvise(a + PAGE, PAGE, MADV_DONTNEED);            /* writable: allowed */
    munmap(a, PAGE);                                   /* not sealed */
    mprotect(a + 3 * PAGE, PAGE, PROT_READ);
    b = mremap(b, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE);
    mprotect(b, PAGE, PROT_READ);
    munmap(b, 8 * PAGE);
    return 0;
}
"""


def test_mseal_that_strace_prints_by_number_is_predicted() -> None:
    """strace 6.1 does not know mseal (462) and prints it as ``syscall_0x1ce`` with all six
    registers; the replay makes it as mseal, and every call the seals refuse is predicted."""
    text = (DATA / "mseal.bundle").read_text()
    assert text.count("syscall_0x1ce(") == 4
    report = replay_text(text)
    assert report.calls["mseal"] == 4 and not report.bad_lines
    assert report.mismatches == [], [str(m) for m in report.mismatches]
    assert report.errors == {
        "mseal EINVAL": 1,
        "mseal ENOMEM": 1,
        "munmap EPERM": 1,
        "mprotect EPERM": 1,
        "mremap EPERM": 1,
        "madvise EPERM": 1,
    }


def test_python_growing_buffers_uses_mremap() -> None:
    report = replay_text((DATA / "python-buffers.bundle").read_text())
    assert report.calls["mremap"] >= 20


def test_threads_share_the_address_space() -> None:
    """Four threads malloc/realloc concurrently: their arenas are mapped into one address
    space.  Calls that overlap in time may be logged in another order than the kernel ran
    them; the replay runs them in the order their results show."""
    report = replay_text((DATA / "threads.bundle").read_text())
    assert report.calls["mmap"] > 30 and report.skipped.get("mmap", 0) == 0
    assert report.mismatches == []
    assert report.notes["overlapping calls of threads run in another order than logged"] > 0
    assert replay_text((DATA / "threads.bundle").read_text(), follow=True).accuracy == 1.0


ANON = "PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0"


def _two_threads_addresses() -> tuple[int, int]:
    """Where an 8 KiB and then a 4 KiB anonymous mmap land in a fresh model."""
    p = Process()
    first = p.mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    return first, p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)


def test_overlapping_calls_replay_in_the_order_their_results_show() -> None:
    """Thread 100's mmap started first and took the lock first, but returned last."""
    big, small = _two_threads_addresses()
    log = (
        f"100 mmap(NULL, 8192, {ANON} <unfinished ...>\n"
        f"101 mmap(NULL, 4096, {ANON}) = {small:#x}\n"
        f"100 <... mmap resumed>) = {big:#x}\n"
    )
    report = replay_text(log)
    assert report.mismatches == []
    assert report.notes["overlapping calls of threads run in another order than logged"] == 1


def test_orders_are_tried_on_an_independent_copy_of_the_address_space() -> None:
    """The copy trial orders run on must equal the original (maps, smaps, bytes, the shared
    zero page) and change nothing in it."""
    from vmsim.mm.debug import validate_mm
    from vmsim.replay.order import _copy

    p = Process()
    a = p.mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    p.write(a, b"hello")
    p.read(a + 8192, 4)  # maps the zero page, which Rss does not count
    trial = Process(task=_copy(p.task))
    validate_mm(trial.mm)
    assert (trial.maps(), trial.smaps(), trial.read(a, 5)) == (p.maps(), p.smaps(), b"hello")
    trial.write(a, b"HELLO")
    trial.mremap(a, 1 << 20, 2 << 20, MREMAP_MAYMOVE)
    validate_mm(trial.mm)
    assert p.read(a, 5) == b"hello" and p.mm.get_mm_rss() == 1
    validate_mm(p.mm)


def test_a_call_that_returned_before_another_began_is_never_moved_after_it() -> None:
    big, small = _two_threads_addresses()
    log = (
        f"101 mmap(NULL, 4096, {ANON}) = {small:#x}\n"  # cannot follow the 8 KiB call
        f"100 mmap(NULL, 8192, {ANON}) = {big:#x}\n"
    )
    report = replay_text(log)
    assert [m.line for m in report.mismatches] == [1, 2] and not report.notes


def test_a_thread_killed_in_a_call_does_not_hold_back_the_others() -> None:
    big, _ = _two_threads_addresses()
    log = (
        f"100 mmap(NULL, 4096, {ANON} <unfinished ...>\n"
        f"101 mmap(NULL, 8192, {ANON}) = {big:#x}\n"
        "100 +++ killed by SIGKILL +++\n"
        f"101 munmap({big:#x}, 8192) = 0\n"
    )
    report = replay_text(log)
    assert report.mismatches == [] and report.calls == {"mmap": 1, "munmap": 1}


def test_replay_cli_reports_missing_file_without_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["replay", str(tmp_path / "nope.log")])
    assert result.exit_code != 0 and "No such file" in result.output
    assert "Traceback" not in result.output


needs_strace_and_gcc = pytest.mark.skipif(
    shutil.which("strace") is None or shutil.which("gcc") is None, reason="needs strace and gcc"
)


def _record(tmp_path: Path, name: str, c_source: str, *args: str) -> Path:
    """Compile a C program, run it under vmsim record, and return its bundle."""
    src = tmp_path / f"{name}.c"
    src.write_text(c_source)
    exe = tmp_path / name
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(src)], check=True)
    bundle = tmp_path / f"{name}.bundle"
    result = CliRunner().invoke(main, ["record", "-o", str(bundle), "--", str(exe), *args])
    assert result.exit_code == 0, result.output
    return bundle


@needs_strace_and_gcc
def test_record_then_replay_a_fresh_program(tmp_path: Path) -> None:
    bundle = _record(
        tmp_path,
        "grow",
        "#define _GNU_SOURCE\n#include <sys/mman.h>\n#include <string.h>\n"
        "int main(void){char *p = mmap(0, 4096, 3, 0x22, -1, 0); memset(p, 1, 4096);\n"
        "for (int i = 2; i < 40; i++) p = mremap(p, (i - 1) * 4096, i * 4096, 1);\n"
        "munmap(p, 39 * 4096); return 0;}\n",
    )
    replayed = CliRunner().invoke(main, ["replay", str(bundle)])
    assert replayed.exit_code == 0, replayed.output
    assert "(100.0%)" in replayed.output


@needs_strace_and_gcc
@pytest.mark.skipif(
    tuple(int(n) for n in platform.release().split(".")[:2]) < (6, 10), reason="needs mseal"
)
def test_record_then_replay_mseal(tmp_path: Path) -> None:
    """The mseal program recorded afresh, whatever this strace calls mseal."""
    report = replay_text(_record(tmp_path, "mseal", MSEAL_C).read_text())
    assert report.calls["mseal"] == 4 and report.errors["munmap EPERM"] == 1
    assert report.mismatches == [], [str(m) for m in report.mismatches]


def test_a_read_only_fd_gives_no_shared_writable_mapping(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(bytes(8192))
    fresh = Process()  # where three 8 KiB mappings land in an empty address space
    a, b, c = (fresh.mmap(0, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS) for _ in range(3))
    log = (
        "munmap(0x10000, 4096) = 0\n"  # the replay starts at the first memory call
        f'openat(AT_FDCWD, "{data}", O_RDONLY|O_CLOEXEC) = 3\n'
        f'openat(AT_FDCWD, "{data}", O_RDWR) = 4\n'
        "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_SHARED, 3, 0) = -1 EACCES (Permission denied)\n"
        f"mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE, 3, 0) = {a:#x}\n"
        f"mmap(NULL, 8192, PROT_READ, MAP_SHARED, 3, 0) = {b:#x}\n"
        f"mprotect({b:#x}, 8192, PROT_READ|PROT_WRITE) = -1 EACCES (Permission denied)\n"
        f"mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_SHARED, 4, 0) = {c:#x}\n"
    )
    report = replay_text(log)
    assert report.checked == 6 and report.mismatches == []


@needs_strace_and_gcc
def test_recorded_opens_keep_their_access_mode(tmp_path: Path) -> None:
    """The same calls made for real: the kernel's answers are the model's."""
    data = tmp_path / "data"
    data.write_bytes(bytes(8192))
    bundle = _record(
        tmp_path,
        "modes",
        "#include <fcntl.h>\n#include <sys/mman.h>\n"
        "int main(int argc, char **argv){int ro = open(argv[1], O_RDONLY | O_CLOEXEC);\n"
        "int rw = open(argv[1], O_RDWR), wo = open(argv[1], O_WRONLY);\n"
        "mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);\n"
        "char *p = mmap(0, 8192, PROT_READ, MAP_SHARED, ro, 0);\n"
        "mprotect(p, 8192, PROT_READ | PROT_WRITE);\n"
        "mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);\n"
        "mmap(0, 8192, PROT_READ, MAP_PRIVATE, wo, 0); return 0;}\n",
        str(data),
    )
    log = bundle.read_text()
    assert log.count("EACCES") == 3  # shared writable and mprotect on ro, any map of wo
    report = replay_text(log)
    assert report.mismatches == [] and report.errors["mmap EACCES"] == 2


@needs_strace_and_gcc
def test_execve_closes_the_close_on_exec_fds(tmp_path: Path) -> None:
    """After execve the program's fd table has lost the fds marked close-on-exec (by
    O_CLOEXEC, F_DUPFD_CLOEXEC or F_SETFD) and kept the others (a dup() clears the mark,
    so does F_SETFD 0): mapping a closed one fails with EBADF, on both sides."""
    data = tmp_path / "data"
    data.write_bytes(bytes(8192))
    bundle = _record(
        tmp_path,
        "cloexec",
        "#define _GNU_SOURCE\n#include <fcntl.h>\n#include <sys/mman.h>\n#include <unistd.h>\n"
        "int main(int argc, char **argv){\n"
        "if (argc > 2) {for (int fd = 3; fd <= 7; fd++)\n"
        "mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);\n"
        "return 0;}\n"
        "int a = open(argv[1], O_RDONLY | O_CLOEXEC), b = open(argv[1], O_RDONLY);\n"
        "dup(a); fcntl(b, F_DUPFD_CLOEXEC, 6); fcntl(b, F_SETFD, FD_CLOEXEC);\n"
        "int e = open(argv[1], O_RDONLY | O_CLOEXEC); fcntl(e, F_SETFD, 0);\n"
        'execl(argv[0], argv[0], argv[1], "child", (char *)0); return 1;}\n',
        str(data),
    )
    log = bundle.read_text()
    assert log.count("EBADF") == 3  # fds 3, 4 and 6; 5 and 7 stay open
    report = replay_text(log)
    assert report.mismatches == [] and report.errors["mmap EBADF"] == 3


@pytest.mark.parametrize(
    "setfd, dupfd, getfl",
    [
        ("F_SETFD, FD_CLOEXEC", "F_DUPFD_CLOEXEC, 6", "F_GETFL"),  # strace's default
        ("0x2, 0x1", "0x406, 0x6", "0x3"),  # -X raw
        ("0x2 /* F_SETFD */, 0x1 /* FD_CLOEXEC */", "0x406 /* F_DUPFD_CLOEXEC */, 0x6", "0x3"),
    ],
)
def test_fcntl_close_on_exec_in_every_format(setfd: str, dupfd: str, getfl: str) -> None:
    """fcntl's commands mark fds close-on-exec however strace printed them; a command the
    replay has no use for is passed over, not reported."""
    from vmsim.bundle import parse_bundle
    from vmsim.replay import replay_bundle

    log = (
        "munmap(0x10000, 4096) = 0\n"  # the replay starts at the first memory call
        'openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3\n'
        f"fcntl(3, {setfd}) = 0\n"
        f"fcntl(3, {dupfd}) = 6\n"
        "dup2(3, 7) = 7\n"
        f"fcntl(7, {getfl}) = 0x8000\n"
    )
    replayer = replay_bundle(parse_bundle(log))
    tasks = replayer.tasks
    (task,) = tasks.tasks.values()
    assert sorted(task.files.fdt) == [3, 6, 7] and task.files.close_on_exec == {3, 6}
    assert replayer.report.bad_lines == []


def _layout(p: Process) -> list[tuple[object, ...]]:
    # Like maps, without the inode numbers each replay hands out afresh.
    return [
        (v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff, v.vm_file and v.vm_file.inode.path)
        for v in p.vmas()
    ]


def _outcome_of(text: str) -> tuple[object, ...]:
    from vmsim.bundle import parse_bundle
    from vmsim.replay import replay_bundle

    replayer = replay_bundle(parse_bundle(text), follow=True)
    tasks = replayer.tasks
    return (
        replayer.report.as_dict(),
        tasks.exec_layouts,
        {
            pid: (_layout(tasks.view(task)), sorted(task.files.fdt))
            for pid, task in tasks.tasks.items()
        },
        tasks.unknown,
    )


@pytest.mark.parametrize("bundle", sorted(p.name for p in DATA.glob("*.bundle")))
def test_calls_dropped_early_change_nothing(bundle: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replay drops the calls it does not act on before routing them (ACTED_ON): the
    outcome must be the one a full routing of every event gives."""
    import vmsim.replay.replayer

    text = (DATA / bundle).read_text()
    fast = _outcome_of(text)
    every_name = frozenset(event.name for event in parse(read_bundle(text)[1].splitlines()))
    monkeypatch.setattr(vmsim.replay.replayer, "ACTED_ON", every_name)
    assert _outcome_of(text) == fast
