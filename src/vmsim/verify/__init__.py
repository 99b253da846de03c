"""Differential testing against the live kernel.

:mod:`vmsim.verify.live` runs memory system calls inside a small helper process
(``helper.c``, compiled on first use, started with ASLR off and an empty environment) and
offers the same call interface as :class:`vmsim.Process`, so that one script can drive the
model and the real kernel side by side and compare results, ``/proc/pid/maps``, ``smaps``
and the resident pages.
"""
