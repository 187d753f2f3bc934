"""clone3(2) from Python, for the zygote: a fork born in its cgroup (CLONE_INTO_CGROUP) as a sibling of its caller
(CLONE_PARENT), so the new process is the platform's child from its first instruction.

Why not os.fork and then a write of "0" to cgroup.procs: moving a process between cgroups takes the kernel's global
cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period unless another move happened just before:
6 to 14 ms on the project's 2-core machine, most of a relaunch. A process created inside its cgroup takes that lock
only for reading, as every fork does (0.7 ms for the whole clone here).

The call goes through libc's syscall(2) with the interpreter lock held (ctypes.PyDLL), between PyOS_BeforeFork and
PyOS_AfterFork_Child/Parent, exactly the steps os.fork takes around fork(2); the caller must be single-threaded, as
a fork of the zygote already must be. What glibc's fork(2) does beyond the system call (running pthread_atfork
handlers, refreshing the thread's cached tid) is not done: the zygote registers no such handlers, and glibc 2.25 and
later read the pid and, for signals to oneself, the tid from the kernel.
"""

from __future__ import annotations

import ctypes
import os
import platform
import signal

CLONE_PARENT = 0x0000_8000
CLONE_INTO_CGROUP = 0x2_0000_0000
SYS_CLONE3 = 435  # the same number on every architecture Linux has added system calls to since 5.3
UNSUPPORTED = {38, 22, 7}  # ENOSYS (kernel before 5.3), EINVAL (no CLONE_INTO_CGROUP before 5.7), E2BIG


class CloneUnavailable(OSError):
    """This kernel (or this fd) cannot clone into a cgroup: the caller forks the ordinary way."""


class _CloneArgs(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size", "tls",
                     "set_tid", "set_tid_size", "cgroup")
    ]  # fmt: skip


def _syscall() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    call = ctypes.PyDLL(None, use_errno=True).syscall  # PyDLL: the interpreter lock stays held across the call
    call.restype = ctypes.c_long
    call.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_size_t]
    return call


def supported_here() -> bool:
    """Linux on a machine whose syscall numbers we know (the generic table: x86_64, aarch64 and the rest)."""
    return os.name == "posix" and platform.system() == "Linux"


def clone_into(cgroup_fd: int | None, *, sibling: bool = True) -> int:
    """Fork the calling (single-threaded) process; 0 in the child, the child's pid in the parent.

    cgroup_fd: an open cgroup v2 directory the child is born in (None: the caller's cgroup). sibling: the child's
    parent is the caller's parent (CLONE_PARENT). Raises CloneUnavailable when the kernel refuses the call itself;
    any other failure raises OSError with the kernel's errno.
    """
    if not supported_here():
        raise CloneUnavailable("clone3 is Linux's")
    flags = (CLONE_PARENT if sibling else 0) | (CLONE_INTO_CGROUP if cgroup_fd is not None else 0)
    # A sibling takes the caller's own exit signal (the kernel refuses one given with CLONE_PARENT).
    args = _CloneArgs(flags=flags, exit_signal=0 if sibling else int(signal.SIGCHLD), cgroup=cgroup_fd or 0)
    call = _syscall()
    ctypes.pythonapi.PyOS_BeforeFork()
    pid = call(SYS_CLONE3, ctypes.byref(args), ctypes.sizeof(args))
    if pid == 0:
        ctypes.pythonapi.PyOS_AfterFork_Child()
        return 0
    error = ctypes.get_errno()
    ctypes.pythonapi.PyOS_AfterFork_Parent()
    if pid > 0:
        return int(pid)
    if error in UNSUPPORTED:
        raise CloneUnavailable(error, f"clone3 into a cgroup: {os.strerror(error)}")
    raise OSError(error, f"clone3 into a cgroup: {os.strerror(error)}")
