"""`vmsim record`: run a program under strace with ASLR off, and keep what replay needs.

The bundle holds the strace log (execve lines with their whole argv and
environment, since the stack's size follows from them), the ELF headers of every
program and interpreter that was exec'd (so the log replays on any machine), and
the address space the first program has right after execve.  That one comes from
a first run stopped by ptrace at the exec; with ASLR off and the same arguments
and environment, the strace run starts from the same maps.  With
``all_execs=True`` the first run goes on to the end under ptrace, following every
child, and keeps the maps of every execve as the kernel laid it out, to check the
model's layout against.

The environment's values are replaced by as many ``x`` as they have bytes unless
``keep_env`` is set: only their lengths matter to the layout.
"""

from __future__ import annotations

import ctypes
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .bundle import Bundle, ExecImage
from .fs.binfmt_elf import ElfImage
from .fs.binfmt_script import ScriptImage
from .fs.exec import read_exec_image
from .strace.parse import parse, split_args, string_arg

PTRACE_TRACEME = 0
PTRACE_CONT = 7
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_O_TRACEFORK = 0x02
PTRACE_O_TRACEVFORK = 0x04
PTRACE_O_TRACECLONE = 0x08
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE, PTRACE_EVENT_EXEC = 1, 2, 3, 4
WALL = 0x40000000
ADDR_NO_RANDOMIZE = 0x0040000
STRACE_MISSING = (
    "strace is not installed: install it from Debian's packages "
    "(apt-get install strace) and try again"
)
# Strings longer than this in calls other than execve are data (read, write, ...): they
# are cut to strace's default 32 characters.  Paths are shorter.
LONG_STRING = 256
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"(\.\.\.)?')


@dataclass
class ExecSnapshot:
    """A program right after execve, as the kernel laid it out."""

    pid: int
    exe: str  # /proc/pid/exe
    maps: str
    start_stack: int  # /proc/pid/stat's startstack
    smaps: str = ""


@dataclass
class Recording:
    maps: str
    log: str
    status: int
    images: dict[str, ExecImage] = field(default_factory=dict)
    snapshots: list[ExecSnapshot] = field(default_factory=list)
    rlimit_stack: int = 8 << 20

    def bundle(self) -> Bundle:
        return Bundle(
            log=self.log,
            maps=self.maps,
            images=self.images,
            exec_maps=[(s.exe, s.maps) for s in self.snapshots],
            info={"rlimit_stack": self.rlimit_stack},
        )


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long
    return libc


def _spawn_traced(argv: Sequence[str], env: Mapping[str, str] | None) -> int:
    """A child that is traced, has ASLR off, and stops at its execve."""
    libc = _libc()
    pid = os.fork()
    if pid == 0:  # the child: be traced, lose ASLR, exec
        try:
            libc.ptrace(PTRACE_TRACEME, 0, None, None)
            libc.personality(ADDR_NO_RANDOMIZE)
            if env is None:
                os.execvp(argv[0], list(argv))
            else:
                os.execvpe(argv[0], list(argv), dict(env))
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    if not os.WIFSTOPPED(status):
        raise OSError(f"{argv[0]}: could not be started")
    return pid


def snapshot(pid: int) -> ExecSnapshot:
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read()
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/smaps") as f:
        smaps = f.read()
    return ExecSnapshot(pid, os.readlink(f"/proc/{pid}/exe"), maps, int(fields[25]), smaps)


