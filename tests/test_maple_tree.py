"""The maple tree: the kernel's own vectors, a stateful test against a plain list, node
splitting and merging at scale, memory use and the cost of gap searches."""

from __future__ import annotations

import errno
import math
import random
import tracemalloc
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from vmsim.lib.maple_tree import (
    MAPLE_ARANGE64_MIN,
    MAPLE_RANGE64_MIN,
    ULONG_MAX,
    MapleArange64,
    MapleError,
    MapleTree,
)

# ---------------------------------------------------------------------------------------
# lib/test_maple_tree.c: check_alloc_range / check_alloc_rev_range, in page indices.
# Each (start, end) is a mapping of a real process, end exclusive; the tree holds
# [start, end - 1] and, as in the kernel test, [MTREE_ALLOC_MAX, ULONG_MAX] is occupied.

MTREE_ALLOC_MAX = 0x2000000000000
RANGES = [
    (0x565234AF2, 0x565234AF4),
    (0x565234AF4, 0x565234AF9),
    (0x565234AF9, 0x565234AFB),
    (0x565234AFC, 0x565234AFD),
    (0x565234AFD, 0x565234AFE),
    (0x565235DEF, 0x565235E10),
    (0x7F36D4BFD, 0x7F36D4EE2),
    (0x7F36D4EE2, 0x7F36D4F04),
    (0x7F36D4F04, 0x7F36D504C),
    (0x7F36D504C, 0x7F36D5098),
    (0x7F36D5098, 0x7F36D5099),
    (0x7F36D5099, 0x7F36D509D),
    (0x7F36D509D, 0x7F36D509F),
    (0x7F36D509F, 0x7F36D50A5),
    (0x7F36D50B9, 0x7F36D50DB),
    (0x7F36D50DB, 0x7F36D50DC),
    (0x7F36D50DC, 0x7F36D50FA),
    (0x7F36D50FA, 0x7F36D5102),
    (0x7F36D5102, 0x7F36D5103),
    (0x7F36D5103, 0x7F36D5104),
    (0x7F36D5104, 0x7F36D5105),
    (0x7FFF5876B, 0x7FFF5878D),
    (0x7FFF5878E, 0x7FFF58791),
    (0x7FFF58791, 0x7FFF58793),
]

# (min, max, size) -> (index, last) for mas_empty_area_rev and index for mas_empty_area.
REV_HOLES = [
    ((0, 0x565234AFC, 1), (0x565234AFB, 0x565234AFB)),
    ((0x565234AFC, 0x565235DEF, 0x12F1), (0x565234AFE, 0x565235DEE)),
    ((0x565235DEF, 0x7F36D4BFD, 0x28E49EDED), (0x565235E10, 0x7F36D4BFC)),
]
FWD_HOLES = [
    ((0x565234AF2, 0x565234AFC, 1), 0x565234AFB),
    ((0x565234AFC, 0x565235DEF, 0x12F1), 0x565234AFE),
    ((0x565235DEF, 0x7F36D4BFD, 0x28E49EDED), 0x565235E10),
]

# (min, max, size, expected index or -errno), applied in order to one tree.
FORWARD = [
    (0x565234AF9, 0x7FFF58791, 1, 0x565234AFB),
    (0, 0x7FFF58791, 1, 0),
    (0x7F36D4BFC, 0x7FFF587AF, 3, 0x7F36D50A5),  # "test ascend"
    (0x7F36D509F, 0x7F36D50DB, 0x15, -errno.EBUSY),  # "test failing"
    (0x7F36D509F, 0x7FFF587AF, 0x10, 0x7F36D50A8),  # "test filling entire gap"
    (0, 0xFFFFFFFFFFFFF, 0xFFFFFFFFFFFFF, -errno.EBUSY),  # "walking off the end of root"
    (0, 0xFFFFFFFFFFFFF, 0xFFFFFFF8000AF, -errno.EBUSY),  # "too large a hole"
    (0x7F36D50B8, 0x7F36D50B8, 1, 0x7F36D50B8),
]
REVERSE = [
    (0x565234AF9, 0x7FFF58791, 1, 0x7FFF5878D),
    (0, 0x565234AF0, 3, 0x565234AEE),
    (0, 0xFFFFFFFFFFFFF, 1, 0x1FFFFFFFFFFFF),
    (0, 0x7F36D5109, 4, 0x7F36D5106),
    (0, 0x7F36D50A4, 0x13, 0x7F36D4BEA),  # "ascend test"
    (0, 0xFFFFFFFFFFFFF, 0x1FFF8000A786E, -errno.EBUSY),  # "too big test"
    (0x7F36D5105, 0x7F36D5105, 1, 0x7F36D5105),
]


