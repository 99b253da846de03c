"""The maple tree (lib/maple_tree.c), as an allocation-range tree (MT_FLAGS_ALLOC_RANGE).

Every index in [0, ULONG_MAX] belongs to exactly one inclusive range, which holds an
entry or nothing (None).  Ranges live in the slots of B-tree nodes: slot ``i`` of a node
covers ``[pivots[i-1] + 1, pivots[i]]``, slot 0 starts at the node's minimum and the last
slot ends at the node's maximum.  Like the kernel, a node does not store its own bounds:
they come from the parent's pivots on the way down, which is why every walk carries
``(node, min, max, offset)`` frames (the kernel's ``ma_state``).

Leaves are ``maple_leaf_64`` (16 slots, 15 pivots).  Internal nodes are
``maple_arange_64`` (10 slots, 9 pivots) and keep, for every child, the largest empty
range anywhere in that child's subtree, so that a search for free space descends only
into subtrees that can hold it and stays O(log n).

Invariants kept by every store (and checked by :meth:`MapleTree.validate`):

* all leaves are at the same depth; a non-root node never drops below the kernel's
  ``mt_min_slots`` (6 for a leaf, 4 for an internal node); an internal root has >= 2
  children;
* adjacent empty ranges are always one range;
* a leaf other than the last one never ends with an empty range (as in the kernel,
  see ``mas_is_span_wr``), so an empty range never straddles two leaves and coalescing
  only ever looks inside one leaf.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import Any, Final, Generic, TypeVar, cast

from ..uapi import SMALL_INT_MAX
from .memo_copy import deepcopy_memo

T = TypeVar("T")

ULONG_MAX: Final = (1 << 64) - 1
MAPLE_RANGE64_SLOTS: Final = 16  # maple_leaf_64
MAPLE_ARANGE64_SLOTS: Final = 10  # maple_arange_64
# mt_min_slots[]: a non-root node with fewer slots than this takes in a neighbour.
MAPLE_RANGE64_MIN: Final = MAPLE_RANGE64_SLOTS // 2 - 2
MAPLE_ARANGE64_MIN: Final = MAPLE_ARANGE64_SLOTS // 2 - 1


class MapleError(Exception):
    """A maple tree call failed; ``errno`` is the positive errno the kernel returns negated."""

    def __init__(self, err: int) -> None:
        super().__init__(f"[Errno {err}] {os.strerror(err)}")
        self.errno = err


class MapleNode:  # struct maple_node
    """What every node has: ``slots`` and the ``pivots`` between them,
    ``len(pivots) == len(slots) - 1`` (the last slot ends at the node's max, which the
    parent keeps)."""

    __slots__ = ("pivots", "slots")

    def __init__(self, pivots: list[int], slots: list[Any]) -> None:
        self.pivots = pivots
        self.slots = slots


class MapleLeaf64(MapleNode):  # struct maple_range_64 used as a leaf (maple_leaf_64)
    """A leaf: ``slots`` are entries (None = empty range)."""

    __slots__ = ()


class MapleArange64(MapleNode):  # struct maple_arange_64
    """An internal node: ``slots`` are children, ``gaps[i]`` the largest empty range under
    child ``i``."""

    __slots__ = ("gaps",)

    def __init__(self, pivots: list[int], slots: list[Any], gaps: list[int]) -> None:
        super().__init__(pivots, slots)
        self.gaps = gaps


def _pivot_offset(pivots: list[int], index: int, lo: int = 0) -> int:
    """The slot holding ``index``: the first whose pivot is not below it (bisect_left).

    Written out so that the compiled walk compares machine integers instead of calling
    bisect_left through the interpreter at every level."""
    hi = len(pivots)
    while lo < hi:
        mid = (lo + hi) >> 1
        if pivots[mid] < index:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _max_gap(gaps: list[int]) -> int:
    # A loop rather than max(), which compiled code calls through the interpreter.
    gap = 0
    for g in gaps:
        if g > gap:
            gap = g
    return gap


def _gaps(node: MapleNode) -> list[int]:
    """An internal node's gaps (the caller knows the level it is at)."""
    return cast(MapleArange64, node).gaps


# (node, node min, node max, offset): one level of a walk, as ma_state keeps it.
Frame = tuple[MapleNode, int, int, int]


