"""Bad input to the command line gets one clear message and a non-zero exit; what the
package prints counts in good English; the package shows its API and nothing else, with
docs and signatures compiled or not; the README agrees with the code; the report's page
keeps its parts from covering each other."""

from __future__ import annotations

import ast
import inspect
import json
import os
import pydoc
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import vmsim
from browser import Browser, chromium
from vmsim import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MREMAP_MAYMOVE,
    PROT_READ,
    PROT_WRITE,
    Process,
    _native,
    uapi,
)
from vmsim.cli import main
from vmsim.fs.file import FilesStruct, Inode, OpenFile
from vmsim.mm.mm_types import Credentials, KernelConfig
from vmsim.verify.randops import MIXES, Op
from vmsim.verify.shrink import load_reproducer
from vmsim.views.html import render
from vmsim.views.report import from_log, from_scenario
from vmsim.views.svg import address_space_html
from vmsim.views.terminal import bar_summary, flow_tree
from vmsim.views.why import explain
from vmsim.views.words import plural

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "vmsim"
DATA = Path(__file__).parent / "data"
ONE_MAPPING = ["555555554000-555555555000 r--p 00000000 00:00 0 "]


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args))


def refused(result: click.testing.Result, code: int, *words: str) -> None:
    """One message, naming what was wrong; no traceback."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, result.output


# -- 1. numeric options have their ranges --------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["verify", "--ops", "-1"], "--ops"),
        (["verify", "--ops", "0"], "--ops"),
        (["verify", "--seeds", "0"], "--seeds"),
        (["verify", "--seed", "-1"], "--seed"),
        (["verify", "--jobs", "0"], "--jobs"),
        (["verify", "--depth", "-1"], "--depth"),
        (["demo", "--depth", "0"], "--depth"),
        (["replay", str(DATA / "seed.bundle"), "--depth", "-2"], "--depth"),
    ],
)
def test_a_number_out_of_range_is_a_usage_error_naming_the_option(
    args: list[str], option: str
) -> None:
    refused(invoke(*args), 2, f"Invalid value for '{option}'", "range")


def test_every_numeric_option_of_every_command_has_a_range() -> None:
    assert isinstance(main, click.Group)
    unbounded = [
        f"{name} {param.name}"
        for name, command in main.commands.items()
        for param in command.params
        if isinstance(param.type, click.types._NumberParamTypeBase)
        and not (
            isinstance(param.type, click.types._NumberRangeBase) and param.type.min is not None
        )
    ]
    assert not unbounded
    ranged = {
        (name, param.name)
        for name, command in main.commands.items()
        for param in command.params
        if isinstance(param.type, click.IntRange)
    }
    assert {("verify", "ops"), ("verify", "seeds"), ("verify", "jobs"), ("demo", "depth")} <= ranged


@pytest.mark.parametrize("command", ["calls", "demo", "record", "replay", "report", "verify"])
def test_every_command_has_help(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "Usage" in result.output


# -- 2. names: the closest ones suggested ---------------------------------------------------


def test_a_near_miss_scenario_gets_the_closest_name() -> None:
    refused(invoke("demo", "--scenario", "shrnk"), 2, "no scenario 'shrnk'; did you mean 'shrink'?")
    refused(invoke("report", "mvoe"), 1, "no scenario 'mvoe'; did you mean 'move'?")


def test_a_name_close_to_none_lists_the_names() -> None:
    result = invoke("demo", "--scenario", "grwo")
    refused(result, 2, "no scenario 'grwo'", "seed, shrink, expand")
    assert "did you mean" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "--mix", "file"], "no mix 'file'; did you mean 'files'?"),
        (["verify", "--suite", "ltpp"], "no suite 'ltpp'; did you mean 'ltp'?"),
        (["demo", "--show", "bra"], "no view 'bra'; did you mean 'bar'?"),
    ],
)
def test_other_names_get_suggestions_too(args: list[str], message: str) -> None:
    refused(invoke(*args), 2, message)


def test_report_all_says_what_report_takes(tmp_path: Path) -> None:
    result = invoke("report", "all", "-o", str(tmp_path / "r.html"))
    refused(result, 1, "one scenario", "strace log", "bundle", "seed, shrink, expand")
    assert "No such file or directory" not in result.output
    missing = invoke("report", str(tmp_path / "nothing.log"))
    refused(missing, 1, "No such file", "one scenario: seed")


def test_options_that_would_be_ignored_are_refused(tmp_path: Path) -> None:
    refused(invoke("report", "seed", "--follow", "-o", str(tmp_path / "r.html")), 2, "--follow")
    refused(invoke("verify", "--suite", "ltp", "--replay", "x.json"), 2, "--suite", "--replay")


# -- 3. one, many ------------------------------------------------------------------------------


def test_plural() -> None:
    assert [plural(n, "call") for n in (0, 1, 2)] == ["0 calls", "1 call", "2 calls"]
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"


def test_one_of_a_thing_is_singular_in_the_views() -> None:
    assert bar_summary(ONE_MAPPING).startswith("1 mapping, ")
    assert "1 mapping, " in address_space_html(ONE_MAPPING)
    p = Process()
    p.mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)  # a neighbour above...
    a = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)  # ...of this one
    p.write(a, b"x")
    with p.trace() as t:
        p.mremap(a, 4096, 8192, MREMAP_MAYMOVE)
    assert "Page-table entries moved: 1 PTE (4 KiB)." in explain(t)
    assert "{ 1 call folded }" in flow_tree(t, max_depth=2).plain


def test_one_of_a_thing_is_singular_on_the_command_line(tmp_path: Path) -> None:
    log = tmp_path / "one.log"
    log.write_text("brk(NULL) = 0x555555559000\n")
    replayed = invoke("replay", str(log))
    assert "predicted 1 of 1 result (" in replayed.output, replayed.output
    report = invoke("report", str(log), "-o", str(tmp_path / "one.html"))
    assert ": 1 call, " in report.output, report.output
    assert str(Op("write", (0x1000,), b"x")) == "write(0x1000, 1 byte)"
    reproducer = tmp_path / "case.json"
    reproducer.write_text(json.dumps({"calls": [{"call": "write", "args": [1, 2], "data": "00"}]}))
    with pytest.raises(ValueError, match="write takes 1 argument, got 2"):
        load_reproducer(reproducer)


NOUNS = r"(?:calls|mappings|PTEs|VMAs|results|ops|lines|bytes|arguments|entries|headers|tables)"
HOME_MADE = r"""\w+ [<>=!]=? ?\d+ \? ["'] ?\w+s["']|["']s["'] if \w+ [<>=!]"""


def test_no_count_is_followed_by_a_fixed_plural() -> None:
    """Counts go through plural(): no "{n} calls" in the text the package prints, and no
    home-made "s" if n > 1."""
    sources = [
        *(PACKAGE / "views").glob("*.py"),
        PACKAGE / "demo.py",
        PACKAGE / "cli.py",
        *(PACKAGE / "verify").glob("*.py"),
        *(PACKAGE / "replay").glob("*.py"),
    ]
    found = []
    for path in sources:
        for n, text in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\{[^{}]*\} " + NOUNS + r"\b", text) or re.search(HOME_MADE, text):
                found.append(f"{path.name}:{n}: {text.strip()}")
    script = (PACKAGE / "views" / "templates" / "report.js").read_text()
    found += re.findall(r"\$\{[^{}]*\} " + NOUNS + r"\b", script)
    found += re.findall(HOME_MADE, script)
    assert not found, "\n".join(found)


# -- 4. the package's namespace ---------------------------------------------------------------


def test_the_package_shows_its_api_and_nothing_else() -> None:
    assert dir(vmsim) == sorted(vmsim.__all__)
    for name in ("Final", "annotations", "ulong", "page_align", "SMALL_INT_MAX", "uapi", "mm"):
        assert name not in dir(vmsim)
    for name in ("Final", "annotations", "ulong", "page_align", "SMALL_INT_MAX"):
        assert not hasattr(vmsim, name), name
    assert {"Process", "File", "Trace", "COMPILED", "SegmentationFault", "BusError"} <= set(
        dir(vmsim)
    )
    namespace: dict[str, object] = {}
    exec("from vmsim import *", namespace)
    assert sorted(set(namespace) - {"__builtins__"}) == sorted(vmsim.__all__)
    assert all(hasattr(vmsim, name) for name in vmsim.__all__)


def test_every_constant_of_uapi_is_exported_and_nothing_else() -> None:
    tree = ast.parse((PACKAGE / "uapi.py").read_text())
    constants = [
        node.target.id
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    ]
    # SMALL_INT_MAX is compiled code's business, not the kernel's.
    assert uapi.__all__ == [name for name in constants if name != "SMALL_INT_MAX"]


# -- 5. docs and signatures, compiled or not ----------------------------------------------------

DOCS = """
import inspect, json, pydoc, vmsim
from vmsim.mm.mm_types import Credentials, KernelConfig
out = {"compiled": vmsim.COMPILED}
for name, obj in [("KernelConfig", KernelConfig), ("Credentials", Credentials),
                  ("File", vmsim.File), ("Trace", vmsim.Trace), ("Process", vmsim.Process),
                  ("Trace.names", vmsim.Trace.names), ("Trace.render", vmsim.Trace.render),
                  ("File.initial_bytes", vmsim.File.initial_bytes)]:
    out[name] = [inspect.getdoc(obj), str(inspect.signature(obj))]
out["help"] = pydoc.plain(pydoc.render_doc(vmsim.Process))
out["help_trace"] = pydoc.plain(pydoc.render_doc(vmsim.Trace))
t = vmsim.Trace()
out["calls"] = [t.render(), t.names(), vmsim.Trace.names(t)]
print(json.dumps(out))
"""


def _docs(**env: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", DOCS],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def _check_docs(docs: dict[str, Any]) -> None:
    for name in ("KernelConfig", "Credentials", "File", "Trace", "Process", "Trace.names"):
        doc, _signature = docs[name]
        assert doc, f"{name} has no docstring"
    assert docs["File"][1].startswith("(path: ")
    assert docs["Trace.render"][1].startswith("(self, max_depth")
    assert "One process (a task and its address space)" in str(docs["help"])
    assert "Every recorded function name" in str(docs["help_trace"])
    assert docs["calls"] == ["", [], []]


def test_the_api_has_docs_and_signatures_here() -> None:
    for cls in (KernelConfig, Credentials, Inode, vmsim.Trace, Process):
        assert inspect.getdoc(cls), cls
        inspect.signature(cls)
    assert "One process" in pydoc.plain(pydoc.render_doc(Process))


def test_the_api_has_the_same_docs_and_signatures_compiled_or_not() -> None:
    pure = _docs(VMSIM_PURE="1")
    assert pure["compiled"] is False
    _check_docs(pure)
    if not _native.extension_modules() or _native.stale_modules():
        pytest.skip("no current compiled build here (`make` builds one)")
    compiled = _docs()
    assert compiled["compiled"] is True
    _check_docs(compiled)
    for name in ("KernelConfig", "Credentials", "File", "Trace", "Trace.names", "Trace.render"):
        assert compiled[name] == pure[name], name


# -- 6. the README and what its commands leave behind ---------------------------------------------

README = (ROOT / "README.md").read_text()


def test_the_readme_names_every_verify_mix() -> None:
    option = re.search(r"--mix \{([a-z,]+)\}", README)
    assert option is not None
    assert option[1].split(",") == [*MIXES, "all"]
    prose = re.search(r"The mixes aim at different things:(.*?)`all` runs each", README, re.S)
    assert prose is not None
    assert re.findall(r"`([a-z]+)` *(?:\(|,|and|$)", prose[1], re.M) == list(MIXES)


def test_the_readme_says_what_exec_does_with_close_on_exec_fds() -> None:
    text = " ".join(README.split())
    mentions = [s for s in re.split(r"(?<=[.;])\s", text) if "close-on-exec" in s]
    assert mentions and any("execve closes the close-on-exec" in s for s in mentions)
    for sentence in mentions:
        assert not re.search(r"not closed|kept across|survive|inherit", sentence), sentence
    files = FilesStruct()
    inode = Inode("/tmp/f", b"x")
    files.fd_install(3, OpenFile(inode), cloexec=True)
    files.fd_install(4, OpenFile(inode))
    files.do_close_on_exec()
    assert sorted(files.fdt) == [4]


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)
@pytest.mark.parametrize(
    "path", ["report.html", "vmsim.bundle", "prog.bundle", "vmsim-divergences/x.json"]
)
def test_what_the_readme_commands_write_is_ignored_by_git(path: str) -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
    assert ignored.returncode == 0, f"{path} is not in .gitignore"


# -- 7. the report's page in a browser ---------------------------------------------------------

CHROMIUM = chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("needs chromium")
    started = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield started
    started.close()


def _open(browser: Browser, tmp_path: Path, data: dict) -> None:
    path = tmp_path / "report.html"
    path.write_text(render(data))
    browser.open(path)


RECT = "(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _sized(browser: Browser, width: int, height: int) -> None:
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )


