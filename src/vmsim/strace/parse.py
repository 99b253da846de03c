"""Reading strace(1) output: a strict, anchored regular expression for the common line,
and small rules for the rest (unfinished/resumed pairs, signals, exits).

Handles ``-f`` pid prefixes (``[pid N]`` or a bare pid from ``-o``), ``-t``/``-tt``/
``-ttt``/``-r`` timestamps, ``-y``/``-yy`` fd paths, ``-X raw``/``-X verbose`` values,
errors (``= -1 ENOMEM (...)``), quoted strings containing ``) =``, and truncated lines.
A line that cannot be read yields an :class:`Event` with ``error`` set, naming the line;
the caller reports it and goes on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from typing import Final

from .. import uapi
from ..kernel import syscalls
from ..kernel.sysargs import MAP_HUGE_SHIFT

PREFIX = (
    r"^(?:\[pid\s+(?P<pid>\d+)\]\s+|(?P<pid2>\d+)\s+)?"
    r"(?:(?P<ts>\d+:\d+:\d+(?:\.\d+)?|\d+\.\d+)\s+)?"
)
CALL = re.compile(
    PREFIX + r"(?P<name>[a-z_][a-z0-9_]*)\((?P<args>.*)\)\s+=\s+"
    r"(?P<ret>-?\d+|0x[0-9a-f]+|\?)(?:<(?P<retpath>[^>]*)>)?"
    r"(?:\s+(?P<errno>E[A-Z0-9]+)\s+\((?P<strerror>[^)]*)\)|\s+\([^)]*\))?(?:\s+<[\d.]+>)?\s*$"
)
UNFINISHED = re.compile(
    PREFIX + r"(?P<name>[a-z_][a-z0-9_]*)\((?P<args>.*?)\s*<unfinished \.\.\.>\s*$"
)
RESUMED = re.compile(
    PREFIX + r"<\.\.\. (?P<name>[a-z_][a-z0-9_]*) resumed>\s*(?P<args>.*)\)\s+=\s+"
    r"(?P<ret>-?\d+|0x[0-9a-f]+|\?)(?:<(?P<retpath>[^>]*)>)?"
    r"(?:\s+(?P<errno>E[A-Z0-9]+)\s+\((?P<strerror>[^)]*)\)|\s+\([^)]*\))?(?:\s+<[\d.]+>)?\s*$"
)
SIGNAL = re.compile(PREFIX + r"--- (?P<sig>SIG[A-Z0-9]+) .*---\s*$")
EXIT = re.compile(
    PREFIX + r"\+\+\+ (?P<what>exited with -?\d+|killed by SIG[A-Z0-9]+.*) \+\+\+\s*$"
)
RELATIVE_TS = re.compile(r"^\s*\d+\.\d+\s+")

# The names the system-call table prints, every constant of the headers (a newer strace
# knows more names than the table's printers), and the open flags.
CONSTANTS: dict[str, int] = {
    name: value
    for name, value in vars(uapi).items()
    if isinstance(value, int)
    and name.split("_")[0] in ("PROT", "MAP", "MREMAP", "MADV", "O", "F", "FD")
}
CONSTANTS.update(syscalls.constants())
CONSTANTS.update(
    {
        "NULL": 0,
        "MAP_HUGE_SHIFT": MAP_HUGE_SHIFT,
        "AT_FDCWD": -100,
        "O_DIRECT": 0o40000,
        "O_NOATIME": 0o1000000,
        "O_SYNC": 0o4010000,
        "O_DSYNC": 0o10000,
        "O_ASYNC": 0o20000,
        "O_TMPFILE": 0o20200000,
        "O_CREAT": 0o100,
        "O_TRUNC": 0o1000,
        "O_APPEND": 0o2000,
        "O_NONBLOCK": 0o4000,
        "O_DIRECTORY": 0o200000,
        "O_NOFOLLOW": 0o400000,
        "O_LARGEFILE": 0,
        "O_PATH": 0o10000000,
        "O_EXCL": 0o200,
        "O_NOCTTY": 0o400,
    }
)


class Event:
    """One completed system call (or a signal, an exit, or an unreadable line).

    ``args`` are split from the argument text only when first asked for: most calls in a
    log (reads, stats, signal actions) are never looked at beyond their name and result.
    """

    __slots__ = (
        "line",
        "pid",
        "name",
        "_args",
        "_args_text",
        "ret",
        "errno",
        "ret_path",
        "unfinished",
        "error",
    )

    def __init__(
        self,
        line: int,
        pid: int | None,
        name: str,
        args: list[str] | None = None,
        ret: int | None = None,
        errno: str | None = None,
        ret_path: str | None = None,  # what -y printed after a returned fd
        unfinished: bool = False,  # the call's first half; it completes in a later event
        error: str | None = None,  # why the line could not be read
        *,
        args_text: str = "",  # the text between the parentheses, split on demand
    ) -> None:
        self.line = line
        self.pid = pid
        # An older strace prints a call it does not know by number ("syscall_0x1ce" for
        # mseal); the table knows it by name.
        self.name = syscalls.canonical_name(name) if name.startswith("syscall_0x") else name
        self._args: list[str] | None = args
        if args is None and not args_text:
            self._args = []
        self._args_text = args_text
        self.ret = ret
        self.errno = errno
        self.ret_path = ret_path
        self.unfinished = unfinished
        self.error = error

    @property
    def args(self) -> list[str]:
        if self._args is None:
            self._args = split_args(self._args_text)
        return self._args

    @args.setter
    def args(self, args: list[str]) -> None:
        self._args = args

    def _key(self) -> tuple[object, ...]:
        return (
            self.line,
            self.pid,
            self.name,
            self.args,
            self.ret,
            self.errno,
            self.ret_path,
            self.unfinished,
            self.error,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        return (
            f"Event(line={self.line!r}, pid={self.pid!r}, name={self.name!r}, "
            f"args={self.args!r}, ret={self.ret!r}, errno={self.errno!r}, "
            f"ret_path={self.ret_path!r}, unfinished={self.unfinished!r}, error={self.error!r})"
        )

    def arg(self, i: int) -> int:
        return value(self.args[i])

    def int_args(self) -> list[int]:
        """Every argument as a number (ValueError if one is not)."""
        if self._args is not None:
            return [value(a) for a in self._args]
        return int_args(self._args_text)


_NUMBER = re.compile(r"-?0x[0-9a-fA-F]+|-?\d+")
_COMMENT = re.compile(r"\s*/\*.*?\*/")


@functools.lru_cache(maxsize=4096)
def value(token: str) -> int:
    """An argument as a number: hex, decimal, NULL, symbolic flags, raw or verbose forms,
    an fd with its -y path (``3</lib/libc.so.6>``).

    Cached: a log repeats the same few sizes, flag sets and fds over and over.
    """
    token = token.strip()
    if _NUMBER.fullmatch(token):  # most arguments are plain numbers
        return int(token, 0)
    if "/*" in token:  # -X verbose "0x3 /* PROT_READ|PROT_WRITE */", "0x10 /* MAP_??? */"
        token = _COMMENT.sub("", token).strip()
    if token.endswith(">") and "<" in token:  # -y: "3</path>"
        token = token[: token.index("<")]
    total = 0
    for part in token.split("|"):
        part = part.strip()
        if part in CONSTANTS:
            total |= CONSTANTS[part]
        elif _NUMBER.fullmatch(part):
            total |= int(part, 0)
        elif "<<" in part:  # a field: "21<<MAP_HUGE_SHIFT"
            count, _, shift = part.partition("<<")
            total |= value(count) << value(shift)
        else:
            raise ValueError(f"unknown value {part!r}")
    return total


_INT_ARGS: Final[dict[str, list[int]]] = {}


def int_args(text: str) -> list[int]:
    """The numbers of an argument list.  An allocator repeats the same calls over and
    over (``NULL, 4096, PROT_READ|PROT_WRITE, ...``): each distinct list is read once."""
    values = _INT_ARGS.get(text)
    if values is None:
        values = _plain_int_args(text)
        if values is None:
            values = [_number(a) for a in split_args(text)]
        if len(_INT_ARGS) >= 65536:
            _INT_ARGS.clear()
        _INT_ARGS[text] = values
    return values[:]


def _plain_int_args(text: str) -> list[int] | None:
    """The numbers of a list of plain numbers, NULL and flag sets, as nearly every memory
    call has; None for anything else (a string, an fd's -y path, a structure, -X verbose),
    which split_args() must take apart.  A token holding any of the characters that make
    a list structured fails every test below, so splitting at every comma is safe here."""
    values = []
    for token in text.split(","):
        token = token.strip()
        if token.startswith("0x") and token.isalnum():
            values.append(int(token, 16))
        elif token.isdigit() and token[0] != "0":
            values.append(int(token))
        elif token.replace("_", "").replace("|", "").lstrip("-").isalnum():
            values.append(value(token))  # flags, NULL, 0, -1
        else:
            return None
    return values


def _number(token: str) -> int:
    # Addresses and sizes, nearly every one different, go straight to int(): through
    # value()'s cache they would only push out the flag sets that repeat.
    if token.startswith("0x") and token.isalnum():
        return int(token, 16)
    if token.isdigit() and token[0] != "0":
        return int(token)
    return value(token)  # flags, NULL, -1, 0, -X verbose and -y forms


def fd_path(token: str) -> str | None:
    """The path strace -y printed after an fd, if any."""
    match = re.search(r"<(.*)>\s*$", token.strip())
    return match.group(1) if match else None


# What makes an argument list more than "a, b, c": strings, -y paths, nesting.
_STRUCTURED = re.compile(r'["<()\[\]{}]')
# The marks split_args() acts on: a quoted string (to its closing quote, or the end of a
# truncated line) and an fd's -y path are skipped whole, since either may hold commas
# (a shift, "21<<MAP_HUGE_SHIFT", is no path).
_ARG_MARKS = re.compile(r'"(?:[^"\\]|\\.)*"?|(?<=\d)<(?!<)[^>]*>?|[()\[\]{},]', re.DOTALL)


def split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments, respecting quotes and brackets."""
    if _STRUCTURED.search(text) is None:
        return [arg.strip() for arg in text.split(",")] if text.strip() else []
    args, depth, start = [], 0, 0
    for mark in _ARG_MARKS.finditer(text):
        ch = mark.group()
        if ch == ",":
            if depth == 0:
                args.append(text[start : mark.start()].strip())
                start = mark.end()
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    tail = text[start:].strip()
    if tail or args:
        args.append(tail)
    return args


def string_arg(token: str) -> str:
    """A quoted path argument, unescaped the way strace escapes it."""
    token = token.strip()
    if token.endswith("..."):
        token = token[:-3]
    if not (token.startswith('"') and token.endswith('"')):
        raise ValueError(f"not a string: {token[:40]!r}")
    return token[1:-1].encode().decode("unicode_escape")


def _pid(match: re.Match[str]) -> int | None:
    pid = match.group("pid") or match.group("pid2")
    return int(pid) if pid else None


def log_lines(text: str) -> Iterator[str]:
    """The lines of a log one at a time, without a list of them all: a log may have
    millions."""
    start = 0
    size = len(text)
    while start < size:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1


def parse(lines: Iterable[str]) -> Iterator[Event]:
    """Events in log order; an unfinished call is emitted when it resumes."""
    pending: dict[int | None, tuple[str, str]] = {}
    call_match = CALL.match
    for number, raw in enumerate(lines, 1):
        text = raw.rstrip("\n")
        if text.startswith(" "):
            text = RELATIVE_TS.sub("", text, count=1)
        if not text or text.isspace():
            continue
        plain = plain_call(text)
        if plain is not None:
            yield Event(number, plain[0], plain[1], None, plain[3], args_text=plain[2])
            continue
        unfinished = plain_unfinished(text)
        if unfinished is not None:
            pending[unfinished[0]] = (unfinished[1], unfinished[2])
            yield Event(
                number, unfinished[0], unfinished[1], unfinished=True, args_text=unfinished[2]
            )
            continue
        resumed = plain_resumed(text)
        if resumed is not None:
            pid, name, args = _resume(pending, resumed[0], resumed[1], resumed[2])
            yield Event(number, pid, name, None, resumed[3], args_text=args)
            continue
        # CALL needs the "=" before a result: the line of an unfinished call, which
        # seldom has one, is spared a long failing match.
        match = call_match(text) if "=" in text else None
        if match is not None:
            # Most lines are complete calls: one group() call fetches all they carry.
            pid_text, pid2, name, args, ret, ret_path, err = match.group(
                "pid", "pid2", "name", "args", "ret", "retpath", "errno"
            )
            pid_text = pid_text or pid2
            yield Event(
                number,
                int(pid_text) if pid_text else None,
                name,
                None,
                # _ret(), written out: this runs for nearly every line of a log.
                None if ret == "?" else int(ret, 8 if ret[:1] == "0" and ret[1:2].isdigit() else 0),
                err,
                ret_path,
                args_text=args,
            )
            continue
        match = UNFINISHED.match(text)
        if match is not None:
            pending[_pid(match)] = (match["name"], match["args"])
            yield Event(
                number, _pid(match), match["name"], unfinished=True, args_text=match["args"]
            )
            continue
        match = RESUMED.match(text)
        if match is not None:
            pid, name, args = _resume(pending, _pid(match), match["name"], match["args"])
            yield _event(number, pid, name, args, match)
            continue
        match = SIGNAL.match(text)
        if match is not None:
            yield Event(number, _pid(match), "signal", [match["sig"]])
            continue
        match = EXIT.match(text)
        if match is not None:
            yield Event(number, _pid(match), "exit", [match["what"]])
            continue
        yield Event(number, None, "?", error=f"line {number}: cannot read {text[:80]!r}")


def _resume(
    pending: dict[int | None, tuple[str, str]], pid: int | None, name: str, rest: str
) -> tuple[int | None, str, str]:
    """(pid, name, whole argument text) of a resumed call: the arguments its unfinished
    line showed, then the rest."""
    name, head = pending.pop(pid, (name, ""))
    args = head + (", " if head and rest and not rest.startswith(",") else "") + rest
    return pid, name, args.replace(", ,", ",")


# The commonest lines read with string methods rather than a regular expression: each
# reader answers None for anything else, which the expressions then read.  A test checks
# that for every line they accept they give what the expressions give.


def plain_call(text: str) -> tuple[int | None, str, str, int] | None:
    """(pid, name, argument text, result) of ``name(args) = number``, with at most a
    bare pid in front (``strace -f -o``): what CALL reads, in a third of the time."""
    front = _bare_pid(text)
    if front is None:
        return None
    pid, text = front
    result = _plain_result(text)
    if result is None:
        return None
    call = _call_head(result[0])
    if call is None:
        return None  # a timestamp or [pid N] in front, or no call at all
    return pid, call[0], call[1], result[1]


_UNFINISHED: Final = " <unfinished ...>"


def plain_unfinished(text: str) -> tuple[int | None, str, str] | None:
    """(pid, name, argument text) of ``name(args <unfinished ...>``: what UNFINISHED
    reads.  A line that ends so cannot be a complete call."""
    if not text.endswith(_UNFINISHED):
        return None
    front = _bare_pid(text)
    if front is None:
        return None
    pid, text = front
    call = _call_head(text[: -len(_UNFINISHED)])
    if call is None:
        return None
    return pid, call[0], call[1].rstrip()


def plain_resumed(text: str) -> tuple[int | None, str, str, int] | None:
    """(pid, name, the rest of the arguments, result) of ``<... name resumed> args) =
    number``: what RESUMED reads."""
    front = _bare_pid(text)
    if front is None:
        return None
    pid, text = front
    if not text.startswith("<... "):
        return None
    end = text.find(" resumed>")
    name = text[5:end]
    if end < 0 or not _is_name(name):
        return None
    result = _plain_result(text[end + 9 :])
    if result is None:
        return None
    return pid, name, result[0].lstrip(), result[1]


def _call_head(text: str) -> tuple[str, str] | None:
    """``name(rest``: (name, rest); None when no system call's name opens the text."""
    paren = text.find("(")
    name = text[:paren]
    if paren < 1 or not _is_name(name):
        return None
    return name, text[paren + 1 :]


def _bare_pid(text: str) -> tuple[int | None, str] | None:
    """The bare pid in front of a line, if any, and the rest; None when something else is
    in front (a timestamp)."""
    if not text[:1].isdigit():
        return None, text
    space = text.find(" ")
    if space < 0 or not _is_decimal(text[:space]):
        return None
    return int(text[:space]), text[space + 1 :].lstrip(" ")


def _plain_result(text: str) -> tuple[str, int] | None:
    """``...) = number`` at the end of a line: (what comes before the ")", number); None for
    any other end (an errno, a -y path, a -T time, a leading 0, which CALL reads as octal)."""
    eq = text.rfind(" = ")
    if eq < 0:
        return None
    ret = text[eq + 3 :]
    if ret.startswith("0x"):
        if not _is_hex(ret[2:]):
            return None
        value = int(ret, 16)
    else:
        digits = ret[1:] if ret.startswith("-") else ret
        if not _is_decimal(digits) or (digits[0] == "0" and len(digits) > 1):
            return None
        value = int(ret)
    head = text[:eq].rstrip(" ")
    if not head.endswith(")"):
        return None
    return head[:-1], value


# Character classes checked code point by code point: compiled, that is a native loop,
# where isascii(), islower() or a regular expression would call into the interpreter.
def _is_decimal(text: str) -> bool:
    """Non-empty, and ASCII digits only."""
    for i in range(len(text)):
        c = ord(text[i])
        if c < 48 or c > 57:  # 0-9
            return False
    return bool(text)


def _is_hex(text: str) -> bool:
    """Non-empty, and lower-case hexadecimal digits only."""
    for i in range(len(text)):
        c = ord(text[i])
        if (c < 48 or c > 57) and (c < 97 or c > 102):  # 0-9, a-f
            return False
    return bool(text)


def _is_name(text: str) -> bool:
    """A system call's name: [a-z_][a-z0-9_]*."""
    for i in range(len(text)):
        c = ord(text[i])
        if (c < 97 or c > 122) and c != 95 and (c < 48 or c > 57 or not i):  # a-z, _, 0-9
            return False
    return bool(text)


def _ret(ret: str) -> int | None:
    # "?" for a call that never returned; a leading 0 is octal (umask, -X raw modes).
    if ret == "?":
        return None
    return int(ret, 8 if ret[:1] == "0" and ret[1:2].isdigit() else 0)


def _event(number: int, pid: int | None, name: str, args: str, match: re.Match[str]) -> Event:
    ret = match["ret"]
    return Event(
        number,
        pid,
        name,
        None,
        _ret(ret),
        match["errno"],
        match["retpath"],
        args_text=args,
    )
