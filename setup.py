"""Build the hot modules with mypyc (pyproject.toml holds everything else).

Replaying a long log or verifying 100,000 calls runs the model and the strace replay
millions of times; compiled, they run three to five times as fast.  VMSIM_COMPILE=0
installs the Python sources alone, and a compiled module built from another version of its
source is never used (the digests written below; see vmsim/_native.py).  The Makefile reads
COMPILED to know when to rebuild.

The rule: what is compiled is the model's core (lib/, mm/, arch/, kernel/, fs/file.py,
uapi.py) and the replay pipeline that feeds it calls (strace/parse.py, replay/).  Only
these modules take shapes for mypyc's sake (written-out __init__s rather than dataclasses,
Final tables, code-point loops, calls spelled out by arity), each saying so where it does;
everything above them (Process, the views, verify, the command line) is plain Python that
calls in.  What mypyc drops from compiled classes (docstrings, some signatures) comes back
from the sources for the package's documented classes (vmsim/_native.py: restore_docs).
"""

from __future__ import annotations

import hashlib
import json
import os

from setuptools import setup

PACKAGE_DIR = os.path.join("src", "vmsim")
# What each compiled module was built from, for vmsim/_native.py to compare with.
MANIFEST = os.path.join(PACKAGE_DIR, "_compiled.json")

COMPILED = [
    "lib/errname.py",
    "lib/maple_tree.py",
    "lib/memo_copy.py",
    "arch/x86/mmap.py",
    "arch/x86/pgtable.py",
    "mm/debug.py",
    "mm/filemap.py",
    "mm/gup.py",
    "mm/huge_memory.py",
    "mm/madvise.py",
    "mm/memory.py",
    "mm/mm_types.py",
    "mm/mmap.py",
    "mm/mprotect.py",
    "mm/mremap.py",
    "mm/mseal.py",
    "mm/page.py",
    "mm/vm_flags.py",
    "mm/vma.py",
    "mm/vma_exec.py",
    "fs/file.py",
    "kernel/fork.py",
    "kernel/sys.py",
    "kernel/syscalls.py",
    "kernel/sysargs.py",
    "kernel/task.py",
    "kernel/trace.py",
    "strace/parse.py",
    "replay/follow.py",
    "replay/order.py",
    "replay/replayer.py",
    "replay/tasks.py",
    "uapi.py",
]


def ext_modules() -> list:
    if os.environ.get("VMSIM_COMPILE", "1") == "0":
        if os.path.exists(MANIFEST):
            os.remove(MANIFEST)
        return []
    from mypyc.build import mypycify

    sources = [os.path.join(PACKAGE_DIR, path) for path in COMPILED]
    with open(MANIFEST, "w") as out:
        json.dump({path: _digest(source) for path, source in zip(COMPILED, sources)}, out)
    return mypycify(sources, opt_level="3")


def _digest(path: str) -> str:
    with open(path, "rb") as source:
        return hashlib.sha256(source.read()).hexdigest()


setup(ext_modules=ext_modules())
