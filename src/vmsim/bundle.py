"""The bundle `vmsim record` writes and `vmsim replay` reads.

A bundle is text: a magic line, then sections each headed ``--- NAME [ARG]``,
the strace log last (its own lines may start with ``---``)::

    vmsim-bundle 1
    --- maps                        the first program's /proc/pid/maps right after execve
    --- elf PATH                    one JSON line: what exec reads of the file execve got as PATH
    --- exec-maps REALPATH          /proc/pid/maps right after an execve of REALPATH (in order)
    --- info                        one JSON line: the stack rlimit the program started with
    --- strace                      the log

Every section but ``strace`` is optional; readers skip sections they do not know,
so older bundles (maps and strace only) read as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .fs.binfmt_elf import ElfImage
from .fs.binfmt_script import ScriptImage

BUNDLE_MAGIC = "vmsim-bundle 1"
ExecImage = ElfImage | ScriptImage


@dataclass
class Bundle:
    log: str
    maps: str | None = None
    images: dict[str, ExecImage] = field(default_factory=dict)
    exec_maps: list[tuple[str, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

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


def parse_bundle(text: str) -> Bundle:
    """A bundle, or a plain strace log as a bundle with nothing else."""
    if not text.startswith(BUNDLE_MAGIC):
        return Bundle(log=text)
    head, sep, log = text.partition("\n--- strace\n")
    if not sep:
        head, log = text, ""
    bundle = Bundle(log=log)
    name, arg = "", ""
    body: list[str] = []

    def close() -> None:
        data = "\n".join(body)
        if name == "maps":
            bundle.maps = data + "\n"
        elif name == "elf":
            bundle.images[arg] = image_from_json(json.loads(data))
        elif name == "exec-maps":
            bundle.exec_maps.append((arg, data + "\n"))
        elif name == "info":
            bundle.info = json.loads(data)

    for line in head.splitlines()[1:]:
        if line.startswith("--- "):
            close()
            name, _, arg = line[4:].partition(" ")
            body = []
        else:
            body.append(line)
    close()
    return bundle
