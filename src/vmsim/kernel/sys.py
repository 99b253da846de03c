"""Resource limits as setrlimit() and prlimit64() change them (kernel/sys.c)."""

from __future__ import annotations

import errno
from typing import Final

from ..errors import syscall_error
from ..mm.mm_types import RLIM_INFINITY
from .task import Task

RLIM_NLIMITS: Final = 16


def do_prlimit(task: Task, resource: int, soft: int, hard: int) -> None:
    """Set ``task``'s limit ``resource`` (an unsigned int) to (soft, hard)."""
    if not 0 <= resource < RLIM_NLIMITS:
        raise syscall_error(errno.EINVAL)
    if soft > hard:
        raise syscall_error(errno.EINVAL)
    old_hard = task.signal.rlim.get(resource, (RLIM_INFINITY, RLIM_INFINITY))[1]
    if hard > old_hard and not task.cred.cap_sys_resource:
        raise syscall_error(errno.EPERM)  # only CAP_SYS_RESOURCE raises a hard limit
    task.signal.rlim[resource] = (soft, hard)
