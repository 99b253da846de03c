"""Allocating past the machine's memory ends as 6.18 ends it, quickly and in bounded memory.

The kernel's answer (measured in a 64 MiB memory cgroup, which runs the same OOM path
against its own limit): a store, MAP_POPULATE, MAP_LOCKED and MADV_POPULATE_WRITE past
the limit all end in the OOM killer's SIGKILL, never ENOMEM; MADV_POPULATE_READ of
private anonymous memory maps the zero page and needs only page tables, which count too;
shmem allocates on a read; a regular file's page cache is reclaimed instead.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import vmsim
from vmsim import (
    MADV_DONTNEED,
    MADV_POPULATE_READ,
    MADV_POPULATE_WRITE,
    MAP_ANONYMOUS,
    MAP_LOCKED,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_READ,
    PROT_WRITE,
    OutOfMemoryKill,
    Process,
)
from vmsim.mm.mm_types import KernelConfig

PAGE = 4096
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
GIB = 1 << 30
TIB = 1 << 40
LIMIT = (64 << 20) // PAGE  # a 64 MiB machine


def small(pages: int = LIMIT, **kwargs: object) -> Process:
    return Process(config=KernelConfig(available_pages=pages), **kwargs)  # type: ignore[arg-type]


def spans(addr: int, pages: int) -> int:
    """The 2 MiB spans (PTE tables) that ``pages`` pages from ``addr`` touch."""
    return ((addr + pages * PAGE - 1) >> 21) - (addr >> 21) + 1 if pages else 0


def test_exception_is_exported_and_not_a_fault() -> None:
    assert "OutOfMemoryKill" in vmsim.__all__
    assert not issubclass(OutOfMemoryKill, vmsim.SegmentationFault)
    assert OutOfMemoryKill.signal_name == "SIGKILL"


@pytest.mark.parametrize("how", ["madvise", "MAP_POPULATE", "MAP_LOCKED"])
def test_populating_a_tib_is_killed_before_a_page_is_made(how: str) -> None:
    """Counted ahead, not faulted page by page: 2^28 pages would never end."""
    p = Process()  # the machine's own RAM: far less than 1 TiB
    with pytest.raises(OutOfMemoryKill) as info:
        if how == "madvise":
            a = p.mmap(0, TIB, RW, ANON)
            p.madvise(a, TIB, MADV_POPULATE_WRITE)
        else:
            p.mmap(0, TIB, RW, ANON | (MAP_POPULATE if how == "MAP_POPULATE" else MAP_LOCKED))
    assert info.value.needed > TIB // PAGE
    assert info.value.free == p.mm.config.oom_pages()
    # Refused before a page was made: nothing allocated, and the model is whole.
    assert p.mm.rss_anon == 0
    p.check()


def test_populate_that_fits_survives_and_checks() -> None:
    p = small()
    a = p.mmap(0, 32 << 20, RW, ANON)
    p.madvise(a, 32 << 20, MADV_POPULATE_WRITE)
    assert p.mm.rss_anon == (32 << 20) // PAGE
    p.check()


def test_stores_page_by_page_are_killed_at_the_limit() -> None:
    p = small()
    a = p.mmap(0, GIB, RW, ANON)
    # Each page and each PTE table holds one page of the machine's memory.
    expected = max(n for n in range(LIMIT + 1) if n + spans(a, n) <= LIMIT)
    for i in range(expected):
        p.write(a + i * PAGE, b"x")
    with pytest.raises(OutOfMemoryKill) as info:
        p.write(a + expected * PAGE + 100, b"x")
    assert info.value.addr == a + expected * PAGE
    assert info.value.free == 0
    assert p.mm.rss_anon == expected
    assert p.mm.rss_anon + p.mm.nr_ptes <= LIMIT
    p.check()
    # What the process already has stays readable and writable.
    p.write(a, b"y")
    assert p.read(a, 1) == b"y"


def test_a_killed_populate_leaves_the_model_whole() -> None:
    p = small()
    a = p.mmap(0, 48 << 20, RW, ANON)
    p.madvise(a, 48 << 20, MADV_POPULATE_WRITE)
    b = p.mmap(0, 32 << 20, RW, ANON)
    with pytest.raises(OutOfMemoryKill):
        p.madvise(b, 32 << 20, MADV_POPULATE_WRITE)
    p.check()


@pytest.mark.parametrize("free_how", ["munmap", "MADV_DONTNEED", "mremap"])
def test_freed_pages_are_given_back(free_how: str) -> None:
    p = small()
    size = 40 << 20
    for _ in range(6):  # 240 MiB touched in all, never more than 40 MiB at once
        a = p.mmap(0, size, RW, ANON)
        for off in range(0, size, PAGE):
            p.write(a + off, b"z")
        if free_how == "munmap":
            p.munmap(a, size)
        elif free_how == "MADV_DONTNEED":
            p.madvise(a, size, MADV_DONTNEED)
            p.munmap(a, size)  # the mapping itself, now empty
        else:
            b = p.mremap(a, size, PAGE, 1)  # MREMAP_MAYMOVE: shrink, freeing the tail
            p.munmap(b, PAGE)
        p.check()
    assert p.mm.rss_anon == 0
    assert p.mm.nr_ptes == 0


def test_populate_read_of_anonymous_memory_maps_the_zero_page() -> None:
    p = small()
    a = p.mmap(0, GIB, RW, ANON)
    p.madvise(a, GIB, MADV_POPULATE_READ)
    assert p.mm.rss_anon == 0 and p.resident_pages(a, a + GIB) == []
    assert p.mm.nr_ptes == spans(a, GIB // PAGE)  # only the page tables
    p.check()
    # 64 GiB of zero-page PTEs needs 64 MiB of page tables: the killer again.
    b = p.mmap(0, 64 * GIB, RW, ANON)
    with pytest.raises(OutOfMemoryKill):
        p.madvise(b, 64 * GIB, MADV_POPULATE_READ)
    assert p.mm.nr_ptes == spans(a, GIB // PAGE)  # counted ahead: no table was made
    p.check()


def test_shmem_allocates_on_a_read() -> None:
    p = small()
    a = p.mmap(0, GIB, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE)
    with pytest.raises(OutOfMemoryKill):
        p.madvise(a, GIB, MADV_POPULATE_READ)
    p.check()


def test_a_files_page_cache_is_reclaimable_but_its_private_copies_are_not() -> None:
    p = small()
    p.create_file("/big", b"data", size=256 << 20)
    fd = p.open("/big")
    shared = p.mmap(0, 256 << 20, PROT_READ, MAP_SHARED, fd, 0)
    p.madvise(shared, 256 << 20, MADV_POPULATE_READ)  # four times the memory: reclaimed
    assert p.mm.rss_file == (256 << 20) // PAGE
    private = p.mmap(0, 256 << 20, RW, MAP_PRIVATE, fd, 0)
    with pytest.raises(OutOfMemoryKill):
        p.madvise(private, 256 << 20, MADV_POPULATE_WRITE)
    p.check()


def test_swap_and_available_memory_set_the_limit() -> None:
    cfg = KernelConfig(totalram_pages=1000, total_swap_pages=24)
    assert cfg.oom_pages() == 1024
    assert KernelConfig(totalram_pages=1000, available_pages=100).oom_pages() == 100


def test_strace_shows_the_call_unfinished_and_the_kill() -> None:
    lines: list[str] = []
    p = small(strace=lines.append)
    with pytest.raises(OutOfMemoryKill):
        p.mmap(0, GIB, RW, ANON | MAP_POPULATE)
    assert lines[-2].startswith("mmap(NULL, 1073741824, PROT_READ|PROT_WRITE, MAP_PRIVATE|")
    assert lines[-2].endswith(" = ?")
    assert lines[-1] == "+++ killed by SIGKILL +++"


def populate_survives(kind: str, pages: int) -> bool:
    """Whether MADV_POPULATE_* of ``pages`` pages of a ``kind`` mapping, some of them present
    already, leaves the process alive on a small machine."""
    # Zero pages cost only page tables, 1 page for 512: a smaller machine keeps it quick.
    p = small(48 if kind == "anon-read" else 1024)
    length = pages * PAGE
    if kind == "shmem":
        a = p.mmap(0, length, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE)
    elif kind == "file-cow":
        p.create_file("/f", b"x" * 5000, size=length)
        a = p.mmap(0, length, RW, MAP_PRIVATE, p.open("/f"), 0)
    else:
        a = p.mmap(0, length, RW, ANON)
    for off in range(0, min(length, 64 * PAGE), 3 * PAGE):
        if kind == "zero-then-write":
            p.read(a + off, 1)
        else:
            p.write(a + off, b"w")
    advice = MADV_POPULATE_READ if kind in ("anon-read", "shmem") else MADV_POPULATE_WRITE
    try:
        p.madvise(a, length, advice)
    except OutOfMemoryKill:
        p.check()
        return False
    p.check()
    return True


@pytest.mark.pure_python
@pytest.mark.parametrize("kind", ["anon", "anon-read", "shmem", "file-cow", "zero-then-write"])
def test_counting_ahead_kills_only_where_faulting_page_by_page_would(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Refusing a populate up front happens exactly where the faults, one by one, would
    have run out: at the largest range that survives and at one page more."""
    monkeypatch.setattr("vmsim.mm.madvise.populate_oom_check", lambda *args: None)
    lo, hi = 1, 1 << 16
    while lo < hi:  # the largest range the faults alone survive (survival is monotone)
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if populate_survives(kind, mid) else (lo, mid - 1)
    assert not populate_survives(kind, lo + 1)
    monkeypatch.undo()
    assert populate_survives(kind, lo)
    assert not populate_survives(kind, lo + 1)


