"""Replay's tasks (fd tables shared or copied, close-on-exec across execve), its dispatch
from the system-call table (calls strace prints by number, rows registered later, calls
the model does not make) and follow mode."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from vmsim import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, Process
from vmsim.bundle import parse_bundle
from vmsim.cli import main
from vmsim.fs.binfmt_elf import ElfImage, ElfPhdr
from vmsim.kernel import syscalls
from vmsim.kernel.sysargs import ADDRESS, LENGTH, POINTER, SIZE_T
from vmsim.kernel.task import Task
from vmsim.replay import Replayer, replay_bundle, replay_text
from vmsim.strace.parse import Event, parse
from vmsim.views import report as reportlib

ANON = "PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0"
START = "100 munmap(0x10000, 4096) = 0\n"  # the replay starts at the first memory call


def _anon_addresses(*lengths: int) -> list[int]:
    """Where anonymous read-write mappings of these lengths land, one after another, in a
    fresh model."""
    p = Process()
    return [p.mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS) for n in lengths]


def _maps(replayer: Replayer, pid: int = 100) -> list[str]:
    """The pid's maps, each line cut to its range and permissions."""
    maps = Process(task=replayer.tasks.tasks[pid], gate_vma=False).maps()
    return [line[:30] for line in maps.splitlines()]


def _range(start: int, length: int, perms: str = "rw-p") -> str:
    return f"{start:x}-{start + length:x} {perms}"


# -- tasks ----------------------------------------------------------------------------------


def _clone_then_close(flags: str, parent_result: str) -> str:
    return (
        START + '100 openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3\n'
        f"100 clone(child_stack=NULL, flags={flags}) = 101\n"
        "101 close(3) = 0\n"
        "101 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = -1 EBADF (Bad file descriptor)\n"
        f"100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = {parent_result}\n"
    )


def test_a_child_with_clone_files_shares_the_fd_table() -> None:
    """The child's close() closes the parent's fd too: its mmap of it fails."""
    log = _clone_then_close("CLONE_FILES|SIGCHLD", "-1 EBADF (Bad file descriptor)")
    replayer = replay_bundle(parse_bundle(log))
    assert replayer.report.mismatches == [] and replayer.report.errors["mmap EBADF"] == 2
    parent, child = replayer.tasks.tasks[100], replayer.tasks.tasks[101]
    assert isinstance(parent, Task) and child.files is parent.files and parent.files.fdt == {}
    assert child.mm is not parent.mm  # no CLONE_VM: a copy


def test_a_child_without_clone_files_gets_a_copy() -> None:
    (address,) = _anon_addresses(4096)
    log = _clone_then_close("SIGCHLD", f"{address:#x}")
    replayer = replay_bundle(parse_bundle(log))
    assert replayer.report.mismatches == [] and replayer.report.errors["mmap EBADF"] == 1
    parent, child = replayer.tasks.tasks[100], replayer.tasks.tasks[101]
    assert sorted(parent.files.fdt) == [3] and child.files.fdt == {}
    assert _maps(replayer)[0] == _range(address, 4096, "r--p")


PROG = ElfImage(
    "/bin/prog",
    "ET_EXEC",
    [
        ElfPhdr("PT_LOAD", 5, 0, 0x400000, 0x1000, 0x1000, 0x1000),
        ElfPhdr("PT_LOAD", 6, 0x1000, 0x401000, 0x100, 0x2000, 0x1000),
    ],
    size=0x2000,
)


def test_execve_drops_the_close_on_exec_fds_of_its_own_table_only() -> None:
    """A vfork child shares the parent's mm until it execs, and its fd table is a copy:
    execve closes the child's close-on-exec fds, not the parent's."""
    log = (
        '100 execve("/bin/prog", ["prog"], []) = 0\n'
        '100 openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3\n'
        '100 openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 4\n'
        "100 fcntl(4, F_DUPFD_CLOEXEC, 6) = 6\n"
        "100 dup2(3, 7) = 7\n"  # the new fd stays open across execve
        "100 vfork() = 101\n"
        '101 execve("/bin/prog", ["prog"], []) = 0\n'
    )
    replayer = Replayer(None, images={"/bin/prog": PROG})
    replayer.run(parse(log.splitlines()))
    tasks = replayer.tasks.tasks
    assert sorted(tasks[100].files.fdt) == [3, 4, 6, 7]
    assert tasks[100].files.close_on_exec == {3, 6}
    assert sorted(tasks[101].files.fdt) == [4, 7] and not tasks[101].files.close_on_exec
    assert tasks[101].mm is not tasks[100].mm
    assert replayer.report.notes["execve (new address space)"] == 2