class _BigNode:  # struct maple_big_node
    """The contents of a run of adjacent nodes at one level while a store rebuilds them.

    Unlike a node it also keeps the last slot's pivot (so ``pivots[-1]`` is the run's
    maximum): the run may end up cut into several nodes, each needing its own maximum.
    """

    __slots__ = ("pivots", "slots", "gaps", "min")

    def __init__(
        self, min: int, pivots: list[int], slots: list[Any], gaps: list[int] | None = None
    ) -> None:
        self.min = min
        self.pivots = pivots
        self.slots = slots
        self.gaps: list[int] = [] if gaps is None else gaps

    def push(self, pivot: int, entry: Any) -> None:
        # Coalescing here, at the only place leaf contents are assembled, is what keeps
        # adjacent empty ranges merged without a separate pass.
        slots = self.slots
        if entry is None and slots and slots[-1] is None:
            self.pivots[-1] = pivot
        else:
            self.pivots.append(pivot)
            slots.append(entry)

    def push_child(self, pivot: int, child: MapleNode, gap: int) -> None:
        self.pivots.append(pivot)
        self.slots.append(child)
        self.gaps.append(gap)

    def copy_leaf(self, node: MapleNode, nmax: int, start: int) -> None:  # mas_mab_cp
        """Append a leaf's slots from ``start`` on.  Only the seam can need coalescing:
        inside a node empty ranges are already merged."""
        pivots, slots = node.pivots, node.slots
        if start < len(slots) and slots[start] is None and self.slots and self.slots[-1] is None:
            self.pivots[-1] = pivots[start] if start < len(pivots) else nmax
            start += 1
        if start < len(slots):
            self.pivots += pivots[start:]
            self.pivots.append(nmax)
            self.slots += slots[start:]

    def append_node(self, node: MapleNode, nmax: int) -> None:
        if isinstance(node, MapleLeaf64):
            self.copy_leaf(node, nmax, 0)
        else:
            self.pivots += node.pivots
            self.pivots.append(nmax)
            self.slots += node.slots
            self.gaps += _gaps(node)

    def prepend_node(self, node: MapleNode, nmin: int, nmax: int) -> None:
        own_pivots, own_slots, own_gaps = self.pivots, self.slots, self.gaps
        self.pivots, self.slots, self.gaps = [], [], []
        self.min = nmin
        self.append_node(node, nmax)
        if isinstance(node, MapleLeaf64):
            for pivot, entry in zip(own_pivots, own_slots, strict=True):
                self.push(pivot, entry)
        else:
            self.pivots += own_pivots
            self.slots += own_slots
            self.gaps += own_gaps

    def leaf_gap(self, a: int, b: int) -> int:
        """Largest empty range among slots [a, b) (mas_leaf_max_gap on a would-be node)."""
        pivots, slots = self.pivots, self.slots
        start = pivots[a - 1] + 1 if a else self.min
        gap = 0
        for i in range(a, b):
            end = pivots[i]
            if slots[i] is None and end - start + 1 > gap:
                gap = end - start + 1
            start = end + 1
        return gap

    def make_node(self, a: int, b: int, leaf: bool) -> tuple[MapleNode, int, int]:  # mab_mas_cp
        """Slots [a, b) as a new node: (node, its max, its largest gap)."""
        if leaf:
            leaf_node = MapleLeaf64(self.pivots[a : b - 1], self.slots[a:b])
            return leaf_node, self.pivots[b - 1], self.leaf_gap(a, b)
        gaps = self.gaps[a:b]
        return (
            MapleArange64(self.pivots[a : b - 1], self.slots[a:b], gaps),
            self.pivots[b - 1],
            _max_gap(gaps),
        )


