"""Run cgroups left behind by a platform that was SIGKILLed before it could remove them.

Each run cgroup's name carries the platform process that made it (`platform_stamp`). The next run of the same user
removes the ones whose platform provably no longer runs and that hold no process: the kernel refuses to remove a
cgroup with a process in it, so emptiness is the kernel's word, not ours.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from peerguard.live.platform_stamp import platform_gone, stamp

PREFIX = "peerguard-"  # every run cgroup's name starts so


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
