"""The ``vmsim`` command."""

from __future__ import annotations

import contextlib
import difflib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click

from . import demo as demolib
from .errors import BadInput, decode_text
from .kernel.trace import Trace
from .verify.randops import MIXES
from .views import terminal
from .views.calls import watch_process
from .views.mapsdiff import diff_maps
from .views.words import plural


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


def render_report(report: demolib.Report, depth: int | None, views: set[str]) -> None:
    out = terminal.console()
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
    if "bar" in views:
        _section("address space before the mremap")
        out.print(terminal.address_bar(report.maps_before.splitlines(), out.width))
    if report.trace is not None:
        if "tree" in views:
            _section("kernel call flow (6.18 names)")
            out.print(terminal.flow_tree(report.trace, depth, ascii_only=not terminal.utf8(out)))
        _section("seed step -> 6.18 function")
        seen = [n for n in demolib.SEED_NAMES if n in set(report.trace.names())]
        for name in seen:
            _emit(f"  {demolib.SEED_NAMES[name]}")
    _section("why this path")
    for line in report.explanation:
        _emit(f"  {line}")
    after = report.maps_after.splitlines()
    if "diff" in views:
        _section("/proc/pid/maps after the mremap (changes)")
        out.print(terminal.maps_changes(diff_maps(report.maps_before.splitlines(), after)))
    if "bar" in views:
        _section("address space after the mremap")
        out.print(terminal.address_bar(after, out.width))
        out.print(terminal.bar_summary(after))
        out.print(terminal.legend())
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


def _views(ctx: click.Context, param: click.Parameter, value: str) -> set[str]:
    names = {name.strip() for name in value.split(",") if name.strip()} - {"none"}
    unknown = names - set(terminal.VIEWS)
    if unknown:
        choices = [*terminal.VIEWS, "none"]
        raise click.BadParameter(
            "; ".join(unknown_name("view", n, choices) for n in sorted(unknown))
        )
    return names


def unknown_name(what: str, value: str, names: Sequence[str]) -> str:
    """The complaint about a name not among ``names``: the closest ones ("no scenario
    'shrnk'; did you mean 'shrink'?"), or all of them when none is close."""
    close = difflib.get_close_matches(value, names, n=3)
    if close:
        return f"no {what} {value!r}; did you mean {' or '.join(map(repr, close))}?"
    return f"no {what} {value!r} (choose {', '.join(names)})"


class NamedChoice(click.Choice[str]):
    """A choice of names whose error suggests the closest ones."""

    def __init__(self, what: str, names: Sequence[str]) -> None:
        super().__init__(names)
        self.what = what

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        return unknown_name(self.what, str(value), [str(name) for name in self.choices])


def _show_option(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--show",
        "views",
        default=default,
        show_default=True,
        callback=_views,
        help="What to draw for each call, comma-separated: bar (the address space), diff "
        "(the maps lines it changed), tree (its kernel call flow), or none.",
    )


_depth_option = click.option(
    "--depth", type=click.IntRange(min=1), default=None, help="Fold the call flow below this depth."
)


class _Main(click.Group):
    """The command group; input a reader refuses (BadInput, which names the file, line
    and field) ends any command with that one message, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BadInput as err:
            raise click.ClickException(str(err)) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vmsim")
def main() -> None:
    """vmsim: an executable model of Linux 6.18 x86-64 memory mapping, centred on mremap()."""


@main.command()
@click.option(
    "--scenario",
    type=NamedChoice("scenario", ["seed", *demolib.SCENARIOS, "all"]),
    default="seed",
    show_default=True,
    help="Which mremap path to show.",
)
@_depth_option
@_show_option("bar,diff,tree")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def demo(scenario: str, depth: int | None, views: set[str], as_json: bool) -> None:
    """Run the seed's example program (or another mremap scenario) through the model."""
    names = ["seed", *demolib.SCENARIOS] if scenario == "all" else [scenario]
    reports = [demolib.run(name) for name in names]
    if as_json:
        click.echo(json.dumps([report_json(r) for r in reports], indent=2))
        return
    for n, report in enumerate(reports):
        if n:
            _emit("\n" + "-" * 78)
        render_report(report, depth, views)


@main.command()
@click.option("--markdown", is_flag=True, help="As the table in the README.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable: a record per call.")
def calls(markdown: bool, as_json: bool) -> None:
    """List the system calls the model knows: number, the kernel's prototype, and which
    ones a log may make that the model does not handle yet."""
    from .views import syscall_table

    if as_json:
        click.echo(json.dumps(syscall_table.records(), indent=2))
    elif markdown:
        click.echo(syscall_table.markdown())
    else:
        for line in syscall_table.text():
            click.echo(line)


