"""Reading /proc/pid/maps and /proc/pid/smaps text back into records."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAPS_LINE = re.compile(
    r"^(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+) (?P<perms>[r-][w-][x-][sp]) "
    r"(?P<offset>[0-9a-f]+) (?P<major>[0-9a-f]+):(?P<minor>[0-9a-f]+) (?P<inode>\d+)"
    r"(?: +(?P<name>.*))?$"
)
# A mapping's header and its Rss, which smaps prints three lines below it (after
# Size, KernelPageSize and MMUPageSize).
SMAPS_RSS = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) [^\n]*\n(?:[^\n]*\n){3}Rss: +(\d+) kB$", re.M)
SMAPS_FIELD = re.compile(r"^(?P<key>[A-Za-z_]+):\s+(?P<value>\d+)(?: kB)?$")


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


def parse_maps_line(text: str, where: str) -> MapsEntry:
    match = MAPS_LINE.match(text.rstrip("\n"))
    if match is None:
        raise ValueError(f"{where}: not a /proc/pid/maps line: {text.strip()!r}")
    return MapsEntry(
        start=int(match["start"], 16),
        end=int(match["end"], 16),
        perms=match["perms"],
        offset=int(match["offset"], 16),
        major=int(match["major"], 16),
        minor=int(match["minor"], 16),
        inode=int(match["inode"]),
        name=(match["name"] or "").strip(),
    )


def parse_maps(text: str, source: str = "maps") -> list[MapsEntry]:
    return [
        parse_maps_line(line, f"{source} line {n}")
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip()
    ]


def parse_smaps(text: str, source: str = "smaps") -> list[MapsEntry]:
    entries: list[MapsEntry] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("VmFlags:"):
            if not entries:
                raise ValueError(f"{source} line {n}: VmFlags before any mapping")
            entries[-1].vmflags = line.split()[1:]
            continue
        match = SMAPS_FIELD.match(line)
        if match is not None:
            if not entries:
                raise ValueError(f"{source} line {n}: field before any mapping")
            entries[-1].fields[match["key"]] = int(match["value"])
            continue
        if line.startswith(("ProtectionKey:", "THPeligible:")):
            continue
        entries.append(parse_maps_line(line, f"{source} line {n}"))
    return entries


def rss_by_range(smaps: str) -> dict[tuple[int, int], int]:
    """Each mapping's Rss in kB, keyed by (start, end): the one field a check after
    every call needs, found without parsing the rest of smaps."""
    return {(int(lo, 16), int(hi, 16)): int(kb) for lo, hi, kb in SMAPS_RSS.findall(smaps)}