# -- the live kernel, in a memory cgroup -------------------------------------------------

HELPER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* oom PROCS CASE MIB [FILE]: a child joins the cgroup whose cgroup.procs is PROCS and runs
   CASE; prints "returned R" or "signal S", then the pages the child stored before dying. */
static long run(const char *c, size_t len, const char *path, volatile long *progress) {
    int anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, prot = PROT_READ | PROT_WRITE;
    char *p;
    if (!strcmp(c, "popwrite") || !strcmp(c, "popread") || !strcmp(c, "shpopread")) {
        int flags = c[0] == 's' ? MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE : anon;
        p = mmap(NULL, len, prot, flags, -1, 0);
        if (p == MAP_FAILED) return -1000 - errno;
        return madvise(p, len, strstr(c, "write") ? MADV_POPULATE_WRITE : MADV_POPULATE_READ)
            ? -errno : 0;
    }
    if (!strcmp(c, "mappopulate") || !strcmp(c, "maplocked")) {
        p = mmap(NULL, len, prot, anon | (c[3] == 'p' ? MAP_POPULATE : MAP_LOCKED), -1, 0);
        return p == MAP_FAILED ? -errno : 0;
    }
    if (!strcmp(c, "touch")) {
        p = mmap(NULL, len, prot, anon, -1, 0);
        if (p == MAP_FAILED) return -1000 - errno;
        for (size_t off = 0; off < len; off += 4096) { p[off] = 1; *progress += 1; }
        return 0;
    }
    if (!strcmp(c, "fileread") || !strcmp(c, "filecow")) {
        int fd = open(path, O_RDWR), cow = c[4] == 'c';
        if (fd < 0) return -2000 - errno;
        p = mmap(NULL, len, PROT_READ | (cow ? PROT_WRITE : 0), cow ? MAP_PRIVATE : MAP_SHARED,
                 fd, 0);
        if (p == MAP_FAILED) return -1000 - errno;
        return madvise(p, len, cow ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) ? -errno : 0;
    }
    return -9999;
}

