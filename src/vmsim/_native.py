"""Whether the model runs compiled, and the way back to its Python sources.

setup.py builds the hot modules with mypyc; each extension module sits beside its source
and Python prefers it.  A compiled module built from another version of its source would
silently run other code, so setup.py records a digest of every source it compiled, and when
a source no longer matches (an edit since the last build, a checkout), when the record is
missing, or when VMSIM_PURE=1 asks for it, every module of the package is loaded from its
source instead (``make`` rebuilds).  Tests that patch plain model functions need the
sources: compiled code calls them directly, past any patch.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PACKAGE = __name__.rpartition(".")[0]
PACKAGE_DIR = Path(__file__).parent
MANIFEST = "_compiled.json"  # written by setup.py: source path -> sha256 it was built from


def extension_modules(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The compiled modules under ``package_dir``."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return sorted(path for path in package_dir.rglob("*.so") if path.name.endswith(suffixes))


def stale_modules(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """Sources that differ from the ones their compiled modules were built from (all of
    them when the build left no record)."""
    try:
        built = json.loads((package_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return [_source_of(path, package_dir) for path in extension_modules(package_dir)]
    # A compiled module the last build did not make (its source left the list) is stale too.
    leftovers = [
        name
        for path in extension_modules(package_dir)
        if (name := _source_of(path, package_dir)) not in built
    ]
    return leftovers + [
        name
        for name, digest in built.items()
        if not (package_dir / name).exists()
        or hashlib.sha256((package_dir / name).read_bytes()).hexdigest() != digest
    ]


def _source_of(extension: Path, package_dir: Path) -> str:
    """The source path (relative to the package) an extension module was built from."""
    return str(
        extension.relative_to(package_dir).with_name(extension.name.split(".", 1)[0] + ".py")
    )


class SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the package's modules as Python sources, never as extension modules."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(PACKAGE + ".") or not path:
            return None
        name = fullname.rpartition(".")[2]
        for directory in path:
            source = Path(directory) / f"{name}.py"
            if source.exists():
                return importlib.util.spec_from_file_location(fullname, source)
        return None  # a subpackage: the usual finders handle its __init__.py


def choose() -> bool:
    """Run from the sources if asked to or if a compiled module is stale; True if the
    compiled modules are in use."""
    if not extension_modules():
        return False
    reason = ""
    if os.environ.get("VMSIM_PURE") == "1":
        reason = "asked"
    else:
        stale = stale_modules()
        if stale:
            names = ", ".join(stale[:3]) + (", ..." if len(stale) > 3 else "")
            reason = f"{names} changed since the build"
    if not reason:
        return True
    if not any(isinstance(finder, SourceFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, SourceFinder())
    if reason != "asked":
        warnings.warn(
            f"{PACKAGE}: running the Python sources, not the compiled modules ({reason}); "
            "`make` rebuilds them",
            stacklevel=2,
        )
    return False


COMPILED = choose()
