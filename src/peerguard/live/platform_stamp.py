"""Names that say which platform process made a thing (a run cgroup, a temporary run folder), so a later run can
prove that platform is gone: the same pid namespace, and its pid gone or naming a process started at another time.
A name from another pid namespace, or without a stamp, proves nothing: its pids mean nothing here."""

from __future__ import annotations

import os
import re

from peerguard.live.procfs import proc_info

_STAMP = re.compile(r"-n(\d+)-p(\d+)-s(\d+)-")


def _pid_namespace() -> int:
    return os.stat("/proc/self/ns/pid").st_ino


def _start_ticks(pid: int) -> int | None:
    info = proc_info(pid)
    return info.start_ticks if info is not None else None


def stamp() -> str:
    """This process as part of a name: `-n<pid namespace>-p<pid>-s<start time>` (a `-` must follow it)."""
    pid = os.getpid()
    return f"-n{_pid_namespace()}-p{pid}-s{_start_ticks(pid)}"


def platform_gone(name: str) -> bool:
    """Whether the platform stamped in `name` (its last stamp) provably no longer runs."""
    stamps = _STAMP.findall(name)
    if not stamps:
        return False
    namespace, pid, started = (int(part) for part in stamps[-1])
    return namespace == _pid_namespace() and _start_ticks(pid) != started
