"""Background reclaimers of the live kernel that make Rss drift on their own.

DAMON's ``pageout`` action (mm/damon/paddr.c, and the damon_reclaim module) hands
pages idle for a while to reclaim_pages(), which unmaps them from every page table
first: shared and file pages leave the process's Rss even when, as without swap,
they cannot be freed and stay in the page cache.  Nothing the process does decides
when, so a run long enough for its pages to turn cold sees Rss the model (which has
no such daemon) cannot predict.  ``vmsim verify`` names these reclaimers and, with
``--pause-damon``, switches them off for the run and back on after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

DAMON_ADMIN = Path("/sys/kernel/mm/damon/admin/kdamonds")
DAMON_RECLAIM = Path("/sys/module/damon_reclaim/parameters/enabled")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def damon_pageout_kdamonds(admin: Path = DAMON_ADMIN) -> list[Path]:
    """The running kdamonds that have a pageout scheme."""
    found = []
    for kdamond in sorted(admin.glob("[0-9]*")):
        if _read(kdamond / "state") != "on":
            continue
        actions = {_read(a) for a in kdamond.glob("contexts/*/schemes/*/action")}
        if "pageout" in actions:
            found.append(kdamond)
    return found


def active_reclaimers() -> list[str]:
    """What reclaims pages behind the helper's back, as sentences for the user."""
    found = [
        f"DAMON kdamond {kdamond.name} runs a pageout scheme"
        for kdamond in damon_pageout_kdamonds()
    ]
    if _read(DAMON_RECLAIM) == "Y":
        found.append("the damon_reclaim module is enabled")
    return found


@contextlib.contextmanager
def damon_paused(admin: Path = DAMON_ADMIN) -> Iterator[list[str]]:
    """Switch the pageout kdamonds off for the ``with`` block (needs root); yields what
    was switched off, and switches exactly those back on afterwards."""
    paused = []
    try:
        for kdamond in damon_pageout_kdamonds(admin):
            (kdamond / "state").write_text("off\n")
            paused.append(kdamond)
        yield [f"DAMON kdamond {k.name}" for k in paused]
    finally:
        for kdamond in paused:
            (kdamond / "state").write_text("on\n")
