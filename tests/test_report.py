"""The HTML report's data and page (the browser side is in test_report_browser.py)."""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from logs import SCRIPT_LOG
from vmsim import (
    MAP_ANONYMOUS,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MREMAP_MAYMOVE,
    PROT_READ,
    PROT_WRITE,
    Process,
)
from vmsim.cli import main
from vmsim.kernel import syscalls
from vmsim.replay import read_bundle, replay_text
from vmsim.views import report as reportlib
from vmsim.views.calls import CallRecord, LogWatcher
from vmsim.views.errnos import explain
from vmsim.views.errnos import table as errno_table
from vmsim.views.html import render
from vmsim.views.pagetables import summarize

DATA = Path(__file__).parent / "data"


def maps_after(data: dict[str, Any], i: int) -> list[str]:
    """The maps after call ``i``, rebuilt the way the page's script does."""
    starts = [at for at, _ in data["keyframes"]]
    k = max(n for n, at in enumerate(starts) if at <= i)
    lines = list(data["keyframes"][k][1])
    for c in range(starts[k], i + 1):
        for pos, removed, inserted in reversed(data["rows"][c][5]):
            lines[pos : pos + removed] = inserted
    return [data["lines"][n] for n in lines]


def log_report(text: str) -> tuple[dict[str, Any], list[CallRecord]]:
    """The report's data and every record it was made from."""
    records: list[CallRecord] = []
    collector = reportlib.Collector()

    def both(record: CallRecord) -> None:
        records.append(record)
        collector(record)

    report = replay_text(text, observer=LogWatcher(read_bundle(text)[1].splitlines(), both))
    return collector.data("test", "test.log", report.as_dict()), records


@pytest.mark.parametrize("keyframe_calls", [2000, 3])
def test_maps_are_rebuilt_from_keyframes_and_splices(monkeypatch, keyframe_calls: int) -> None:
    monkeypatch.setattr(reportlib, "KEYFRAME_CALLS", keyframe_calls)
    data, records = log_report((DATA / "python-buffers.bundle").read_text())
    assert len(data["rows"]) == len(records) == 82
    assert len(data["keyframes"]) >= 82 // keyframe_calls
    for i, record in enumerate(records):
        assert maps_after(data, i) == record.maps_after


def test_rows_keep_the_log_line_and_both_outcomes_when_they_differ() -> None:
    log = "\n".join(
        [
            "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x10000",
            "munmap(0x1001, 4096) = -1 EINVAL (Invalid argument)",
        ]
    )
    data, _ = log_report(log)
    mmap, munmap = data["rows"]
    assert mmap[0] == 1 and mmap[1] == log.splitlines()[0]
    assert data["names"][mmap[2] >> 2] == "mmap" and mmap[2] & reportlib.DIFFERS
    assert mmap[6] == "0x7ffff7ffd000"  # what the model chose instead
    assert munmap[2] & reportlib.FAILED and not munmap[2] & reportlib.DIFFERS
    assert len(munmap) == 6  # nothing to add when the model agrees
    assert data["errors"] == {"munmap EINVAL": 1}
    assert data["summary"]["checked"] == 2 and len(data["summary"]["mismatches"]) == 1


def test_a_call_another_thread_interrupted_shows_both_its_lines() -> None:
    data = reportlib.from_log((DATA / "threads.bundle").read_text(), "threads.bundle")
    assert set(data["names"]) == {"brk", "mmap", "mprotect", "munmap", "mremap", "madvise"}
    split = [row[1].split("\n") for row in data["rows"] if " resumed>" in row[1]]
    assert len(split) > 10
    for first, second in split:
        assert first.endswith("<unfinished ...>") and first.split()[0] == second.split()[0]


def test_a_scenario_report_has_every_call_with_flows_and_page_tables() -> None:
    data = reportlib.from_scenario("pmd")
    names = [data["names"][row[2] >> 2] for row in data["rows"]]
    mremap = names.index("mremap")
    row = data["rows"][mremap]
    assert row[0] is None and row[1].startswith("mremap(")
    assert row[4] == [0, 4, 0, 0]  # 4 PMD entries moved, nothing else
    assert any("Page-table entries moved: 4 PMD entries" in s for s in data["why"][str(mremap)])
    flow = data["flows"][row[3]]
    assert data["functions"][flow[0][0]] == "SYSCALL_DEFINE5(mremap)"
    # The tables changed when the pages were touched and again when they moved.
    assert len(data["tables"]) >= 2 and data["tables"][-1][0] <= len(names) - 1
    assert data["summary"]["calls"]["mremap"] == 1


def test_seed_report_says_the_model_matches_the_kernel() -> None:
    data = reportlib.from_scenario("seed")
    assert data["summary"]["kernel_maps_match"] is True
    assert data["summary"]["program_output"] == ["buf[0] 0x11", "buf[4096] 0x12"]


