"""The README's example does what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_moves_the_mapping_and_counts_the_ptes() -> None:
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert block is not None
    out = io.StringIO()
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(block.group(1), str(README), "exec"), namespace)
    text = out.getvalue()
    assert "SYSCALL_DEFINE5(mremap)" in text and "move_page_tables" in text
    assert "Counter({'ptes_moved': 1})" in text
    assert namespace["a"] != namespace["b"]  # moved, not grown in place
    assert text.startswith("mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)")