@main.command()
@click.option(
    "--ops", type=click.IntRange(min=1), default=2000, show_default=True, help="Calls per seed."
)
# random.Random(-n) draws what random.Random(n) does, so a negative seed would only repeat one.
@click.option(
    "--seed", type=click.IntRange(min=0), default=1, show_default=True, help="First seed."
)
@click.option(
    "--seeds", type=click.IntRange(min=1), default=1, show_default=True, help="How many seeds."
)
@click.option(
    "--mix",
    type=NamedChoice("mix", ["all", *MIXES]),
    default="all",
    show_default=True,
    help="What the random calls aim at: 'files' adds mappings of a test file, 'bits' "
    "sets high and sign bits in every argument.",
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
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Seeds run in parallel.",
)
@click.option(
    "--pause-damon",
    is_flag=True,
    help="Switch the kernel's DAMON pageout off during the run (root): it unmaps idle "
    "shared and file pages at times nothing in the run decides.",
)
@click.option(
    "--suite",
    type=NamedChoice("suite", ["ltp", "selftests", "gvisor", "all"]),
    default=None,
    help="Run the ported scenario suites on both sides instead of random sequences.",
)
@_show_option("none")
@_depth_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def verify(
    ops: int,
    seed: int,
    seeds: int,
    mix: str,
    check: bool,
    out: str,
    replay_file: str | None,
    jobs: int,
    pause_damon: bool,
    suite: str | None,
    views: set[str],
    depth: int | None,
    as_json: bool,
) -> None:
    """Run random call sequences on the live kernel and the model; report any divergence,
    shrunk to a small reproducer (JSON for --replay, a Python script and a C program).
    With --replay, --show draws each of the reproducer's calls as the model made it."""
    from pathlib import Path

    from .verify.live import LiveProcess, live_kernel_available
    from .verify.reclaim import active_reclaimers, damon_paused
    from .verify.shrink import load_reproducer, replay

    if views and replay_file is None:
        raise click.UsageError("--show draws the calls of a reproducer: use it with --replay")
    if suite is not None and replay_file is not None:
        raise click.UsageError("--suite and --replay each choose what runs: give one")
    # A bad reproducer is reported whether or not the live kernel can run it.
    case = load_reproducer(Path(replay_file)) if replay_file is not None else None
    ok, why = live_kernel_available()
    if not ok:
        raise click.ClickException(f"the live kernel cannot be used here: {why}")
    if suite is not None:
        sys.exit(_run_suites(suite, as_json))
    if case is not None:
        printer = terminal.CallPrinter(views, depth)
        found = replay(
            case, LiveProcess, (lambda model: watch_process(model, printer)) if views else None
        )
        _emit(
            f"{plural(len(case.ops), 'call')}: "
            + ("no divergence" if found is None else f"\n{found}")
        )
        sys.exit(0 if found is None else 1)
    with contextlib.ExitStack() as stack:
        if pause_damon:
            try:
                paused = stack.enter_context(damon_paused())
            except OSError as err:
                raise click.ClickException(f"cannot pause DAMON: {err}") from None
            if paused:
                click.echo(f"paused for this run: {', '.join(paused)}", err=True)
        else:
            for reclaimer in active_reclaimers():
                click.echo(
                    f"note: {reclaimer}: pages idle for a while leave Rss at times the model "
                    "cannot know, so long runs may differ in Rss; --pause-damon stops it",
                    err=True,
                )
        _verify_random(ops, seed, seeds, mix, check, out, jobs, as_json)


def _verify_random(
    ops: int, seed: int, seeds: int, mix: str, check: bool, out: str, jobs: int, as_json: bool
) -> None:
    from .verify.randops import Coverage

    mixes = list(MIXES) if mix == "all" else [mix]
    jobs_list = [(name, s) for name in mixes for s in range(seed, seed + seeds)]
    results = []
    coverage = Coverage()
    with _progress(len(jobs_list), as_json) as advance:
        if jobs > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(_verify_one, n, s, ops, check, out) for n, s in jobs_list]
                for future in futures:
                    results.append(_report_one(future.result(), coverage, as_json))
                    advance()
        else:
            for name, s in jobs_list:
                results.append(
                    _report_one(_verify_one(name, s, ops, check, out), coverage, as_json)
                )
                advance()
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