def _mab_calc_split(big: _BigNode, leaf: bool) -> list[int]:
    """Where to cut the run into nodes: the end (exclusive) of each node's slots."""
    n = len(big.slots)
    cap = MAPLE_RANGE64_SLOTS if leaf else MAPLE_ARANGE64_SLOTS
    if n <= cap:
        return [n]
    # Leaves are filled to one below capacity so that moving a cut off an empty slot
    # (below) can never overfill the next leaf; the even spread keeps every piece well
    # above mt_min_slots (n > cap means each gets at least 7 leaf / 5 internal slots).
    pieces = -(-n // (cap - 1)) if leaf else -(-n // cap)
    cuts = []
    for j in range(1, pieces):
        cut = j * n // pieces
        if leaf and big.slots[cut - 1] is None:
            # mab_no_null_split: an empty range may not end a leaf, or it could not be
            # coalesced with an empty range starting the next one.  Empty ranges are
            # never adjacent, so one slot earlier is an entry.
            cut -= 1
        cuts.append(cut)
    cuts.append(n)
    return cuts


def _mas_leaf_max_gap(node: MapleNode, nmin: int, nmax: int) -> int:  # mas_leaf_max_gap
    pivots, slots = node.pivots, node.slots
    npiv = len(pivots)
    gap = 0
    # Only the empty ranges matter: pivots (boxed integers to unbox) are read for those
    # alone.  list.count and list.index would be quicker interpreted, but compiled code
    # calls them as Python methods.
    for i in range(len(slots)):
        if slots[i] is None:
            size = (pivots[i] if i < npiv else nmax) - (pivots[i - 1] + 1 if i else nmin) + 1
            if size > gap:
                gap = size
    return gap


def _splice(items: list[Any], at: int, count: int, new: list[Any]) -> None:
    """``items[at : at + count] = new``, an element at a time: compiled, element stores,
    inserts and pops are native list operations, a slice assignment is not."""
    n = len(new)
    for j in range(min(count, n)):
        items[at + j] = new[j]
    for j in range(count, n):
        items.insert(at + j, new[j])
    for _ in range(n, count):
        items.pop(at + n)


def _copy_node(node: MapleNode, levels: int, memo: dict[int, Any]) -> MapleNode:
    if not levels:
        slots = [deepcopy_memo(e, memo) for e in node.slots]
        return MapleLeaf64(node.pivots[:], slots)
    children = [_copy_node(child, levels - 1, memo) for child in node.slots]
    return MapleArange64(node.pivots[:], children, _gaps(node)[:])


def _above_ulong(index: int) -> bool:
    # Compiled, comparing with ULONG_MAX is a big-integer comparison: nearly every index
    # is settled by the first, cheap one.
    return index > SMALL_INT_MAX and index > ULONG_MAX


def _mas_check_area(min: int, max: int, size: int) -> None:
    # The same argument checks as mas_empty_area / mas_empty_area_rev.
    if min > max or size == 0 or max - min < size - 1 or min < 0 or _above_ulong(max):
        raise MapleError(errno.EINVAL)


class MapleTree(Generic[T]):
    """A maple tree of non-None entries over inclusive index ranges."""

    __slots__ = (
        "_root",
        "_height",
        "_count",
        "_seq",
        "_shape",
        "visited",
        "_leaf",
        "_leaf_shape",
        "_path",
        "_path_shape",
        "found_first",
        "found_last",
    )

    def __init__(self) -> None:
        # An empty tree is one leaf holding one empty range over everything; the kernel
        # uses a NULL root instead, which would only add special cases here.
        self._root: MapleNode = MapleLeaf64([], [None])
        self._height = 1
        self._count = 0
        # Bumped by every store so that an iterator notices and re-walks (mas_pause).
        self._seq = 0
        # Bumped by every store that replaces nodes (a split, a rebalance, a spanning
        # store) rather than rewriting one leaf in place: until then every node stays
        # where it is, with the same bounds, however its leaf's contents change.
        self._shape = 0
        # Nodes examined by gap searches, cumulative: a cheap probe for cost tests.
        self.visited = 0
        # Where the last lookup and the last store ended, good while the shape holds: the
        # lookups and stores of one call (the VMA below, the one at or above, the split,
        # the new range) mostly land in the same leaf, as a kernel ma_state stays where
        # its walk ended.
        self._leaf: tuple[MapleNode, int, int] = (self._root, 0, ULONG_MAX)
        self._leaf_shape = -1
        self._path: list[Frame] = []
        self._path_shape = -1
        # The range of the entry the last mt_find() or mt_prev() returned (as a kernel
        # ma_state keeps index and last): callers that want the entry alone build nothing.
        self.found_first = 0
        self.found_last = 0

    def __len__(self) -> int:
        return self._count

    def __deepcopy__(self, memo: dict[int, Any]) -> MapleTree[T]:
        # Node by node, sharing nothing but what ``memo`` already maps (entries seen
        # elsewhere stay one object): the generic copy would visit every pivot.
        new: MapleTree[T] = MapleTree()
        new._root = _copy_node(self._root, self._height - 1, memo)
        new._height, new._count, new._seq = self._height, self._count, self._seq
        memo[id(self)] = new
        return new

    @property
    def height(self) -> int:  # mt_height
        return self._height

    # -- walking ----------------------------------------------------------------------
    def _mas_wr_walk(self, index: int, level: int) -> list[Frame]:  # also mas_walk for reads
        """Frames from the root down to ``level`` (0 = root) towards ``index``."""
        path: list[Frame] = []
        node: MapleNode = self._root
        nmin, nmax = 0, ULONG_MAX
        for _level in range(level):
            pivots = node.pivots
            off = _pivot_offset(pivots, index)
            path.append((node, nmin, nmax, off))
            if off:
                nmin = pivots[off - 1] + 1
            if off < len(pivots):
                nmax = pivots[off]
            node = node.slots[off]
        path.append((node, nmin, nmax, _pivot_offset(node.pivots, index)))
        return path

    def _mas_next_node(self, path: list[Frame]) -> None:  # mas_next_node
        """Move a root-to-leaf path to the next leaf (the caller knows there is one).

        Ascending only as far as needed makes a scan of k entries cost O(log n + k)
        rather than a fresh walk per leaf.
        """
        level = len(path) - 2
        while True:
            node, nmin, nmax, off = path[level]
            if off + 1 < len(node.slots):
                break
            level -= 1
        off += 1
        path[level] = (node, nmin, nmax, off)
        pivots = node.pivots
        cmin = pivots[off - 1] + 1
        cmax = pivots[off] if off < len(pivots) else nmax
        child = node.slots[off]
        del path[level + 1 :]
        for _ in range(self._height - 2 - level):
            path.append((child, cmin, cmax, 0))
            if child.pivots:
                cmax = child.pivots[0]
            child = child.slots[0]
        path.append((child, cmin, cmax, 0))

    def _mas_prev_node(self, path: list[Frame]) -> None:  # mas_prev_node
        """Move a root-to-leaf path to the previous leaf, its last slot selected."""
        level = len(path) - 2
        while True:
            node, nmin, nmax, off = path[level]
            if off:
                break
            level -= 1
        off -= 1
        path[level] = (node, nmin, nmax, off)
        pivots = node.pivots
        cmin = pivots[off - 1] + 1 if off else nmin
        cmax = pivots[off]
        child = node.slots[off]
        del path[level + 1 :]
        for _ in range(self._height - 2 - level):
            last = len(child.slots) - 1
            path.append((child, cmin, cmax, last))
            if child.pivots:
                cmin = child.pivots[-1] + 1
            child = child.slots[last]
        path.append((child, cmin, cmax, len(child.slots) - 1))

    def load(self, index: int) -> T | None:  # mtree_load
        node: MapleNode = self._root
        for _level in range(self._height - 1):
            node = node.slots[_pivot_offset(node.pivots, index)]
        return node.slots[_pivot_offset(node.pivots, index)]

    def _range_at(self, index: int) -> tuple[int, int, T | None]:
        node, nmin, nmax, off = self._mas_wr_walk(index, self._height - 1)[-1]
        pivots = node.pivots
        start = pivots[off - 1] + 1 if off else nmin
        end = pivots[off] if off < len(pivots) else nmax
        return start, end, node.slots[off]

    def iter_range(self, start: int = 0, last: int = ULONG_MAX) -> Iterator[tuple[int, int, T]]:
        """Entries whose ranges meet [start, last], in index order (mas_for_each).

        The tree may be changed between steps: the iterator then re-walks from just past
        the entry it last returned, as the kernel's iterators do after mas_pause().
        """
        if start > last:
            return
        seq = self._seq
        path = self._mas_wr_walk(start, self._height - 1)
        while True:
            node, nmin, nmax, off = path[-1]
            pivots, slots = node.pivots, node.slots
            npiv = len(pivots)
            first = pivots[off - 1] + 1 if off else nmin
            resume = -1
            for i in range(off, len(slots)):
                if first > last:
                    return
                end = pivots[i] if i < npiv else nmax
                entry = slots[i]
                if entry is not None:
                    yield first, end, entry
                    if self._seq != seq:
                        resume = end + 1
                        break
                first = end + 1
            if resume >= 0:
                if resume > last:
                    return
                seq = self._seq
                path = self._mas_wr_walk(resume, self._height - 1)
                continue
            if nmax >= last:
                return
            self._mas_next_node(path)

    def _leaf_of(self, index: int) -> tuple[MapleNode, int, int]:  # mas_walk, down to the leaf
        """The leaf whose span holds ``index``, with that span's first and last index."""
        leaf = self._leaf
        if self._leaf_shape == self._shape and leaf[1] <= index <= leaf[2]:
            return leaf
        node: MapleNode = self._root
        nmin, nmax = 0, ULONG_MAX
        for _level in range(self._height - 1):
            pivots = node.pivots
            off = _pivot_offset(pivots, index)
            if off:
                nmin = pivots[off - 1] + 1
            if off < len(pivots):
                nmax = pivots[off]
            node = node.slots[off]
        self._leaf, self._leaf_shape = (node, nmin, nmax), self._shape
        return self._leaf

    def _mas_store_path(self, index: int) -> list[Frame]:  # mas_wr_walk, for a store
        """The path to the leaf holding ``index``: the last store's path when its leaf
        still holds it, with only the slot found again, else a fresh walk."""
        path = self._path
        if self._path_shape == self._shape:
            node, nmin, nmax, _ = path[-1]
            if nmin <= index <= nmax:
                path[-1] = (node, nmin, nmax, _pivot_offset(node.pivots, index))
                return path
        path = self._mas_wr_walk(index, self._height - 1)
        self._path, self._path_shape = path, self._shape
        node, nmin, nmax, _ = path[-1]
        self._leaf, self._leaf_shape = (node, nmin, nmax), self._shape
        return path

    def find(self, index: int, max: int | None = None) -> tuple[int, int, T] | None:
        """The first entry whose range meets [index, max]: (first, last, entry)."""
        entry = self.mt_find(index, max)
        return None if entry is None else (self.found_first, self.found_last, entry)

    def find_prev(self, index: int, min: int = 0) -> tuple[int, int, T] | None:
        """The last entry whose range meets [min, index]: (first, last, entry)."""
        entry = self.mt_prev(index, min)
        return None if entry is None else (self.found_first, self.found_last, entry)

    def _found(self, first: int, last: int, entry: T) -> T:
        self.found_first, self.found_last = first, last
        return entry

    def mt_find(self, index: int, max: int | None = None) -> T | None:  # mt_find
        """The first entry whose range meets [index, max], its range left in
        ``found_first`` and ``found_last``.  No ``max`` means ULONG_MAX, which compiled
        code could only compare as a big integer."""
        if max is not None and index > max:
            return None
        node, nmin, nmax = self._leaf_of(index)
        pivots, slots = node.pivots, node.slots
        off = _pivot_offset(pivots, index)
        npiv = len(pivots)
        entry = slots[off]
        if entry is not None:
            return self._found(
                pivots[off - 1] + 1 if off else nmin, pivots[off] if off < npiv else nmax, entry
            )
        # Empty ranges are never adjacent, so the range after an empty one holds an entry
        # unless the leaf ends there: the search almost always stops here.
        if off < npiv:
            first = pivots[off] + 1
            if max is not None and first > max:
                return None
            last = pivots[off + 1] if off + 1 < npiv else nmax
            return self._found(first, last, slots[off + 1])
        if max is not None and nmax >= max or nmax == ULONG_MAX:
            return None
        found = next(self.iter_range(nmax + 1, ULONG_MAX if max is None else max), None)
        return None if found is None else self._found(*found)

    def mt_prev(self, index: int, min: int = 0) -> T | None:  # mas_find_rev
        """The last entry whose range meets [min, index], its range left in
        ``found_first`` and ``found_last``."""
        if min > index:
            return None
        node, nmin, nmax = self._leaf_of(index)
        pivots, slots = node.pivots, node.slots
        off = _pivot_offset(pivots, index)
        npiv = len(pivots)
        # As in mt_find(): the range holding ``index`` or the one before it, unless the
        # leaf starts with an empty range; only then does the walk go on in the leaf before.
        for i in (off, off - 1):
            if i < 0:
                break
            end = pivots[i] if i < npiv else nmax
            if end < min:
                return None
            if slots[i] is not None:
                return self._found(pivots[i - 1] + 1 if i else nmin, end, slots[i])
        if nmin <= min:
            return None
        path = self._mas_wr_walk(nmin - 1, self._height - 1)
        while True:
            node, nmin, nmax, off = path[-1]
            pivots, slots = node.pivots, node.slots
            for i in range(off, -1, -1):
                end = pivots[i] if i < len(pivots) else nmax
                if end < min:
                    return None
                if slots[i] is not None:
                    return self._found(pivots[i - 1] + 1 if i else nmin, end, slots[i])
            if nmin <= min:
                return None
            self._mas_prev_node(path)

    # -- storing ----------------------------------------------------------------------
    def store_range(self, first: int, last: int, entry: T | None) -> None:  # mtree_store_range
        """Make [first, last] hold ``entry`` (None erases), cutting back what overlaps."""
        if first < 0 or first > last or _above_ulong(last):
            raise MapleError(errno.EINVAL)
        self._mas_wr_store_entry(first, last, entry)

    def erase(self, index: int) -> T | None:  # mtree_erase
        first, last, entry = self._range_at(index)
        if entry is not None:
            self._mas_wr_store_entry(first, last, None)
        return entry

    def _count_subtree(self, node: Any, level: int) -> int:
        if level == self._height - 1:
            return sum(1 for entry in node.slots if entry is not None)
        return sum(self._count_subtree(child, level + 1) for child in node.slots)

    def _count_spanned(self, lpath: list[Frame], rpath: list[Frame]) -> int:
        """Entries met by a store from lpath's slot to rpath's slot in another leaf.

        Counts whole subtrees the store drops: O(k) for k dropped entries, the same price
        the kernel pays to free those nodes (mas_topiary / mt_destroy_walk).
        """
        lnode, _, _, lslot = lpath[-1]
        rnode, _, _, rslot = rpath[-1]
        n = sum(1 for e in lnode.slots[lslot:] if e is not None)
        n += sum(1 for e in rnode.slots[: rslot + 1] if e is not None)
        for level in range(self._height - 2, -1, -1):
            ln, _, _, loff = lpath[level]
            rn, _, _, roff = rpath[level]
            if ln is rn:
                n += sum(self._count_subtree(c, level + 1) for c in ln.slots[loff + 1 : roff])
                break
            n += sum(self._count_subtree(c, level + 1) for c in ln.slots[loff + 1 :])
            n += sum(self._count_subtree(c, level + 1) for c in rn.slots[:roff])
        return n

    def _mas_wr_store_entry(self, first: int, last: int, entry: T | None) -> None:
        """Store [first, last] -> entry, rebuilding from the leaves up.

        One scheme covers the kernel's node store, split, rebalance and spanning store:
        at each level the run of nodes from the one holding ``first`` to the one holding
        ``last`` is rebuilt as a big node and cut into fresh nodes, which then replace
        that run's children one level up (mas_spanning_rebalance).  Everything between
        the two ends lies inside [first, last] and is simply dropped.  When the run is a
        single node that still fits, it is rewritten in place and only the gaps above
        it need updating, which is the common case and costs one walk.
        """
        self._seq += 1
        leaf_level = self._height - 1
        lpath = self._mas_store_path(first)
        lnode, lmin, lmax, lslot = lpath[-1]
        if last <= lmax and self._mas_wr_node_store(lpath, first, last, entry):
            return
        # Nodes are about to be replaced: no walk may end in the old ones any more.
        self._shape += 1
        if last <= lmax:
            rslot = _pivot_offset(lnode.pivots, last)
            rpath = list(lpath)
            rpath[-1] = (lnode, lmin, lmax, rslot)
            removed = sum(1 for e in lnode.slots[lslot : rslot + 1] if e is not None)
        else:
            rpath = self._mas_wr_walk(last, leaf_level)
            removed = self._count_spanned(lpath, rpath)
        rnode, _, rmax, rslot = rpath[-1]

        lpivots, lslots = lnode.pivots, lnode.slots
        # Slots wholly before ``first`` are copied as they are, the one holding ``first``
        # is cut short, then come the new range and what is left after ``last``.
        big = _BigNode(lmin, lpivots[:lslot], lslots[:lslot])
        kept = 0
        if (lpivots[lslot - 1] + 1 if lslot else lmin) < first:
            big.push(first - 1, lslots[lslot])
            kept += lslots[lslot] is not None
        big.push(last, entry)
        rpivots, rslots = rnode.pivots, rnode.slots
        end = rpivots[rslot] if rslot < len(rpivots) else rmax
        if end > last:
            big.push(end, rslots[rslot])
            kept += rslots[rslot] is not None
        big.copy_leaf(rnode, rmax, rslot + 1)
        self._count += kept - removed + (entry is not None)

        level = leaf_level
        while True:
            leaf = level == leaf_level
            node = lpath[level][0]
            in_place = node is rpath[level][0]
            if level and self._mas_pull_neighbours(big, level, leaf, lpath, rpath):
                in_place = False
            cuts = _mab_calc_split(big, leaf)
            if (
                in_place
                and len(cuts) > 1
                and level
                and self._mas_push_data(big, level, leaf, lpath, rpath)
            ):
                in_place = False
                cuts = _mab_calc_split(big, leaf)
            if in_place and len(cuts) == 1:
                # Same node, same bounds: rewrite it and let the gaps above catch up.
                if leaf:
                    gap = big.leaf_gap(0, len(big.slots))
                else:
                    cast(MapleArange64, node).gaps = big.gaps
                    gap = _max_gap(big.gaps)
                big.pivots.pop()  # a node keeps its max in the parent, not in itself
                node.pivots = big.pivots
                node.slots = big.slots
                if level:
                    self._mas_update_gap(lpath, level, gap)
                else:
                    self._mas_root_shrink()
                return
            new: list[tuple[MapleNode, int, int]] = []
            a = 0
            for b in cuts:
                new.append(big.make_node(a, b, leaf))
                a = b
            if not level:
                self._mas_new_root(new)
                return
            level -= 1
            pl, plmin, _, ploff = lpath[level]
            pr, _, prmax, proff = rpath[level]
            big = _BigNode(plmin, [], [], [])
            for i in range(ploff):
                big.push_child(pl.pivots[i], pl.slots[i], _gaps(pl)[i])
            for child, cmax, cgap in new:
                big.push_child(cmax, child, cgap)
            prpivots, prgaps = pr.pivots, _gaps(pr)
            for i in range(proff + 1, len(pr.slots)):
                big.push_child(prpivots[i] if i < len(prpivots) else prmax, pr.slots[i], prgaps[i])

    def _mas_wr_node_store(self, path: list[Frame], first: int, last: int, entry: T | None) -> bool:
        """The common store: [first, last] lies in one leaf, which still fits afterwards and
        needs no neighbour (mas_wr_node_store / mas_wr_slot_store / mas_wr_append).

        The leaf is rewritten in place, with exactly the contents the general rebuild
        below would give it; only when an empty range was involved can the gaps above
        change (as in the kernel, which then calls mas_update_gap).  Returns False, having
        changed nothing, when the store needs the general rebuild.
        """
        node, nmin, nmax, lslot = path[-1]
        pivots, slots = node.pivots, node.slots
        npiv = len(pivots)
        rslot = _pivot_offset(pivots, last, lslot)
        r_min = pivots[lslot - 1] + 1 if lslot else nmin
        r_max = pivots[rslot] if rslot < npiv else nmax
        exact = lslot == rslot and r_min == first and r_max == last
        if exact and entry is not None and slots[lslot] is not None:
            # mas_wr_slot_store: another entry for the very same range (a VMA replaced by
            # its modified copy); nothing else in the node changes.
            slots[lslot] = entry
            return True
        if entry is None:
            # mas_wr_extend_null: an erase takes in the empty ranges it touches, so that
            # empty ranges stay merged.
            if slots[lslot] is None:
                first = r_min
            elif r_min == first and lslot and slots[lslot - 1] is None:
                lslot -= 1
                r_min = first = pivots[lslot - 1] + 1 if lslot else nmin
            if slots[rslot] is None:
                last = r_max
            elif r_max == last and rslot < npiv and slots[rslot + 1] is None:
                rslot += 1
                r_max = last = pivots[rslot] if rslot < npiv else nmax
        new_pivots = []
        new_slots = []
        if r_min < first:
            new_pivots.append(first - 1)
            new_slots.append(slots[lslot])
        new_pivots.append(last)
        new_slots.append(entry)
        if r_max > last:
            new_pivots.append(r_max)
            new_slots.append(slots[rslot])
        n = npiv + 1 - (rslot - lslot + 1) + len(new_slots)
        leaf_level = len(path) - 1
        if n > MAPLE_RANGE64_SLOTS:
            return False  # mas_split / mas_push_data
        if leaf_level and (
            n < MAPLE_RANGE64_MIN or (rslot == npiv and new_slots[-1] is None and nmax != ULONG_MAX)
        ):
            return False  # mas_rebalance, or a leaf that may not end empty takes in the next
        replaced = rslot - lslot + 1
        old_empty = slots[lslot : rslot + 1].count(None)
        self._count += len(new_slots) - new_slots.count(None) - (replaced - old_empty)
        _splice(slots, lslot, replaced, new_slots)
        if rslot == npiv:
            new_pivots.pop()  # the last slot ends at the node's max, kept by the parent
            replaced -= 1
        _splice(pivots, lslot, replaced, new_pivots)
        if leaf_level and (old_empty or entry is None):
            self._mas_update_gap(path, leaf_level, _mas_leaf_max_gap(node, nmin, nmax))
        return True

    def _mas_pull_neighbours(
        self, big: _BigNode, level: int, leaf: bool, lpath: list[Frame], rpath: list[Frame]
    ) -> bool:
        """Widen the run by whole neighbouring nodes until its contents may form nodes.

        The kernel's rebalance and spanning store do the same (mast_spanning_rebalance,
        mas_rebalance): a run that is too small to stand alone takes in a neighbour at
        the same level, crossing parents if it has to, so that every node stays at least
        mt_min_slots full and the tree stays balanced.  A leaf run that would end with an
        empty range takes in the next leaf, whose first range is then merged with it.
        Returns whether anything was taken in.
        """
        minimum = MAPLE_RANGE64_MIN if leaf else MAPLE_ARANGE64_MIN
        pulled = False
        while True:
            rmax = big.pivots[-1]
            if (leaf and big.slots[-1] is None and rmax != ULONG_MAX) or (
                len(big.slots) < minimum and rmax != ULONG_MAX
            ):
                frames = self._mas_wr_walk(rmax + 1, level)
                node, _, nmax, _ = frames[-1]
                big.append_node(node, nmax)
                rpath[: level + 1] = frames
            elif len(big.slots) < minimum and big.min != 0:
                frames = self._mas_wr_walk(big.min - 1, level)
                node, nmin, nmax, _ = frames[-1]
                big.prepend_node(node, nmin, nmax)
                lpath[: level + 1] = frames
            else:
                return pulled
            pulled = True

    def _mas_push_data(
        self, big: _BigNode, level: int, leaf: bool, lpath: list[Frame], rpath: list[Frame]
    ) -> bool:  # mas_push_data
        """Share an overfull node's contents with a sibling that has room, instead of
        splitting it in two.  Two nodes then hold what would otherwise take three, and the
        parent gains no slot: without it, ascending inserts (mmap's usual pattern) would
        leave every leaf half empty.  Returns whether a sibling was taken in."""
        cap = MAPLE_RANGE64_SLOTS if leaf else MAPLE_ARANGE64_SLOTS
        room = 2 * cap - 2 - len(big.slots)
        parent, _, _, off = lpath[level - 1]
        siblings = parent.slots
        if off and len(siblings[off - 1].slots) <= room:
            frames = self._mas_wr_walk(big.min - 1, level)
            node, nmin, nmax, _ = frames[-1]
            big.prepend_node(node, nmin, nmax)
            lpath[: level + 1] = frames
        elif off + 1 < len(siblings) and len(siblings[off + 1].slots) <= room:
            frames = self._mas_wr_walk(big.pivots[-1] + 1, level)
            node, _, nmax, _ = frames[-1]
            big.append_node(node, nmax)
            rpath[: level + 1] = frames
        else:
            return False
        return True

    def _mas_update_gap(self, path: list[Frame], level: int, gap: int) -> None:  # mas_update_gap
        # Stop as soon as a parent's recorded gap is already right: nothing above can
        # change then (mas_parent_gap ascends the same way).
        for h in range(level - 1, -1, -1):
            node, _, _, off = path[h]
            gaps = _gaps(node)
            if gaps[off] == gap:
                return
            gaps[off] = gap
            gap = _max_gap(gaps)

    def _mas_new_root(self, new: list[tuple[MapleNode, int, int]]) -> None:
        """Install the nodes the old root's level was rebuilt into."""
        if len(new) == 1:
            self._root = new[0][0]
        else:  # the root split: the tree grows by a level (mas_split's new root)
            self._root = MapleArange64(
                [nmax for _, nmax, _ in new[:-1]],
                [node for node, _, _ in new],
                [gap for _, _, gap in new],
            )
            self._height += 1
        self._mas_root_shrink()

    def _mas_root_shrink(self) -> None:
        # An internal root with one child is a wasted level (the kernel drops it when
        # rebalancing reaches the root): keep the depth minimal.
        root: MapleNode = self._root
        while self._height > 1 and len(root.slots) == 1:
            root = root.slots[0]
            self._height -= 1
        self._root = root

    # -- gap search -------------------------------------------------------------------
    def empty_area(self, min: int, max: int, size: int) -> int:  # mas_empty_area
        """The lowest empty range whose part in [min, max] holds ``size`` indices: returns
        the first index of that part."""
        _mas_check_area(min, max, size)
        found = self._mas_awalk(min, max, size)
        if found is None:
            raise MapleError(errno.EBUSY)
        return found

    def empty_area_rev(self, min: int, max: int, size: int) -> int:  # mas_empty_area_rev
        """The highest empty range whose part in [min, max] holds ``size`` indices: returns
        the first index of the ``size`` indices at the top of that part."""
        _mas_check_area(min, max, size)
        found = self._mas_rev_awalk(min, max, size)
        if found is None:
            raise MapleError(errno.EBUSY)
        return found

    def _mas_awalk(self, min: int, max: int, size: int) -> int | None:  # mas_awalk
        # A recorded gap counts the whole empty range, but only its part inside
        # [min, max] is usable: a subtree at the window's edge may look big enough and
        # still fail.  Then ascend (mas_ascend) and carry on with the next sibling.  Only
        # the two edges of the window can fail like that, so the cost stays O(log n).
        leaf_level = self._height - 1
        stack: list[Frame] = []
        node: MapleNode = self._root
        nmin, nmax, level = 0, ULONG_MAX, 0
        off = _pivot_offset(node.pivots, min)
        visited = 0
        try:
            while True:
                visited += 1
                pivots, slots = node.pivots, node.slots
                npiv = len(pivots)
                # After an ascent, off may already be past the last slot.
                start = (pivots[off - 1] + 1 if off else nmin) if off <= npiv else 0
                while off < len(slots):
                    if start > max:
                        return None
                    end = pivots[off] if off < npiv else nmax
                    if level == leaf_level:
                        if slots[off] is None:
                            lo = start if start > min else min
                            hi = end if end < max else max
                            if hi - lo + 1 >= size:
                                return lo
                    elif _gaps(node)[off] >= size:
                        stack.append((node, nmin, nmax, off))
                        node, nmin, nmax = slots[off], start, end
                        level += 1
                        off = _pivot_offset(node.pivots, min)
                        break
                    start = end + 1
                    off += 1
                else:
                    if not stack:
                        return None
                    node, nmin, nmax, off = stack.pop()
                    level -= 1
                    off += 1
        finally:
            self.visited += visited

    def _mas_rev_awalk(self, min: int, max: int, size: int) -> int | None:  # mas_rev_awalk
        # The mirror image of _mas_awalk: right to left, stepping back to the previous
        # sibling when a subtree at the window's edge fails (mas_rewind_node).
        leaf_level = self._height - 1
        stack: list[Frame] = []
        node: MapleNode = self._root
        nmin, nmax, level = 0, ULONG_MAX, 0
        off = _pivot_offset(node.pivots, max)
        visited = 0
        try:
            while True:
                visited += 1
                pivots, slots = node.pivots, node.slots
                npiv = len(pivots)
                if level == leaf_level:
                    while off >= 0:
                        end = pivots[off] if off < npiv else nmax
                        if end < min:
                            return None
                        if slots[off] is None:
                            start = pivots[off - 1] + 1 if off else nmin
                            lo = start if start > min else min
                            hi = end if end < max else max
                            if hi - lo + 1 >= size:
                                return hi - size + 1
                        off -= 1
                else:
                    gaps = _gaps(node)
                    while off >= 0:
                        end = pivots[off] if off < npiv else nmax
                        if end < min:
                            return None
                        if gaps[off] >= size:
                            stack.append((node, nmin, nmax, off))
                            nmin = pivots[off - 1] + 1 if off else nmin
                            node, nmax = slots[off], end
                            level += 1
                            off = _pivot_offset(node.pivots, max)
                            break
                        off -= 1
                    if off >= 0:
                        continue  # descended
                if not stack:
                    return None
                node, nmin, nmax, off = stack.pop()
                level -= 1
                off -= 1
        finally:
            self.visited += visited

    def alloc_range(self, min: int, max: int, size: int, entry: T) -> int:  # mtree_alloc_range
        if entry is None:
            raise MapleError(errno.EINVAL)
        index = self.empty_area(min, max, size)
        self._mas_wr_store_entry(index, index + size - 1, entry)
        return index

    def alloc_rrange(self, min: int, max: int, size: int, entry: T) -> int:  # mtree_alloc_rrange
        if entry is None:
            raise MapleError(errno.EINVAL)
        index = self.empty_area_rev(min, max, size)
        self._mas_wr_store_entry(index, index + size - 1, entry)
        return index

    # -- checking ---------------------------------------------------------------------
    def validate(self) -> None:  # mt_validate
        """Check every invariant from scratch; AssertionError naming the first broken one."""
        # state: [entries counted, whether the range walked last was empty]; the second
        # carries across leaves so that empty ranges meeting at a leaf edge are caught.
        state = [0, 0]
        self._mt_validate_node(self._root, 0, ULONG_MAX, 0, state)
        if state[0] != self._count:
            raise AssertionError(f"tree holds {state[0]} entries but counts {self._count}")

    def _mt_validate_node(
        self, node: Any, nmin: int, nmax: int, level: int, state: list[int]
    ) -> int:
        """Check one subtree (mas_validate_limits, mas_validate_gaps, mt_validate_nulls);
        returns its largest gap."""
        where = f"node [{nmin:#x}, {nmax:#x}] at depth {level}"
        leaf = level == self._height - 1
        kind = MapleLeaf64 if leaf else MapleArange64
        if type(node) is not kind:
            raise AssertionError(
                f"{where} is a {type(node).__name__}, expected {kind.__name__} "
                f"(leaves must all sit at depth {self._height - 1})"
            )
        pivots, slots = node.pivots, node.slots
        n = len(slots)
        if len(pivots) != n - 1:
            raise AssertionError(f"{where}: {len(pivots)} pivots for {n} slots")
        cap = MAPLE_RANGE64_SLOTS if leaf else MAPLE_ARANGE64_SLOTS
        if n > cap:
            raise AssertionError(f"{where}: {n} slots, more than {cap}")
        if level:
            minimum = MAPLE_RANGE64_MIN if leaf else MAPLE_ARANGE64_MIN
            if n < minimum:
                raise AssertionError(f"{where}: {n} slots, fewer than mt_min_slots {minimum}")
        elif not leaf and n < 2:
            raise AssertionError(f"{where}: internal root with {n} child")
        prev = nmin - 1
        for i, pivot in enumerate(pivots):
            if pivot <= prev:
                raise AssertionError(f"{where}: pivot {i} = {pivot:#x} not above {prev:#x}")
            prev = pivot
        if pivots and pivots[-1] >= nmax:
            raise AssertionError(f"{where}: last pivot {pivots[-1]:#x} leaves no last range")
        if isinstance(node, MapleLeaf64):
            start = nmin
            for i, entry in enumerate(slots):
                if entry is None:
                    if state[1]:
                        raise AssertionError(f"{where}: empty range at {start:#x} follows another")
                    state[1] = 1
                else:
                    state[0] += 1
                    state[1] = 0
                start = (pivots[i] if i < len(pivots) else nmax) + 1
            if slots[-1] is None and nmax != ULONG_MAX:
                raise AssertionError(f"{where}: leaf ends with an empty range but is not last")
            return _mas_leaf_max_gap(node, nmin, nmax)
        gaps = node.gaps
        if len(gaps) != n:
            raise AssertionError(f"{where}: {len(gaps)} gaps for {n} slots")
        start = nmin
        for i, child in enumerate(slots):
            end = pivots[i] if i < len(pivots) else nmax
            gap = self._mt_validate_node(child, start, end, level + 1, state)
            if gaps[i] != gap:
                raise AssertionError(f"{where}: gap of slot {i} is {gaps[i]:#x}, really {gap:#x}")
            start = end + 1
        return max(gaps)
