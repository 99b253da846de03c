"""The bundle `vmsim record` writes and `vmsim replay` reads.

A bundle is text: a magic line, then sections each headed ``--- NAME [ARG]``,
the strace log last (its own lines may start with ``---``)::

    vmsim-bundle 1
    --- maps                        the first program's /proc/pid/maps right after execve
    --- elf PATH                    one JSON line: what exec reads of the file execve got as PATH
    --- exec-maps REALPATH          /proc/pid/maps right after an execve of REALPATH (in order)
    --- info                        one JSON line: the stack rlimit the program started with
    --- strace                      the log, to the program's end

Every section but ``strace`` is optional, so older bundles (maps and strace only) read
as before.  A bundle is read whole and checked before anything replays: an unknown
version or section, a section out of place, a field of the wrong kind, or a log that
stops before the program's end (a truncated file) is a :class:`~vmsim.errors.BadInput`
naming the bundle's line and the section and field.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import BadInput, JsonFields
from .fs.binfmt_elf import ElfImage
from .fs.binfmt_script import ScriptImage
from .fs.proc.parse import parse_maps
from .strace.parse import EXIT

BUNDLE_WORD = "vmsim-bundle"
BUNDLE_VERSION = 1
BUNDLE_MAGIC = f"{BUNDLE_WORD} {BUNDLE_VERSION}"
ExecImage = ElfImage | ScriptImage
# Each section: whether it takes a path, and how often it may come: once, once per path
# (the headers of each file), or any number of times (each execve, in order).
SECTIONS = {
    "maps": (False, "once"),
    "elf": (True, "per path"),
    "exec-maps": (True, "any"),
    "info": (False, "once"),
    "strace": (False, "once"),
}
ULONG_LIMIT = 1 << 64
# An ElfImage's JSON: each field and whether a bundle must have it.
ELF_FIELDS = {
    "path": True,
    "e_type": True,
    "phdrs": True,
    "interp": False,
    "realpath": False,
    "dev": False,
    "ino": False,
    "size": False,
    "e_phoff": False,
    "e_entry": False,
}
PHDR_FIELDS = ("p_type", "p_flags", "p_offset", "p_vaddr", "p_filesz", "p_memsz", "p_align")
INFO_FIELDS = ("rlimit_stack",)


@dataclass
class Bundle:
    log: str
    maps: str | None = None
    images: dict[str, ExecImage] = field(default_factory=dict)
    exec_maps: list[tuple[str, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    # What messages call the file, and its line where the log starts.
    source: str = field(default="log", compare=False)
    log_line: int = field(default=1, compare=False)

    def log_error(self, problem: str) -> BadInput:
        """A complaint about the log as a whole, placed at its section in a bundle."""
        if self.log_line > 1:
            return BadInput(self.source, problem, self.log_line - 1, "section strace")
        return BadInput(self.source, problem)

    def text(self) -> str:
        parts = [BUNDLE_MAGIC]
        if self.maps is not None:
            parts += ["--- maps", self.maps.rstrip()]
        for path, image in self.images.items():
            parts += [f"--- elf {path}", json.dumps(image.as_json(), separators=(",", ":"))]
        for realpath, maps in self.exec_maps:
            parts += [f"--- exec-maps {realpath}", maps.rstrip()]
        if self.info:
            parts += ["--- info", json.dumps(self.info, sort_keys=True)]
        parts.append("--- strace")
        return "\n".join(parts) + "\n" + self.log


def image_from_json(data: dict[str, Any]) -> ExecImage:
    if "script" in data:
        return ScriptImage.from_json(data)
    return ElfImage.from_json(data)


def parse_bundle(text: str, source: str = "bundle") -> Bundle:
    """A bundle, or a plain strace log as a bundle with nothing else; ``source`` is what
    messages call it."""
    first, _, _ = text.partition("\n")
    if not first.startswith(BUNDLE_WORD):
        return Bundle(log=text, source=source)
    if first.rstrip() != BUNDLE_MAGIC:
        raise BadInput(
            source,
            f"{first[:40]!r}: this vmsim reads bundles of version {BUNDLE_VERSION} "
            f"({BUNDLE_MAGIC!r}); record it again with this vmsim",
            1,
        )
    return _Reader(text, source).read()


class _Reader:
    """Reads a bundle's sections in order, checking each."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.bundle = Bundle(log="", source=source)
        self.seen: set[tuple[str, str]] = set()

    def read(self) -> Bundle:
        text = self.text
        pos = text.index("\n") + 1 if "\n" in text else len(text)
        number = 2
        name, arg, start = "", "", 0
        body: list[str] = []
        while pos < len(text):
            end = text.find("\n", pos)
            line = text[pos:] if end < 0 else text[pos:end]
            if line.startswith("--- ") or not name:
                if name:
                    self.close(name, arg, start, body)
                name, arg = self.header(line, number)
                start, body = number + 1, []
                if name == "strace":
                    self.bundle.log = "" if end < 0 else text[end + 1 :]
                    self.bundle.log_line = start
                    self.check_log(start)
                    return self.bundle
            else:
                body.append(line)
            pos = len(text) if end < 0 else end + 1
            number += 1
        if name:
            self.close(name, arg, start, body)
        raise BadInput(
            self.source,
            "the bundle ends with no strace section: it is truncated",
            max(number - 1, 1),
        )

    def header(self, line: str, number: int) -> tuple[str, str]:
        """A section's name and argument, from its ``--- NAME [ARG]`` line."""
        if not line.startswith("--- "):
            raise BadInput(
                self.source, f"{line[:60]!r} where a section header '--- NAME' was expected", number
            )
        name, _, arg = line[4:].partition(" ")
        if name not in SECTIONS:
            close = difflib.get_close_matches(name, list(SECTIONS), n=1)
            hint = (
                f"; did you mean {close[0]!r}?" if close else f" (sections: {', '.join(SECTIONS)})"
            )
            raise BadInput(self.source, f"no section {name[:40]!r}{hint}", number)
        takes_arg, how_often = SECTIONS[name]
        if takes_arg and not arg:
            raise BadInput(
                self.source, "no path after the section's name", number, f"section {name}"
            )
        if not takes_arg and arg:
            raise BadInput(
                self.source,
                f"the section takes nothing after its name, not {arg[:40]!r}",
                number,
                f"section {name}",
            )
        key = (name, arg if how_often == "per path" else "")
        if key in self.seen and how_often != "any":
            raise BadInput(
                self.source,
                "a second section " + ("for this path" if arg else "of this name"),
                number,
                f"section {name} {arg}".rstrip(),
            )
        self.seen.add(key)
        return name, arg

    def close(self, name: str, arg: str, start: int, body: list[str]) -> None:
        """Read a section's body (``start`` is its first line)."""
        section = f"section {name} {arg}".rstrip()
        if name in ("maps", "exec-maps"):
            data = "\n".join(body) + "\n"
            try:
                parse_maps(data)
            except BadInput as err:
                if err.line is None:  # nothing in the section: its header is the line
                    raise BadInput(self.source, err.problem, start - 1, section) from None
                raise err.within(self.source, start, section) from None
            if name == "maps":
                self.bundle.maps = data
            else:
                self.bundle.exec_maps.append((arg, data))
            return
        lines = [line for line in body if line.strip()]
        if len(lines) != 1:
            raise BadInput(
                self.source,
                f"{len(lines)} lines where one line of JSON was expected",
                start,
                section,
            )
        line = start + next(n for n, text in enumerate(body) if text.strip())
        try:
            data = json.loads(lines[0])
        except json.JSONDecodeError as err:
            raise BadInput(
                self.source, f"not JSON: {err.msg}", line, section, f"column {err.colno}"
            ) from None
        except (ValueError, RecursionError) as err:  # a number too long, nesting too deep
            problem = f"JSON this reader cannot take: {err}"
            raise BadInput(self.source, problem, line, section) from None
        where = JsonFields(self.source, line, section)
        if name == "elf":
            self.bundle.images[arg] = _image(data, arg, where)
        else:
            where.keys(data, "", INFO_FIELDS)
            if "rlimit_stack" in data:
                where.number(data["rlimit_stack"], "rlimit_stack")
            self.bundle.info = data

    def check_log(self, start: int) -> None:
        """The log goes on to the program's end: strace's last line is its exit.  (A
        file cut short by a full disk or a copy stops anywhere, often mid-line.)"""
        log = self.bundle.log
        last_line = start + log.count("\n")  # the line after the last newline
        if log and not log.endswith("\n"):
            raise BadInput(
                self.source,
                "the line stops short of its end: the bundle is truncated",
                last_line,
                "section strace",
            )
        if EXIT.match(log.rstrip("\n").rpartition("\n")[2]) is None:
            raise BadInput(
                self.source,
                "the log stops before the program's end (strace's last line is "
                "'+++ exited with N +++' or '+++ killed by SIG... +++'): the bundle is truncated",
                last_line - 1,
                "section strace",
            )


