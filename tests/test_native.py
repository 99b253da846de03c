"""The compiled model: used only while it matches its sources, and it gives the same answers."""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vmsim
from vmsim import _native

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def test_a_source_edited_after_the_build_makes_its_module_stale(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    sources = {"a.py": "A = 1\n", "sub/b.py": "B = 2\n"}
    for name, text in sources.items():
        (package / name).write_text(text)
        (package / name).with_suffix(SUFFIX).write_bytes(b"")
    assert _native.stale_modules(package) == ["a.py", "sub/b.py"]  # no record of the build
    digests = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in sources.items()}
    (package / _native.MANIFEST).write_text(json.dumps(digests))
    assert _native.stale_modules(package) == []
    (package / "sub" / "b.py").write_text("B = 3\n")
    assert _native.stale_modules(package) == ["sub/b.py"]
    assert len(_native.extension_modules(package)) == 2


def _run(code: str, **env: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


WHERE = "import vmsim, vmsim.mm.mremap as m; print(vmsim.COMPILED, m.__file__.endswith('.py'))"


def test_vmsim_pure_runs_the_sources() -> None:
    assert _run(WHERE, VMSIM_PURE="1").split() == ["False", "True"]


@pytest.mark.skipif(not _native.extension_modules(), reason="the model is not compiled here")
def test_the_compiled_model_is_in_use_where_it_was_built() -> None:
    # make builds it; a stale build would have fallen back with a warning instead.
    assert vmsim.COMPILED and _native.stale_modules() == []
    assert _run(WHERE).split() == ["True", "False"]


@pytest.mark.skipif(not _native.extension_modules(), reason="the model is not compiled here")
def test_compiled_and_source_models_tell_the_same_story() -> None:
    """The demo's whole output (maps, call flow, page-table moves) and a replayed real log."""
    code = (
        "import sys; from click.testing import CliRunner; from vmsim.cli import main\n"
        "print(CliRunner().invoke(main, ['demo']).output)\n"
        "print(CliRunner().invoke(main, ['replay', '--json', sys.argv[1]]).output)\n"
    )
    bundle = str(Path(__file__).parent / "data" / "gcc-hello.bundle")

    def run(**env: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", code, bundle],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    compiled, pure = run(), run(VMSIM_PURE="1")
    assert "move_page_tables" in compiled and '"accuracy": 1.0' in compiled
    assert compiled == pure
