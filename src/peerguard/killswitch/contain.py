"""A kill switch for processes peerguard did not start: a cgroup (a systemd unit's, a container's) or a process tree.

It uses the best the host allows and says which: for a cgroup, `cgroup.kill` (cgroup v2, Linux 5.14), else its
freezer then SIGKILL, else SIGSTOP sweeps then SIGKILL, closing it to new processes first with `pids.max 0` where the
cgroup has one; for a tree, the tree as the kernel's parent links show it at the call, stopped top-down with SIGSTOP
(sweeping again for children forked meanwhile) and then killed, each process held by a pidfd. The verdict is the
same as for peerguard's own runs: nothing of the group may run again for the whole watch window ("escaped at t=..."
otherwise), and a process still there after SIGKILL is "signalled, not yet gone".
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from peerguard.live.hostcheck import Proc, cgroup_members, descendants, held, proc_table
from peerguard.world.errors import PeerguardError

MAX_WATCH_S = 3600.0
POLL_S = 0.01
SWEEPS = 50  # SIGSTOP rounds at most, until no new member turns up


class ContainError(PeerguardError):
    """A group `contain` will not touch: bad input, or the caller's own process or its ancestors."""


@dataclass
class Containment:
    group: str  # what was named: "cgroup PATH" or "process tree of PID"
    protocol: str  # what the host allowed, e.g. "cgroup.kill" or "SIGSTOP top-down, then SIGKILL"
    verdict: str  # "contained", "escaped at t=...", "signalled, not yet gone", "not contained"
    contained: bool
    members: list[int]  # the processes found and stopped
    survivors: list[int]  # still running at the end of the watch
    not_gone: list[int]  # survivors that were sent SIGKILL (uninterruptible sleep)
    escaped_at: float | None  # seconds after the stop began when something of the group ran again
    time_to_containment_s: float | None
    watched_s: float
    closed: list[str] = field(default_factory=list)  # what keeps new processes out ("pids.max")
    caveats: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_watch(watch_s: float) -> None:
    if not math.isfinite(watch_s) or not 0 < watch_s <= MAX_WATCH_S:
        raise ContainError(f"--watch {watch_s}: give seconds in (0, {MAX_WATCH_S:g}]")


def protected_pids() -> set[int]:
    """pid 1, this process and its ancestors: never part of a group `contain` stops."""
    table = proc_table()
    protected, pid = {1, os.getpid()}, os.getpid()
    while pid in table and table[pid].parent > 0:
        pid = table[pid].parent
        protected.add(pid)
    return protected


def check_tree_root(root: int) -> None:
    if root <= 0:
        raise ContainError(f"--pid {root}: give the positive pid of the tree's root process")
    if root in protected_pids():
        who = "init" if root == 1 else "this process or one of its ancestors"
        raise ContainError(f"--pid {root}: that is {who}; contain refuses to stop it (name a tree below it)")
    if not Path(f"/proc/{root}").is_dir():
        raise ContainError(f"--pid {root}: no such process; give the pid of a running process")


def check_cgroup(path: Path) -> None:
    if not (path / "cgroup.procs").is_file():
        raise ContainError(
            f"--cgroup {path}: not a cgroup directory (no cgroup.procs); give a folder under /sys/fs/cgroup"
        )
    inside = cgroup_members(path) & protected_pids()
    if inside:
        raise ContainError(
            f"--cgroup {path}: it holds init, this process or its ancestors (pids {sorted(inside)}); name a cgroup "
            "that holds only the processes to stop"
        )


def contain_tree(root: int, watch_s: float) -> Containment:
    """Stop the process tree under `root` as the kernel links it now; watch it for `watch_s` seconds."""
    check_tree_root(root)
    check_watch(watch_s)
    started = time.monotonic()
    hold = _Held()
    for _ in range(SWEEPS):  # frozen processes cannot fork; a sweep finds the children forked before they stopped
        table = proc_table()
        fresh = [pid for pid in _top_down(table, descendants(table, {root} | set(hold.pids))) if pid not in hold.pids]
        fresh = [pid for pid in fresh if pid not in protected_pids()]
        if not fresh:
            break
        for pid in fresh:
            hold.add(pid, table[pid], signal.SIGSTOP)
    hold.kill_all()
    caveats = [
        "a tree is what the kernel's parent links show at the call: a process that left it earlier (double-forked "
        "to init) is not in it; name its cgroup to include such processes"
    ]
    return _watch(f"process tree of {root}", "SIGSTOP top-down, then SIGKILL", hold, started, watch_s,
                  lambda: descendants(proc_table(), set(hold.alive())), [], caveats)  # fmt: skip


def contain_cgroup(path: Path, watch_s: float) -> Containment:
    """Stop every process in the cgroup `path` (and below it) with the best the host offers; watch it."""
    check_cgroup(path)
    check_watch(watch_s)
    started = time.monotonic()
    closed = []
    limit = path / "pids.max"
    if limit.is_file():
        with contextlib.suppress(OSError):
            limit.write_text("0")  # first: no fork can race the rest
            closed.append("pids.max")
    hold = _Held()
    if (path / "cgroup.kill").is_file():
        protocol = "cgroup.kill"
        table = proc_table()
        for pid in sorted(cgroup_members(path)):
            if pid in table:
                hold.add(pid, table[pid], None)
        (path / "cgroup.kill").write_text("1")
        hold.killed.update(hold.pids)
    else:
        protocol = _freeze(path, hold)
        hold.kill_all()
        _thaw(path)
    return _watch(f"cgroup {path}", protocol, hold, started, watch_s, lambda: cgroup_members(path), closed, [])


