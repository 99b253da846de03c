"""Whether the model runs compiled, and the way back to its Python sources.

setup.py builds the model's hot modules with mypyc; each extension module sits beside its
source and Python prefers it.  A compiled module built from an older source would silently
run old code, so when any source is newer than its extension (an edit since the last build,
a checkout), or when VMSIM_PURE=1 asks for it, every module of the package is loaded from
its source instead (``make`` rebuilds).  Tests that patch plain model functions need the
sources: compiled code calls them directly, past any patch.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PACKAGE = __name__.rpartition(".")[0]
PACKAGE_DIR = Path(__file__).parent


def extension_modules(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The compiled modules under ``package_dir``."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return sorted(path for path in package_dir.rglob("*.so") if path.name.endswith(suffixes))


def source_of(extension: Path) -> Path:
    return extension.with_name(extension.name.split(".", 1)[0] + ".py")


def stale_modules(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Sources edited since their compiled module was built."""
    stale = []
    for extension in extension_modules(package_dir):
        source = source_of(extension)
        if source.exists() and source.stat().st_mtime > extension.stat().st_mtime:
            stale.append(source)
    return stale


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
            names = ", ".join(str(path.relative_to(PACKAGE_DIR)) for path in stale[:3])
            reason = f"{names}{', ...' if len(stale) > 3 else ''} changed since the build"
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
