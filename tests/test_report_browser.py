"""The HTML report in a real headless Chromium: it loads with no error, clicks on the
timeline and the list show a call, strings from a log stay text, and a 100,000-call
report is ready in under two seconds.  Skipped where Chromium is not installed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser import Browser, chromium
from logs import SCRIPT_LOG, SCRIPT_PATH, synthetic_log
from vmsim.views.html import render
from vmsim.views.report import from_log, from_scenario

CHROMIUM = chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (.ci/run installs it)")
DATA = Path(__file__).parent / "data"
ARTIFACTS = Path(__file__).parent / "artifacts"
LOAD_LIMIT_MS = 2000


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert CHROMIUM is not None
    started = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield started
    started.close()


def page(tmp_path: Path, data: dict, name: str = "report.html") -> Path:
    path = tmp_path / name
    path.write_text(render(data))
    return path


def text_of(browser: Browser, selector: str) -> str:
    return browser.evaluate(f"document.querySelector({json.dumps(selector)}).textContent")


def click_timeline(browser: Browser, fraction: float) -> None:
    """Click the strip of calls at ``fraction`` of its width."""
    x, y = browser.evaluate(
        "(() => { const r = document.getElementById('timeline').getBoundingClientRect();"
        f" return [r.left + r.width * {fraction}, r.top + r.height / 2]; }})()"
    )
    browser.click_at(x, y)


def test_seed_report_loads_cleanly_and_clicks_pick_calls(browser: Browser, tmp_path: Path) -> None:
    data = from_scenario("seed")
    lines = [row[1] for row in data["rows"]]  # mmap, brk, brk, mremap, munmap
    browser.open(page(tmp_path, data))
    assert browser.problems() == []
    assert text_of(browser, "#call-line") == lines[3]  # the mremap is picked first
    click_timeline(browser, 0.95)
    assert text_of(browser, "#call-line") == lines[4]
    assert "SYSCALL_DEFINE2(munmap)" in text_of(browser, "#call-flow")
    assert text_of(browser, "#call-title").startswith("Call #5 of 5: munmap")
    click_timeline(browser, 0.05)
    assert text_of(browser, "#call-line") == lines[0]
    # The new page merged into the anonymous mapping above it.
    assert text_of(browser, "#call-maps") == (
        "~ 7ffff7fbf000-7ffff7fc2000 rw-p 00000000 00:00 0   (was 7ffff7fc0000-7ffff7fc2000 rw-p)"
    )
    browser.click('#call-list .row[data-i="3"]')
    flow = text_of(browser, "#call-flow")
    assert flow.startswith("▾SYSCALL_DEFINE5(mremap)(0x7ffff7fbf000, 4096, 8192, MREMAP_MAYMOVE)")
    assert "move_page_tables(" in flow
    moved = browser.evaluate(
        "[...document.querySelectorAll('#call-moved tr')]"
        ".map((tr) => tr.cells[0].textContent + ' ' + tr.cells[1].textContent)"
    )
    assert moved == ["PUD entries 0", "PMD entries 0", "PTEs 1"]
    assert "Moved: get_unmapped_area() chose the new place" in text_of(browser, "#call-why")
    browser.click('.tab[data-tab="before"]')
    assert "7ffff7fbf000-7ffff7fc2000" in text_of(browser, "#call-maps")
    assert browser.problems() == []
    # The picture in the repository: the map and the mremap (the intro folded away).
    browser.evaluate("document.querySelector('.intro').open = false; window.scrollTo(0, 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "report-seed.png", scale=0.75)


def test_map_hover_and_zoom(browser: Browser, tmp_path: Path) -> None:
    browser.open(page(tmp_path, from_scenario("move")))
    left, top, width = browser.evaluate(
        "(() => { const r = document.querySelector('#map svg').getBoundingClientRect();"
        " return [r.left, r.top, r.width]; })()"
    )
    browser.send("Input.dispatchMouseEvent", type="mouseMoved", x=left + 3, y=top + 10)
    assert text_of(browser, "#map-info").startswith("0x0 – 0x")  # the free space below
    assert text_of(browser, "#map-range").startswith("All of user space")
    browser.drag(left + width * 0.6, left + width * 0.7, top + 10)
    assert text_of(browser, "#map-range").startswith("Zoomed to 0x")
    browser.click("#zoom-reset")
    assert text_of(browser, "#map-range").startswith("All of user space")
    browser.click("#zoom-call")
    zoomed = text_of(browser, "#map-range")
    assert zoomed.startswith("Zoomed to 0x")
    assert browser.evaluate("document.querySelectorAll('#map rect[stroke]').length") >= 1
    assert browser.problems() == []


def test_page_table_walk_of_a_moved_page(browser: Browser, tmp_path: Path) -> None:
    data = from_scenario("pmd")
    browser.open(page(tmp_path, data))
    # The mremap is picked; its result is where the 4 PTE tables now hang.
    target = text_of(browser, "#call-line").rsplit("= ", 1)[1]
    assert browser.evaluate("document.getElementById('pt-address').value") == target
    steps = text_of(browser, "#pt-steps")
    assert "points to a PTE table (1 of 512 pages present" in steps
    assert "PTE 0 is present" in steps
    assert "4 PMD entries" in text_of(browser, "#call-why")
    browser.evaluate("document.getElementById('pt-address').value = '0x1000'")
    browser.click("#pt-walk")
    assert "No mapping covers this address" in text_of(browser, "#pt-steps")
    assert browser.problems() == []


def test_a_recorded_program(browser: Browser, tmp_path: Path) -> None:
    bundle = DATA / "python-buffers.bundle"
    browser.open(page(tmp_path, from_log(bundle.read_text(), bundle.name)))
    assert browser.problems() == []
    assert "82 of 82 results predicted" in text_of(browser, "#summary")
    browser.evaluate("document.getElementById('only-failed').click()")
    assert text_of(browser, "#filter-count") == "0 of 82 calls"
    browser.evaluate("document.getElementById('only-failed').click()")
    browser.evaluate("document.getElementById('call-list').scrollTop = 0")
    browser.wait_for("!!document.querySelector('#call-list .row[data-i=\"1\"]')")
    browser.click('#call-list .row[data-i="1"]')
    assert text_of(browser, "#call-title").startswith("Call #2 of 82")
    assert "The model agrees with the log" in text_of(browser, "#call-outcome")
    browser.evaluate("document.getElementById('call-list').focus()")
    browser.send("Input.dispatchKeyEvent", type="keyDown", key="ArrowDown", code="ArrowDown")
    assert text_of(browser, "#call-title").startswith("Call #3 of 82")


def test_a_path_that_is_markup_stays_text(browser: Browser, tmp_path: Path) -> None:
    browser.open(page(tmp_path, from_log(SCRIPT_LOG, f"{SCRIPT_PATH}.log")))
    browser.click('#call-list .row[data-i="1"]')  # the mmap of the file
    browser.click('.tab[data-tab="after"]')
    assert text_of(browser, "#call-maps").rstrip().endswith("[vsyscall]")
    assert SCRIPT_PATH in text_of(browser, "#call-maps")
    assert SCRIPT_PATH in text_of(browser, "h1")
    assert browser.evaluate("document.scripts.length") == 2  # the data and the page's own
    assert browser.problems() == []  # no dialog opened, nothing blocked or thrown


def test_a_log_without_memory_calls(browser: Browser, tmp_path: Path) -> None:
    browser.open(page(tmp_path, from_log('write(1, "hi\\n", 3) = 3\n', "quiet.log")))
    assert text_of(browser, "#call-title") == "No memory calls in this source."
    assert browser.problems() == []


def test_a_100000_call_report_loads_in_under_two_seconds(browser: Browser, tmp_path: Path) -> None:
    data = from_log(synthetic_log(100_000), "synthetic.log")
    assert len(data["rows"]) == 100_000
    browser.open(page(tmp_path, data))
    ready = browser.evaluate("window.vmsimReadyMs")
    print(f"100,000-call report ready {ready:.0f} ms after navigation")
    assert ready < LOAD_LIMIT_MS
    assert browser.problems() == []
    click_timeline(browser, 0.5)
    picked = browser.evaluate("Number(location.hash.slice(6))")
    assert 45_000 < picked < 55_000 and "mremap(" in text_of(browser, "#call-line")
