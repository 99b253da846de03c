"""A maple tree: a B-tree of inclusive ranges with gap tracking (lib/maple_tree.c).

The tree maps every index in [0, ULONG_MAX] to an entry or to nothing (None):
its leaves hold contiguous ranges, each ending at a pivot, and adjacent empty
ranges are kept coalesced.  Internal nodes (the kernel's maple_arange_64) keep,
for each child, its last index and the largest empty range ("gap") anywhere
below it, so a search for free space skips whole subtrees that cannot hold it.
"""

from __future__ import annotations

import errno
from bisect import bisect_left
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
ULONG_MAX = (1 << 64) - 1
LEAF_SLOTS = 16  # maple_leaf_64
ARANGE_SLOTS = 10  # maple_arange_64
LEAF_MIN = LEAF_SLOTS // 2 - 2
ARANGE_MIN = ARANGE_SLOTS // 2 - 1


class MapleError(Exception):
    def __init__(self, err: int) -> None:
        super().__init__(errno.errorcode.get(err, str(err)))
        self.errno = err


class Node:
    """A leaf (slots are entries) or an arange node (slots are children, with gaps)."""

    __slots__ = ("pivots", "slots", "gaps", "leaf")

    def __init__(self, leaf: bool) -> None:
        self.pivots: list[int] = []
        self.slots: list = []
        self.gaps: list[int] | None = None if leaf else []
        self.leaf = leaf

    def max_gap(self, lo: int) -> int:
        """The largest empty range under this node, whose first index is ``lo``."""
        if not self.leaf:
            assert self.gaps is not None
            return max(self.gaps, default=0)
        best = 0
        start = lo
        for pivot, entry in zip(self.pivots, self.slots, strict=True):
            if entry is None and pivot - start + 1 > best:
                best = pivot - start + 1
            start = pivot + 1
        return best


