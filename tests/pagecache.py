"""verify's test file, kept in the page cache as it was written, for a live test.

verify writes a new test file for every run and every replay, so its page cache starts
with no history, and the model takes the file's folios from the page cache
(``page_cache_folios``) right after the write.  Whatever evicts the file later in the run
-- caches dropped by another program, reclaim under memory pressure, a DAMON pageout
scheme -- has the kernel read it in again, in other folios (a fault reads single pages),
and the model's layout no longer holds.  A test that compares what a mapping of the file
makes resident pins every test file: mapped and locked in the test's own process from the
moment its folios are measured to the end of the test (a mapped page is never dropped, a
locked one never reclaimed).  Mapping the file elsewhere changes nothing the helper sees
of it: its faults map the same folios, and Rss counts them the same.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from vmsim.uapi import MAP_LOCKED
from vmsim.verify import randops
from vmsim.verify.live import page_cache_folios


@dataclass
class PinnedFiles:
    """The test files pinned so far, and the folios measured of each, in order."""

    layouts: list[dict[int, int] | None] = field(default_factory=list)
    _maps: list[mmap.mmap] = field(default_factory=list)

    def measure(self, path: str) -> dict[int, int] | None:
        """Pin the file, then read its folios (what verify calls right after the write)."""
        self.pin(path)
        self.layouts.append(page_cache_folios(path))
        return self.layouts[-1]

    def pin(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if not size:
                return
            shared = mmap.MAP_SHARED | mmap.MAP_POPULATE
            try:
                pin = mmap.mmap(fd, size, flags=shared | MAP_LOCKED, prot=mmap.PROT_READ)
            except OSError:  # no right to lock: mapped, it is at least never dropped
                pin = mmap.mmap(fd, size, flags=shared, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        self._maps.append(pin)

    def release(self) -> None:
        for pin in self._maps:
            pin.close()
        self._maps.clear()


@contextlib.contextmanager
def pinned_test_files() -> Iterator[PinnedFiles]:
    """Every test file verify writes inside the block stays in the page cache, in the
    folios it was written in, until the block ends."""
    pinned = PinnedFiles()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(randops, "page_cache_folios", pinned.measure)
            yield pinned
    finally:
        pinned.release()
