"""One process as /proc shows it: its state, parent, start time (which, with the pid, names it for its life) and
kernel flags."""

from __future__ import annotations

import os
from typing import NamedTuple


class ProcInfo(NamedTuple):
    state: str  # one letter from /proc/<pid>/stat; "Z" is a zombie
    parent: int
    start_ticks: int  # with the pid, names one process for its whole life
    flags: int  # the kernel's PF_* flags of the task (PF_EXITING: on its way out)


def proc_info(pid: int) -> ProcInfo | None:
    """`pid` as /proc shows it now, or None when it is gone. Plain os calls: a census walk makes hundreds."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
        try:
            text = os.read(fd, 4096)
        finally:
            os.close(fd)
        fields = text.rsplit(b")", 1)[1].split()  # the command name before ")" may itself contain spaces
        return ProcInfo(fields[0].decode(), int(fields[1]), int(fields[19]), int(fields[6]))
    except (OSError, IndexError, ValueError):
        return None
