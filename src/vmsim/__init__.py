"""vmsim: an executable model of the Linux 6.18 x86-64 memory-mapping subsystem.

``Process`` is an address space driven by the same calls a program makes;
everything the kernel's /proc shows and every errno it returns is modelled.
"""

# _native first: it decides where the other modules come from.
from . import _native, uapi
from ._native import COMPILED
from .errors import BusError, OutOfMemoryKill, SegmentationFault
from .fs.file import Inode as File
from .kernel.trace import Trace
from .mm import mm_types as _mm_types
from .process import Process
from .uapi import *  # noqa: F403 - the PROT_/MAP_/MREMAP_/MADV_ constants (uapi.__all__)


def _process_html(process: Process) -> str:
    """In Jupyter, a process shows as a picture of its address space."""
    from .views.svg import address_space_html

    return address_space_html(process.maps().splitlines())


# The picture code reads the model; the model knows nothing of pictures.
Process._repr_html_ = _process_html  # type: ignore[attr-defined]

if COMPILED:
    # The compiled classes of the API (Process takes a KernelConfig and Credentials).
    _native.restore_docs(File, Trace, _mm_types.KernelConfig, _mm_types.Credentials)

__all__ = [
    "COMPILED",
    "BusError",
    "File",
    "OutOfMemoryKill",
    "Process",
    "SegmentationFault",
    "Trace",
]
__all__ += uapi.__all__


def __dir__() -> list[str]:
    # The API alone: not the modules that importing binds here.
    return sorted(__all__)