@needs_chromium
@pytest.mark.parametrize("height", [900, 600])
def test_the_call_list_never_covers_the_errno_table(
    browser: Browser, tmp_path: Path, height: int
) -> None:
    _sized(browser, 1280, height)
    try:
        _open(browser, tmp_path, from_scenario("seed"))
        for block in ("start", "center", "end"):
            browser.evaluate(
                f"document.getElementById('errno-table').scrollIntoView({{block: '{block}'}})"
            )
            calls = browser.evaluate(f"{RECT}(document.getElementById('calls-section'))")
            table = browser.evaluate(f"{RECT}(document.getElementById('errno-table'))")
            assert not _overlap(calls, table), (block, calls, table)
            # What is on top where the table's first cell shows is the table.
            x, y = table[0] + 5, max(table[1], 0) + 5
            assert browser.evaluate(
                f"document.getElementById('errno-table').contains("
                f"document.elementFromPoint({x}, {y}))"
            ), (block, x, y)
    finally:
        _sized(browser, 1280, 900)


@needs_chromium
@pytest.mark.parametrize("width", [1000, 1280, 1600])
@pytest.mark.parametrize("source", ["seed", "move", "pmd", "dup", "threads.bundle"])
def test_the_address_labels_under_the_bar_never_overlap(
    browser: Browser, tmp_path: Path, source: str, width: int
) -> None:
    if source.endswith(".bundle"):
        data = from_log((DATA / source).read_text(), source)
    else:
        data = from_scenario(source)
    _sized(browser, width, 900)
    try:
        _open(browser, tmp_path, data)
        _labels_apart(browser)
    finally:
        _sized(browser, 1280, 900)
    assert browser.problems() == []


