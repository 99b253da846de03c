"""Programs that start with ``#!`` (fs/binfmt_script.c).

The kernel runs the named interpreter instead, with the script's path (and the
optional single argument from the ``#!`` line) in front of the arguments; the
new strings go onto the stack below the ones already there.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import syscall_error

if TYPE_CHECKING:
    from .exec import LinuxBinprm

BINPRM_BUF_SIZE = 256


@dataclass
class ScriptImage:
    """A script: where it is and what its ``#!`` line names."""

    path: str
    interpreter: str
    arg: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "script": [self.interpreter, self.arg]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScriptImage:
        interpreter, arg = data["script"]
        return cls(data["path"], interpreter, arg)


def parse_shebang(path: str, head: bytes) -> ScriptImage | None:
    """The interpreter and its argument from the first BINPRM_BUF_SIZE bytes, if any."""
    if not head.startswith(b"#!"):
        return None
    line = head[2:BINPRM_BUF_SIZE].split(b"\n", 1)[0].strip(b" \t")
    if not line:
        return None
    name, _, arg = line.replace(b"\t", b" ").partition(b" ")
    arg = arg.strip(b" \t")
    return ScriptImage(path, name.decode("latin-1"), arg.decode("latin-1") or None)


def load_script(bprm: LinuxBinprm) -> None:
    """Swap argv[0] for the interpreter, its argument and the script's path."""
    from .exec import copy_string_kernel, remove_arg_zero

    image = bprm.image
    assert isinstance(image, ScriptImage)
    if not image.interpreter:
        raise syscall_error(errno.ENOEXEC)
    remove_arg_zero(bprm)
    copy_string_kernel(bprm.interp.encode("latin-1"), bprm)
    bprm.argc += 1
    if image.arg is not None:
        copy_string_kernel(image.arg.encode("latin-1"), bprm)
        bprm.argc += 1
    copy_string_kernel(image.interpreter.encode("latin-1"), bprm)
    bprm.argc += 1
    bprm.interp = image.interpreter