def test_threads_share_the_fd_table_and_the_address_space() -> None:
    log = (
        START + "100 clone(child_stack=0x7f0000, flags=CLONE_VM|CLONE_FILES|CLONE_THREAD) = 101\n"
        '101 openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3\n'
    )
    replayer = replay_bundle(parse_bundle(log))
    parent, thread = replayer.tasks.tasks[100], replayer.tasks.tasks[101]
    assert thread.files is parent.files and thread.mm is parent.mm
    assert thread.signal is parent.signal and sorted(parent.files.fdt) == [3]


# -- dispatch from the table ----------------------------------------------------------------


def test_calls_strace_prints_by_number_replay_as_the_tables_rows() -> None:
    """strace 6.1 prints mseal as syscall_0x1ce with all six registers."""
    (a,) = _anon_addresses(8192)
    log = (
        f"mmap(NULL, 8192, {ANON}) = {a:#x}\n"
        f"syscall_0x1ce({a:#x}, 0x2000, 0, 0xffffffff, 0x7ffff7dd3060, 0) = 0\n"
        f"syscall_0x1ce({a:#x}, 0x1000, 0x1, 0, 0, 0) = -1 EINVAL (Invalid argument)\n"
        f"munmap({a:#x}, 8192) = -1 EPERM (Operation not permitted)\n"
    )
    report = replay_text(log)
    assert report.calls == {"mmap": 1, "mseal": 2, "munmap": 1}
    assert report.mismatches == [] and report.checked == 4
    assert report.errors == {"mseal EINVAL": 1, "munmap EPERM": 1}


def test_a_row_registered_later_replays() -> None:
    """One table row and its function are all a new call needs to replay from a log, by
    name or by number."""

    def count_vmas(task: Task, addr: int, length: int) -> int:
        return task.mm.map_count

    nr = max(syscalls.BY_NUMBER) + 1
    syscalls.register(
        syscalls.Syscall(
            nr,
            "vmsim_test_count",
            [
                syscalls.Arg("addr", POINTER, ADDRESS, syscalls.ADDR),
                syscalls.Arg("len", SIZE_T, LENGTH, syscalls.LEN),
            ],
            count_vmas,
        )
    )
    try:
        a, b = _anon_addresses(8192, 4096)
        log = (
            f"mmap(NULL, 8192, {ANON}) = {a:#x}\n"
            "vmsim_test_count(NULL, 0) = 1\n"
            f"mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = {b:#x}\n"
            f"syscall_{nr:#x}(0, 0, 0, 0, 0, 0) = 2\n"
            "vmsim_test_count(NULL, 0) = 5\n"
            "vmsim_test_count(NULL) = 2\n"
        )
        report = replay_text(log)
        assert report.calls == {"mmap": 2, "vmsim_test_count": 4}
        assert [str(m) for m in report.mismatches] == [
            "line 5: vmsim_test_count(NULL, 0): log 0x5, model 0x2"
        ]
        assert report.bad_lines == [
            "line 6: vmsim_test_count: 2 arguments expected, the line has 1"
        ]
    finally:
        syscalls.unregister("vmsim_test_count")
    assert replay_text(log).calls == {"mmap": 2}  # unknown again: passed over


UNMODELLED = (
    "100 mmap(NULL, 8192, {anon}) = {a:#x}\n"
    "100 pkey_mprotect({a:#x}, 4096, PROT_READ, 1) = 0\n"
    "100 clone(child_stack=NULL, flags=SIGCHLD) = 101\n"
    "100 mlock({a:#x}, 8192) = 0\n"
    "100 mmap(NULL, 4096, {anon}) = {b:#x}\n"
    "101 mmap(NULL, 4096, {anon}) = {c:#x}\n"
    "100 pkey_mprotect({a:#x}, 4096, PROT_READ|PROT_WRITE, 1) = 0\n"
    '101 execve("/bin/prog", ["prog"], []) = 0\n'
    "101 mmap(NULL, 4096, {anon}) = {d:#x}\n"
)