int main(int argc, char **argv) {
    volatile long *progress = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    *progress = 0;  /* touched here, so charged outside the cgroup */
    int pipefd[2];
    if (pipe(pipefd)) return 1;
    pid_t pid = fork();
    if (!pid) {
        char buf[32];
        int fd = open(argv[1], O_WRONLY);
        int n = snprintf(buf, sizeof buf, "%d", getpid());
        if (fd < 0 || write(fd, buf, n) != n) _exit(99);
        close(fd);
        long r = run(argv[2], (size_t)atol(argv[3]) << 20, argc > 4 ? argv[4] : NULL, progress);
        dprintf(pipefd[1], "returned %ld\n", r);
        _exit(0);
    }
    close(pipefd[1]);
    int status;
    waitpid(pid, &status, 0);
    char out[128] = "";
    ssize_t n = read(pipefd[0], out, sizeof out - 1);
    if (WIFSIGNALED(status)) printf("signal %d\n", WTERMSIG(status));
    else if (n > 0) printf("%s", out);
    else printf("exit %d\n", WEXITSTATUS(status));
    printf("%ld\n", *progress);
    return 0;
}
"""

LIVE_LIMIT_MIB = 64


def memcg_root() -> tuple[Path, str] | None:
    """Where a memory cgroup can be made, and which version, if this machine has one."""
    v2 = Path("/sys/fs/cgroup")
    try:
        if "memory" in (v2 / "cgroup.subtree_control").read_text().split():
            return v2, "v2"
    except OSError:
        pass
    v1 = Path("/sys/fs/cgroup/memory")
    if (v1 / "memory.limit_in_bytes").exists():
        return v1, "v1"
    return None


def live_why_not() -> str | None:
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return "needs Linux x86-64"
    if not platform.release().startswith("6.18"):
        return f"needs Linux 6.18, not {platform.release()}"
    if os.geteuid() != 0:
        return "needs root to make a memory cgroup"
    if shutil.which("gcc") is None:
        return "needs gcc"
    if memcg_root() is None:
        return "needs the memory cgroup controller (v2 enabled at the root, or v1)"
    return None


WHY_NOT = live_why_not()


@pytest.fixture(scope="module")
def helper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("oom")
    (d / "oom.c").write_text(HELPER)
    subprocess.run(["gcc", "-O2", "-o", str(d / "oom"), str(d / "oom.c")], check=True)
    return d / "oom"


@pytest.fixture
def memcg() -> Iterator[tuple[Path, str]]:
    """A fresh cgroup limited to LIVE_LIMIT_MIB without swap; removed afterwards."""
    found = memcg_root()
    assert found is not None
    root, version = found
    cg = root / f"vmsim-oom-test-{os.getpid()}"
    cg.mkdir()
    try:
        limit = str(LIVE_LIMIT_MIB << 20)
        if version == "v2":
            (cg / "memory.max").write_text(limit)
            if (cg / "memory.swap.max").exists():
                (cg / "memory.swap.max").write_text("0")
        else:
            (cg / "memory.limit_in_bytes").write_text(limit)
            if (cg / "memory.memsw.limit_in_bytes").exists():
                (cg / "memory.memsw.limit_in_bytes").write_text(limit)
        yield cg, version
    finally:
        for _ in range(50):  # the killed child may take a moment to leave
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def oom_kills(cg: Path, version: str) -> int:
    if version == "v2":
        events = dict(line.split() for line in (cg / "memory.events").read_text().splitlines())
        return int(events["oom_kill"])
    control = dict(line.split() for line in (cg / "memory.oom_control").read_text().splitlines())
    return int(control["oom_kill"])


def on_a_disk(path: Path) -> bool:
    """Whether ``path`` is on a file system whose page cache reclaim can drop (not tmpfs)."""
    best, fstype = "", ""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        mount = fields[1]
        if str(path).startswith(mount.rstrip("/") + "/") and len(mount) > len(best):
            best, fstype = mount, fields[2]
    return fstype not in ("tmpfs", "ramfs", "")


def model_case(case: str, mib: int, tmp: Path) -> tuple[str, int]:
    """The model's answer to a case of the helper, on a machine of LIVE_LIMIT_MIB."""
    p = small((LIVE_LIMIT_MIB << 20) // PAGE)
    length = mib << 20
    stored = 0
    try:
        if case in ("popwrite", "popread"):
            a = p.mmap(0, length, RW, ANON)
            advice = MADV_POPULATE_WRITE if case == "popwrite" else MADV_POPULATE_READ
            p.madvise(a, length, advice)
        elif case == "shpopread":
            a = p.mmap(0, length, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE)
            p.madvise(a, length, MADV_POPULATE_READ)
        elif case in ("mappopulate", "maplocked"):
            p.mmap(0, length, RW, ANON | (MAP_POPULATE if case == "mappopulate" else MAP_LOCKED))
        elif case == "touch":
            a = p.mmap(0, length, RW, ANON)
            for off in range(0, length, PAGE):
                p.write(a + off, b"\1")
                stored += 1
        else:
            p.create_file("/f", size=length)
            cow = case == "filecow"
            prot, flags = (RW, MAP_PRIVATE) if cow else (PROT_READ, MAP_SHARED)
            a = p.mmap(0, length, prot, flags, p.open("/f"), 0)
            p.madvise(a, length, MADV_POPULATE_WRITE if cow else MADV_POPULATE_READ)
    except OutOfMemoryKill:
        p.check()
        return "signal 9", stored
    p.check()
    return "returned 0", stored


LIVE_CASES = [
    ("popwrite", 1024),  # the case, 1 GiB
    ("popread", 1024),
    ("popread", 65536),  # 64 MiB of page tables
    ("mappopulate", 1024),
    ("maplocked", 1024),
    ("touch", 1024),
    ("shpopread", 1024),
    ("fileread", 256),
    ("filecow", 256),
]


@pytest.mark.live
@pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")
@pytest.mark.parametrize(("case", "mib"), LIVE_CASES)
def test_the_model_ends_as_the_kernel_does_in_a_memory_cgroup(
    helper: Path, memcg: tuple[Path, str], tmp_path: Path, case: str, mib: int
) -> None:
    cg, version = memcg
    args = [str(helper), str(cg / "cgroup.procs"), case, str(mib)]
    if case.startswith("file"):
        if not on_a_disk(tmp_path):
            pytest.skip("the temporary directory is on tmpfs, whose pages are shmem")
        data = tmp_path / "sparse"
        with data.open("wb") as f:
            f.truncate(mib << 20)
        args.append(str(data))
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)
    kernel, stored_text = out.stdout.splitlines()
    killed = oom_kills(cg, version)
    model, stored = model_case(case, mib, tmp_path)
    assert model == kernel, f"{case} {mib} MiB: kernel {kernel}, model {model}"
    assert killed == (1 if kernel == "signal 9" else 0), "the OOM killer, not something else"
    if case == "touch":
        # The kernel's child also holds a few pages of its own stack and data in the cgroup.
        assert abs(stored - int(stored_text)) <= LIMIT // 100, (stored, stored_text)
