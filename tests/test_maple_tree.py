"""The maple tree: the kernel's own gap-search vectors and a stateful test against a list."""

from __future__ import annotations

import errno
import random

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from vmsim.lib.maple_tree import ULONG_MAX, MapleError, MapleTree

# lib/test_maple_tree.c, check_alloc_range / check_alloc_rev_range (page indices).
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


def kernel_tree() -> MapleTree[object]:
    tree: MapleTree[object] = MapleTree()
    tree.store_range(0x2000000000000, ULONG_MAX, "reserved")
    for start, end in RANGES:
        tree.store_range(start, end - 1, (start, end))
    tree.validate()
    return tree


def test_gap_queries() -> None:
    tree = kernel_tree()
    assert tree.empty_area_rev(0, 0x565234AFC, 1) == 0x565234AFB
    assert tree.empty_area_rev(0x565234AFC, 0x565235DEF, 0x12F1) == 0x565234AFE
    assert tree.empty_area_rev(0x565235DEF, 0x7F36D4BFD, 0x28E49EDED) == 0x565235E10
    assert tree.empty_area(0x565234AF2, 0x565234AFC, 1) == 0x565234AFB
    assert tree.empty_area(0x565234AFC, 0x565235DEF, 0x12F1) == 0x565234AFE
    assert tree.empty_area(0x565235DEF, 0x7F36D4BFD, 0x28E49EDED) == 0x565235E10


FORWARD = [
    (0x565234AF9, 0x7FFF58791, 1, 0x565234AFB),
    (0, 0x7FFF58791, 1, 0),
    (0x7F36D4BFC, 0x7FFF587AF, 3, 0x7F36D50A5),
    (0x7F36D509F, 0x7F36D50DB, 0x15, -errno.EBUSY),
    (0x7F36D509F, 0x7FFF587AF, 0x10, 0x7F36D50A8),
    (0, 0xFFFFFFFFFFFFF, 0xFFFFFFFFFFFFF, -errno.EBUSY),
    (0, 0xFFFFFFFFFFFFF, 0xFFFFFFF8000AF, -errno.EBUSY),
    (0x7F36D50B8, 0x7F36D50B8, 1, 0x7F36D50B8),
]
REVERSE = [
    (0x565234AF9, 0x7FFF58791, 1, 0x7FFF5878D),
    (0, 0x565234AF0, 3, 0x565234AEE),
    (0, 0xFFFFFFFFFFFFF, 1, 0x1FFFFFFFFFFFF),
    (0, 0x7F36D5109, 4, 0x7F36D5106),
    (0, 0x7F36D50A4, 0x13, 0x7F36D4BEA),
    (0, 0xFFFFFFFFFFFFF, 0x1FFF8000A786E, -errno.EBUSY),
    (0x7F36D5105, 0x7F36D5105, 1, 0x7F36D5105),
]


@pytest.mark.parametrize("reverse", [False, True])
def test_allocation_sequences(reverse: bool) -> None:
    tree = kernel_tree()
    alloc = tree.alloc_rrange if reverse else tree.alloc_range
    for lo, hi, size, expect in REVERSE if reverse else FORWARD:
        try:
            got = alloc(lo, hi, size, "new")
        except MapleError as err:
            got = -err.errno
        assert got == expect, (hex(lo), hex(hi), hex(size))
        tree.validate()
    if reverse:
        tree.erase(0x7F36D5107)
        tree.erase(0x7F36D5105)
        assert tree.alloc_rrange(0, 0x7FFF5878D, 0xC883666, "x") == 0x7F36D5105


def test_argument_errors() -> None:
    tree: MapleTree[object] = MapleTree()
    for args in ((5, 4, 1), (0, 10, 0), (0, 2, 4)):
        with pytest.raises(MapleError) as info:
            tree.empty_area(*args)
        assert info.value.errno == errno.EINVAL


def test_thousands_of_entries_split_and_merge() -> None:
    rng = random.Random(7)
    tree: MapleTree[int] = MapleTree()
    keys = list(range(10_000))
    for k in keys:
        tree.store_range(k * 3, k * 3 + (k % 2), k)
    tree.validate()
    assert len(tree) == 10_000
    rng.shuffle(keys)
    for n, k in enumerate(keys):
        assert tree.erase(k * 3) == k
        if n % 997 == 0:
            tree.validate()
    tree.validate()
    assert len(tree) == 0 and list(tree.iter_all()) == [(0, ULONG_MAX, None)]


def test_gap_search_cost_is_logarithmic() -> None:
    def visits(n: int) -> int:
        tree: MapleTree[int] = MapleTree()
        for i in range(n):
            tree.store_range(i * 4, i * 4 + 2, i)
        tree.visited = 0
        tree.empty_area_rev(0, n * 4, 2)
        return tree.visited

    assert visits(60_000) <= 4 * visits(100)


class Reference:
    """The same interface over a plain sorted list: obviously right, obviously slow."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int, object]] = []

    def store(self, first: int, last: int, entry: object | None) -> None:
        out = []
        for f, l_, e in self.ranges:
            if l_ < first or f > last:
                out.append((f, l_, e))
                continue
            if f < first:
                out.append((f, first - 1, e))
            if l_ > last:
                out.append((last + 1, l_, e))
        if entry is not None:
            out.append((first, last, entry))
        self.ranges = sorted(out, key=lambda r: r[0])

    def gaps(self, lo: int, hi: int) -> list[tuple[int, int]]:
        found, prev = [], 0
        for f, l_, _ in self.ranges:
            if f > prev:
                found.append((prev, f - 1))
            prev = l_ + 1
        if prev <= ULONG_MAX:
            found.append((prev, ULONG_MAX))
        return [(max(a, lo), min(b, hi)) for a, b in found if b >= lo and a <= hi]


class TreeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tree: MapleTree[object] = MapleTree()
        self.ref = Reference()

    span = st.sampled_from([300, 1 << 20, 1 << 47])

    @rule(data=st.data(), span=span, empty=st.booleans())
    def store(self, data: st.DataObject, span: int, empty: bool) -> None:
        first = data.draw(st.integers(0, span))
        last = first + data.draw(st.integers(0, span // 8))
        entry = None if empty else object()
        self.tree.store_range(first, last, entry)
        self.ref.store(first, last, entry)

    @rule(data=st.data(), span=span)
    def queries(self, data: st.DataObject, span: int) -> None:
        index = data.draw(st.integers(0, span + 10))
        expect = next(((f, l_, e) for f, l_, e in self.ref.ranges if l_ >= index), None)
        assert self.tree.find(index) == expect
        prev = [(f, l_, e) for f, l_, e in self.ref.ranges if f <= index]
        assert self.tree.find_prev(index) == (prev[-1] if prev else None)
        lo = data.draw(st.integers(0, span))
        hi = lo + data.draw(st.integers(0, span))
        size = data.draw(st.integers(1, 64))
        fits = [(a, b) for a, b in self.ref.gaps(lo, hi) if b - a + 1 >= size]
        for fn, pick in (
            (self.tree.empty_area, lambda: fits[0][0]),
            (self.tree.empty_area_rev, lambda: fits[-1][1] - size + 1),
        ):
            if fits:
                assert fn(lo, hi, size) == pick()
            else:
                with pytest.raises(MapleError):
                    fn(lo, hi, size)

    @invariant()
    def consistent(self) -> None:
        self.tree.validate()
        assert list(self.tree.iter_range()) == self.ref.ranges
        assert len(self.tree) == len(self.ref.ranges)


TreeMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=60, deadline=None)
test_tree_against_reference = TreeMachine.TestCase