def kernel_tree() -> MapleTree[object]:
    tree: MapleTree[object] = MapleTree()
    tree.store_range(MTREE_ALLOC_MAX, ULONG_MAX, "XA_ZERO_ENTRY")
    for start, end in RANGES:
        tree.store_range(start, end - 1, ("mapping", start))
        tree.validate()
    assert len(tree) == len(RANGES) + 1
    return tree


def test_kernel_gap_queries() -> None:
    tree = kernel_tree()
    for (lo, hi, size), (index, last) in REV_HOLES:
        got = tree.empty_area_rev(lo, hi, size)
        assert (got, got + size - 1) == (index, last), (hex(lo), hex(hi), hex(size))
    for (lo, hi, size), index in FWD_HOLES:
        assert tree.empty_area(lo, hi, size) == index, (hex(lo), hex(hi), hex(size))
    assert len(tree) == len(RANGES) + 1  # queries insert nothing


def _run_allocs(tree: MapleTree[object], reverse: bool) -> None:
    alloc = tree.alloc_rrange if reverse else tree.alloc_range
    for lo, hi, size, expect in REVERSE if reverse else FORWARD:
        before = len(tree)
        try:
            got = alloc(lo, hi, size, ("alloc", lo))
        except MapleError as err:
            got = -err.errno
        assert got == expect, (hex(lo), hex(hi), hex(size), hex(got))
        if got >= 0:
            assert tree.find(got) == (got, got + size - 1, ("alloc", lo))
            assert len(tree) == before + 1
        else:
            assert len(tree) == before
        tree.validate()


def test_kernel_alloc_range() -> None:
    _run_allocs(kernel_tree(), reverse=False)


def test_kernel_alloc_rev_range() -> None:
    tree = kernel_tree()
    _run_allocs(tree, reverse=True)
    # Create a deleted range, then the exact-fit search must find it.
    assert tree.erase(0x7F36D5107) == ("alloc", 0)
    assert tree.erase(0x7F36D5105) == ("alloc", 0x7F36D5105)
    tree.validate()
    assert tree.alloc_rrange(0, 0x7FFF5878D, 0xC883666, "last") == 0x7F36D5105
    tree.validate()


def test_area_argument_errors() -> None:
    tree: MapleTree[object] = MapleTree()
    for lo, hi, size in ((5, 4, 1), (0, 10, 0), (0, 2, 4), (7, 7, 2)):
        for fn in (tree.empty_area, tree.empty_area_rev):
            with pytest.raises(MapleError) as info:
                fn(lo, hi, size)
            assert info.value.errno == errno.EINVAL
        with pytest.raises(MapleError) as info:
            tree.alloc_range(lo, hi, size, "x")
        assert info.value.errno == errno.EINVAL
    with pytest.raises(MapleError) as info:
        tree.store_range(5, 4, "x")
    assert info.value.errno == errno.EINVAL
    tree.store_range(0, ULONG_MAX, "all")
    with pytest.raises(MapleError) as info:
        tree.empty_area(0, ULONG_MAX, 1)
    assert info.value.errno == errno.EBUSY
    with pytest.raises(MapleError) as info:
        tree.alloc_rrange(0, 10, 1, "x")
    assert info.value.errno == errno.EBUSY


def test_empty_tree_and_whole_space() -> None:
    tree: MapleTree[str] = MapleTree()
    tree.validate()
    assert len(tree) == 0 and tree.load(0) is None and tree.find(0) is None
    assert tree.empty_area(0, ULONG_MAX, 1 << 64) == 0
    assert tree.empty_area_rev(0, ULONG_MAX, 1) == ULONG_MAX
    tree.store_range(ULONG_MAX, ULONG_MAX, "top")
    tree.store_range(0, 0, "bottom")
    assert tree.find_prev(ULONG_MAX) == (ULONG_MAX, ULONG_MAX, "top")
    assert tree.find(1) == (ULONG_MAX, ULONG_MAX, "top")
    assert tree.find_prev(ULONG_MAX - 1) == (0, 0, "bottom")
    assert tree.empty_area_rev(0, ULONG_MAX, 2) == ULONG_MAX - 2
    assert tree.erase(ULONG_MAX) == "top" and tree.erase(ULONG_MAX) is None
    tree.validate()
    assert list(tree.iter_range()) == [(0, 0, "bottom")]


