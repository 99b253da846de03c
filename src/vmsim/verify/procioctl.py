"""Asking the kernel about a few VMAs of another process without reading all of /proc.

A check after every call only needs the VMAs around the range the call touched, but
``/proc/pid/maps`` and ``smaps`` print every VMA: with thousands of them, reading and
parsing those files costs far more than the call.  Two ioctls (include/uapi/linux/fs.h)
answer for one range:

- ``PROCMAP_QUERY`` on ``/proc/pid/maps`` (Linux 6.11) returns the VMA covering an address,
  or the next one, with everything a maps line shows;
- ``PAGEMAP_SCAN`` on ``/proc/pid/pagemap`` (Linux 6.7) returns the runs of pages in a range
  that match page categories; present pages that are not the (huge) zero page are the
  ones smaps counts in Rss.

Both are plain ``ioctl`` calls on files opened once per helper.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os

from ..fs.proc.task_mmu import maps_line

PAGE_SHIFT = 12

# _IOWR(type, nr, size) of include/uapi/asm-generic/ioctl.h.
_IOC_READ_WRITE = 3


def _iowr(kind: str, nr: int, size: int) -> int:
    return (_IOC_READ_WRITE << 30) | (size << 16) | (ord(kind) << 8) | nr


class _ProcmapQuery(ctypes.Structure):
    """struct procmap_query."""

    _fields_ = [
        ("size", ctypes.c_uint64),
        ("query_flags", ctypes.c_uint64),
        ("query_addr", ctypes.c_uint64),
        ("vma_start", ctypes.c_uint64),
        ("vma_end", ctypes.c_uint64),
        ("vma_flags", ctypes.c_uint64),
        ("vma_page_size", ctypes.c_uint64),
        ("vma_offset", ctypes.c_uint64),
        ("inode", ctypes.c_uint64),
        ("dev_major", ctypes.c_uint32),
        ("dev_minor", ctypes.c_uint32),
        ("vma_name_size", ctypes.c_uint32),
        ("build_id_size", ctypes.c_uint32),
        ("vma_name_addr", ctypes.c_uint64),
        ("build_id_addr", ctypes.c_uint64),
    ]


class _PmScanArg(ctypes.Structure):
    """struct pm_scan_arg."""

    _fields_ = [
        ("size", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("start", ctypes.c_uint64),
        ("end", ctypes.c_uint64),
        ("walk_end", ctypes.c_uint64),
        ("vec", ctypes.c_uint64),
        ("vec_len", ctypes.c_uint64),
        ("max_pages", ctypes.c_uint64),
        ("category_inverted", ctypes.c_uint64),
        ("category_mask", ctypes.c_uint64),
        ("category_anyof_mask", ctypes.c_uint64),
        ("return_mask", ctypes.c_uint64),
    ]


class _PageRegion(ctypes.Structure):
    """struct page_region."""

    _fields_ = [
        ("start", ctypes.c_uint64),
        ("end", ctypes.c_uint64),
        ("categories", ctypes.c_uint64),
    ]


PROCMAP_QUERY = _iowr("f", 17, ctypes.sizeof(_ProcmapQuery))
PAGEMAP_SCAN = _iowr("f", 16, ctypes.sizeof(_PmScanArg))

PROCMAP_QUERY_VMA_READABLE = 0x01
PROCMAP_QUERY_VMA_WRITABLE = 0x02
PROCMAP_QUERY_VMA_EXECUTABLE = 0x04
PROCMAP_QUERY_VMA_SHARED = 0x08
PROCMAP_QUERY_COVERING_OR_NEXT_VMA = 0x10

PAGE_IS_PRESENT = 1 << 3
PAGE_IS_PFNZERO = 1 << 5

_NAME_MAX = 4096
_REGIONS = 512


class ProcQuery:
    """The two ioctls on one process's maps and pagemap files."""

    def __init__(self, pid: int) -> None:
        self._maps = os.open(f"/proc/{pid}/maps", os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._pagemap = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            os.close(self._maps)
            raise
        self._query = _ProcmapQuery()
        self._name = ctypes.create_string_buffer(_NAME_MAX)
        self._scan = _PmScanArg()
        self._regions = (_PageRegion * _REGIONS)()

    def close(self) -> None:
        for fd in (self._maps, self._pagemap):
            os.close(fd)

    def vmas_between(self, lo: int, hi: int) -> list[tuple[int, int, str]]:
        """(start, end, maps line) of every VMA meeting [lo, hi), in address order."""
        out = []
        q, addr = self._query, lo
        while addr < hi:
            q.size = ctypes.sizeof(q)
            q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA
            q.query_addr = addr
            q.vma_name_size = _NAME_MAX
            q.vma_name_addr = ctypes.addressof(self._name)
            q.build_id_size = 0
            try:
                fcntl.ioctl(self._maps, PROCMAP_QUERY, q)
            except OSError as err:
                if err.errno == errno.ENOENT:  # no VMA at or above addr
                    break
                raise
            if q.vma_start >= hi:
                break
            out.append((q.vma_start, q.vma_end, self._line(q)))
            addr = q.vma_end
        return out

    def _line(self, q: _ProcmapQuery) -> str:
        flags = q.vma_flags
        perms = (
            ("r" if flags & PROCMAP_QUERY_VMA_READABLE else "-")
            + ("w" if flags & PROCMAP_QUERY_VMA_WRITABLE else "-")
            + ("x" if flags & PROCMAP_QUERY_VMA_EXECUTABLE else "-")
            + ("s" if flags & PROCMAP_QUERY_VMA_SHARED else "p")
        )
        # vma_name_size counts the terminating NUL; 0 means the VMA has no name.
        raw = self._name.raw[: q.vma_name_size - 1] if q.vma_name_size else None
        name = None if raw is None else raw.decode("utf-8", "surrogateescape")
        return maps_line(
            q.vma_start,
            q.vma_end,
            perms,
            q.vma_offset,
            q.dev_major,
            q.dev_minor,
            q.inode,
            name,
        )

    def resident_bytes(self, start: int, end: int) -> int:
        """Bytes of [start, end) mapped to a page smaps counts in Rss: present, and not
        the zero page or the huge zero page."""
        total = 0
        a, regions = self._scan, self._regions
        while start < end:
            a.size = ctypes.sizeof(a)
            a.flags = 0
            a.start, a.end = start, end
            a.vec, a.vec_len = ctypes.addressof(regions), _REGIONS
            a.max_pages = 0
            a.category_inverted = PAGE_IS_PFNZERO
            a.category_mask = PAGE_IS_PRESENT | PAGE_IS_PFNZERO
            a.category_anyof_mask = 0
            a.return_mask = PAGE_IS_PRESENT
            found = fcntl.ioctl(self._pagemap, PAGEMAP_SCAN, a)
            total += sum(regions[i].end - regions[i].start for i in range(found))
            if a.walk_end <= start:
                break
            start = a.walk_end
        return total


__all__ = ["ProcQuery"]