class _Held:
    """Processes found, each held by a pidfd from the moment it was found (a recycled pid is never signalled)."""

    def __init__(self) -> None:
        self.pidfds: dict[int, int | None] = {}
        self.killed: set[int] = set()

    @property
    def pids(self) -> list[int]:
        return list(self.pidfds)

    def add(self, pid: int, proc: Proc, sig: int | None) -> None:
        pidfd = None
        with contextlib.suppress(OSError):
            pidfd = os.pidfd_open(pid)
            now = proc_table().get(pid)
            if now is None or now.start_ticks != proc.start_ticks:
                os.close(pidfd)
                return
        self.pidfds[pid] = pidfd
        if sig is not None:
            self.send(pid, sig)

    def send(self, pid: int, sig: int) -> None:
        pidfd = self.pidfds.get(pid)
        with contextlib.suppress(ProcessLookupError):
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, sig)
            else:
                os.kill(pid, sig)

    def kill_all(self) -> None:
        for pid in self.pidfds:
            self.send(pid, signal.SIGKILL)
            self.killed.add(pid)

    def alive(self) -> list[int]:
        table = proc_table()
        return [pid for pid in self.pidfds if not self._gone(pid) and table.get(pid, Proc(pid, "Z", 0, 0)).state != "Z"]

    def _gone(self, pid: int) -> bool:
        pidfd = self.pidfds.get(pid)
        if pidfd is None:
            return not Path(f"/proc/{pid}").exists()
        return bool(select.select([pidfd], [], [], 0)[0])

    def close(self) -> None:
        for pidfd in self.pidfds.values():
            if pidfd is not None:
                os.close(pidfd)


def _freeze(path: Path, hold: _Held) -> str:
    """Freeze the cgroup (v2 cgroup.freeze, v1 freezer.state) or, without a freezer, SIGSTOP sweeps."""
    freeze, state = path / "cgroup.freeze", path / "freezer.state"
    protocol = "SIGSTOP sweeps, then SIGKILL"
    with contextlib.suppress(OSError):
        if freeze.is_file():
            freeze.write_text("1")
            protocol = "cgroup.freeze, then SIGKILL"
        elif state.is_file():
            state.write_text("FROZEN")
            protocol = "freezer.state FROZEN, then SIGKILL"
    for _ in range(SWEEPS):
        table = proc_table()
        fresh = [pid for pid in sorted(cgroup_members(path)) if pid in table and pid not in hold.pidfds]
        if not fresh:
            break
        for pid in fresh:
            hold.add(pid, table[pid], None if protocol.startswith(("cgroup", "freezer")) else signal.SIGSTOP)
    return protocol


def _thaw(path: Path) -> None:
    """Let the killed processes of a frozen cgroup die (the freezer would otherwise keep them)."""
    with contextlib.suppress(OSError):
        if (path / "cgroup.freeze").is_file():
            (path / "cgroup.freeze").write_text("0")
        elif (path / "freezer.state").is_file():
            (path / "freezer.state").write_text("THAWED")


def _top_down(table: dict[int, Proc], pids: set[int]) -> list[int]:
    """Parents before children (by start time: a parent always started first)."""
    return sorted((pid for pid in pids if pid in table), key=lambda pid: table[pid].start_ticks)


def _watch(
    group: str, protocol: str, hold: _Held, started: float, watch_s: float, members_now: Any, closed: list[str],
    caveats: list[str],
) -> Containment:  # fmt: skip
    """Watch the group until `watch_s` after the stop: the first process of it seen running is an escape."""
    contained_at: float | None = None
    escaped_at: float | None = None
    stop_ended = time.monotonic()
    deadline = stop_ended + watch_s
    running: list[int] = []
    try:
        while True:
            table = proc_table()
            now_members = set(members_now()) | set(hold.alive())
            running = [pid for pid in sorted(now_members) if pid in table and table[pid].state != "Z"
                       and not held(table[pid])]  # fmt: skip
            now = time.monotonic()
            if not running and contained_at is None:
                contained_at = now
            elif running and contained_at is not None and escaped_at is None:
                escaped_at = round(now - started, 3)  # nothing ran, and now something of the group does
            if now >= deadline:
                break
            time.sleep(POLL_S)
    finally:
        hold.close()
    not_gone = [pid for pid in running if pid in hold.killed]
    if escaped_at is not None:
        verdict = f"escaped at t={escaped_at:.3f}"
    elif running and len(not_gone) == len(running):
        verdict = "signalled, not yet gone"
    elif running or contained_at is None:
        verdict = "not contained"
    else:
        verdict = "contained"
    return Containment(
        group=group, protocol=protocol, verdict=verdict, contained=verdict == "contained", members=sorted(hold.pids),
        survivors=running, not_gone=not_gone, escaped_at=escaped_at,
        time_to_containment_s=round(contained_at - started, 6) if verdict == "contained" and contained_at else None,
        watched_s=round(time.monotonic() - stop_ended, 3), closed=closed, caveats=caveats,
    )  # fmt: skip