def _unmodelled_log() -> str:
    a, b = _anon_addresses(8192, 4096)
    after_exec = Process.execve("/bin/prog", ["prog"], [], {"/bin/prog": PROG}.get)
    d = after_exec.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    # The forked child's mmap is logged one page off: a difference after an unmodelled call.
    return UNMODELLED.format(anon=ANON, a=a, b=b, c=b - 4096, d=d)


def test_calls_the_model_does_not_make_are_reported_with_their_lines() -> None:
    """pkey_mprotect and mlock change the address space: they are counted with their line
    numbers, and the predictions made after them in that address space (or in a forked
    copy of it) are marked, until an execve gives the process a new one."""
    replayer = Replayer(None, images={"/bin/prog": PROG})
    replayer.run(parse(_unmodelled_log().splitlines()))
    report = replayer.report
    assert report.unmodelled == {"pkey_mprotect": [2, 7], "mlock": [4]}
    assert report.checked == 4 and report.after_unmodelled == 2  # lines 5 and 6
    assert [(m.line, m.after_unmodelled) for m in report.mismatches] == [(6, True)]
    assert str(report.mismatches[0]).endswith("(after an unmodelled call)")
    assert report.unmodelled_text() == [
        "not modelled: 2 × pkey_mprotect, lines 2, 7",
        "not modelled: 1 × mlock, line 4",
        "2 of 4 results were predicted after an unmodelled call in their address space, "
        "whose state may be off from there on",
    ]


def test_unmodelled_calls_in_the_summary_the_json_and_the_report(tmp_path: Path) -> None:
    calls = ["100 pkey_mprotect(0x10000, 4096, PROT_READ, 1) = 0", "100 mlock(0x10000, 4096) = 0"]
    log = tmp_path / "unmodelled.log"
    log.write_text(START + "\n".join(calls * 12) + "\n")
    runner = CliRunner()
    text = runner.invoke(main, ["replay", str(log)])
    assert text.exit_code == 0, text.output
    assert "not modelled: 12 × pkey_mprotect, lines 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, ...\n" in (
        text.output
    )
    assert "not modelled: 12 × mlock, lines 3, 5," in text.output
    as_json = json.loads(runner.invoke(main, ["replay", "--json", str(log)]).output)
    assert as_json["unmodelled"]["mlock"] == list(range(3, 27, 2))
    assert as_json["after_unmodelled"] == 0  # no memory call after them
    data = reportlib.from_log(log.read_text(), "unmodelled.log")
    assert data["summary"]["unmodelled"]["pkey_mprotect"] == list(range(2, 26, 2))
    assert data["summary"]["unmodelled_text"][0].startswith("not modelled: 12 × pkey_mprotect")


# -- follow mode ----------------------------------------------------------------------------


def test_follow_keeps_the_state_of_a_call_the_log_says_failed() -> None:
    """The log's mmap failed where the model's succeeds: following, the model's address
    space stays as it was, and the next mmap lands where the failed one would have."""
    a, b = _anon_addresses(8192, 4096)
    log = (
        START + f"100 mmap(NULL, 8192, {ANON}) = {a:#x}\n"
        f"100 mmap(NULL, 4096, {ANON}) = -1 ENOMEM (Cannot allocate memory)\n"
        f"100 mmap(NULL, 4096, {ANON}) = {b:#x}\n"
    )
    followed = replay_bundle(parse_bundle(log), follow=True)
    assert [m.line for m in followed.report.mismatches] == [3]
    assert _maps(followed) == [_range(b, 8192 + 4096)]  # the two merged; nothing else
    predicted = replay_bundle(parse_bundle(log))
    assert [m.line for m in predicted.report.mismatches] == [3, 4]