def test_store_splits_and_overwrites_entries() -> None:
    tree: MapleTree[str] = MapleTree()
    tree.store_range(10, 100, "a")
    tree.store_range(40, 50, "b")  # splits "a" in two pieces
    assert list(tree.iter_range()) == [(10, 39, "a"), (40, 50, "b"), (51, 100, "a")]
    assert len(tree) == 3
    tree.store_range(45, 60, None)  # cuts the ends of two ranges
    assert list(tree.iter_range()) == [(10, 39, "a"), (40, 44, "b"), (61, 100, "a")]
    assert tree.erase(50) is None
    assert tree.erase(41) == "b"
    assert tree.empty_area(0, 200, 21) == 40  # erased ranges coalesced into one gap
    assert tree.find(40, 60) is None and tree.find(40, 61) == (61, 100, "a")
    assert tree.find_prev(60, 39) == (10, 39, "a") and tree.find_prev(60, 40) is None
    assert list(tree.iter_range(39, 61)) == [(10, 39, "a"), (61, 100, "a")]
    # The entry alone, its range where the kernel's ma_state keeps it.
    assert tree.mt_find(50) == "a" and (tree.found_first, tree.found_last) == (61, 100)
    assert tree.mt_prev(60) == "a" and (tree.found_first, tree.found_last) == (10, 39)
    assert tree.mt_find(101) is None and tree.mt_prev(9) is None
    tree.validate()


def test_iterator_survives_stores() -> None:
    tree: MapleTree[int] = MapleTree()
    for i in range(500):
        tree.store_range(i * 10, i * 10 + 4, i)
    seen = []
    for first, _last, value in tree.iter_range():
        seen.append(value)
        if value % 2 == 0:
            tree.store_range(first + 10, first + 14, None)  # drop the next one
    assert seen == list(range(0, 500, 2))
    tree.validate()


# ---------------------------------------------------------------------------------------
# Node splitting and merging with thousands of entries.


