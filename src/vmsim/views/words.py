"""Counts in words, for everything the package prints: the views, the command line,
verify's and replay's reports."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and its noun, singular for exactly one: ``plural(1, "mapping")`` is
    "1 mapping", ``plural(2, "entry", "entries")`` "2 entries"."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"
