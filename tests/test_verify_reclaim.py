"""Recognising and pausing the kernel's DAMON pageout, on a sysfs tree built in a temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmsim.verify.reclaim import damon_pageout_kdamonds, damon_paused


def _kdamond(admin: Path, n: int, state: str, action: str) -> Path:
    kdamond = admin / str(n)
    scheme = kdamond / "contexts/0/schemes/0"
    scheme.mkdir(parents=True)
    (scheme / "action").write_text(action + "\n")
    (kdamond / "state").write_text(state + "\n")
    return kdamond


def test_only_running_kdamonds_with_a_pageout_scheme_count(tmp_path: Path) -> None:
    pageout = _kdamond(tmp_path, 0, "on", "pageout")
    _kdamond(tmp_path, 1, "off", "pageout")
    _kdamond(tmp_path, 2, "on", "stat")
    assert damon_pageout_kdamonds(tmp_path) == [pageout]


def test_paused_kdamonds_are_switched_back_on_even_after_an_error(tmp_path: Path) -> None:
    pageout = _kdamond(tmp_path, 0, "on", "pageout")
    idle = _kdamond(tmp_path, 1, "off", "pageout")
    with pytest.raises(RuntimeError), damon_paused(tmp_path) as paused:
        assert paused == ["DAMON kdamond 0"]
        assert (pageout / "state").read_text() == "off\n"
        raise RuntimeError("the run failed")
    assert (pageout / "state").read_text() == "on\n"
    assert (idle / "state").read_text() == "off\n"  # never touched
