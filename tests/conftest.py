"""Shared fixtures. Every test runs under a check that it left no process behind: no child of the test process,
and no orphan in its process group (where the children of a child it started end up, re-parented to init)."""

from __future__ import annotations

import os
import signal
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest

# A suite started in the background of a shell without job control inherits SIGINT ignored, and so would every
# program a test starts and then stops with SIGINT as a user's Ctrl-C would: those programs get the default back
# (a Python handler here is reset to the default in each program the tests exec).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _still_ignored(signum: int, frame: object) -> None:
    """Ignores the signal in this process, as the suite was asked to; a program it execs gets the default."""


# The same for a suite started under nohup (SIGHUP ignored) or by a supervisor that ignores SIGTERM: the tests that
# stop a run with a hangup or a terminate need their programs to take it as a user's would.
for _signum in (signal.SIGHUP, signal.SIGTERM):
    if signal.getsignal(_signum) is signal.SIG_IGN:
        signal.signal(_signum, _still_ignored)


def _children(pid: int) -> set[int]:
    """Direct children of `pid`, read from /proc (Linux); empty elsewhere."""
    found: set[int] = set()
    task_root = Path(f"/proc/{pid}/task")
    if not task_root.is_dir():
        return found
    for task in task_root.iterdir():
        try:
            found.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _orphans_in_our_process_group(known: Collection[int] = ()) -> set[int]:
    """Processes of this test process's group that were orphaned (re-parented to init), with their descendants:
    where a child's own children end up when the child dies first. Processes of other runs that share the group
    (a second pytest started from the same shell) have a living parent and are not counted, and neither are the
    new children of an orphan in `known` (one there before the test: a shell loop that started this suite)."""
    group, parent_of = os.getpgid(0), {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and int(fields[2]) == group and fields[0] != "Z":
                parent_of[int(entry.name)] = int(fields[1])
    found = {pid for pid, parent in parent_of.items() if parent == 1 and pid not in known}
    grew = True
    while grew:
        more = {pid for pid, parent in parent_of.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Iterator[None]:
    orphans = _orphans_in_our_process_group()
    before = _children(os.getpid()) | orphans
    yield
    leftover = (_children(os.getpid()) | _orphans_in_our_process_group(known=orphans)) - before
    alive = [pid for pid in leftover if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]
    assert not alive, f"test left processes running: {[_describe(pid) for pid in alive]}"


def _describe(pid: int) -> str:
    """A left process as ps would show it: pid, parent, group, state and command line."""
    fields = _stat_fields(pid)
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        argv = "?"
    return f"{pid} ppid {fields[1]} pgid {fields[2]} state {fields[0]}: {argv[:200]}" if fields else f"{pid} (gone)"


def _state(pid: int) -> str:
    fields = _stat_fields(pid)
    return fields[0] if fields else "Z"


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (state, parent, group, ...); empty when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []
