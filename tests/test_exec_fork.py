"""execve and fork in the model, and replaying real programs with all their children.

The bundles were recorded on our machines with ``vmsim record --all-execs`` (ASLR
off, a minimal environment); each also holds the kernel's maps right after every
execve, which the model's layout must equal.
"""

from __future__ import annotations

import os
import platform
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from vmsim import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, Process
from vmsim.bundle import Bundle, parse_bundle
from vmsim.fs.binfmt_elf import ELF_ET_DYN_BASE, ElfImage, ElfPhdr
from vmsim.record import compact_log
from vmsim.replay import replay_bundle, replay_text, tasks
from vmsim.uapi import MADV_DONTFORK, MADV_WIPEONFORK

DATA = Path(__file__).parent / "data"
ANON = MAP_PRIVATE | MAP_ANONYMOUS
RW = PROT_READ | PROT_WRITE
# (bundle, memory calls it has at least, of which in children)
RECORDED = {
    "gcc-hello.bundle": "gcc -O1 -o hello hello.c: cc1, as, collect2 and ld through vfork+execve",
    "sh-pipeline.bundle": "sh -c 'ls -l /usr | wc -l': fork+execve twice",
    "sort.bundle": "sort of 300,000 lines",
    "perl-strings.bundle": "perl growing a 10 MB string",
    "tar-gzip.bundle": "tar czf: tar forks and execs gzip",
    "python-threads.bundle": "python3: mmap.resize (mremap) and three threads growing bytearrays",
}


def first_file(maps: str) -> str:
    """The path of the lowest file mapping: the program itself."""
    for line in maps.splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith("/"):
            return fields[5]
    return ""


