"""The vmsim command: help everywhere, demo output, verify's error handling."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from vmsim.cli import main
from vmsim.verify.live import live_kernel_available


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"], ["verify", "--help"]])
def test_help(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and "Usage" in result.output


def test_demo_plain_text() -> None:
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0
    assert "buf[0] 0x11" in result.output and "buf[4096] 0x12" in result.output
    assert "SYSCALL_DEFINE5(mremap)" in result.output and "move_page_tables" in result.output
    assert "matches the live kernel's, byte for byte" in result.output
    assert "\x1b[" not in result.output  # no colour into pipes


def test_demo_every_scenario_as_json() -> None:
    result = CliRunner().invoke(main, ["demo", "--scenario", "all", "--json"])
    assert result.exit_code == 0
    reports = json.loads(result.output)
    assert len(reports) == 10
    counters = {r["title"].split(":")[0]: r["counters"] for r in reports}
    assert counters["PUD-aligned move"]["pud_entries_moved"] == 1
    assert counters["PMD-aligned move"]["pmd_entries_moved"] == 4


@pytest.mark.skipif(not live_kernel_available()[0], reason=live_kernel_available()[1])
def test_verify_suites_and_bad_replay(tmp_path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["verify", "--suite", "all"]).exit_code == 0
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = runner.invoke(main, ["verify", "--replay", str(bad)])
    assert result.exit_code != 0 and "cannot read a reproducer" in result.output
    assert "Traceback" not in result.output
