"""Deep copies of compiled objects, which copy themselves field by field.

The copy module cannot take a compiled class apart, so every model class has its own
``__deepcopy__``.  Whole address spaces are copied to try out orders of threads'
overlapping calls, so :func:`deepcopy_memo` spares the copy module's interpreted
dispatch wherever it can: for None, for what the memo already holds, for numbers and
strings (shared as a deep copy shares them), and for an object with its own
``__deepcopy__``.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any, TypeVar

X = TypeVar("X")


def deepcopy_memo(obj: X, memo: dict[int, Any]) -> X:
    """What ``copy.deepcopy(obj, memo)`` gives."""
    if obj is None or isinstance(obj, (int, str)):
        return obj
    found = memo.get(id(obj))
    if found is not None:
        return found  # type: ignore[no-any-return]
    copier = getattr(obj, "__deepcopy__", None)
    if copier is None:
        return deepcopy(obj, memo)
    new: X = copier(memo)
    memo[id(obj)] = new
    return new
