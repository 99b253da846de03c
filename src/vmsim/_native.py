"""Whether the model runs compiled, and the way back to its Python sources.

setup.py builds the hot modules with mypyc; each extension module sits beside its source
and Python prefers it.  A compiled module built from another version of its source would
silently run other code, so setup.py records a digest of every source it compiled, and when
a source no longer matches (an edit since the last build, a checkout), when the record is
missing, or when VMSIM_PURE=1 asks for it, every module of the package is loaded from its
source instead (``make`` rebuilds).  Tests that patch plain model functions need the
sources: compiled code calls them directly, past any patch.

mypyc drops the docstrings of the classes and methods it compiles, and the signature of a
class whose ``__init__`` defaults it cannot write out.  For the classes of the documented
API, ``restore_docs`` gives them back from the sources; a source is parsed only when
something first asks (``help()``, ``inspect``), so importing costs nothing more.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import FunctionType, MethodDescriptorType, ModuleType
from typing import Any

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


def restore_docs(*classes: type) -> None:
    """Give compiled ``classes`` their docstrings back, their public methods' too, and
    their signatures where mypyc has none, all read from the sources when first asked."""
    for cls in classes:
        # A type reads a __doc__ or __signature__ of its own dict through __get__.
        cls.__doc__ = _FromSource(cls.__module__, cls.__qualname__, "doc")  # type: ignore[assignment]
        cls.__signature__ = _FromSource(  # type: ignore[attr-defined]
            cls.__module__, cls.__qualname__, "init"
        )
        for name, attr in list(vars(cls).items()):
            if not name.startswith("_") and isinstance(attr, MethodDescriptorType):
                setattr(cls, name, _Method(attr, cls))


class _FromSource:
    """A class's docstring ("doc") or signature ("init"), from its source on first read."""

    def __init__(self, module: str, qualname: str, what: str) -> None:
        self.module, self.qualname, self.what = module, qualname, what

    def __get__(self, obj: object, cls: type | None = None) -> Any:
        node = _definition(self.module, self.qualname)
        if self.what == "doc":
            return ast.get_docstring(node, clean=False) if node is not None else None
        init = _definition(self.module, self.qualname + ".__init__")
        if isinstance(init, ast.FunctionDef):
            signature = _signature(self.module, init)
            return signature.replace(parameters=list(signature.parameters.values())[1:])
        if node is None or cls is None or not isinstance(vars(cls).get("__init__"), FunctionType):
            return inspect.Signature()
        # A dataclass: the __init__ it was given (Python code), with the annotations the
        # source writes (compiled, a union's is only `type`).
        written = {
            field.target.id: ast.unparse(field.annotation)
            for field in node.body
            if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
        }
        signature = inspect.signature(vars(cls)["__init__"])
        return signature.replace(
            parameters=[
                parameter.replace(annotation=written.get(parameter.name, parameter.annotation))
                for parameter in list(signature.parameters.values())[1:]
            ]
        )


# A compiled method as Python code sees it: the same method, called the same way, with
# the docstring and signature of its source for help() and inspect (a compiled method's
# own __doc__ cannot be set).
class _Method:
    def __init__(self, method: Any, cls: type) -> None:
        self._method = method
        self.__name__ = method.__name__
        self.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        self.__module__ = cls.__module__
        self.__objclass__ = cls

    def __get__(self, obj: object, cls: type | None = None) -> Any:
        return self if obj is None else self._method.__get__(obj, cls)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._method(*args, **kwargs)

    @property  # type: ignore[misc]
    def __doc__(self) -> str | None:  # type: ignore[override]
        node = _definition(self.__module__, self.__qualname__)
        return ast.get_docstring(node, clean=False) if node is not None else None

    @property
    def __signature__(self) -> inspect.Signature:
        node = _definition(self.__module__, self.__qualname__)
        if isinstance(node, ast.FunctionDef):
            return _signature(self.__module__, node)
        return inspect.signature(self._method)


def _definition(module: str, qualname: str) -> ast.ClassDef | ast.FunctionDef | None:
    """The class or function ``qualname`` of ``module``'s source."""
    found: ast.AST | None = _source_tree(module)
    for name in qualname.split("."):
        found = next(
            (
                node
                for node in getattr(found, "body", [])
                if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == name
            ),
            None,
        )
    return found if isinstance(found, (ast.ClassDef, ast.FunctionDef)) else None


@functools.cache
def _source_tree(module: str) -> ast.Module:
    extension = Path(sys.modules[module].__file__ or "")
    return ast.parse(extension.with_name(extension.name.split(".", 1)[0] + ".py").read_bytes())


def _signature(module: str, function: ast.FunctionDef) -> inspect.Signature:
    """The signature the source gives ``function``: its definition with an empty body,
    run in the module's namespace (which its defaults name)."""
    args = function.args
    stub = ast.FunctionDef(
        name=function.name,
        args=ast.arguments(
            posonlyargs=[_unannotated(arg) for arg in args.posonlyargs],
            args=[_unannotated(arg) for arg in args.args],
            vararg=args.vararg and _unannotated(args.vararg),
            kwonlyargs=[_unannotated(arg) for arg in args.kwonlyargs],
            kw_defaults=args.kw_defaults,
            kwarg=args.kwarg and _unannotated(args.kwarg),
            defaults=args.defaults,
        ),
        body=[ast.Pass()],
        decorator_list=[],
        returns=None,
        type_comment=None,
    )
    code = compile(ast.fix_missing_locations(ast.Module([stub], [])), "<signature>", "exec")
    made: dict[str, Any] = {}
    exec(code, vars(sys.modules[module]), made)
    # The annotations as the source's `from __future__ import annotations` leaves them:
    # text, which names only type checkers import need not resolve.
    made[function.name].__annotations__ = {
        arg.arg: ast.unparse(arg.annotation)
        for arg in (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg)
        if arg is not None and arg.annotation is not None
    } | ({"return": ast.unparse(function.returns)} if function.returns else {})
    return inspect.signature(made[function.name])


def _unannotated(arg: ast.arg) -> ast.arg:
    return ast.arg(arg=arg.arg, annotation=None, type_comment=None)
