"""What each errno means for each system call of the model, in words: the reasons the
system-call table gives (each names a check the model makes, in the order the kernel
makes them); the report shows the ones a log's calls ran into."""

from __future__ import annotations

from ..kernel import syscalls


def explain(call: str, name: str) -> list[str]:
    """Why ``call`` can fail with errno ``name`` in the model (empty if it never does)."""
    row = syscalls.SYSCALLS.get(call)
    return row.explain(name) if row is not None else []


def notes() -> dict[str, str]:
    """What is true of a call's failures in general (brk() has no errno)."""
    return {row.name: row.note for row in syscalls.modelled() if row.note}


def table() -> list[dict[str, object]]:
    """Every (call, errno) the model returns, with its reasons, for the report."""
    return [
        {"call": row.name, "errno": name, "text": syscalls.strerror(name), "reasons": reasons}
        for row in syscalls.modelled()
        for name, reasons in row.errors.items()
    ]
