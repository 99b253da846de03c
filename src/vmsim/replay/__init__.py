"""Replaying a program's strace log (or a bundle from `vmsim record`) into the model.

:mod:`.replayer` runs each call of the log on the model and compares the results,
:mod:`.tasks` keeps the kernel task of every pid, and :mod:`.order` decides the order
of threads' calls that overlap in time.
"""

from .replayer import (
    Mismatch,
    Observer,
    Replayer,
    ReplayReport,
    read_bundle,
    replay_bundle,
    replay_text,
)

__all__ = [
    "Mismatch",
    "Observer",
    "ReplayReport",
    "Replayer",
    "read_bundle",
    "replay_bundle",
    "replay_text",
]
