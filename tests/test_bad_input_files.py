"""Bad input from a file: one message naming the file, the line and the field, and a
non-zero exit; never a traceback, a flood of messages, or a silent "100%".

Each format has its reader (strace/parse.py and replay/ for logs, bundle.py for bundles,
fs/proc/parse.py for maps and smaps, verify/shrink.py for reproducers); the API raises
the same message as a ValueError (vmsim.errors.BadInput).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from vmsim import Process
from vmsim.bundle import parse_bundle
from vmsim.cli import main
from vmsim.errors import BadInput
from vmsim.replay import replay_text
from vmsim.replay.replayer import BAD_LINES_KEPT
from vmsim.verify.shrink import load_reproducer

DATA = Path(__file__).parent / "data"
SEED = (DATA / "seed.bundle").read_text()
SEED_LINES = SEED.split("\n")
SEED_MAPS = SEED.split("--- maps\n")[1].split("--- strace\n")[0]
SEED_LOG = SEED.split("--- strace\n")[1]
MAPS_LINE = "7ffff7fc2000-7ffff7fc6000 r--p 00000000 00:00 0"


def run(*args: str) -> tuple[int, str]:
    """``vmsim ARGS``: its exit code and output, which must hold no traceback."""
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def refused(*args: str) -> str:
    """The one-line message of a command that must refuse its input."""
    code, output = run(*args)
    assert code != 0, output
    assert "100.0%" not in output and "predicted" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    return lines[0]


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


# -- 1. a file that is no text ------------------------------------------------------------


def test_a_binary_file_is_no_strace_log(tmp_path: Path) -> None:
    # As an executable begins: bytes 0-4 are ASCII, byte 24 on the second line is not UTF-8.
    binary = b"\x7fELF\n" + b"\x02" * 19 + b"\xd0\x01\x00" + b"\x00" * 100
    path = write(tmp_path, "ls", binary)
    message = refused("replay", path)
    assert f"{path} line 2, byte 24:" in message
    assert "not UTF-8" in message and "not a strace log" in message


# -- 2. a log of junk ---------------------------------------------------------------------


def test_unreadable_lines_are_capped(tmp_path: Path) -> None:
    junk = "".join(f"hello world {n}\n" for n in range(500))
    path = write(tmp_path, "log", SEED_LOG + junk)
    maps = write(tmp_path, "maps", SEED_MAPS)
    code, output = run("replay", path, "--maps", maps)
    assert code == 0
    warnings = [line for line in output.splitlines() if line.startswith(f"{path}: ")]
    assert len(warnings) == BAD_LINES_KEPT + 1
    assert warnings[0] == f"{path}: line {SEED_LOG.count(chr(10)) + 1}: cannot read 'hello world 0'"
    assert warnings[-1] == f"{path}: ... and {500 - BAD_LINES_KEPT} more unreadable lines"
    assert "(100.0%)" in output  # the log's calls still replay


def test_a_log_with_no_system_call_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "log", "".join(f"junk {n}\n" for n in range(20_000)))
    message = refused("replay", path)
    assert message.startswith(f"Error: {path}: not a strace log")
    assert "20000 lines could not be read" in message


def test_a_value_no_register_holds_is_not_a_prediction(tmp_path: Path) -> None:
    """A log line whose argument is wider than 64 bits is refused by name, not replayed
    with the number cut down (which mapped page 0 and counted as predicted)."""
    wide = "mmap(0x1000000000000000000000, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
    log = f"{wide} = 0x7ffff7ff9000\n"
    log += "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7fc1000\n"
    path = write(tmp_path, "log", log)
    code, output = run("replay", path, "--maps", write(tmp_path, "maps", SEED_MAPS))
    assert f"{path}: line 1: mmap: mmap() argument addr: 0x1{'0' * 21} does not fit" in output
    assert code == 0 and "predicted 1 of 1 result (100.0%)" in output

@pytest.mark.parametrize("text", ["", "\n\n", "+++ exited with 0 +++\n"])
def test_an_empty_log_is_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "log", text)
    assert "not a strace log" in refused("replay", path)
    assert "not a strace log" in refused("report", path, "-o", str(tmp_path / "r.html"))


def test_the_report_keeps_a_few_messages_and_counts_them_all() -> None:
    report = replay_text(SEED_LOG + "x\n" * 100_000)
    assert len(report.bad_lines) == BAD_LINES_KEPT and report.unreadable == 100_000
    assert report.as_dict()["unreadable_lines"] == 100_000
    with pytest.raises(ValueError, match="^log: not a strace log"):
        replay_text("x\n" * 10)


# -- 3. maps and smaps ----------------------------------------------------------------------

BAD_MAPS = [
    # (maps text, line, field, what the message says)
    ("7ffff7fc2000-7ffff7fc1000 r--p 00000000 00:00 0", 1, "end", "is not above the start"),
    ("7ffff7fc2000-1ffffffffffff0000 r--p 00000000 00:00 0", 1, "end", "fit in 64 bits"),
    ("7ffff7fc2000-ffffffffffff0000 r--p 00000000 00:00 0", 1, "end", "top of user space"),
    (f"{MAPS_LINE}\n7ffff7fc4000-7ffff7fc8000 r--p 00000000 00:00 0", 2, "start", "below"),
    (f"{MAPS_LINE}\n{MAPS_LINE}", 2, "start", "ascending order"),
    ("7ffff7fc2001-7ffff7fc6000 r--p 00000000 00:00 0", 1, "start", "page-aligned"),
    ("7ffff7fc2000-7ffff7fc6800 r--p 00000000 00:00 0", 1, "end", "page-aligned"),
    ("7ffff7fc2000-7ffff7fc6000 rwzp 00000000 00:00 0", 1, "perms", "r/-, w/-, x/-, p/s"),
    ("7ffff7fc2000-7ffff7fc6000 r--pp 00000000 00:00 0", 1, "perms", "4 characters"),
    ("7ffff7fc2000-7ffff7fc6000 r--p 00000g00 08:01 5 /f", 1, "offset", "hexadecimal"),
    ("7ffff7fc2000-7ffff7fc6000 r--p 00000010 08:01 5 /f", 1, "offset", "page size"),
    ("7ffff7fc2000-7ffff7fc6000 r--p fffffffffffff000 08:01 5 /f", 1, "offset", "2^64"),
    ("7ffff7fc2000-7ffff7fc6000 r--p 00000000 0801 5 /f", 1, "dev", "MAJOR:MINOR"),
    ("7ffff7fc2000-7ffff7fc6000 r--p 00000000 1000:01 5 /f", 1, "dev", "12:20 bits"),
    ("7ffff7fc2000-7ffff7fc6000 r--p 00000000 08:01 5x /f", 1, "inode", "decimal"),
    ("7ffff7fc2000-7ffff7fc6000 r--p 00000000 08:01 " + "9" * 30, 1, "inode", "64 bits"),
    ("7ffff7fc2000-7ffff7fc6000 r--p 00000000", 1, "dev", "has no dev"),
    ("7ffff7fc2000-7ffff7fc6000 r--p 00000000 00:00 0 [vsyscall]", 1, "name", "[vsyscall]"),
    ("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0", 1, "name", "[vsyscall]"),
]


@pytest.mark.parametrize(("maps", "line", "field", "says"), BAD_MAPS)
def test_from_maps_names_the_line_and_field(maps: str, line: int, field: str, says: str) -> None:
    with pytest.raises(ValueError, match=rf"^maps line {line}, field {field}: ") as err:
        Process.from_maps(maps + "\n")
    assert says in str(err.value)


@pytest.mark.parametrize(("maps", "line", "field", "says"), BAD_MAPS[::3])
def test_a_maps_file_names_the_file_line_and_field(
    tmp_path: Path, maps: str, line: int, field: str, says: str
) -> None:
    log = write(tmp_path, "log", SEED_LOG)
    path = write(tmp_path, "maps", maps + "\n")
    message = refused("replay", log, "--maps", path)
    assert message.startswith(f"Error: {path} line {line}, field {field}: ") and says in message


def test_empty_maps_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="^maps: no mapping"):
        Process.from_maps("\n")
    path = write(tmp_path, "maps", "")
    assert f"{path}: no mapping" in refused(
        "replay", write(tmp_path, "log", SEED_LOG), "--maps", path
    )


def _smaps() -> str:
    return Process.from_maps(SEED_MAPS).smaps()


@pytest.mark.parametrize(
    ("old", "new", "field", "says"),
    [
        ("Rss:                   0 kB", "Rss:               9999 kB", "Rss", "resident in a"),
        ("Rss:                   0 kB", "Rss:                lots", "Rss", "not a number of kB"),
        ("Size:                  4 kB", "Size:                  8 kB", "Size", "range holds"),
        ("VmFlags: rd mr mw me ", "VmFlags: mr mw me", "VmFlags", "lacks 'rd'"),
        ("VmFlags: rd mr mw me ", "VmFlags: rd wr mr mw me", "VmFlags", "has 'wr'"),
        ("VmFlags: rd mr mw me ", "VmFlags: rd mr mw me ?!", "VmFlags", "two-letter"),
    ],
)
def test_smaps_fields_are_checked(old: str, new: str, field: str, says: str) -> None:
    smaps = _smaps()
    assert old in smaps
    bad = smaps.replace(old, new, 1)
    at = bad.index(new)
    line = bad[:at].count("\n") + 1
    if says in ("resident in a", "range holds"):  # sizes are checked against the header's range
        line = next(
            n
            for n, text in reversed(list(enumerate(bad[:at].split("\n"), 1)))
            if text[:1] in "0123456789abcdef" and "-" in text[:17]
        )
    with pytest.raises(ValueError, match=rf"^smaps line {line}, field {field}: ") as err:
        Process.from_maps(SEED_MAPS, bad)
    assert says in str(err.value)


def test_accepted_maps_make_a_sound_model() -> None:
    """Real maps and smaps restore; damaged copies are refused or restore soundly."""
    process = Process.from_maps(SEED_MAPS)
    process.check()
    again = Process.from_maps(process.maps(), process.smaps())
    again.check()
    assert again.maps() == process.maps()
    rng = random.Random(7)
    lines = SEED_MAPS.splitlines()
    edits = ["000", "fff", "1000", "-", " ", "rw", "s", "[stack]", "[heap]", ":", "0x"]
    for _ in range(300):
        damaged = list(lines)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(damaged))
            at = rng.randrange(len(damaged[i]) + 1)
            cut = at + rng.randint(0, 3)
            damaged[i] = damaged[i][:at] + rng.choice(edits) + damaged[i][cut:]
        try:
            restored = Process.from_maps("\n".join(damaged))
        except BadInput as err:
            assert str(err).startswith("maps")
            continue
        restored.check()


# -- 4. reproducers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "where", "says"),
    [
        ({"calls": 5}, "field calls", "where an array was expected"),
        ([], "", "where an object with its calls was expected"),
        ({}, "field calls", "missing"),
        ({"calls": [7]}, "field calls[0]", "where an object was expected"),
        ({"calls": [{"args": []}]}, "field calls[0].call", "missing"),
        ({"calls": [{"call": "brk", "args": ["0"]}]}, "field calls[0].args[0]", "a string"),
        ({"calls": [{"call": "brk", "args": [True]}]}, "field calls[0].args[0]", "true"),
        ({"calls": [{"call": "execve", "args": [0, 0, 0]}]}, "field calls[0].call", "model"),
        ({"calls": [{"call": "write", "args": [0], "data": "zz"}]}, "field calls[0].data", "hex"),
        ({"calls": [], "test_file": {"seed": None}}, "field test_file.seed", "null"),
        ({"calls": [], "extra": 1}, "field extra", "no such field"),
    ],
)
def test_a_reproducer_names_the_json_field(
    tmp_path: Path, record: object, where: str, says: str
) -> None:
    path = write(tmp_path, "case.json", json.dumps(record))
    with pytest.raises(ValueError) as err:
        load_reproducer(Path(path))
    assert str(err.value).startswith(f"{path}{', ' + where if where else ''}: ")
    assert says in str(err.value)


def test_a_reproducer_names_the_argument_at_fault(tmp_path: Path) -> None:
    calls = [{"call": "brk", "args": [0]}] * 3 + [{"call": "munmap", "args": [0, "4096"]}]
    path = write(tmp_path, "case.json", json.dumps({"calls": calls}))
    message = refused("verify", "--replay", path)
    assert message.startswith(f"Error: {path}, field calls[3].args[1]: a string")
    calls[3] = {"call": "brk", "args": [1 << 64]}
    path = write(tmp_path, "case.json", json.dumps({"calls": calls}))
    assert f"{path}, field calls[3].args[0]: brk() argument addr" in refused(
        "verify", "--replay", path
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"calls": 5}', ", field calls: a whole number where an array was expected"),
        ("{not json", " line 1, column 2: cannot read a reproducer: not JSON"),
        ("[" * 100_000 + "]" * 100_000, ": cannot read a reproducer: JSON nested too deeply"),
        (b"\xff\xfe{}", " line 1, byte 0: 0xff is not UTF-8 text, so this is not a reproducer"),
    ],
)
def test_verify_replay_of_a_bad_reproducer(tmp_path: Path, content: str | bytes, says: str) -> None:
    path = write(tmp_path, "case.json", content)
    assert refused("verify", "--replay", path).startswith(f"Error: {path}{says}")


# -- 5. bundles ---------------------------------------------------------------------------

STRACE_LINE = SEED_LINES.index("--- strace") + 1  # the bundle's line of "--- strace"


def _bad_bundles() -> list[tuple[str, str, str]]:
    """(name, bundle text, what the message starts with after the file's name)."""
    mseal = (DATA / "mseal.bundle").read_text().split("\n")
    elf = next(n for n, line in enumerate(mseal) if line.startswith('{"path"'))
    corrupt = list(mseal)
    value = corrupt[elf].index('"phdrs":') + len('"phdrs":')  # where the array starts
    corrupt[elf] = corrupt[elf][:value] + "@" + corrupt[elf][value + 1 :]
    wrong = json.loads(mseal[elf])
    wrong["phdrs"][2][3] = "0x1000"
    retyped = [*mseal[:elf], json.dumps(wrong), *mseal[elf + 1 :]]
    bad_maps = list(SEED_LINES)
    bad_maps[4] = bad_maps[4].replace("r--p", "r-zp")
    log_lines = SEED_LINES[STRACE_LINE:]
    return [
        ("cut mid-line", SEED[: len(SEED) - 10], f" line {len(SEED_LINES) - 1}, section strace: "),
        (
            "cut at a line",
            "\n".join(SEED_LINES[: STRACE_LINE + 20]) + "\n",
            f" line {STRACE_LINE + 20}, section strace: the log stops before the program's end",
        ),
        (
            "cut in the header",
            "\n".join(SEED_LINES[:8]) + "\n",
            " line 8: the bundle ends with no strace",
        ),
        ("magic alone", "vmsim-bundle 1\n", " line 1: the bundle ends with no strace section"),
        (
            "version",
            SEED.replace("vmsim-bundle 1", "vmsim-bundle 2", 1),
            " line 1: 'vmsim-bundle 2'",
        ),
        ("version 10", SEED.replace("vmsim-bundle 1", "vmsim-bundle 10", 1), " line 1: "),
        (
            "section",
            SEED.replace("--- strace\n", "--- strase\n", 1),
            f" line {STRACE_LINE}: no section",
        ),
        ("maps section", SEED.replace("--- maps\n", "--- map\n", 1), " line 2: no section 'map'"),
        (
            "two maps",
            SEED.replace("--- strace\n", "--- maps\n--- strace\n", 1),
            f" line {STRACE_LINE}, section maps:",
        ),
        (
            "header log",
            "\n".join(SEED_LINES[:STRACE_LINE]) + "\n",
            f" line {STRACE_LINE}, section strace:",
        ),
        ("maps line", "\n".join(bad_maps), " line 5, section maps, field perms: 'r-zp'"),
        (
            "elf JSON",
            "\n".join(corrupt),
            f" line {elf + 1}, section elf /opt/example/mseal, column {value + 1}: "
            "not JSON: Expecting value",
        ),
        (
            "elf field",
            "\n".join(retyped),
            f" line {elf + 1}, section elf /opt/example/mseal, field phdrs[2][3] (p_vaddr): "
            "a string",
        ),
        (
            "no call in the log",
            "\n".join(SEED_LINES[:STRACE_LINE])
            + "\n"
            + "x\n" * len(log_lines)
            + "1 +++ exited with 0 +++\n",
            f" line {STRACE_LINE}, section strace: not a strace log",
        ),
    ]


@pytest.mark.parametrize(
    ("name", "text", "says"), _bad_bundles(), ids=[b[0] for b in _bad_bundles()]
)
def test_a_bad_bundle_names_its_line_and_section(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    path = write(tmp_path, "x.bundle", text)
    message = refused("replay", path)
    assert message.startswith(f"Error: {path}{says}"), message
    with pytest.raises(ValueError, match=r"^log line \d+"):
        replay_text(text)


def test_real_bundles_read_as_before() -> None:
    for path in sorted(DATA.glob("*.bundle")):
        text = path.read_text()
        assert parse_bundle(text, str(path)).text() == text


# -- 6. where record writes -----------------------------------------------------------------


@pytest.mark.parametrize("where", ["missing/dir/x.bundle", "."])
def test_record_checks_its_output_before_running(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "ran"
    output = str(tmp_path / where)
    message = refused("record", "-o", output, "--", "touch", str(marker))
    assert message.startswith(f"Error: {output}: ")
    assert not marker.exists()  # the program never ran


def test_report_checks_its_output_before_replaying(tmp_path: Path) -> None:
    log = write(tmp_path, "log", SEED_LOG)
    output = str(tmp_path / "missing" / "r.html")
    assert refused("report", log, "-o", output).startswith(f"Error: {output}: no directory")


# -- every file the command line reads ------------------------------------------------------

ARBITRARY = {
    "empty": b"",
    "binary": bytes(range(256)) * 8,
    "NUL bytes": b"\x00" * 4096,
    "one huge line": b"7" * (4 << 20),
}


def _commands(tmp_path: Path, path: str) -> list[list[str]]:
    log = write(tmp_path, "seed.log", SEED_LOG)
    return [
        ["replay", path],
        ["replay", log, "--maps", path],
        ["report", path, "-o", str(tmp_path / "r.html")],
        ["report", log, "--maps", path, "-o", str(tmp_path / "r.html")],
        ["verify", "--replay", path],
    ]


@pytest.mark.parametrize("kind", ARBITRARY)
def test_every_file_reader_refuses_arbitrary_bytes(tmp_path: Path, kind: str) -> None:
    path = write(tmp_path, "input", ARBITRARY[kind])
    for command in _commands(tmp_path, path):
        assert refused(*command).startswith(f"Error: {path}"), command


def test_every_file_reader_refuses_a_directory(tmp_path: Path) -> None:
    path = str(tmp_path / "dir")
    Path(path).mkdir()
    for command in _commands(tmp_path, path):
        code, output = run(*command)
        assert code != 0 and path in output and "directory" in output, command
