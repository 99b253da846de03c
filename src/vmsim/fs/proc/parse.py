"""Reading /proc/pid/maps and /proc/pid/smaps text back into records.

What is read is checked as the kernel would have printed it: each field's format and
range, page-aligned ranges below the top of user space (or the [vsyscall] page), in
ascending order without overlap, and smaps' sizes against their range.  Anything else is
a :class:`~vmsim.errors.BadInput` naming the line and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...arch.x86.mmap import TASK_SIZE_4LEVEL
from ...errors import BadInput
from ...uapi import PAGE_SIZE
from .task_mmu import GATE_LINE

# A mapping's header and its Rss, which smaps prints three lines below it (after
# Size, KernelPageSize and MMUPageSize).
SMAPS_RSS = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) [^\n]*\n(?:[^\n]*\n){3}Rss: +(\d+) kB$", re.M)
SMAPS_FIELD = re.compile(r"^(?P<key>[A-Za-z_]+):\s+(?P<value>\d+)(?: kB)?$")
SMAPS_KEY = re.compile(r"^(?P<key>[A-Za-z_]+):(?:\s|$)")
HEX = re.compile(r"[0-9a-fA-F]+")
MNEMONIC = re.compile(r"[a-z0-9]{2}")
ULONG_LIMIT = 1 << 64
# The [vsyscall] page: the one line above user space (show_map() of the gate VMA).
GATE_RANGE = tuple(int(a, 16) for a in GATE_LINE.split()[0].split("-"))
PERMS = ("r-", "w-", "x-", "ps")
FIELDS = ("range", "perms", "offset", "dev", "inode")
# MAJOR() and MINOR() of a dev_t: 12 and 20 bits.
MAJOR_LIMIT, MINOR_LIMIT = 1 << 12, 1 << 20
# The VmFlags that the permissions show, in their order.
PERM_FLAGS = ("rd", "wr", "ex", "ms")


@dataclass
class MapsEntry:
    start: int
    end: int
    perms: str
    offset: int
    major: int
    minor: int
    inode: int
    name: str
    fields: dict[str, int] = field(default_factory=dict)  # smaps sizes, in kB
    vmflags: list[str] | None = None


def _hex(text: str, what: str, source: str, line: int | None) -> int:
    """A hexadecimal field that must fit in 64 bits."""
    if HEX.fullmatch(text) is None:
        raise BadInput(source, f"{text[:40]!r} is not a hexadecimal number", line, f"field {what}")
    number = int(text, 16)
    if number >= ULONG_LIMIT:
        raise BadInput(source, f"{text[:40]} does not fit in 64 bits", line, f"field {what}")
    return number


def parse_maps_line(text: str, source: str = "maps", line: int | None = None) -> MapsEntry:
    """One line: ``START-END PERMS OFFSET MAJOR:MINOR INODE [NAME]``."""
    parts = text.rstrip("\n").split(None, 5)
    if len(parts) < len(FIELDS):
        if not parts:
            raise BadInput(source, "an empty line where a mapping was expected", line)
        missing = FIELDS[len(parts)]
        raise BadInput(
            source,
            f"not a /proc/pid/maps line: {text.strip()[:40]!r} has no {missing} "
            "(START-END PERMS OFFSET MAJOR:MINOR INODE [NAME])",
            line,
            f"field {missing}",
        )
    span, perms, offset_text, dev, inode_text = parts[:5]
    name = parts[5].strip() if len(parts) > 5 else ""
    low, dash, high = span.partition("-")
    if not dash:
        raise BadInput(
            source, f"{span[:40]!r} is not START-END in hexadecimal", line, "field range"
        )
    start, end = _hex(low, "start", source, line), _hex(high, "end", source, line)
    for what, addr in (("start", start), ("end", end)):
        if addr % PAGE_SIZE:
            raise BadInput(source, f"{addr:#x} is not page-aligned", line, f"field {what}")
    if end <= start:
        raise BadInput(source, f"{end:#x} is not above the start {start:#x}", line, "field end")
    gate = (start, end) == GATE_RANGE
    if gate != (name == "[vsyscall]"):
        where = "the [vsyscall] page" if gate else f"{start:#x}-{end:#x}"
        raise BadInput(
            source,
            f"{where} is named {name!r}: only {GATE_LINE.split()[0]} is [vsyscall]",
            line,
            "field name",
        )
    if end > TASK_SIZE_4LEVEL and not gate:
        raise BadInput(
            source,
            f"{end:#x} is above the top of user space ({TASK_SIZE_4LEVEL:#x})",
            line,
            "field end",
        )
    if len(perms) != 4 or any(c not in allowed for c, allowed in zip(perms, PERMS, strict=False)):
        raise BadInput(
            source, f"{perms[:20]!r} is not 4 characters of r/-, w/-, x/-, p/s", line, "field perms"
        )
    offset = _hex(offset_text, "offset", source, line)
    if offset % PAGE_SIZE:
        raise BadInput(
            source, f"{offset:#x} is not a multiple of the page size", line, "field offset"
        )
    if offset + (end - start) > ULONG_LIMIT:
        raise BadInput(
            source, f"{offset:#x} plus the mapping's size is past 2^64", line, "field offset"
        )
    major_text, colon, minor_text = dev.partition(":")
    if not colon or HEX.fullmatch(major_text) is None or HEX.fullmatch(minor_text) is None:
        raise BadInput(source, f"{dev[:40]!r} is not MAJOR:MINOR in hexadecimal", line, "field dev")
    major, minor = int(major_text, 16), int(minor_text, 16)
    if major >= MAJOR_LIMIT or minor >= MINOR_LIMIT:
        raise BadInput(source, f"{dev} is past a device number's 12:20 bits", line, "field dev")
    if not inode_text.isdigit() or not inode_text.isascii():
        raise BadInput(source, f"{inode_text[:40]!r} is not a decimal number", line, "field inode")
    inode = int(inode_text) if len(inode_text) <= 20 else ULONG_LIMIT
    if inode >= ULONG_LIMIT:
        raise BadInput(source, f"{inode_text[:40]} does not fit in 64 bits", line, "field inode")
    return MapsEntry(start, end, perms, offset, major, minor, inode, name)


def _in_order(entry: MapsEntry, prev_end: int, source: str, line: int) -> None:
    if entry.start < prev_end:
        raise BadInput(
            source,
            f"{entry.start:#x} is below the end of the mapping before it ({prev_end:#x}): "
            "mappings are listed in ascending order, without overlap",
            line,
            "field start",
        )


def parse_maps(text: str, source: str = "maps") -> list[MapsEntry]:
    """Every line of /proc/pid/maps text (blank lines are skipped)."""
    entries: list[MapsEntry] = []
    prev_end = 0
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        entry = parse_maps_line(line, source, n)
        _in_order(entry, prev_end, source, n)
        prev_end = entry.end
        entries.append(entry)
    if not entries:
        raise BadInput(source, "no mapping: a process's maps list at least its stack")
    return entries


def parse_smaps(text: str, source: str = "smaps") -> list[MapsEntry]:
    """Every mapping of /proc/pid/smaps text, with its sizes and VmFlags."""
    entries: list[MapsEntry] = []
    header = 0  # the line of the last mapping's header
    prev_end = 0
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip()
        if not line:
            continue
        key = SMAPS_KEY.match(line)
        if key is None:
            if entries:
                _check_sizes(entries[-1], source, header)
            entry = parse_maps_line(line, source, n)
            _in_order(entry, prev_end, source, n)
            prev_end = entry.end
            entries.append(entry)
            header = n
            continue
        name = key["key"]
        if not entries:
            raise BadInput(source, "a field before any mapping", n, f"field {name}")
        if name == "VmFlags":
            flags = line.split()[1:]
            bad = [flag for flag in flags if MNEMONIC.fullmatch(flag) is None]
            if bad:
                raise BadInput(
                    source, f"{bad[0][:20]!r} is not a two-letter flag name", n, "field VmFlags"
                )
            entries[-1].vmflags = flags
            _check_flags(entries[-1], source, n)
            continue
        if name == "ProtectionKey":
            continue
        match = SMAPS_FIELD.match(line)
        if match is None:
            value = line[key.end() :].strip()
            raise BadInput(source, f"{value[:40]!r} is not a number of kB", n, f"field {name}")
        entries[-1].fields[name] = int(match["value"])
    if entries:
        _check_sizes(entries[-1], source, header)
    return entries


def _check_sizes(entry: MapsEntry, source: str, line: int) -> None:
    """Size is the mapping's, Rss no more than that, Anonymous no more than Rss."""
    fields = entry.fields
    size = (entry.end - entry.start) >> 10
    if fields.get("Size", size) != size:
        raise BadInput(
            source, f"{fields['Size']} kB, but the range holds {size} kB", line, "field Size"
        )
    if fields.get("Rss", 0) > size:
        raise BadInput(
            source, f"{fields['Rss']} kB resident in a {size} kB mapping", line, "field Rss"
        )
    if fields.get("Anonymous", 0) > fields.get("Rss", size):
        raise BadInput(
            source,
            f"{fields['Anonymous']} kB anonymous of {fields.get('Rss')} kB resident",
            line,
            "field Anonymous",
        )


def _check_flags(entry: MapsEntry, source: str, line: int) -> None:
    """VmFlags says what the permissions say."""
    flags = set(entry.vmflags or ())
    for flag, perm in zip(PERM_FLAGS, entry.perms, strict=True):
        shown = perm not in "-p"
        if (flag in flags) != shown:
            state = f"lacks {flag!r}" if shown else f"has {flag!r}"
            raise BadInput(
                source,
                f"{state}, but the permissions are {entry.perms!r}",
                line,
                "field VmFlags",
            )
    if "sh" in flags and "ms" not in flags:
        raise BadInput(source, "'sh' (shared) without 'ms' (may share)", line, "field VmFlags")


def rss_by_range(smaps: str) -> dict[tuple[int, int], int]:
    """Each mapping's Rss in kB, keyed by (start, end): the one field a check after
    every call needs, found without parsing the rest of smaps."""
    return {(int(lo, 16), int(hi, 16)): int(kb) for lo, hi, kb in SMAPS_RSS.findall(smaps)}