def exec_maps(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """/proc/pid/maps of ``argv`` stopped right after its execve (ASLR off)."""
    pid = _spawn_traced(argv, env)
    try:
        return snapshot(pid).maps
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def exec_snapshots(argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[ExecSnapshot]:
    """Run ``argv`` to the end under ptrace (ASLR off), following every child, and keep
    each process's address space right after each of its execve calls."""
    libc = _libc()
    pid = _spawn_traced(argv, env)
    found = [snapshot(pid)]
    options = (
        PTRACE_O_TRACEFORK
        | PTRACE_O_TRACEVFORK
        | PTRACE_O_TRACECLONE
        | PTRACE_O_TRACEEXEC
        | PTRACE_O_EXITKILL
    )
    libc.ptrace(PTRACE_SETOPTIONS, pid, None, ctypes.c_void_p(options))
    libc.ptrace(PTRACE_CONT, pid, None, None)
    alive = {pid}
    fresh: set[int] = set()  # new tracees whose first stop (a SIGSTOP) is still to come
    early: set[int] = set()  # tracees that stopped before their parent's event said so
    msg = ctypes.c_ulong()
    while alive:
        try:
            wpid, status = os.waitpid(-1, WALL)
        except ChildProcessError:
            break
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            alive.discard(wpid)
            continue
        if not os.WIFSTOPPED(status):
            continue
        sig, event = os.WSTOPSIG(status), status >> 16
        inject = 0
        if sig == signal.SIGTRAP and event == PTRACE_EVENT_EXEC:
            found.append(snapshot(wpid))
        elif sig == signal.SIGTRAP and event in (
            PTRACE_EVENT_FORK,
            PTRACE_EVENT_VFORK,
            PTRACE_EVENT_CLONE,
        ):
            libc.ptrace(PTRACE_GETEVENTMSG, wpid, None, ctypes.byref(msg))
            child = msg.value
            alive.add(child)
            if child in early:
                early.discard(child)
            else:
                fresh.add(child)
        elif sig == signal.SIGSTOP and (wpid in fresh or wpid not in alive):
            # A new tracee's first stop: swallow it.
            if wpid in fresh:
                fresh.discard(wpid)
            else:
                early.add(wpid)
                alive.add(wpid)
        elif sig != signal.SIGTRAP:
            inject = sig
        libc.ptrace(PTRACE_CONT, wpid, None, ctypes.c_void_p(inject))
    return found


def compact_log(log: str, keep_env: bool = False) -> str:
    """Cut data strings (longer than LONG_STRING) to 32 characters as strace's default
    does; blank the environment's values in execve lines unless ``keep_env``."""
    out = []
    for line in log.splitlines(keepends=True):
        if " execve(" in line or " execveat(" in line or line.startswith(("execve(", "execveat(")):
            out.append(line if keep_env else _blank_env(line))
        elif len(line) > LONG_STRING:
            out.append(STRING.sub(_cut, line))
        else:
            out.append(line)
    return "".join(out)


def _cut(match: re.Match[str]) -> str:
    body = match.group(1)
    if len(body) <= LONG_STRING:
        return match.group(0)
    tokens = re.findall(r"\\(?:[0-7]{1,3}|x[0-9a-fA-F]{2}|.)|.", body, re.S)
    return '"' + "".join(tokens[:32]) + '"...'


def _blank_env(line: str) -> str:
    """Keep each environment variable's name and byte length, not its value."""
    start = line.find("(")
    end = line.rfind(")")
    if start < 0 or end < start:
        return line
    args = split_args(line[start + 1 : end])
    envpos = 3 if "execveat(" in line[: start + 1] else 2
    if len(args) <= envpos or not args[envpos].startswith("["):
        return line
    items = split_args(args[envpos][1:-1])
    blanked = []
    for item in items:
        try:
            text = string_arg(item).encode("latin-1")
        except ValueError:
            blanked.append(item)
            continue
        name, eq, value = text.partition(b"=")
        blanked.append('"' + (name + eq).decode("latin-1") + "x" * len(value) + '"')
    args[envpos] = "[" + ", ".join(blanked) + "]"
    return line[: start + 1] + ", ".join(args) + line[end:]


def exec_images(log: str, cwd: str) -> dict[str, ExecImage]:
    """The headers of every file a successful execve in ``log`` ran, and of the
    interpreters they name, keyed by the path exec was given."""
    images: dict[str, ExecImage] = {}

    def add(path: str) -> None:
        if path in images:
            return
        try:
            image = read_exec_image(os.path.join(cwd, path))
        except (OSError, ValueError):
            return
        image.path = path
        images[path] = image
        if isinstance(image, ScriptImage):
            add(image.interpreter)
        elif isinstance(image, ElfImage) and image.interp:
            add(image.interp)

    for event in parse(log.splitlines()):
        if event.name in ("execve", "execveat") and event.ret == 0 and not event.unfinished:
            try:
                add(string_arg(event.args[1 if event.name == "execveat" else 0]))
            except (ValueError, IndexError):
                continue
    return images


def record(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    all_execs: bool = False,
    keep_env: bool = False,
) -> Recording:
    """Record ``argv`` (with ``env``, or this process's environment)."""
    strace = shutil.which("strace")
    if strace is None:
        raise FileNotFoundError(STRACE_MISSING)
    setarch = shutil.which("setarch") or "setarch"
    snapshots = exec_snapshots(argv, env) if all_execs else []
    maps = snapshots[0].maps if snapshots else exec_maps(argv, env)
    with tempfile.TemporaryDirectory(prefix="vmsim-record-") as tmp:
        log_path = os.path.join(tmp, "log")
        # setarch -R is inherited by the traced child: both runs start without ASLR.
        # execve lines unabbreviated and strings in full: the stack's size needs them.
        done = subprocess.run(
            [
                setarch,
                "-R",
                strace,
                "-f",
                "-e",
                "abbrev=!execve,execveat",
                "-s",
                "65536",
                "-o",
                log_path,
                "--",
                *argv,
            ],
            check=False,
            env=None if env is None else dict(env),
        )
        with open(log_path) as f:
            log = f.read()
    cwd = os.getcwd()
    return Recording(
        maps=maps,
        log=compact_log(log, keep_env),
        status=done.returncode,
        images=exec_images(log, cwd),
        snapshots=snapshots,
        rlimit_stack=resource.getrlimit(resource.RLIMIT_STACK)[0] & ((1 << 64) - 1),
    )
