"""The live kernel behind the model's interface: a helper process that runs the calls.

:class:`LiveProcess` offers the call interface of :class:`vmsim.Process` (``syscall``, a
method for each call of the system-call table, ``read``, ``write``, ``maps``, ``smaps``,
...) but every call is executed by ``helper.c`` (shipped next to this module, compiled on
first use into a per-user cache) in its own address space, started with ASLR off
(``setarch -R``) and an empty environment (``env -i``) so that, like the model, it is
deterministic: two helpers started one after the other have the same maps.

Results come back as the model reports them: failing calls raise ``OSError(errno, ...)``,
faulting accesses raise :class:`~vmsim.errors.SegmentationFault` or
:class:`~vmsim.errors.BusError`.  ``last_ns`` holds the kernel-side nanoseconds of the last
call, timed inside the helper, so benchmarks do not measure the pipe.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import importlib.resources
import mmap
import os
import platform
import shutil
import struct
import subprocess
import tempfile
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from ..errors import BusError, SegmentationFault, syscall_error
from ..fs.proc.parse import rss_by_range
from ..kernel import syscalls
from ..process import call_method, install_calls, load_size, user_address
from .procioctl import ProcQuery

U64 = (1 << 64) - 1
PAGE_SIZE = 4096
IO_MAX = 65536

_READY_MAGIC = 0x766D73696D2D3032
_REQ = struct.Struct("=8Q")
_RESP = struct.Struct("=q7Q")

# Operation codes of helper.c.
_OP_EXIT = 0
_OP_SYSCALL = 1
_OP_READ = 2
_OP_WRITE = 3
_OP_OPEN = 4
_OP_CLOSE = 5
_OP_SETRLIMIT = 6
_OP_TOUCH = 7

_SIGBUS = 7
_SIGSEGV = 11
_SEGV_CODES = {1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 3: "SEGV_BNDERR", 4: "SEGV_PKUERR"}
_BUS_CODES = {
    1: "BUS_ADRALN",
    2: "BUS_ADRERR",
    3: "BUS_OBJERR",
    4: "BUS_MCEERR_AR",
    5: "BUS_MCEERR_AO",
}
# A non-canonical address is a general protection fault: SIGSEGV with SI_KERNEL, si_addr 0.
_SI_KERNEL = 0x80

# Debian's gcc does not default to -z now; without it the first call of a libc function
# would resolve its PLT slot lazily and dirty the GOT page in the middle of an experiment.
_CFLAGS = ("-O1", "-Wall", "-Wl,-z,now")

_PM_PRESENT = 1 << 63
_PM_PFN_MASK = (1 << 55) - 1
_PM_FILE = 1 << 61  # file page or shared anonymous (shmem)
_PM_EXCLUSIVE = 1 << 56  # mapped exactly once
_PAGEMAP_CHUNK = 1 << 20  # entries per read: 8 MiB of pagemap covers 4 GiB
_KPF_ZERO_PAGE = 1 << 24
_KPF_COMPOUND_HEAD = 1 << 15
_KPF_COMPOUND_TAIL = 1 << 16


def _u64(value: int) -> int:
    """The unsigned long the kernel sees for a C argument (so -1 becomes ULONG_MAX)."""
    return value & U64


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vmsim"


def _helper_source() -> bytes:
    return importlib.resources.files(__package__).joinpath("helper.c").read_bytes()


def helper_path() -> Path:
    """The compiled helper, built on first use and cached per user by source hash.

    The binary is built under a temporary name and renamed into place, so concurrent test
    runs never see (or execute) a half-written file.
    """
    source = _helper_source()
    key = hashlib.sha256(source + "\0".join(_CFLAGS).encode()).hexdigest()[:16]
    for cache in (_cache_dir(), Path(tempfile.gettempdir()) / f"vmsim-{os.getuid()}"):
        target = cache / f"helper-{key}"
        if target.is_file() and os.access(target, os.X_OK):
            return target
        gcc = shutil.which("gcc")
        if gcc is None:
            raise RuntimeError("gcc not found on PATH")
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        fd, tmp = tempfile.mkstemp(prefix=".helper-", dir=cache)
        os.close(fd)
        try:
            src = Path(tmp + ".c")
            src.write_bytes(source)
            try:
                done = subprocess.run(
                    [gcc, *_CFLAGS, "-o", tmp, str(src)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
            finally:
                src.unlink(missing_ok=True)
            if done.returncode != 0:
                raise RuntimeError(f"compiling helper.c failed:\n{done.stderr}")
            os.chmod(tmp, 0o755)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target
    raise RuntimeError("no writable cache directory for the helper binary")


class LiveProcess:
    """A helper process on the live kernel, driven through the interface of vmsim.Process.

    The address space the calls start from is the helper's own, as printed by :meth:`maps`
    right after start-up: a dynamic PIE's segments, libc, ld.so, vvar/vdso, the stack and
    vsyscall, with no heap until the first ``brk`` grow.

    Every call of the system-call table, modelled or not (the kernel makes them all), is a
    method with the C call's name and arguments, made by :meth:`syscall`.
    """

    def __init__(self, *, aslr: bool = False) -> None:
        self.last_ns: int = 0
        path = helper_path()
        setarch = shutil.which("setarch")
        env = shutil.which("env")
        if setarch is None or env is None:
            raise RuntimeError("setarch or env not found on PATH")
        # env -i: the environment strings sit on the stack, so an empty one makes the stack
        # (and everything below it) identical from one run to the next.
        argv = [env, "-i", str(path)]
        if not aslr:
            argv = [setarch, platform.machine(), "-R", *argv]
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
        )
        # setarch and env exec() their argument, so the helper keeps this pid.
        self.pid: int = self._proc.pid
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._wfd = self._proc.stdin.fileno()
        self._rfd = self._proc.stdout.fileno()
        # Opened on first use; a list so the finalizer can close it without holding self.
        self._query: list[ProcQuery] = []
        self._finalizer = weakref.finalize(self, _kill, self._proc, self._query)
        try:
            ready = self._recv_exact(_RESP.size)
            ret, *_rest = _RESP.unpack(ready)
            if ret != _READY_MAGIC:
                raise RuntimeError(f"helper sent {ret:#x} instead of its ready message")
        except BaseException:
            self.kill()
            raise

    # -- plumbing -------------------------------------------------------------------------

    def __enter__(self) -> LiveProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()

    def close(self, fd: int | None = None) -> None:
        """close(fd) closes a file descriptor in the helper, as vmsim.Process.close(fd) does;
        close() with no argument ends the helper (see :meth:`kill`)."""
        if fd is None:
            self.kill()
        else:
            self._call(_OP_CLOSE, fd)

    def kill(self) -> None:
        """Kill the helper (it has nothing to flush) and reap it; idempotent."""
        self._finalizer()

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def _recv_exact(self, n: int) -> bytes:
        chunks: list[bytes] = []
        while n > 0:
            chunk = os.read(self._rfd, n)
            if not chunk:
                raise RuntimeError(f"helper exited unexpectedly ({self._describe_exit()})")
            chunks.append(chunk)
            n -= len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _describe_exit(self) -> str:
        try:
            rc = self._proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return "still running, closed its stdout"
        return f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"

    def _request(
        self, op: int, *args: int, payload: bytes = b""
    ) -> tuple[int, int, int, int, int, bytes]:
        """Send one request; return (ret, errno, sig, code, addr, data) and set last_ns."""
        if not self._finalizer.alive:
            raise RuntimeError("the helper process has been closed")
        words = [_u64(a) for a in args] + [0] * (7 - len(args))
        msg = _REQ.pack(op, *words) + payload
        try:
            view = memoryview(msg)
            while view:
                view = view[os.write(self._wfd, view) :]
        except BrokenPipeError:
            raise RuntimeError(f"helper exited unexpectedly ({self._describe_exit()})") from None
        ret, err, ns, sig, code, addr, length, _pad = _RESP.unpack(self._recv_exact(_RESP.size))
        self.last_ns = ns
        data = self._recv_exact(length) if length else b""
        return ret, err, sig, code, addr, data

    def _call(self, op: int, *args: int) -> int:
        ret, err, _sig, _code, _addr, _data = self._request(op, *args)
        if err:
            raise syscall_error(err)
        return ret

    def _access(self, op: int, *args: int, payload: bytes = b"") -> bytes:
        ret, _err, sig, code, addr, data = self._request(op, *args, payload=payload)
        if ret == 0:
            return data
        if sig == _SIGBUS:
            raise BusError(addr, _BUS_CODES.get(code, f"BUS_{code}"))
        if sig == _SIGSEGV:
            name = "SI_KERNEL" if code == _SI_KERNEL else _SEGV_CODES.get(code, f"SEGV_{code}")
            raise SegmentationFault(addr, name)
        raise RuntimeError(f"helper access failed: ret={ret} sig={sig} code={code}")

    # -- the system calls -----------------------------------------------------------------

    def syscall(self, name: str, *args: int) -> int:
        """Make the call ``name`` of the system-call table in the helper: its number and
        the registers as given (arguments left out take the row's defaults); the kernel
        casts them to its prototype's types.  An address result comes back as an unsigned
        long, any other as the kernel's number (0 for success)."""
        return self.call_row(syscalls.lookup(name), args)

    def call_row(self, row: syscalls.Syscall, args: Sequence[int]) -> int:
        """Make the call of ``row`` in the helper (see :meth:`syscall`)."""
        row.convert(args)  # the model's checks of the argument count and register widths
        registers = [*args, *(a.default or 0 for a in row.args[len(args) :])]
        ret = self._call(_OP_SYSCALL, row.nr, *registers)
        return ret & U64 if row.result == syscalls.RESULT_ADDRESS else ret

    def __getattr__(self, name: str) -> Callable[..., int]:
        """A call added to the table after this class was made."""
        row = syscalls.SYSCALLS.get(name)
        if row is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return call_method(row, type(self).__name__).__get__(self)

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        """setrlimit() in the helper; -1 stands for RLIM_INFINITY."""
        self._call(_OP_SETRLIMIT, resource, soft, hard)

    def open(
        self, path: str | bytes | os.PathLike[str], flags: int = os.O_RDWR, mode: int = 0o600
    ) -> int:
        """Open a file in the helper; returns the helper's fd, for mmap()."""
        raw = os.fsencode(path)
        if b"\0" in raw or len(raw) >= IO_MAX:
            raise ValueError("bad path")
        ret, err, *_ = self._request(_OP_OPEN, flags, mode, len(raw), payload=raw)
        if err:
            raise syscall_error(err)
        return ret

    # -- memory accesses ------------------------------------------------------------------

    def read(self, addr: int, n: int) -> bytes:
        """Load n bytes at addr, page by page in ascending order, as the model does.

        The exception carries si_addr and si_code as the kernel delivered them; for a
        non-canonical address (a general protection fault) that is 'SI_KERNEL' at 0.
        """
        addr, n = user_address(addr), load_size(n)
        out: list[bytes] = []
        total_ns = 0
        pos = 0
        while pos < n:
            chunk = min(IO_MAX, n - pos)
            out.append(self._access(_OP_READ, (addr + pos) & U64, chunk))
            total_ns += self.last_ns
            pos += chunk
        self.last_ns = total_ns
        return b"".join(out)

    def write(self, addr: int, data: bytes) -> None:
        """Store data at addr; a fault leaves the pages before the faulting one written."""
        addr = user_address(addr)
        view = memoryview(bytes(data))
        total_ns = 0
        for pos in range(0, len(view), IO_MAX):
            chunk = view[pos : pos + IO_MAX]
            self._access(_OP_WRITE, (addr + pos) & U64, len(chunk), payload=bytes(chunk))
            total_ns += self.last_ns
        self.last_ns = total_ns

    def touch(self, addr: int, length: int, stride: int = PAGE_SIZE, value: int = 1) -> None:
        """Store ``value`` at addr, addr + stride, ... below addr + length (fault in pages)."""
        if stride <= 0:
            raise ValueError("stride must be positive")
        self._access(_OP_TOUCH, addr, length, stride, value & 0xFF)

    # -- /proc, read from outside -----------------------------------------------------------

    def _proc_text(self, name: str) -> str:
        with open(f"/proc/{self.pid}/{name}", encoding="utf-8", errors="surrogateescape") as f:
            return f.read()

    def maps(self) -> str:
        return self._proc_text("maps")

    def smaps(self) -> str:
        return self._proc_text("smaps")

    def rss_by_range(
        self, wanted: Callable[[int, int], bool] | None = None
    ) -> dict[tuple[int, int], int]:
        rss = rss_by_range(self.smaps())
        return rss if wanted is None else {key: kb for key, kb in rss.items() if wanted(*key)}

    # -- a few VMAs at a time, through ioctls (see procioctl) ------------------------------

    def _queries(self) -> ProcQuery:
        if not self._query:
            self._query.append(ProcQuery(self.pid))
        return self._query[0]

    def maps_between(self, lo: int, hi: int) -> list[str]:
        """The /proc/pid/maps lines of the VMAs meeting [lo, hi)."""
        return [line for _s, _e, line in self._queries().vmas_between(lo, hi)]

    def rss_between(
        self, lo: int, hi: int, wanted: Callable[[int, int], bool]
    ) -> dict[tuple[int, int], int]:
        """Like :meth:`rss_by_range`, for the ``wanted`` VMAs meeting [lo, hi)."""
        query = self._queries()
        return {
            (start, end): query.resident_bytes(start, end) >> 10
            for start, end, _line in query.vmas_between(lo, hi)
            if wanted(start, end)
        }

    def resident_pages(self, start: int, end: int) -> list[int]:
        """Addresses of the pages in [start, end) that smaps would count as resident.

        A pagemap entry is present for any mapped PTE, but the model (like smaps' Rss) does
        not count pages without a struct page behind them: the shared zero page a read of
        untouched private memory maps, the huge zero page, and PFN maps such as [vvar].
        Those are recognised by their pagemap flags (neither a file page nor an exclusively
        mapped anonymous page; the helper never forks, so its anonymous pages are exclusive)
        and, for the huge zero page (which looks like a shared file page), by /proc/kpageflags.
        """
        start &= ~(PAGE_SIZE - 1)
        if end <= start:
            return []
        present: list[tuple[int, int]] = []  # (address, pagemap entry)
        with open(f"/proc/{self.pid}/pagemap", "rb", buffering=0) as f:
            # Only the mapped parts: a range may span the whole address space.
            for lo, hi in self._mapped_ranges(start, end):
                for base in range(lo, hi, _PAGEMAP_CHUNK * PAGE_SIZE):
                    top = min(hi, base + _PAGEMAP_CHUNK * PAGE_SIZE)
                    raw = os.pread(f.fileno(), (top - base) // PAGE_SIZE * 8, base // PAGE_SIZE * 8)
                    # Short (empty) above TASK_SIZE, e.g. for [vsyscall]: nothing present.
                    entries = memoryview(raw).cast("Q")
                    present += [
                        (base + i * PAGE_SIZE, e) for i, e in enumerate(entries) if e & _PM_PRESENT
                    ]
        shared_file = {
            e & _PM_PFN_MASK for _a, e in present if e & _PM_FILE and not e & _PM_EXCLUSIVE
        }
        zero = _zero_pfns(shared_file)
        out = []
        for addr, e in present:
            if not e & (_PM_FILE | _PM_EXCLUSIVE):
                continue  # the zero page or a PFN map
            if e & _PM_FILE and not e & _PM_EXCLUSIVE and (e & _PM_PFN_MASK) in zero:
                continue  # the huge zero page
            out.append(addr)
        return out

    def _mapped_ranges(self, start: int, end: int) -> list[tuple[int, int]]:
        """[start, end) cut down to the VMAs in /proc/pid/maps, page aligned."""
        out: list[tuple[int, int]] = []
        for line in self.maps().splitlines():
            lo_s, _, hi_s = line.partition(" ")[0].partition("-")
            lo, hi = max(int(lo_s, 16), start), min(int(hi_s, 16), end)
            if lo < hi:
                out.append((lo, (hi + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)))
        return out


install_calls(LiveProcess, syscalls.SYSCALLS.values())


def _zero_pfns(pfns: set[int]) -> set[int]:
    """Which of these page frames are (part of) a zero page, by /proc/kpageflags."""
    if not pfns:
        return set()
    zero: set[int] = set()
    try:
        with open("/proc/kpageflags", "rb", buffering=0) as f:
            for pfn in pfns:
                if pfn == 0:  # PFNs are hidden without CAP_SYS_ADMIN: nothing to learn
                    continue
                raw = os.pread(f.fileno(), 8, pfn * 8)
                if len(raw) == 8 and int.from_bytes(raw, "little") & _KPF_ZERO_PAGE:
                    zero.add(pfn)
    except OSError:
        pass
    return zero


def page_cache_folios(path: str) -> dict[int, int] | None:
    """The large folios (first page -> order) the page cache holds for a file, as
    /proc/kpageflags shows them through a mapping of it in this process; None where page
    frames are hidden (not root).  Every page is faulted in, so a page that was not cached
    is read in first."""
    size = os.path.getsize(path)
    pages = (size + PAGE_SIZE - 1) // PAGE_SIZE
    if not pages:
        return {}
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), size) as m:
        anchor = ctypes.c_char.from_buffer(m)
        try:
            base = ctypes.addressof(anchor)
            for i in range(pages):
                m[i * PAGE_SIZE]  # noqa: B018 - the load faults the page in
            with open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
                raw = os.pread(pagemap.fileno(), pages * 8, base // PAGE_SIZE * 8)
        finally:
            del anchor
    pfns = [e & _PM_PFN_MASK for e in memoryview(raw).cast("Q")]
    if not all(pfns):
        return None
    with open("/proc/kpageflags", "rb", buffering=0) as kpageflags:
        flags = [
            int.from_bytes(os.pread(kpageflags.fileno(), 8, pfn * 8), "little") for pfn in pfns
        ]
    layout: dict[int, int] = {}
    for index, flag in enumerate(flags):
        if flag & _KPF_COMPOUND_HEAD:
            end = index + 1
            while end < pages and flags[end] & _KPF_COMPOUND_TAIL:
                end += 1
            layout[index] = (end - index).bit_length() - 1
    return layout


def _kill(proc: subprocess.Popen[bytes], queries: list[ProcQuery]) -> None:
    for query in queries:
        query.close()
    queries.clear()
    if proc.poll() is None:
        proc.kill()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    proc.wait()


@functools.cache
def live_kernel_available() -> tuple[bool, str]:
    """Whether the live-kernel side can run here, and if not, why not (for test skips)."""
    if platform.system() != "Linux":
        return False, f"the live kernel side needs Linux, not {platform.system()}"
    if platform.machine() != "x86_64":
        return False, f"the live kernel side needs x86_64, not {platform.machine()}"
    for tool in ("gcc", "setarch", "env"):
        if shutil.which(tool) is None:
            return False, f"{tool} not found on PATH"
    try:
        with LiveProcess() as p:
            with open(f"/proc/{p.pid}/personality") as f:
                personality = int(f.read(), 16)
            if not personality & 0x0040000:  # ADDR_NO_RANDOMIZE
                return False, "setarch -R did not turn ASLR off (personality() refused?)"
            if p.brk(0) == 0 or "[stack]" not in p.maps():
                return False, "the helper started but its address space looks wrong"
    except (OSError, RuntimeError) as exc:
        return False, f"cannot run the live-kernel helper: {exc}"
    return True, "live kernel available"


__all__ = ["LiveProcess", "helper_path", "live_kernel_available", "page_cache_folios"]
