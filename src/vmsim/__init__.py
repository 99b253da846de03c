"""vmsim: an executable model of the Linux 6.18 x86-64 memory-mapping subsystem.

``Process`` is an address space driven by the same calls a program makes;
everything the kernel's /proc shows and every errno it returns is modelled.
"""

from ._native import COMPILED  # first: it decides where the other modules come from
from .errors import BusError, SegmentationFault
from .fs.file import Inode as File
from .kernel.trace import Trace
from .process import Process
from .uapi import *  # noqa: F403 - the PROT_/MAP_/MREMAP_/MADV_ constants


def _process_html(process: Process) -> str:
    """In Jupyter, a process shows as a picture of its address space."""
    from .views.svg import address_space_html

    return address_space_html(process.maps().splitlines())


# The picture code reads the model; the model knows nothing of pictures.
Process._repr_html_ = _process_html  # type: ignore[attr-defined]

__all__ = ["COMPILED", "BusError", "File", "Process", "SegmentationFault", "Trace"]
__all__ += [name for name in dir() if name.isupper()]