def _max_height(n_slots: int) -> int:
    """The tallest tree that minimum occupancy allows for n_slots leaf slots."""
    leaves = max(1, n_slots // MAPLE_RANGE64_MIN)
    return 2 + math.ceil(math.log(max(leaves, 2), MAPLE_ARANGE64_MIN))


@pytest.mark.parametrize("stride", [2, 3, 5000])  # adjacent, spaced by one, far apart
def test_thousands_of_entries_split_and_merge(stride: int) -> None:
    rng = random.Random(stride)
    tree: MapleTree[int] = MapleTree()
    n = 10_000
    length = 2
    order = list(range(n))
    rng.shuffle(order)
    for done, k in enumerate(order, 1):
        tree.store_range(k * stride, k * stride + length - 1, k)
        if done % 1000 == 0:
            tree.validate()
    assert len(tree) == n
    assert tree.height <= _max_height(2 * n)
    assert list(tree.iter_range()) == [(k * stride, k * stride + 1, k) for k in range(n)]
    rng.shuffle(order)
    for done, k in enumerate(order, 1):
        assert tree.erase(k * stride + rng.randrange(length)) == k
        assert tree.load(k * stride) is None
        if done % 500 == 0:
            tree.validate()
            assert len(tree) == n - done
            assert tree.height <= _max_height(2 * (n - done))
    tree.validate()
    assert len(tree) == 0 and tree.height == 1
    assert tree.empty_area(0, ULONG_MAX, 1 << 64) == 0


def test_ascending_inserts_and_spanning_stores() -> None:
    tree: MapleTree[int] = MapleTree()
    for k in range(10_000):
        tree.store_range(k * 4, k * 4 + 2, k)
    tree.validate()
    height = tree.height
    # One store over thousands of entries across many leaves and several levels.
    tree.store_range(4001, 30_002, -1)
    tree.validate()
    # Entries 1001..7500 go, 1000 is cut back to [4000, 4000], the new one comes in.
    assert len(tree) == 10_000 - 6500 + 1
    assert tree.find(4000) == (4000, 4000, 1000)
    assert tree.find(4001) == (4001, 30_002, -1)
    assert tree.find(30_003) == (30_004, 30_006, 7501)
    tree.store_range(3, 39_000, None)
    tree.validate()
    assert tree.find(3) == (39_001, 39_002, 9750)
    assert tree.find_prev(39_000) == (0, 2, 0)
    assert tree.height <= height
    tree.store_range(0, ULONG_MAX, None)
    tree.validate()
    assert len(tree) == 0 and tree.height == 1


def test_kernel_check_ranges_rebalance_gaps() -> None:
    # After lib/test_maple_tree.c check_ranges, "Test rebalance gaps".
    tree: MapleTree[int] = MapleTree()
    for i in range(51):
        tree.store_range(i * 10, (i + 1) * 10, i * 10)
    for i in (161, 162, 163):
        tree.store_range(i, i, i)
    tree.store_range(240, 249, None)
    for i in (200, 210, 220, 230):
        tree.erase(i)
    tree.validate()
    assert tree.load(235) is None and tree.load(250) == 250
    assert tree.empty_area(0, ULONG_MAX, 50) == 200
    for i in range(501):
        tree.store_range(i * 10, (i + 1) * 10, i * 10)
    tree.store_range(4600, 4959, 1)
    tree.validate()
    assert tree.find(4590) == (4590, 4599, 4590) and tree.load(4960) == 4960


def test_validate_catches_corruption() -> None:
    def fresh() -> MapleTree[int]:
        tree: MapleTree[int] = MapleTree()
        for k in range(2000):
            tree.store_range(k * 3, k * 3 + 1, k)
        tree.validate()
        assert tree.height >= 3
        return tree

    def first_leaf(tree: MapleTree[int]) -> Any:
        node = tree._root
        for _ in range(tree.height - 1):
            node = node.slots[0]
        return node

    def broken(corrupt: Callable[[MapleTree[int]], None], message: str) -> None:
        tree = fresh()
        corrupt(tree)
        with pytest.raises(AssertionError, match=message):
            tree.validate()

    def bump_gap(tree: MapleTree[int]) -> None:
        root = tree._root
        assert isinstance(root, MapleArange64)
        root.gaps[0] += 1

    def swap_pivots(tree: MapleTree[int]) -> None:
        pivots = first_leaf(tree).pivots
        pivots[1], pivots[2] = pivots[2], pivots[1]

    def adjacent_nulls(tree: MapleTree[int]) -> None:
        first_leaf(tree).slots[0] = None  # [0, 1] next to the empty [2, 2]

    def miscount(tree: MapleTree[int]) -> None:
        tree._count += 1

    def uneven_depth(tree: MapleTree[int]) -> None:
        tree._root.slots[0] = first_leaf(tree)

    def past_max(tree: MapleTree[int]) -> None:
        tree._root.slots[0].pivots[-1] = tree._root.pivots[0] + 5

    broken(bump_gap, "gap of slot 0")
    broken(swap_pivots, "not above")
    broken(adjacent_nulls, "follows another")
    broken(miscount, "counts")
    broken(uneven_depth, "leaves must all sit at depth")
    broken(past_max, "last pivot")


# ---------------------------------------------------------------------------------------
# Memory and cost.


def _spaced_tree(n: int, entries: list[object] | None = None) -> MapleTree[object]:
    tree: MapleTree[object] = MapleTree()
    for i in range(n):
        base = 0x7F0000000 + i * 4
        tree.store_range(base, base + 2, i if entries is None else entries[i])
    return tree


def test_memory_per_entry() -> None:
    n = 60_000
    entries = [object() for _ in range(n)]  # the entries themselves are not the tree's cost
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tree = _spaced_tree(n, entries)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    tree.validate()
    assert len(tree) == n
    assert used / n < 1024, f"{used / n:.0f} bytes per entry"
    assert used / n < 400, f"{used / n:.0f} bytes per entry: nodes are far too sparse"


def _search_visits(n: int) -> list[int]:
    """Nodes visited by gap searches in a tree of n spaced entries, one free index between
    neighbours, plus a 13-index hole a third of the way in and a 5-index hole at two
    thirds; each search's answer is checked too."""
    tree = _spaced_tree(n)
    base, end = 0x7F0000000, 0x7F0000000 + n * 4
    big, small = n // 3, 2 * n // 3
    for k in (big, big + 1, big + 2, small):
        tree.erase(base + k * 4)
    tree.validate()
    big_hole = (base + big * 4 - 1, base + big * 4 + 11)
    small_hole = (base + small * 4 - 1, base + small * 4 + 3)
    searches = [
        (True, 0, ULONG_MAX, 1 << 40, ULONG_MAX - (1 << 40) + 1),  # the space above all
        (True, base, end - 1, 13, big_hole[0]),
        (True, base, end - 1, 5, small_hole[1] - 4),
        # The window's top cuts the 5-hole short: the search has to back out of that
        # subtree and find the 13-hole further down.
        (True, base, small_hole[1] - 2, 5, big_hole[1] - 4),
        (True, base, end - 1, 14, None),  # nothing fits: only the top edge is entered
        (False, base, end - 1, 5, big_hole[0]),
        (False, big_hole[0] + 9, end - 1, 5, small_hole[0]),  # cuts the 13-hole short
    ]
    visits = []
    for rev, lo, hi, size, expect in searches:
        before = tree.visited
        fn = tree.empty_area_rev if rev else tree.empty_area
        if expect is None:
            with pytest.raises(MapleError):
                fn(lo, hi, size)
        else:
            assert fn(lo, hi, size) == expect, (n, rev, hex(lo), hex(hi), size)
        visits.append(tree.visited - before)
    return visits


def test_gap_search_cost_is_logarithmic() -> None:
    small, large = _search_visits(100), _search_visits(60_000)
    for s, lg in zip(small, large, strict=True):
        assert lg <= 4 * s, (small, large)
    assert max(large) <= 40, large  # a linear scan would visit thousands of nodes


# ---------------------------------------------------------------------------------------
# Stateful test against a sorted list.


class Reference:
    """Sorted, non-overlapping (first, last, entry) ranges: obviously right, not fast."""

    def __init__(self) -> None:
        self.firsts: list[int] = []
        self.lasts: list[int] = []
        self.entries: list[object] = []

    def store(self, first: int, last: int, entry: object | None) -> None:
        i = bisect_left(self.lasts, first)
        j = bisect_right(self.firsts, last)
        new: list[tuple[int, int, object]] = []
        if i < j and self.firsts[i] < first:
            new.append((self.firsts[i], first - 1, self.entries[i]))
        if entry is not None:
            new.append((first, last, entry))
        if i < j and self.lasts[j - 1] > last:
            new.append((last + 1, self.lasts[j - 1], self.entries[j - 1]))
        self.firsts[i:j] = [f for f, _, _ in new]
        self.lasts[i:j] = [la for _, la, _ in new]
        self.entries[i:j] = [e for _, _, e in new]

    def ranges(self) -> list[tuple[int, int, object]]:
        return list(zip(self.firsts, self.lasts, self.entries, strict=True))

    def at(self, index: int) -> tuple[int, int, object] | None:
        i = bisect_left(self.lasts, index)
        if i < len(self.firsts) and self.firsts[i] <= index:
            return self.firsts[i], self.lasts[i], self.entries[i]
        return None

    def holes(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Empty ranges clipped to [lo, hi]."""
        found, prev = [], 0
        for f, la in zip(self.firsts, self.lasts, strict=True):
            if f > prev:
                found.append((prev, f - 1))
            prev = la + 1
        if prev <= ULONG_MAX:
            found.append((prev, ULONG_MAX))
        return [(max(a, lo), min(b, hi)) for a, b in found if b >= lo and a <= hi]

    def empty_area(self, lo: int, hi: int, size: int, rev: bool) -> int:
        if lo > hi or size == 0 or hi - lo < size - 1:
            return -errno.EINVAL
        fits = [(a, b) for a, b in self.holes(lo, hi) if b - a + 1 >= size]
        if not fits:
            return -errno.EBUSY
        return fits[-1][1] - size + 1 if rev else fits[0][0]


class Entry:
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"E{self.n}"


class MapleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tree: MapleTree[Entry] = MapleTree()
        self.ref = Reference()
        self.space = 300
        self.made = 0

    def new_entry(self) -> Entry:
        self.made += 1
        return Entry(self.made)

    @initialize(space=st.sampled_from([300, 1 << 20, 1 << 47]))
    def pick_space(self, space: int) -> None:
        # Small spaces make stores collide and coalesce; page-like spaces up to 2**47
        # give sparse trees with huge gaps.
        self.space = space

    def index(self, data: st.DataObject) -> int:
        """Mostly an index at or next to an existing boundary, so that stores meet."""
        choice = data.draw(st.integers(0, 9))
        if choice < 5 and self.ref.firsts:
            i = data.draw(st.integers(0, len(self.ref.firsts) - 1))
            edge = data.draw(st.sampled_from([self.ref.firsts[i], self.ref.lasts[i]]))
            return min(ULONG_MAX, max(0, edge + data.draw(st.integers(-2, 2))))
        if choice == 9:
            return data.draw(st.sampled_from([0, ULONG_MAX, ULONG_MAX - 1]))
        return data.draw(st.integers(0, self.space))

    def window(self, data: st.DataObject) -> tuple[int, int]:
        a, b = self.index(data), self.index(data)
        return (a, b) if a <= b else (b, a)

    @rule(data=st.data(), empty=st.booleans())
    def store_range(self, data: st.DataObject, empty: bool) -> None:
        first, last = self.window(data)
        if data.draw(st.booleans()):
            last = min(ULONG_MAX, first + data.draw(st.integers(0, 3)))
        entry = None if empty else self.new_entry()
        self.tree.store_range(first, last, entry)
        self.ref.store(first, last, entry)

    @rule(
        data=st.data(),
        count=st.integers(20, 400),
        stride=st.integers(1, 9),
        gap=st.integers(0, 3),
    )
    def store_many(self, data: st.DataObject, count: int, stride: int, gap: int) -> None:
        # Enough ranges at once to split leaves and grow the tree by levels.
        start = data.draw(st.integers(0, self.space))
        length = max(1, stride - gap)
        for k in range(count):
            first = start + k * stride
            last = first + length - 1
            if last > ULONG_MAX:
                break
            entry = self.new_entry()
            self.tree.store_range(first, last, entry)
            self.ref.store(first, last, entry)

    @rule(data=st.data())
    def erase(self, data: st.DataObject) -> None:
        index = self.index(data)
        found = self.ref.at(index)
        assert self.tree.erase(index) is (found[2] if found else None)
        if found:
            self.ref.store(found[0], found[1], None)

    @rule(data=st.data())
    def lookups(self, data: st.DataObject) -> None:
        index = self.index(data)
        found = self.ref.at(index)
        assert self.tree.load(index) is (found[2] if found else None)
        lo, hi = self.window(data)
        inside = [r for r in self.ref.ranges() if r[1] >= lo and r[0] <= hi]
        assert list(self.tree.iter_range(lo, hi)) == inside
        assert self.tree.find(lo, hi) == (inside[0] if inside else None)
        assert self.tree.find_prev(hi, lo) == (inside[-1] if inside else None)

    @rule(data=st.data(), rev=st.booleans())
    def empty_area(self, data: st.DataObject, rev: bool) -> None:
        lo, hi = self.window(data)
        holes = self.ref.holes(lo, hi)
        sizes = st.integers(0, 70) | st.integers(1, self.space)
        if holes:  # exact fits and near misses
            sizes |= st.sampled_from([b - a + 1 + d for a, b in holes for d in (-1, 0, 1)])
        size = data.draw(sizes)
        fn = self.tree.empty_area_rev if rev else self.tree.empty_area
        try:
            got = fn(lo, hi, size)
        except MapleError as err:
            got = -err.errno
        assert got == self.ref.empty_area(lo, hi, size, rev)

    @rule(data=st.data(), rev=st.booleans())
    def alloc(self, data: st.DataObject, rev: bool) -> None:
        lo, hi = self.window(data)
        size = data.draw(st.integers(1, 40))
        want = self.ref.empty_area(lo, hi, size, rev)
        entry = self.new_entry()
        fn = self.tree.alloc_rrange if rev else self.tree.alloc_range
        try:
            got = fn(lo, hi, size, entry)
        except MapleError as err:
            got = -err.errno
        assert got == want
        if got >= 0:
            self.ref.store(got, got + size - 1, entry)

    @invariant()
    def consistent(self) -> None:
        self.tree.validate()
        assert len(self.tree) == len(self.ref.firsts)
        assert list(self.tree.iter_range()) == self.ref.ranges()


MapleMachine.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
test_maple_tree_against_reference = MapleMachine.TestCase