@pytest.fixture
def no_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replay from the bundle alone, as on a machine without these programs."""
    monkeypatch.setattr(tasks.os.path, "exists", lambda path: False)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_programs_are_predicted_exactly(name: str, no_files: None) -> None:
    report = replay_text((DATA / name).read_text())
    assert report.checked > 30 and not report.bad_lines
    assert report.mismatches == [], [str(m) for m in report.mismatches]
    assert not report.skipped, report.skipped  # no child left out


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_exec_layouts_equal_the_kernels(name: str, no_files: None) -> None:
    """Every execve (the first program's too) laid out by the model from the ELF headers
    and the execve line, compared with /proc/pid/maps taken at that execve."""
    bundle = parse_bundle((DATA / name).read_text())
    replayer = replay_bundle(bundle, model_first_exec=True)
    assert replayer.report.mismatches == []
    kernel: dict[str, list[str]] = defaultdict(list)
    for exe, maps in bundle.exec_maps:
        kernel[exe].append(maps)
    layouts = replayer.tasks.exec_layouts
    assert len(layouts) == len(bundle.exec_maps) > 0
    for _pid, maps in layouts:
        assert maps == kernel[first_file(maps)].pop(0)


def test_gcc_children_are_all_replayed(no_files: None) -> None:
    bundle = parse_bundle((DATA / "gcc-hello.bundle").read_text())
    report = replay_bundle(bundle).report
    assert report.notes["execve (new address space)"] == 4  # cc1, as, collect2, ld
    assert {first_file(m) for _, m in bundle.exec_maps} >= {
        "/usr/lib/gcc/x86_64-linux-gnu/12/cc1",
        "/usr/lib/gcc/x86_64-linux-gnu/12/collect2",
    }
    assert report.checked > 200


def test_forked_children_get_a_copy(no_files: None) -> None:
    report = replay_text((DATA / "tar-gzip.bundle").read_text())
    assert report.notes["fork (address space copied)"] >= 1
    assert report.mismatches == []


SYNTHETIC = """\
100 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7ffd000
100 clone(child_stack=NULL, flags={flags}, child_tidptr=0x7ffff7dd2a10) = 101
101 munmap(0x7ffff7ffd000, 8192) = 0
101 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7ffe000
100 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = {parent}
"""


@pytest.mark.parametrize(
    ("flags", "parent"),
    [
        # fork: the child's munmap leaves the parent's mapping alone.
        ("CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD", "0x7ffff7ffc000"),
        # a thread: one address space, so the parent sees the hole the child left.
        ("CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD", "0x7ffff7ffd000"),
    ],
)
def test_fork_copies_and_threads_share(flags: str, parent: str) -> None:
    report = replay_text(SYNTHETIC.format(flags=flags, parent=parent))
    assert report.checked == 4 and report.mismatches == [], report.mismatches


def test_child_seen_before_clone_returns_uses_the_clone_in_flight() -> None:
    log = SYNTHETIC.format(flags="SIGCHLD", parent="0x7ffff7ffc000").replace(
        "child_tidptr=0x7ffff7dd2a10) = 101\n", "child_tidptr=0x7ffff7dd2a10 <unfinished ...>\n"
    )
    log = log.replace("100 mmap(NULL, 4096", "100 <... clone resumed>) = 101\n100 mmap(NULL, 4096")
    report = replay_text(log)
    assert report.checked == 4 and report.mismatches == [], report.mismatches


def test_fork_in_the_model() -> None:
    parent = Process()
    a = parent.mmap(0, 4 * 4096, RW, ANON)
    parent.write(a, b"parent")
    keep = parent.mmap(0, 4096, RW, ANON)
    parent.madvise(keep, 4096, MADV_DONTFORK)
    wipe = parent.mmap(0, 4096, RW, ANON)
    parent.write(wipe, b"secret")
    parent.madvise(wipe, 4096, MADV_WIPEONFORK)
    child = parent.fork()
    child.check()
    assert child.read(a, 6) == b"parent"
    child.write(a, b"child!")
    assert parent.read(a, 6) == b"parent"  # copy-on-write: each side its own page
    assert child.read(wipe, 6) == bytes(6)  # VM_WIPEONFORK: a fresh zero page
    assert f"{keep:x}-" not in child.maps()  # VM_DONTCOPY: not in the child at all
    assert f"{keep:x}-" in parent.maps()
    assert child.mm.total_vm == parent.mm.total_vm - 1
    assert child.mm.rss_anon == 1 and parent.mm.rss_anon == 2  # WIPEONFORK's is not copied


def test_forked_vma_does_not_merge_with_a_new_neighbour() -> None:
    """vma_is_fork_child(): a child's VMA whose anon_vma chains to the parent's is not
    extended by a new mapping next to it; the parent's is."""
    parent = Process()
    a = parent.mmap(0, 4096, RW, ANON)
    parent.write(a, b"x")
    child = parent.fork()
    for proc in (parent, child):
        proc.mmap(a - 4096, 4096, RW, ANON | 0x10)  # MAP_FIXED, just below
    assert len(parent.vmas()) == 1
    assert len(child.vmas()) == 2


def test_exec_places_a_pie_at_elf_et_dyn_base() -> None:
    image = ElfImage(
        "/bin/prog",
        "ET_DYN",
        [
            ElfPhdr("PT_LOAD", 4, 0, 0, 0x1000, 0x1000, 0x1000),
            ElfPhdr("PT_LOAD", 5, 0x1000, 0x1000, 0x2000, 0x2000, 0x1000),
            ElfPhdr("PT_LOAD", 6, 0x3000, 0x3000, 0x100, 0x5000, 0x1000),
        ],
        interp="/lib/ld.so",
        size=0x4000,
    )
    ld = ElfImage(
        "/lib/ld.so",
        "ET_DYN",
        [
            ElfPhdr("PT_LOAD", 5, 0, 0, 0x3000, 0x3000, 0x1000),
            ElfPhdr("PT_LOAD", 6, 0x3000, 0x4000, 0x800, 0x2000, 0x1000),
        ],
        size=0x4000,
    )
    proc = Process.execve("/bin/prog", ["prog"], [], {"/bin/prog": image, "/lib/ld.so": ld}.get)
    maps = proc.maps().splitlines()
    base = ELF_ET_DYN_BASE & ~0xFFF
    assert maps[0].startswith(f"{base:x}-{base + 0x1000:x} r--p 00000000")
    assert maps[3].startswith(f"{base + 0x4000:x}-{base + 0x8000:x} rw-p 00000000 00:00 0")
    assert proc.mm.start_brk == base + 0x8000  # page-aligned end of the bss
    # ld.so (with its bss) ends at mmap_base; the vDSO block is right below it.
    assert maps[-3].startswith("7ffff7ffe000-7ffff7fff000 rw-p 00000000 00:00 0")
    assert maps[-5].startswith("7ffff7ff9000-7ffff7ffc000 r-xp") and "/lib/ld.so" in maps[-5]
    assert maps[-6].startswith("7ffff7ff7000-7ffff7ff9000 r-xp") and "[vdso]" in maps[-6]
    assert "[stack]" in maps[-2]
    proc.check()


def test_bundle_sections_round_trip() -> None:
    text = (DATA / "gcc-hello.bundle").read_text()
    bundle = parse_bundle(text)
    assert bundle.text() == text
    # A bundle of an older vmsim: the maps and the log, nothing else.
    maps = "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n"
    log = "1 exit_group(0) = ?\n1 +++ exited with 0 +++\n"
    old = Bundle(log=log, maps=maps).text()
    assert parse_bundle(old).maps == maps and parse_bundle(old).log == log


def test_record_keeps_env_lengths_and_cuts_data() -> None:
    line = (
        '5 execve("/bin/true", ["true"], ["HOME=/home/someone", "A=\\303\\251"]) = 0\n'
        '5 read(3, "' + "a" * 300 + '", 300) = 300\n'
        '5 openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3\n'
    )
    out = compact_log(line).splitlines()
    assert out[0] == '5 execve("/bin/true", ["true"], ["HOME=xxxxxxxxxxxxx", "A=xx"]) = 0'
    assert out[1] == '5 read(3, "' + "a" * 32 + '"..., 300) = 300'
    assert out[2] == line.splitlines()[2]


LIVE = platform.system() == "Linux" and platform.machine() == "x86_64"


def _exec_cases(tmp: Path) -> list[tuple[list[str], dict[str, str]]]:
    script = tmp / "script.sh"
    script.write_text("#!/bin/sh -e\nexit 0\n")
    script.chmod(0o755)
    true = shutil.which("true") or "/bin/true"
    cases = [
        ([true], {"PATH": "/usr/bin"}),  # a PIE
        ([true], {"BIG": "y" * 100_000}),  # a stack of many pages
        ([true, *(f"arg{i}" for i in range(5000))], {}),
        ([str(script), "a"], {"X": "1"}),  # #! with an argument
    ]
    python = shutil.which("python3")
    if python:
        cases.append(([os.path.realpath(python), "-c", "pass"], {}))  # non-PIE here
    ld = "/lib64/ld-linux-x86-64.so.2"
    if os.path.exists(ld):
        cases.append(([ld, "--version"], {}))  # a loader run directly
    return cases


@pytest.mark.live
@pytest.mark.skipif(not LIVE, reason="needs the live Linux x86-64 kernel")
def test_exec_layout_equals_the_live_kernels(tmp_path: Path) -> None:
    """Programs stopped by ptrace right after execve (ASLR off): the model's maps and
    start of stack for the same argv and environment are the kernel's."""
    from vmsim.record import exec_snapshots

    for argv, env in _exec_cases(tmp_path):
        try:
            snap = exec_snapshots(argv, env)[0]
        except OSError as err:
            pytest.skip(f"cannot trace {argv[0]}: {err}")
        proc = Process.execve(argv[0], argv, [f"{k}={v}" for k, v in env.items()])
        assert proc.maps() == snap.maps, argv[0]
        assert proc.mm.start_stack == snap.start_stack, argv[0]
        # Resident: the stack pages the strings and tables were written to, and the page
        # padzero() cleared after each data segment's file contents (copied on write).
        assert _rss(proc.smaps()) == _rss(snap.smaps), argv[0]
        proc.check()


def _rss(smaps: str) -> list[int]:
    return [int(line.split()[1]) for line in smaps.splitlines() if line.startswith("Rss:")]


@pytest.mark.live
@pytest.mark.skipif(
    not LIVE or shutil.which("strace") is None, reason="needs strace on Linux x86-64"
)
def test_record_every_exec_then_replay(tmp_path: Path) -> None:
    """A shell that forks and execs, recorded afresh: the kernel's maps at each execve are
    the model's, and every call of every process is predicted."""
    from vmsim.record import record

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    recording = record(["sh", "-c", "/bin/true; /bin/true"], env=env, all_execs=True)
    assert recording.status == 0
    bundle = parse_bundle(recording.bundle().text())
    assert len(bundle.exec_maps) == 3  # sh, the forked child's true, the last true
    replayer = replay_bundle(bundle, model_first_exec=True)
    report = replayer.report
    assert report.mismatches == [] and not report.skipped and report.checked > 20
    assert [m for _, m in replayer.tasks.exec_layouts] == [m for _, m in bundle.exec_maps]
