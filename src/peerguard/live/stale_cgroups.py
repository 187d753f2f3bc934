"""Run cgroups left behind by a platform that was SIGKILLed before it could remove them.

Each run cgroup's name carries the platform process that made it: its pid namespace, pid and start time. The next
run of the same user removes the ones whose platform provably no longer runs (same pid namespace, and that pid is
gone or names a process started at another time) and that hold no process: the kernel refuses to remove a cgroup
with a process in it, so emptiness is the kernel's word, not ours. Cgroups of another pid namespace are never
touched: their pids mean nothing here.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from peerguard.live.procfs import proc_info

PREFIX = "peerguard-"  # every run cgroup's name starts so
_STAMP = re.compile(r"-n(\d+)-p(\d+)-s(\d+)-\d+$")


def _pid_namespace() -> int:
    return os.stat("/proc/self/ns/pid").st_ino


def _start_ticks(pid: int) -> int | None:
    info = proc_info(pid)
    return info.start_ticks if info is not None else None


def stamp() -> str:
    """This process as a cgroup name's suffix: `-n<pid namespace>-p<pid>-s<start time>`."""
    pid = os.getpid()
    return f"-n{_pid_namespace()}-p{pid}-s{_start_ticks(pid)}"


def platform_gone(name: str) -> bool:
    """Whether the platform named in a run cgroup's name provably no longer runs."""
    match = _STAMP.search(name)
    if match is None:
        return False  # not stamped (an older version's, or not ours): nothing proves its platform is gone
    namespace, pid, started = (int(part) for part in match.groups())
    if namespace != _pid_namespace():
        return False
    return _start_ticks(pid) != started


def remove_abandoned(parent: Path, prefix: str) -> list[Path]:
    """Remove `parent`'s cgroups named `prefix...` that this user made, whose platform is gone and that are
    empty (child cgroups first); the ones removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if not entry.name.startswith(prefix) or entry.is_symlink() or not entry.is_dir():
                continue
            if entry.stat().st_uid != os.geteuid() or not platform_gone(entry.name):
                continue
            try:
                for directory, _, _ in os.walk(entry, topdown=False):
                    os.rmdir(directory)  # EBUSY while a process is in it: then it stays
            except OSError:
                continue
            removed.append(entry)
    return removed


def fresh_run_cgroup(parent: Path, name: str, serial: int) -> Path:
    """The path for a new run cgroup `name` (it starts with PREFIX) under `parent`, stamped with this process, after
    removing the cgroups there that earlier platforms abandoned."""
    remove_abandoned(parent, PREFIX)
    return parent / f"{name}{stamp()}-{serial}"