class MapleTree(Generic[T]):
    """The VMA tree's interface: ranges in, entries and gaps out, all in O(log n)."""

    def __init__(self) -> None:
        self.root = Node(leaf=True)
        self.root.pivots.append(ULONG_MAX)
        self.root.slots.append(None)
        self.count = 0
        self.visited = 0  # nodes looked at by gap searches (for cost tests)

    def __len__(self) -> int:
        return self.count

    # -- walking ----------------------------------------------------------------------
    def _path(self, index: int) -> list[tuple[Node, int, int]]:
        """Root-to-leaf path to the range holding ``index``: (node, slot, node min)."""
        path = []
        node, lo = self.root, 0
        while True:
            i = _slot_of(node.pivots, index)
            path.append((node, i, lo))
            if node.leaf:
                return path
            if i:
                lo = node.pivots[i - 1] + 1
            node = node.slots[i]

    def _range_at(self, index: int) -> tuple[int, int, T | None]:
        node, i, lo = self._path(index)[-1]
        start = node.pivots[i - 1] + 1 if i else lo
        return start, node.pivots[i], node.slots[i]

    def load(self, index: int) -> T | None:  # mtree_load
        return self._range_at(index)[2]

    def iter_all(
        self, start: int = 0, last: int = ULONG_MAX
    ) -> Iterator[tuple[int, int, T | None]]:
        """Every range (empty ones too) meeting [start, last], in order."""
        yield from self._iter(self.root, 0, start, last)

    def _iter(
        self, node: Node, lo: int, start: int, last: int
    ) -> Iterator[tuple[int, int, T | None]]:
        i = _slot_of(node.pivots, start)
        child_lo = node.pivots[i - 1] + 1 if i else lo
        while i < len(node.pivots) and child_lo <= last:
            pivot = node.pivots[i]
            if node.leaf:
                yield child_lo, pivot, node.slots[i]
            else:
                yield from self._iter(node.slots[i], child_lo, start, last)
            child_lo = pivot + 1
            i += 1

    def iter_range(self, start: int = 0, last: int = ULONG_MAX) -> Iterator[tuple[int, int, T]]:
        for first, end, entry in self.iter_all(start, last):
            if entry is not None:
                yield first, end, entry

    def find(self, index: int, max: int = ULONG_MAX) -> tuple[int, int, T] | None:  # mt_find
        return next(self.iter_range(index, max), None)

    def find_prev(self, index: int, min: int = 0) -> tuple[int, int, T] | None:
        """The last entry whose range meets [min, index]."""
        for first, last, entry in self._iter_rev(self.root, 0, ULONG_MAX, index):
            if last < min:
                return None
            if entry is not None:
                return first, last, entry
        return None

    def _iter_rev(
        self, node: Node, lo: int, hi: int, index: int
    ) -> Iterator[tuple[int, int, T | None]]:
        i = min(_slot_of(node.pivots, index), len(node.pivots) - 1)
        while i >= 0:
            child_lo = node.pivots[i - 1] + 1 if i else lo
            if node.leaf:
                yield child_lo, node.pivots[i], node.slots[i]
            else:
                yield from self._iter_rev(node.slots[i], child_lo, node.pivots[i], index)
            i -= 1

    # -- storing ----------------------------------------------------------------------
    def store_range(self, first: int, last: int, entry: T | None) -> None:  # mtree_store_range
        if first > last or last > ULONG_MAX or first < 0:
            raise MapleError(errno.EINVAL)
        # The ranges to rewrite: everything meeting [first, last], plus empty neighbours
        # so that empty space stays coalesced.
        lo = first - 1 if first else first
        hi = last + 1 if last < ULONG_MAX else last
        old = list(self.iter_all(lo, hi))
        new: list[tuple[int, int, T | None]] = []
        head, tail = old[0], old[-1]
        if head[0] < first:
            new.append((head[0], first - 1, head[2]))
        new.append((first, last, entry))
        if tail[1] > last:
            new.append((last + 1, tail[1], tail[2]))
        merged: list[tuple[int, int, T | None]] = []
        for item in new:
            if merged and merged[-1][2] is None and item[2] is None:
                merged[-1] = (merged[-1][0], item[1], None)
            else:
                merged.append(item)
        self.count += sum(1 for *_, v in merged if v is not None)
        self.count -= sum(1 for *_, v in old if v is not None)
        # Old and new cover the same span: delete every old pivot, insert the new ones.
        old_pivots = {end for _, end, _ in old}
        new_pivots = {end: value for _, end, value in merged}
        for pivot in old_pivots - new_pivots.keys():
            self._delete(pivot)
        for pivot, value in new_pivots.items():
            self._insert(pivot, value)
        # Ranges of [lo, hi] may have moved between leaves of different parents: make
        # every node over the span agree with its leaves again.
        # A node may also have shrunk to end just before the span.
        span_lo, span_hi = old[0][0], old[-1][1]
        self._refresh_span(self.root, 0, span_lo - 1 if span_lo else 0, span_hi)

    def _refresh_span(self, node: Node, nlo: int, lo: int, hi: int) -> int:
        """Recompute pivots and gaps of the nodes meeting [lo, hi]; returns node's max gap."""
        if node.leaf:
            return node.max_gap(nlo)
        assert node.gaps is not None
        start = nlo
        for i, child in enumerate(node.slots):
            pivot = child.pivots[-1]
            if pivot >= lo and start <= hi:
                node.gaps[i] = self._refresh_span(child, start, lo, hi)
            node.pivots[i] = pivot
            start = pivot + 1
        return max(node.gaps)

    def erase(self, index: int) -> T | None:  # mtree_erase
        first, last, entry = self._range_at(index)
        if entry is not None:
            self.store_range(first, last, None)
        return entry

    def _insert(self, pivot: int, entry: T | None) -> None:
        """Set the range ending at ``pivot``, adding the pivot if it is new."""
        path = self._path(pivot)
        node, i, _ = path[-1]
        if node.pivots[i] == pivot:
            node.slots[i] = entry  # same boundaries: nothing to rebalance
            return
        node.pivots.insert(i, pivot)
        node.slots.insert(i, entry)
        self._fixup(path)

    def _delete(self, pivot: int) -> None:
        path = self._path(pivot)
        node, i, _ = path[-1]
        assert node.pivots[i] == pivot
        del node.pivots[i]
        del node.slots[i]
        self._fixup(path)

    def _fixup(self, path: list[tuple[Node, int, int]]) -> None:
        """Split overfull and merge underfull nodes bottom-up and keep each parent's pivot
        equal to its child's last index, so later walks descend correctly.  Gaps of the
        nodes over the stored span are recomputed once, by the caller."""
        for depth in range(len(path) - 1, 0, -1):
            node = path[depth][0]
            parent, pi, plo = path[depth - 1]
            cap = LEAF_SLOTS if node.leaf else ARANGE_SLOTS
            low = LEAF_MIN if node.leaf else ARANGE_MIN
            if len(node.pivots) > cap:
                self._split(parent, pi, plo)
            elif len(node.pivots) < low and len(parent.slots) > 1:
                pi = self._rebalance(parent, pi, plo)
            elif node.pivots:
                parent.pivots[pi] = node.pivots[-1]
        self._fix_root(path[0][0])

    def _split(self, parent: Node, i: int, plo: int) -> None:
        """Move the upper half of child ``i`` into a new right sibling."""
        node = parent.slots[i]
        half = len(node.pivots) // 2
        right = Node(node.leaf)
        right.pivots, node.pivots = node.pivots[half:], node.pivots[:half]
        right.slots, node.slots = node.slots[half:], node.slots[:half]
        if not node.leaf:
            right.gaps, node.gaps = node.gaps[half:], node.gaps[:half]
        lo = parent.pivots[i - 1] + 1 if i else plo
        assert parent.gaps is not None
        parent.pivots[i] = right.pivots[-1]
        parent.pivots.insert(i, node.pivots[-1])
        parent.slots.insert(i + 1, right)
        parent.gaps[i] = node.max_gap(lo)
        parent.gaps.insert(i + 1, right.max_gap(node.pivots[-1] + 1))

    def _rebalance(self, parent: Node, i: int, plo: int) -> int:
        """Merge an underfull child with a sibling (splitting again if too big); returns
        the slot of the result."""
        if i == len(parent.slots) - 1:
            i -= 1
        left, right = parent.slots[i], parent.slots[i + 1]
        left.pivots += right.pivots
        left.slots += right.slots
        if not left.leaf:
            left.gaps += right.gaps
        assert parent.gaps is not None
        del parent.slots[i + 1]
        del parent.pivots[i]
        del parent.gaps[i + 1]
        parent.pivots[i] = left.pivots[-1]
        if len(left.pivots) > (LEAF_SLOTS if left.leaf else ARANGE_SLOTS):
            self._split(parent, i, plo)
        return i

    def _fix_root(self, root: Node) -> None:
        cap = LEAF_SLOTS if root.leaf else ARANGE_SLOTS
        if len(root.pivots) > cap:
            new_root = Node(leaf=False)
            new_root.pivots = [root.pivots[-1]]
            new_root.slots = [root]
            new_root.gaps = [0]
            self._split(new_root, 0, 0)
            self.root = new_root
        elif not root.leaf and len(root.slots) == 1:
            self.root = root.slots[0]

    # -- gap search ---------------------------------------------------------------------
    def empty_area(self, min: int, max: int, size: int) -> int:  # mas_empty_area
        """The lowest empty range whose part in [min, max] holds ``size``: its first index."""
        _check_area(min, max, size)
        found = self._awalk(self.root, 0, min, max, size)
        if found is None:
            raise MapleError(errno.EBUSY)
        return found

    def empty_area_rev(self, min: int, max: int, size: int) -> int:  # mas_empty_area_rev
        """The highest empty range whose part in [min, max] holds ``size``: the first index
        of the ``size`` indices at its top."""
        _check_area(min, max, size)
        found = self._rev_awalk(self.root, 0, min, max, size)
        if found is None:
            raise MapleError(errno.EBUSY)
        return found

    def _awalk(self, node: Node, lo: int, min: int, max: int, size: int) -> int | None:
        self.visited += 1
        start = lo
        for i, pivot in enumerate(node.pivots):
            if start > max:
                break
            if pivot >= min:
                if node.leaf:
                    if node.slots[i] is None:
                        first = start if start > min else min
                        end = pivot if pivot < max else max
                        if end - first + 1 >= size:
                            return first
                else:
                    assert node.gaps is not None
                    # A subtree whose largest gap is too small is never entered.
                    if node.gaps[i] >= size:
                        found = self._awalk(node.slots[i], start, min, max, size)
                        if found is not None:
                            return found
            start = pivot + 1
        return None

    def _rev_awalk(self, node: Node, lo: int, min: int, max: int, size: int) -> int | None:
        self.visited += 1
        for i in range(len(node.pivots) - 1, -1, -1):
            pivot = node.pivots[i]
            start = node.pivots[i - 1] + 1 if i else lo
            if start > max:
                continue
            if pivot < min:
                break
            if node.leaf:
                if node.slots[i] is None:
                    first = start if start > min else min
                    end = pivot if pivot < max else max
                    if end - first + 1 >= size:
                        return end - size + 1
            else:
                assert node.gaps is not None
                if node.gaps[i] >= size:
                    found = self._rev_awalk(node.slots[i], start, min, max, size)
                    if found is not None:
                        return found
        return None

    def alloc_range(self, min: int, max: int, size: int, entry: T) -> int:  # mtree_alloc_range
        index = self.empty_area(min, max, size)
        self.store_range(index, index + size - 1, entry)
        return index

    def alloc_rrange(self, min: int, max: int, size: int, entry: T) -> int:  # mtree_alloc_rrange
        index = self.empty_area_rev(min, max, size)
        self.store_range(index, index + size - 1, entry)
        return index

    # -- checking -----------------------------------------------------------------------
    def validate(self) -> None:  # mt_validate
        """Recompute everything from the leaves and compare; AssertionError on a mismatch."""
        leaves: list[int] = []
        count = self._validate(self.root, 0, ULONG_MAX, 0, leaves)
        assert len(set(leaves)) == 1, f"leaves at different depths {sorted(set(leaves))}"
        assert count == self.count, f"{count} entries, count says {self.count}"
        prev_empty = False
        for _, _, entry in self.iter_all():
            assert not (prev_empty and entry is None), "adjacent empty ranges not coalesced"
            prev_empty = entry is None

    def _validate(self, node: Node, lo: int, hi: int, depth: int, leaves: list[int]) -> int:
        assert node.pivots, "empty node"
        assert len(node.pivots) == len(node.slots), "pivots and slots differ in number"
        cap = LEAF_SLOTS if node.leaf else ARANGE_SLOTS
        assert len(node.pivots) <= cap, "overfull node"
        assert node.pivots[-1] == hi, f"node ends at {node.pivots[-1]:#x}, parent says {hi:#x}"
        start = lo
        for pivot in node.pivots:
            assert pivot >= start, f"pivot {pivot:#x} below its range start {start:#x}"
            start = pivot + 1
        if node.leaf:
            leaves.append(depth)
            return sum(1 for entry in node.slots if entry is not None)
        assert node.gaps is not None and len(node.gaps) == len(node.slots)
        count = 0
        start = lo
        for i, pivot in enumerate(node.pivots):
            child = node.slots[i]
            count += self._validate(child, start, pivot, depth + 1, leaves)
            assert node.gaps[i] == child.max_gap(start), (
                f"gap {node.gaps[i]:#x} of child {i} should be {child.max_gap(start):#x}"
            )
            start = pivot + 1
        return count


def _slot_of(pivots: list[int], index: int) -> int:
    """The first slot whose pivot is at or above ``index``."""
    return bisect_left(pivots, index)


def _check_area(min: int, max: int, size: int) -> None:
    if min > max or size == 0 or max - min < size - 1:
        raise MapleError(errno.EINVAL)
