"""execve(): a new address space for a new program (fs/exec.c).

The new mm starts with one page of stack at the top of the address space; the
file name, the environment and the arguments are copied to its top (growing it
down a page at a time), then the binary format's loader (ELF, or ``#!`` scripts
that name one) maps the program and finishes the stack: 128 KiB more than the
strings need, ending at STACK_TOP.  With ASLR off every step is deterministic,
so the whole layout follows from the program headers, the strings and the
stack rlimit.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..arch.x86.mmap import DEFAULT_MAP_WINDOW, TASK_SIZE_4LEVEL, arch_pick_mmap_layout
from ..errors import syscall_error
from ..kernel.fork import mm_alloc
from ..kernel.trace import traced
from ..mm.memory import access_vm, expand_downwards
from ..mm.mm_types import RLIMIT_STACK, MmStruct, VmAreaStruct
from ..mm.vm_flags import VM_EXEC
from ..mm.vma_exec import VM_STACK_FLAGS, create_init_stack_vma, relocate_vma_down
from ..uapi import O_RDONLY, PAGE_MASK, PAGE_SIZE, page_align
from .binfmt_elf import ElfImage, load_elf_binary, read_elf
from .binfmt_script import BINPRM_BUF_SIZE, ScriptImage, load_script, parse_shebang
from .file import Inode, OpenFile

if TYPE_CHECKING:
    from ..kernel.task import Task

STACK_TOP = DEFAULT_MAP_WINDOW  # TASK_SIZE_LOW for a 64-bit program
STACK_TOP_MAX = TASK_SIZE_4LEVEL  # the same on 4-level paging: the stack never moves
EXSTACK_DEFAULT, EXSTACK_DISABLE_X, EXSTACK_ENABLE_X = 0, 1, 2
STACK_EXPAND = 131072  # setup_arg_pages(): "randomly 32*4k (or 2*64k) pages"
_STK_LIM = 8 << 20
ARG_MAX = 32 * PAGE_SIZE
MAX_ARG_STRLEN = 32 * PAGE_SIZE

ExecImage = ElfImage | ScriptImage
# Finds what exec reads of the file at a path: ELF headers or a #! line (None: no file).
OpenExec = Callable[[str], ExecImage | None]


@dataclass
class LinuxBinprm:
    """struct linux_binprm: the exec in progress."""

    mm: MmStruct
    files: dict[str, Inode]
    filename: str
    open_exec: OpenExec
    rlim_stack: int
    interp: str = ""
    image: ExecImage | None = None
    vma: VmAreaStruct | None = None
    p: int = 0
    argmin: int = 0
    exec: int = 0
    argc: int = 0
    envc: int = 0
    opened: dict[str, OpenFile] = field(default_factory=dict)


def bprm_mm_init(bprm: LinuxBinprm) -> None:
    bprm.vma, bprm.p = create_init_stack_vma(bprm.mm, STACK_TOP_MAX)


def bprm_stack_limits(bprm: LinuxBinprm) -> None:
    """The argument strings may use a quarter of the stack rlimit (at most 6 MiB, at least
    ARG_MAX), less the pointers to them."""
    limit = min(_STK_LIM // 4 * 3, bprm.rlim_stack // 4)
    limit = max(limit, ARG_MAX)
    ptr_size = (max(bprm.argc, 1) + bprm.envc) * 8
    if limit <= ptr_size:
        raise syscall_error(errno.E2BIG)
    limit -= ptr_size
    if bprm.p < limit:
        raise syscall_error(errno.E2BIG)
    bprm.argmin = bprm.p - limit


def copy_string_kernel(arg: bytes, bprm: LinuxBinprm) -> None:
    """Put one NUL-terminated string just below the previous one, growing the stack VMA
    down to it (get_arg_page()) and faulting its pages in."""
    data = arg + b"\0"
    if len(data) > MAX_ARG_STRLEN:
        raise syscall_error(errno.E2BIG)
    bprm.p -= len(data)
    if bprm.p < bprm.argmin:
        raise syscall_error(errno.E2BIG)
    access_vm(bprm.mm, bprm.p, data, len(data))


def copy_strings(strings: list[bytes], bprm: LinuxBinprm) -> None:
    # Last first, so that the first string ends up lowest.
    for arg in reversed(strings):
        copy_string_kernel(arg, bprm)


def remove_arg_zero(bprm: LinuxBinprm) -> None:
    """Step bprm->p over argv[0] (the strings stay where they are)."""
    if not bprm.argc:
        return
    while access_vm(bprm.mm, bprm.p, None, 1) != b"\0":
        bprm.p += 1
    bprm.p += 1
    bprm.argc -= 1


def setup_arg_pages(bprm: LinuxBinprm, stack_top: int, executable_stack: int) -> None:
    """Give the stack its final flags and place, and 128 KiB of room below the strings
    (less if the stack rlimit is smaller)."""
    mm, vma = bprm.mm, bprm.vma
    assert vma is not None
    stack_top = page_align(stack_top & ~0xF)  # arch_align_stack() without randomisation
    if (
        stack_top < mm.config.mmap_min_addr
        or vma.vm_end - vma.vm_start >= stack_top - mm.config.mmap_min_addr
    ):
        raise syscall_error(errno.ENOMEM)
    stack_shift = vma.vm_end - stack_top
    bprm.p -= stack_shift
    bprm.exec -= stack_shift
    vm_flags = VM_STACK_FLAGS
    if executable_stack == EXSTACK_ENABLE_X:
        vm_flags |= VM_EXEC
    elif executable_stack == EXSTACK_DISABLE_X:
        vm_flags &= ~VM_EXEC
    # mprotect_fixup() of the whole VMA, then VM_STACK_INCOMPLETE_SETUP cleared.
    vma.vm_flags = vm_flags | mm.def_flags
    if stack_shift:
        relocate_vma_down(mm, vma, stack_shift)
    stack_size = vma.vm_end - vma.vm_start
    rlim_stack = bprm.rlim_stack & PAGE_MASK
    stack_base = vma.vm_end - min(rlim_stack, stack_size + STACK_EXPAND)
    mm.start_stack = bprm.p
    if stack_base < vma.vm_start and not expand_downwards(mm, vma, stack_base):
        raise syscall_error(errno.EFAULT)


def open_exec_file(bprm: LinuxBinprm, image: ElfImage) -> OpenFile:
    """The struct file exec maps the image from (one per image, so its segments can merge)."""
    opened = bprm.opened.get(image.realpath)
    if opened is None:
        inode = bprm.files.get(image.realpath)
        if inode is None:
            inode = Inode(
                image.realpath,
                size=image.size or 1 << 40,
                dev=image.dev,
                ino=image.ino or None,
            )
            bprm.files[image.realpath] = inode
        opened = bprm.opened[image.realpath] = OpenFile(inode, O_RDONLY)
    return opened


def exec_binprm(bprm: LinuxBinprm) -> None:
    """Hand the file to its binary format; a script hands over to its interpreter."""
    for _depth in range(6):  # "4 levels of binfmt rewrites" and then some
        bprm.image = bprm.open_exec(bprm.interp)
        if bprm.image is None:
            raise syscall_error(errno.ENOENT)
        if isinstance(bprm.image, ScriptImage):
            load_script(bprm)
            continue
        load_elf_binary(bprm)
        return
    raise syscall_error(errno.ELOOP)


@traced("do_execveat_common", args=lambda mm, files, filename, argv, envp, *a, **k: filename)
def do_execveat_common(
    mm: MmStruct,
    files: dict[str, Inode],
    filename: str,
    argv: list[bytes],
    envp: list[bytes],
    open_exec: OpenExec,
    rlim_stack: int,
) -> None:
    """Build the program's address space in ``mm`` (new and empty, its layout chosen)."""
    bprm = LinuxBinprm(mm, files, filename, open_exec, rlim_stack, interp=filename)
    bprm_mm_init(bprm)
    bprm.argc, bprm.envc = len(argv), len(envp)
    bprm_stack_limits(bprm)
    copy_string_kernel(filename.encode("latin-1"), bprm)
    bprm.exec = bprm.p
    copy_strings(envp, bprm)
    copy_strings(argv, bprm)
    if bprm.argc == 0:
        # An empty argv gets "" so that argv[1] is never envp[0].
        copy_string_kernel(b"", bprm)
        bprm.argc = 1
    exec_binprm(bprm)


