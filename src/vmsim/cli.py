"""The ``vmsim`` command."""

from __future__ import annotations

import json
import sys

import click

from . import demo as demolib
from .kernel.trace import Trace
from .verify.randops import ALL_MIXES, MIXES


def _emit(text: str, style: str | None = None) -> None:
    """Plain text into pipes and files, colour on a terminal."""
    if style and sys.stdout.isatty():
        from rich.console import Console

        Console(highlight=False).print(text, style=style, markup=False)
    else:
        click.echo(text)


def _section(title: str) -> None:
    _emit("")
    _emit(f"== {title} ==", style="bold cyan")


def render_report(report: demolib.Report, depth: int | None) -> None:
    _emit(report.title, style="bold")
    if report.program_output:
        _section("program output")
        for line in report.program_output:
            _emit(line)
    _section("strace")
    for line in report.strace:
        _emit(line)
    _section("/proc/pid/maps before the mremap")
    _emit(report.maps_before.rstrip("\n"))
    if report.trace is not None:
        _section("kernel call flow (6.18 names)")
        _emit(report.trace.render(max_depth=depth))
        _section("seed step -> 6.18 function")
        seen = [n for n in demolib.SEED_NAMES if n in set(report.trace.names())]
        for name in seen:
            _emit(f"  {demolib.SEED_NAMES[name]}")
    _section("why this path")
    for line in report.explanation:
        _emit(f"  {line}")
    _section("/proc/pid/maps after the mremap (changes)")
    for line in demolib.maps_diff(report.maps_before, report.maps_after):
        _emit(line, style="green" if line.startswith("+") else "red")
    if report.kernel_maps_after is not None:
        same = report.maps_after == report.kernel_maps_after
        verdict = "matches" if same else "DIFFERS FROM"
        _emit("")
        _emit(
            f"The model's maps after the mremap {verdict} the live kernel's, byte for byte "
            "(captured on 6.18 with ASLR off)."
        )


def report_json(report: demolib.Report) -> dict[str, object]:
    trace: Trace | None = report.trace
    return {
        "title": report.title,
        "program_output": report.program_output,
        "strace": report.strace,
        "maps_before": report.maps_before,
        "maps_after": report.maps_after,
        "call_flow": trace.render() if trace else None,
        "counters": dict(trace.counters) if trace else {},
        "explanation": report.explanation,
    }


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vmsim")
def main() -> None:
    """vmsim: an executable model of Linux 6.18 x86-64 memory mapping, centred on mremap()."""


@main.command()
@click.option(
    "--scenario",
    type=click.Choice(["seed", *demolib.SCENARIOS, "all"]),
    default="seed",
    show_default=True,
    help="Which mremap path to show.",
)
@click.option("--depth", type=int, default=None, help="Fold the call flow below this depth.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def demo(scenario: str, depth: int | None, as_json: bool) -> None:
    """Run the seed's example program (or another mremap scenario) through the model."""
    names = ["seed", *demolib.SCENARIOS] if scenario == "all" else [scenario]
    reports = [
        demolib.run_seed_example() if name == "seed" else demolib.SCENARIOS[name]()
        for name in names
    ]
    if as_json:
        click.echo(json.dumps([report_json(r) for r in reports], indent=2))
        return
    for n, report in enumerate(reports):
        if n:
            _emit("\n" + "-" * 78)
        render_report(report, depth)


@main.command()
@click.option("--ops", type=int, default=2000, show_default=True, help="Calls per seed.")
@click.option("--seed", type=int, default=1, show_default=True, help="First seed.")
@click.option("--seeds", type=int, default=1, show_default=True, help="How many seeds.")
@click.option(
    "--mix",
    type=click.Choice(["all", *ALL_MIXES]),
    default="all",
    show_default=True,
    help="What the random calls aim at ('all' is every mix but 'files').",
)
@click.option("--check", is_flag=True, help="Also check the model's invariants after every call.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="vmsim-divergences",
    show_default=True,
    help="Where shrunk reproducers of divergences are written.",
)
@click.option(
    "--replay",
    "replay_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Rerun a reproducer (.json) instead of random sequences.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def verify(
    ops: int,
    seed: int,
    seeds: int,
    mix: str,
    check: bool,
    out: str,
    replay_file: str | None,
    as_json: bool,
) -> None:
    """Run random call sequences on the live kernel and the model; report any divergence,
    shrunk to a small reproducer (JSON for --replay, a Python script and a C program)."""
    from pathlib import Path

    from .verify.live import LiveProcess, live_kernel_available
    from .verify.randops import Coverage, run_sequence
    from .verify.shrink import load_ops, replay, shrink, write_reproducer

    ok, why = live_kernel_available()
    if not ok:
        raise click.ClickException(f"the live kernel cannot be used here: {why}")
    if replay_file is not None:
        try:
            calls = load_ops(Path(replay_file))
        except ValueError as err:
            raise click.ClickException(str(err)) from None
        found = replay(calls, LiveProcess)
        _emit(f"{len(calls)} calls: " + ("no divergence" if found is None else f"\n{found}"))
        sys.exit(0 if found is None else 1)
    mixes = list(MIXES) if mix == "all" else [mix]
    results = []
    coverage = Coverage()
    for name in mixes:
        for s in range(seed, seed + seeds):
            try:
                with LiveProcess() as kernel:
                    done, divergence, calls_run = run_sequence(
                        kernel, s, ops, name, check, coverage
                    )
            except RuntimeError as err:  # the helper died: report it as a divergence
                done, divergence, calls_run = 0, f"the live helper failed: {err}", []
            if divergence is not None and not isinstance(divergence, str):
                small = shrink(calls_run, lambda calls: replay(calls, LiveProcess))
                again = replay(small, LiveProcess) or divergence
                files = write_reproducer(small, again, Path(out) / f"{name}-seed{s}")
                divergence = f"{again}\nshrunk to {len(small)} calls: " + ", ".join(
                    str(f) for f in files
                )
            results.append(
                {
                    "mix": name,
                    "seed": s,
                    "ops": done,
                    "divergence": None if divergence is None else str(divergence),
                }
            )
            if not as_json:
                state = "ok" if divergence is None else f"DIVERGED\n{divergence}"
                _emit(f"{name:>8} seed {s}: {done} ops {state}")
    summary = {
        "calls": dict(coverage.calls),
        "errors": dict(coverage.errors),
        "mremap_paths": dict(coverage.mremap_paths),
        "page_table_entries_moved": dict(coverage.moved),
    }
    if as_json:
        click.echo(json.dumps({"runs": results, "coverage": summary}, indent=2))
    else:
        for title, table in summary.items():
            _emit(f"{title}: " + ", ".join(f"{k} {v}" for k, v in sorted(table.items())))
    if any(r["divergence"] for r in results):
        sys.exit(1)
