"""Call-flow tracing, in the spirit of ftrace's function_graph tracer.

Model functions that stand for kernel functions are marked with
:func:`traced`.  While a :class:`Trace` is active each call becomes a node in a
tree (name, key arguments, result), :func:`note` adds a comment line under the
current call, and :func:`count` bumps a named counter.

With no active trace the model runs its plain functions: :func:`traced` returns the
function itself, and only while a trace is active do the package's modules hold
recording versions instead (:func:`_install`).  Untraced runs, which are nearly all
of them, so pay nothing for tracing, not even a wrapper call.  Compiled (mypyc), a
module calls a decorated function through its namespace rather than directly, which
is what lets :func:`_install` rebind it there too.
"""

from __future__ import annotations

import functools
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from types import BuiltinFunctionType, FunctionType
from typing import Any, ParamSpec, TypeVar

from ..lib.errname import errname

P = ParamSpec("P")
R = TypeVar("R")

_active: Trace | None = None


class CallNode:
    __slots__ = ("name", "args", "result", "children")

    def __init__(self, name: str, args: str) -> None:
        self.name = name
        self.args = args
        self.result: str | None = None
        self.children: list[CallNode | str] = []

    def walk(self) -> Iterator[CallNode]:
        yield self
        for child in self.children:
            if isinstance(child, CallNode):
                yield from child.walk()


class Trace:
    """The calls recorded while it was active; ``str()`` renders the graph."""

    def __init__(self) -> None:
        self.calls: list[CallNode] = []
        self.counters: Counter[str] = Counter()
        self._stack: list[CallNode] = []

    def names(self) -> list[str]:
        """Every recorded function name, depth first (handy for tests)."""
        return [node.name for call in self.calls for node in call.walk()]

    def find(self, name: str) -> list[CallNode]:
        return [node for call in self.calls for node in call.walk() if node.name == name]

    def render(self, max_depth: int | None = None) -> str:
        lines: list[str] = []
        for call in self.calls:
            _render(call, 0, max_depth, lines)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def __enter__(self) -> Trace:
        global _active
        self._outer = _active
        if _active is None:
            _install(True)
        _active = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        _active = self._outer
        if _active is None:
            _install(False)


def _render(node: CallNode, depth: int, max_depth: int | None, out: list[str]) -> None:
    pad = "  " * depth
    head = f"{pad}{node.name}({node.args})"
    result = f" = {node.result}" if node.result is not None else ""
    folded = max_depth is not None and depth + 1 >= max_depth
    if not node.children or folded:
        more = " { ... }" if node.children and folded else ""
        out.append(f"{head}{more}{result};" if not more else f"{head}{more}{result}")
        return
    out.append(f"{head} {{")
    for child in node.children:
        if isinstance(child, CallNode):
            _render(child, depth + 1, max_depth, out)
        else:
            out.append(f"{pad}  /* {child} */")
    out.append(f"{pad}}}{result}")


def format_result(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return format_result(value[0]) if value else None
    if isinstance(value, int):
        return f"{value:#x}" if value > 4096 or value < -4096 else str(value)
    name = getattr(value, "trace_name", None)
    return name() if callable(name) else type(value).__name__


def traced(
    name: str | None = None, args: Callable[..., str] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Record calls of the decorated model function under the kernel's ``name``.

    ``args`` receives the call's arguments and returns the text shown between
    the parentheses; exceptions are recorded as ``-ERRNO`` results.  The function
    itself is returned unchanged; its recording version is swapped in only while a
    trace is active.
    """

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        label = name or fn.__name__

        @functools.wraps(fn)
        def recording(*a: P.args, **kw: P.kwargs) -> R:
            if _active is None:  # a reference taken while a trace was active
                return fn(*a, **kw)
            return record(label, args(*a, **kw) if args else "", lambda: fn(*a, **kw))

        _recording[fn] = recording
        _plain[recording] = fn
        _modules.add(fn.__module__)
        return fn

    return wrap


# plain function -> its recording version, and back.
_recording: dict[Callable[..., Any], Callable[..., Any]] = {}
_plain: dict[Callable[..., Any], Callable[..., Any]] = {}
# Every (module namespace, name) of the package that holds a traced function, with the
# plain and recording versions; found again whenever modules have been imported since.
_sites: list[tuple[dict[str, Any], str, Callable[..., Any], Callable[..., Any]]] = []
_sites_modules = -1
_PACKAGE = __name__.split(".")[0]
_modules: set[str] = set()  # where traced functions were defined, in case it is elsewhere


def _find_sites() -> None:
    global _sites_modules
    _sites.clear()
    for module_name, module in list(sys.modules.items()):
        if module is None or (
            module_name.split(".")[0] != _PACKAGE and module_name not in _modules
        ):
            continue
        namespace = vars(module)
        for attr, obj in list(namespace.items()):
            # Compiled model functions are builtins; compiled callers still look traced
            # functions up in the module, so rebinding them there works for both.
            if type(obj) not in (FunctionType, BuiltinFunctionType):
                continue
            if obj in _recording:
                _sites.append((namespace, attr, obj, _recording[obj]))
            elif obj in _plain:
                _sites.append((namespace, attr, _plain[obj], obj))
    _sites_modules = len(sys.modules)


def _install(recording: bool) -> None:
    """Make every module of the package call the recording (or again the plain) versions.

    Modules import model functions by name (``from .mmap import do_mmap``), so each
    namespace holding one is rebound; only names still bound to the other version are
    touched, which leaves a test's monkeypatch alone.
    """
    if _sites_modules != len(sys.modules):
        _find_sites()
    for namespace, attr, plain, rec in _sites:
        if recording:
            if namespace.get(attr) is plain:
                namespace[attr] = rec
        elif namespace.get(attr) is rec:
            namespace[attr] = plain


def tracing() -> bool:
    """Whether a trace is recording."""
    return _active is not None


def record(name: str, args: str, run: Callable[[], R]) -> R:
    """Run ``run`` as a call named ``name`` with ``args`` in the active trace (the
    system-call table's entries, which no decorator marks)."""
    trace = _active
    if trace is None:
        return run()
    node = CallNode(name, args)
    (trace._stack[-1].children if trace._stack else trace.calls).append(node)
    trace._stack.append(node)
    try:
        result = run()
    except OSError as err:
        node.result = f"-{errname(err.errno)}"
        raise
    finally:
        trace._stack.pop()
    node.result = format_result(result)
    return result


def note(text: str | Callable[[], str]) -> None:
    """Add a comment under the current call (``text`` may be a thunk, built only when tracing)."""
    trace = _active
    if trace is None or not trace._stack:
        return
    trace._stack[-1].children.append(text() if callable(text) else text)


def count(counter: str, n: int = 1) -> None:
    trace = _active
    if trace is not None:
        trace.counters[counter] += n


def hexargs(*values: Any) -> str:
    """Render integer arguments the way the trace prints them."""
    return ", ".join(format_result(v) or "0" for v in values)