def _image(data: Any, arg: str, where: JsonFields) -> ExecImage:
    """An ElfImage or ScriptImage from an elf section's JSON, every field checked."""
    if isinstance(data, dict) and "script" in data:
        where.keys(data, "", ("path", "script"), ("path", "script"))
        interpreter, script_arg = where.array(data["script"], "script", 2)
        where.string(interpreter, "script[0]")
        where.string(script_arg, "script[1]", nullable=True)
    else:
        where.keys(data, "", ELF_FIELDS, [k for k, needed in ELF_FIELDS.items() if needed])
        where.string(data["e_type"], "e_type")
        for n, phdr in enumerate(where.array(data["phdrs"], "phdrs")):
            values = where.array(phdr, f"phdrs[{n}]", len(PHDR_FIELDS))
            where.string(values[0], f"phdrs[{n}][0] (p_type)")
            for i in range(1, len(PHDR_FIELDS)):
                limit = 1 << 32 if i == 1 else ULONG_LIMIT  # p_flags is an Elf64_Word
                where.number(values[i], f"phdrs[{n}][{i}] ({PHDR_FIELDS[i]})", 0, limit)
        for key in ("interp", "realpath"):
            if key in data:
                where.string(data[key], key, nullable=key == "interp")
        if "dev" in data:
            major, minor = where.array(data["dev"], "dev", 2)
            where.number(major, "dev[0]", 0, 1 << 12)
            where.number(minor, "dev[1]", 0, 1 << 20)
        for key in ("ino", "size", "e_phoff", "e_entry"):
            if key in data:
                where.number(data[key], key)
    where.string(data["path"], "path")
    if data["path"] != arg:
        raise where.fail("path", f"{data['path'][:60]!r}, but the section is for {arg[:60]!r}")
    return image_from_json(data)
