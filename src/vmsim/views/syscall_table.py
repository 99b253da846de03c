"""The system-call table as people read it: a list for the terminal, a table for the
README (generated: ``vmsim calls --markdown``), a record per call for tools."""

from __future__ import annotations

from typing import Any

from ..kernel import syscalls


def records() -> list[dict[str, Any]]:
    """One record per row of the table, modelled calls first."""
    rows = syscalls.modelled() + syscalls.unmodelled()
    return [
        {
            "nr": row.nr,
            "name": row.name,
            "prototype": row.prototype(),
            "args": [
                {"name": arg.name, "type": arg.ctype.name, "role": arg.role} for arg in row.args
            ],
            "result": row.result,
            "modelled": row.modelled,
            "summary": row.summary,
            "errors": {name: reasons for name, reasons in row.errors.items()},
        }
        for row in rows
    ]


def text() -> list[str]:
    """A line per call: number, prototype, and whether the model makes it."""
    return [
        f"{row.nr:4d}  {row.prototype()}" + ("" if row.modelled else "  (not modelled)")
        for row in syscalls.modelled() + syscalls.unmodelled()
    ]


def markdown() -> str:
    """The modelled calls as a Markdown table, then the ones a log is told about."""
    lines = [
        "| nr | call | errors | what it does |",
        "|---:|---|---|---|",
    ]
    for row in syscalls.modelled():
        errors = ", ".join(row.errors) or "none (" + row.note.split(":")[0] + ")"
        lines.append(f"| {row.nr} | `{row.prototype()}` | {errors} | {row.summary} |")
    others = ", ".join(f"`{row.name}`" for row in syscalls.unmodelled())
    lines += [
        "",
        f"Not modelled yet, and reported by name and line when a log makes them: {others}.",
    ]
    return "\n".join(lines)


BEGIN = "<!-- the calls: generated from the system-call table by `make readme` -->"
END = "<!-- end of the calls -->"


def spliced(readme: str) -> str:
    """``readme`` with the text between the markers made anew from the table."""
    head, begin, rest = readme.partition(BEGIN)
    _old, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the README has no {BEGIN!r} ... {END!r} block")
    return f"{head}{BEGIN}\n{markdown()}\n{END}{tail}"


if __name__ == "__main__":
    import sys

    path = sys.argv[1]
    with open(path) as f:
        readme = f.read()
    with open(path, "w") as f:
        f.write(spliced(readme))