def do_execve(
    task: Task,
    filename: str,
    argv: list[bytes],
    envp: list[bytes],
    open_exec: OpenExec,
    legacy_layout: bool = False,
) -> None:
    """execve() in ``task``: the program is laid out in a new mm (bprm_mm_init(), its
    layout picked from the stack rlimit as setup_new_exec() does); once it has loaded the
    task runs in it (exec_mmap()) with an fd table of its own, less the fds marked
    close-on-exec (begin_new_exec(): unshare_files(), do_close_on_exec()).  On failure
    the task keeps everything it had."""
    rlim_stack = task.rlimit(RLIMIT_STACK)
    mm = mm_alloc(task.mm.config)
    mm.owner = task
    arch_pick_mmap_layout(mm, rlim_stack, legacy_layout)
    do_execveat_common(mm, task.vfs, filename, argv, envp, open_exec, rlim_stack)
    task.set_mm(mm)
    task.files = task.files.dup_fd()
    task.files.do_close_on_exec()


def read_exec_image(path: str) -> ExecImage:
    """What prepare_binprm() and the loaders read of the file at ``path``: a ``#!`` line,
    or the ELF headers."""
    with open(path, "rb") as f:
        head = f.read(BINPRM_BUF_SIZE)
    return parse_shebang(path, head) or read_elf(path)