def _verify_one(name: str, seed: int, ops: int, check: bool, out: str) -> dict[str, Any]:
    """One seed of one mix (a separate process with --jobs): outcome and coverage."""
    from pathlib import Path

    from .verify.live import LiveProcess
    from .verify.randops import Coverage, run_sequence
    from .verify.shrink import Reproducer, replay, shrink, write_reproducer

    coverage = Coverage()
    try:
        with LiveProcess() as kernel:
            done, found, calls_run = run_sequence(kernel, seed, ops, name, check, coverage)
    except RuntimeError as err:  # the helper died: report it as a divergence
        return {
            "mix": name,
            "seed": seed,
            "ops": 0,
            "coverage": coverage,
            "divergence": f"the live helper failed: {err}",
        }
    divergence = None
    if found is not None:
        click.echo(f"{name} seed {seed}: call {found.index + 1}: {found}\nshrinking...", err=True)
        small = shrink(
            calls_run, lambda calls: replay(Reproducer(calls, seed), LiveProcess), what=found.what
        )
        case = Reproducer(small, seed)
        again = replay(case, LiveProcess) or found
        files = write_reproducer(case, again, Path(out) / f"{name}-seed{seed}")
        divergence = f"{again}\nshrunk to {plural(len(small), 'call')}: " + ", ".join(
            map(str, files)
        )
    return {"mix": name, "seed": seed, "ops": done, "coverage": coverage, "divergence": divergence}


def _report_one(result: dict[str, Any], coverage: Any, as_json: bool) -> dict[str, Any]:
    coverage.add(result.pop("coverage"))
    if not as_json:
        state = "ok" if result["divergence"] is None else f"DIVERGED\n{result['divergence']}"
        _emit(f"{result['mix']:>8} seed {result['seed']}: {plural(result['ops'], 'op')} {state}")
    return result


@contextlib.contextmanager
def _progress(total: int, quiet: bool) -> Iterator[Callable[[], None]]:
    """A progress bar on a terminal; nothing in pipes."""
    if quiet or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task("verifying", total=total)
        yield lambda: progress.advance(task)


def _run_suites(suite: str, as_json: bool) -> int:
    """Each ported scenario on the model and on the live kernel; 0 if all pass on both."""
    from .demo import seed_process
    from .verify.live import LiveProcess
    from .verify.suites import CONTRADICTED, SUITES

    rows = []
    for name, scenarios in SUITES.items():
        if suite not in ("all", name):
            continue
        for scenario in scenarios:
            row: dict[str, Any] = {"suite": name, "scenario": scenario.__name__}
            for side_name in ("model", "kernel"):
                try:
                    if side_name == "model":
                        scenario(seed_process())
                    else:
                        with LiveProcess() as kernel:
                            scenario(kernel)
                    row[side_name] = "ok"
                except Exception as err:  # noqa: BLE001 - any failure is the scenario's verdict
                    row[side_name] = f"FAIL: {type(err).__name__}: {err}"
            if scenario in CONTRADICTED:
                row["note"] = f"published expectation contradicted: {CONTRADICTED[scenario]}"
            rows.append(row)
            if not as_json:
                note = f"  ({row['note']})" if "note" in row else ""
                _emit(
                    f"{name:>9} {scenario.__name__}: model {row['model']}, "
                    f"kernel {row['kernel']}{note}"
                )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    return 0 if all(r["model"] == r["kernel"] == "ok" for r in rows) else 1


@main.command()
@click.argument("log", type=click.Path(dir_okay=False))
@click.option(
    "--maps",
    "maps_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The process's /proc/pid/maps right after execve (bundles carry it).",
)
@click.option("--follow", is_flag=True, help="Take the log's results as the truth.")
@_show_option("none")
@_depth_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def replay(
    log: str,
    maps_file: str | None,
    follow: bool,
    views: set[str],
    depth: int | None,
    as_json: bool,
) -> None:
    """Replay a strace log (or a bundle from `vmsim record`) into the model and report
    every result of a memory call (the calls `vmsim calls` lists) that the model predicts
    differently, and each memory call it does not model yet.
    --show draws each memory call as it is replayed."""
    from .replay import read_bundle, replay_text
    from .views.calls import LogWatcher

    text, maps = _read_log(log, maps_file)
    observer = None
    if views and not as_json:
        printer = terminal.CallPrinter(views, depth)
        # Split as the replay splits the log, so that a call's line number finds its text.
        observer = LogWatcher(read_bundle(text, log)[1].split("\n"), printer)
    try:
        report = replay_text(text, maps, follow, observer=observer, source=log)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for line in report.bad_lines:
            _emit(f"{log}: {line}", style="yellow")
        if report.unreadable > len(report.bad_lines):
            more = report.unreadable - len(report.bad_lines)
            _emit(f"{log}: ... and {more} more unreadable lines", style="yellow")
        for mismatch in report.mismatches:
            _emit(str(mismatch), style="red")
        calls = ", ".join(f"{k} {v}" for k, v in sorted(report.calls.items()))
        _emit(f"memory calls: {calls}")
        if report.errors:
            _emit("errors: " + ", ".join(f"{k} {v}" for k, v in sorted(report.errors.items())))
        if report.skipped:
            _emit("skipped: " + ", ".join(f"{k} {v}" for k, v in report.skipped.items()))
        if report.notes:
            _emit("notes: " + ", ".join(f"{k} {v}" for k, v in report.notes.items()))
        for line in report.unmodelled_text():
            _emit(line, style="yellow")
        _emit(
            f"predicted {report.checked - len(report.mismatches)} of "
            f"{plural(report.checked, 'result')} ({report.accuracy:.1%}); "
            f"peak {plural(report.peak_vmas, 'VMA')}, "
            f"{report.peak_rss_pages * 4} kB resident"
        )
    sys.exit(0 if not report.mismatches else 1)