def test_call_flows_past_the_budget_are_dropped_but_mremaps_go_further(monkeypatch) -> None:
    monkeypatch.setattr(reportlib, "FLOW_NODE_BUDGET", 60)
    data, _ = log_report((DATA / "python-buffers.bundle").read_text())
    assert data["flowsDropped"] > 0
    kept = [data["names"][row[2] >> 2] for row in data["rows"] if row[3] >= 0]
    dropped = [data["names"][row[2] >> 2] for row in data["rows"] if row[3] < 0]
    assert "mremap" in kept and kept[-1] == "mremap" and "mmap" in dropped


def test_page_table_summary_marks_present_ptes() -> None:
    p = Process()
    a = p.mmap(0x7F0000000000, 0x400000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    for offset in (0, 0x3000, 0x200000):
        p.write(a + offset, b"x")
    summary: Any = summarize(p.mm.pgtables)
    ((pgd, ((pud, ((pmd0, bits0), (pmd1, bits1))),)),) = summary
    assert (pgd, pud, pmd0, pmd1) == (a >> 39 & 511, a >> 30 & 511, a >> 21 & 511, pmd0 + 1)
    assert int(bits0, 16) == 0b1001 and int(bits1, 16) == 1 and len(bits0) == 128


def test_each_errno_the_model_returns_is_explained() -> None:
    p = Process()
    rw, anon = PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS
    a = p.mmap(0, 8192, rw, anon)
    p.mmap(a + 8192, 4096, PROT_READ, anon | MAP_FIXED_NOREPLACE)
    failing = {
        ("mmap", errno.EINVAL): lambda: p.mmap(0, 0, rw, anon),
        ("mmap", errno.EEXIST): lambda: p.mmap(a, 4096, rw, anon | MAP_FIXED_NOREPLACE),
        ("mmap", errno.EBADF): lambda: p.mmap(0, 4096, rw, MAP_PRIVATE, 42),
        ("munmap", errno.EINVAL): lambda: p.munmap(a + 1, 4096),
        ("mremap", errno.EINVAL): lambda: p.mremap(a + 1, 4096, 8192),
        ("mremap", errno.EFAULT): lambda: p.mremap(0x10000, 4096, 8192, MREMAP_MAYMOVE),
        ("mremap", errno.ENOMEM): lambda: p.mremap(a, 8192, 16384),
        ("mprotect", errno.ENOMEM): lambda: p.mprotect(0x10000, 4096, PROT_READ),
        ("madvise", errno.EINVAL): lambda: p.madvise(a, 4096, 12345),
        ("mseal", errno.EINVAL): lambda: p.mseal(a, 4096, 1),
    }
    for (call, number), run in failing.items():
        with pytest.raises(OSError) as caught:
            run()
        assert caught.value.errno == number, (call, number)
        assert explain(call, errno.errorcode[number]), (call, number)
    for entry in errno_table():
        assert hasattr(errno, str(entry["errno"]))
        assert syscalls.SYSCALLS[str(entry["call"])].modelled


def test_strings_from_the_log_cannot_become_markup(tmp_path: Path) -> None:
    source = tmp_path / "<b onclick=alert(2)>x.log"
    source.write_text(SCRIPT_LOG)
    page = render(reportlib.from_log(SCRIPT_LOG, str(source)))
    assert page.count("<script") == 2  # the data and the page's own script
    assert "alert(1)" in page and "<script>alert" not in page and "<b " not in page
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page
    assert page.count("&lt;b onclick=alert(2)&gt;x.log") == 3  # title, heading, source


def test_the_page_allows_only_its_own_script_and_style_and_no_network() -> None:
    page = render(reportlib.from_scenario("seed"))
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None and "default-src 'none'" in policy[1]
    script = page[page.rindex("<script>") + len("<script>") : page.rindex("</script>")]
    style = page[page.index("<style>") + len("<style>") : page.index("</style>")]
    for text in (script, style):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy[1]
    assert not re.search(r"""(src|href)=["']https?:""", page)
    data = page[page.index('id="vmsim-data">') + 16 : page.index("</script>")]
    assert json.loads(data)["title"].startswith("The seed's example")


def test_report_command(tmp_path: Path) -> None:
    runner = CliRunner()
    usage = runner.invoke(main, ["report", "--help"]).output
    assert "Usage: main report [OPTIONS] SOURCE" in usage and "self-contained" in usage
    out = tmp_path / "seed.html"
    result = runner.invoke(main, ["report", "seed", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>") and "5 calls" in result.output
    bundle = tmp_path / "prog.html"
    result = runner.invoke(main, ["report", str(DATA / "threads.bundle"), "-o", str(bundle)])
    assert result.exit_code == 0 and bundle.stat().st_size > 10_000
    missing = runner.invoke(main, ["report", str(tmp_path / "nothing.log")])
    assert missing.exit_code != 0 and "No such file" in missing.output