def _labels_apart(browser: Browser) -> None:
    for action in ("", "#zoom-call", "#zoom-reset"):
        if action:
            browser.click(action)
        boxes = browser.evaluate(
            "(() => { const svg = document.querySelector('#map svg');"
            " const bar = svg.querySelector('rect').getBoundingClientRect().bottom;"
            " const s = svg.getBoundingClientRect();"
            " return [[s.left, s.right], [...svg.querySelectorAll('text')]"
            "  .map(t => t.getBoundingClientRect()).filter(r => r.top >= bar - 1)"
            "  .map(r => [r.left, r.top, r.right, r.bottom])]; })()"
        )
        (left, right), labels = boxes
        assert len(labels) >= 2, (action, labels)
        for n, a in enumerate(labels):
            assert left - 0.5 <= a[0] and a[2] <= right + 0.5, (action, a, left, right)
            for b in labels[n + 1 :]:
                assert not _overlap(a, b), (action, a, b)


@needs_chromium
def test_the_page_counts_one_call_in_the_singular(browser: Browser, tmp_path: Path) -> None:
    _open(browser, tmp_path, from_log("brk(NULL) = 0x555555559000\n", "one.log"))
    assert browser.evaluate("document.getElementById('filter-count').textContent") == "1 call"
    summary = browser.evaluate("document.getElementById('summary').textContent")
    assert "1 memory call" in summary and "memory calls" not in summary
    assert "1 of 1 result predicted" in summary
    assert browser.problems() == []