@main.command(
    help="Write one self-contained HTML page about SOURCE: a strace log, a bundle from "
    "`vmsim record`, or a demo scenario ("
    + ", ".join(("seed", *demolib.SCENARIOS))
    + "). The page needs no network: open it in any browser."
)
@click.argument("source")
@click.option(
    "-o",
    "--output",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where the page is written.",
)
@click.option(
    "--maps",
    "maps_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="For a log: the process's /proc/pid/maps right after execve (bundles carry it).",
)
@click.option("--follow", is_flag=True, help="For a log: take its results as the truth.")
def report(source: str, output: str, maps_file: str | None, follow: bool) -> None:
    import os

    from .views import report as reportlib
    from .views.html import render

    _output_file(output)
    scenarios = ["seed", *demolib.SCENARIOS]
    if os.path.exists(source) or source not in scenarios:
        if not os.path.exists(source):
            raise click.ClickException(_no_source(source, scenarios))
        text, maps = _read_log(source, maps_file)
        try:
            data = reportlib.from_log(text, source, maps, follow)
        except ValueError as err:
            raise click.ClickException(str(err)) from None
    elif maps_file is not None or follow:
        raise click.UsageError("--maps and --follow are for a log or bundle, not a scenario")
    else:
        data = reportlib.from_scenario(source)
    page = render(data)
    _write_file(output, page)
    _emit(
        f"{output}: {plural(len(data['rows']), 'call')}, {len(page) >> 10} KiB; "
        "open it in a browser"
    )


def _no_source(source: str, scenarios: list[str]) -> str:
    """Why ``report`` cannot take ``source``: the scenario it may have meant, else what it
    takes."""
    if difflib.get_close_matches(source, scenarios, n=1):
        return f"{unknown_name('scenario', source, scenarios)} (and no file {source})"
    names = ", ".join(scenarios)
    takes = f"SOURCE is a strace log, a bundle from `vmsim record`, or one scenario: {names}"
    if source == "all":
        # demo takes "all"; a report is about one source.
        return f"all: no such file, and a report is about one scenario, not all; {takes}"
    return f"{source}: No such file or directory, and no scenario has that name; {takes}"


def _read_log(log: str, maps_file: str | None) -> tuple[str, str | None]:
    """The text of a log or bundle and of the maps file given with it, if any; the maps
    file is checked here, where its name is known."""
    from .fs.proc.parse import parse_maps

    text = _read_text(log, "a strace log or a bundle")
    maps = None
    if maps_file is not None:
        maps = _read_text(maps_file, "a /proc/pid/maps file")
        parse_maps(maps, maps_file)
    return text, maps


def _read_text(path: str, what: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise click.ClickException(f"{path}: {err.strerror}") from None
    return decode_text(data, path, what)


def _output_file(path: str) -> None:
    """Refuse, before any work, a file that cannot be written: its directory is missing,
    or it is a directory itself."""
    import os

    if os.path.isdir(path):
        raise click.ClickException(f"{path}: is a directory; give the file to write")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise click.ClickException(f"{path}: no directory {parent}")
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise click.ClickException(f"{path}: Permission denied")


def _write_file(path: str, text: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as err:
        raise click.ClickException(f"{path}: {err.strerror}") from None


@main.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "-o",
    "--output",
    default="vmsim.bundle",
    show_default=True,
    help="Where the bundle (exec-time maps + strace log) is written.",
)
@click.option(
    "--all-execs",
    is_flag=True,
    help="Run COMMAND once more under ptrace to the end and keep the maps of every execve "
    "(of children too), to check the model's layout against.",
)
@click.option(
    "--keep-env",
    is_flag=True,
    help="Keep the environment's values in the log (by default only their lengths).",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def record(output: str, all_execs: bool, keep_env: bool, command: tuple[str, ...]) -> None:
    """Run COMMAND under strace with ASLR off and write a bundle `vmsim replay` takes:
    the log, the ELF headers of every program exec'd, the first program's maps."""
    from .record import record as run_record

    _output_file(output)
    try:
        recording = run_record(command, all_execs=all_execs, keep_env=keep_env)
    except (FileNotFoundError, OSError) as err:
        raise click.ClickException(str(err)) from None
    _write_file(output, recording.bundle().text())
    lines = len(recording.log.splitlines())
    _emit(
        f"{output}: {plural(lines, 'strace line')}, "
        f"{plural(len(recording.images), 'ELF header')}; "
        f"the program exited with {recording.status}"
    )
