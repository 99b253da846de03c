"""The symbolic names of error numbers, as ``lib/errname.c`` gives them to printk."""

from __future__ import annotations

import errno


def errname(err: int | None) -> str:
    """``ENOMEM`` for 12; the number itself for one that has no name."""
    return errno.errorcode.get(err or 0, str(err))