def test_follow_puts_a_mapping_where_the_log_says() -> None:
    a, b = _anon_addresses(8192, 4096)
    elsewhere = 0x7FFFE0000000
    log = (
        START + f"100 mmap(NULL, 8192, {ANON}) = {elsewhere:#x}\n"
        f"100 mmap(NULL, 4096, {ANON}) = {a + 4096:#x}\n"
        f"100 mremap({a + 4096:#x}, 4096, 12288, MREMAP_MAYMOVE) = {elsewhere + 0x100000:#x}\n"
    )
    followed = replay_bundle(parse_bundle(log), follow=True)
    assert [m.line for m in followed.report.mismatches] == [2, 4]
    assert _maps(followed) == [_range(elsewhere, 8192), _range(elsewhere + 0x100000, 12288)]
    assert not followed.report.notes


def test_follow_grows_in_place_where_the_kernel_did() -> None:
    """The log's mremap grew in place where the model's mapping is in the way: following,
    the range the kernel grew into is the grown mapping's."""
    c, a = _anon_addresses(4096, 8192)
    log = (
        START + f"100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = {c:#x}\n"
        f"100 mmap(NULL, 8192, {ANON}) = {a:#x}\n"
        f"100 mremap({a:#x}, 8192, 12288, 0) = {a:#x}\n"
    )
    followed = replay_bundle(parse_bundle(log), follow=True)
    assert [m.model for m in followed.report.mismatches] == ["ENOMEM"]
    assert _maps(followed) == [_range(a, 12288)]


def test_follow_rebuilds_the_state_from_an_older_copy() -> None:
    """A difference after many calls: the state before it is rebuilt by making the calls
    since the last copy again, a file mapping of an fd closed since among them."""
    (a,), (pair,) = _anon_addresses(4096), _anon_addresses(8192)
    log = START
    for _ in range(40):  # more calls than one copy serves for
        log += f"100 mmap(NULL, 8192, {ANON}) = {pair:#x}\n100 munmap({pair:#x}, 8192) = 0\n"
    log += '100 openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3\n'
    log += f"100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = {a:#x}\n100 close(3) = 0\n"
    log += f"100 mmap(NULL, 4096, {ANON}) = -1 ENOMEM (Cannot allocate memory)\n"
    followed = replay_bundle(parse_bundle(log), follow=True)
    assert [m.line for m in followed.report.mismatches] == [85]
    assert _maps(followed) == [_range(a, 4096, "r--p")]
    assert not followed.report.notes


def test_follow_leaves_nothing_in_the_views_call_flow() -> None:
    """An observer sees the model's own call, and the address space the log leaves."""
    from vmsim.kernel.trace import Trace

    a, b = _anon_addresses(8192, 4096)
    log = (
        START + f"100 mmap(NULL, 8192, {ANON}) = {a:#x}\n"
        f"100 mmap(NULL, 4096, {ANON}) = -1 ENOMEM (Cannot allocate memory)\n"
    )
    seen: list[tuple[list[str], str]] = []

    def observer(replayer: Replayer, event: Event, run: Callable[[], None]) -> None:
        with Trace() as flow:
            run()
        seen.append((flow.names(), replayer.process.maps()))

    Replayer(None, follow=True, observer=observer).run(parse(log.splitlines()))
    names, maps = seen[-1]
    assert names.count("do_mmap") == 1  # the call itself; not the copy's rebuilding
    assert maps.splitlines()[0].startswith(_range(a, 8192))


def test_follow_moves_the_break_where_the_log_says() -> None:
    """The kernel refused to grow the heap where the model grows it: following, the break
    stays; where the model cannot put the break where the log says, a note says so."""
    refused = (
        "100 brk(NULL) = 0x555555559000\n"
        "100 brk(0x55555557a000) = 0x555555559000\n"
        "100 brk(NULL) = 0x555555559000\n"
    )
    followed = replay_bundle(parse_bundle(refused), follow=True)
    assert [m.line for m in followed.report.mismatches] == [2] and _maps(followed) == []
    assert [m.line for m in replay_bundle(parse_bundle(refused)).report.mismatches] == [2, 3]
    in_the_way = (
        "100 mmap(0x55555555a000, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0)"
        " = 0x55555555a000\n"
        "100 brk(0x55555555c000) = 0x55555555c000\n"
    )
    report = replay_bundle(parse_bundle(in_the_way), follow=True).report
    assert report.notes == {"follow: brk not put where the log says": 1}
