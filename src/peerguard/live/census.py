"""The run's processes as the kernel lists them, whose each one is by descent, and ledger entries for what changed.

Identity comes from the kernel, never from what a process says about itself: the platform is a child subreaper, so
every process of the run has a parent chain back to a process the platform started. The census reads each new
process's parent when it first sees it and keeps the owner it inherits, so a process that cleared its environment,
renamed itself, left its session or group, or was orphaned and re-parented to us, stays its agent's. A process first
seen already orphaned takes the agent of the cgroup it is in while that holds; failing that it is the run's, of an
unknown owner (`UNKNOWN`), never nobody's. Each process is held by a pidfd from first sight, so a recycled pid is
never mistaken for it and a signal reaches only the process that was found.

Its environment (`PEERGUARD_AGENT`) is kept only as what the process claims to be: a copy a guardian forks of a peer
is ledgered as that peer (`agent`) with its real `owner` beside it; a claim never makes a process anyone else's.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from peerguard.live.host import PROC_MOUNTS, find_cgroup2_mount
from peerguard.live.processes import ProcessOwner, part_name
from peerguard.live.procfs import ProcInfo, proc_info
from peerguard.world.containment import SIGCONT, SIGKILL
from peerguard.world.ledger import EntryKind, Ledger

AGENT_ENV = b"PEERGUARD_AGENT="
CENSUS_S = 0.01  # how often the kernel's list is compared with the ledger
FULL_SCAN_EVERY = 25  # scans: where the run has a cgroup, /proc is walked this much less often (see record())
UNKNOWN = "?"  # the run's process whose owner could not be traced (first seen orphaned, outside any agent's cgroup)
RUNNING_STATES = frozenset("RSDI")  # not stopped (T, t), not a zombie (Z, X)
STOPPED_OR_GONE = frozenset("TtZX")
PF_EXITING = 0x4  # include/linux/sched.h: the task is exiting
SIGKILL_BIT = 1 << (SIGKILL - 1)  # in /proc/<pid>/status SigPnd and ShdPnd


@dataclass
class Tracked:
    pid: int
    start_ticks: int
    owner: str  # the agent it descends from (or UNKNOWN)
    agent: str  # what the ledger calls it: the agent it claims to be when that is one of the run's, else its owner
    pidfd: int | None
    state: str
    listed: bool  # the platform started it (and wrote its spawn entry)


class ProcessCensus:
    def __init__(
        self,
        owner: ProcessOwner,
        ledger: Ledger,
        clock: Callable[[], float],
        agents: Iterable[str] = (),
        max_processes: int | None = None,
        trust_task_count: bool = False,
    ) -> None:
        self.owner, self.ledger, self.clock = owner, ledger, clock
        # Whether the run's pids cgroup counts every process of the run: only when agents cannot leave it (they run as
        # users of their own, who may not write its lists). record() then skips reading lists the count says are
        # unchanged (see _unchanged).
        self.trust_task_count = trust_task_count
        self._listed_count: int | None = None  # the task count just before the last clean read of the lists
        self._changed = True  # a process of the run started or ended since that read
        self.skipped = 0  # record() passes that read no list: nothing had changed
        self.agents = set(agents)
        self.max_processes = max_processes  # per agent, enforced by killing the newest over the bound
        self.tracked: dict[int, Tracked] = {}  # live processes of the run by pid
        self.known: dict[int, str] = {}  # pid -> the agent its ledger entries name, for every process ever ledgered
        self._ledgered: set[tuple[int, int]] = set()  # (pid, start ticks) of every process with a spawn entry
        self._pending: dict[int, str] = {}  # started by the platform, not yet seen by a scan
        self._stopped: dict[int, float] = {}  # pids a kill switch stopped (SIGSTOP), and when
        self.killed: set[int] = set()  # tracked pids a kill switch sent SIGKILL: they can only end
        self._frozen_parts: set[str] = set()  # agents whose cgroup a kill switch froze
        self.resumed: list[tuple[float, int]] = []  # (t, pid) a stopped process seen running again
        self.over_budget = 0  # processes killed for exceeding the bound
        self._exits = select.epoll()  # every held pidfd: readable when any tracked process ended (the run's loop
        # watches it, so an exit is in the ledger when it happens, not at the next scan)
        self._pid_of_fd: dict[int, int] = {}
        self._scans = 0
        self.walks = 0  # /proc walks so far (the rest of the scans read the cgroup's list)
        self._walked_at = float("-inf")  # when the last walk began

    def started(self, pid: int, agent: str) -> None:
        """The platform started this process and wrote its spawn entry itself."""
        self.known[pid] = agent
        self._pending[pid] = agent  # its owner when the next scan first sees it
        self._changed = True

    def was_stopped(self, pids: Iterable[int]) -> None:
        """A kill switch sent these SIGSTOP: seeing one run again later means someone resumed it."""
        now = self.clock()
        for pid in pids:
            self._stopped.setdefault(pid, now)

    def was_killed(self, pids: Iterable[int]) -> None:
        """A kill switch sent these SIGKILL (through their pidfds, or their cgroup's cgroup.kill): none can run code of
        its own again, so none is watched for a resumption any more, and another signal to one would change nothing."""
        for pid in pids:
            if pid in self.tracked:
                self.killed.add(pid)
                self._stopped.pop(pid, None)

    def was_frozen(self, agents: Iterable[str]) -> None:
        self._frozen_parts.update(agents)

    def current(self) -> dict[int, str]:
        """Every live process of the run (pid -> the agent it descends from, or UNKNOWN), from the cgroup's list
        where that accounts for every tracked process (a kill switch looks its members up here once per list)."""
        seen = self._scan_listed()
        if seen is None:
            seen = self._scan()
        return {pid: t.owner for pid, t in seen.items() if t.state not in ("Z", "X")}

    def members(self, agents: Iterable[str], walk: bool = True) -> list[int]:
        """Live processes that descend from these agents, or claim to be one of them while of unknown owner. From a
        /proc walk when `walk`; otherwise (a kill switch's sweeps) from the cgroup's list as record() reads it, with
        a walk where that does not account for every tracked process or the last walk is older than record()'s."""
        wanted = set(agents)
        seen = None
        if not walk and self.clock() - self._walked_at < FULL_SCAN_EVERY * CENSUS_S:
            seen = self._scan_listed()
        if seen is None:
            seen = self._scan()
        return sorted(
            pid
            for pid, t in seen.items()
            if t.state not in ("Z", "X") and (t.owner in wanted or (t.owner == UNKNOWN and t.agent in wanted))
        )

    def any_running(self, agents: Iterable[str]) -> bool:
        """Whether the census's books (no scan) hold a process of these agents (by descent or claim, or of unknown
        owner) that is neither gone nor stopped by a kill switch (SIGSTOP seen in its state, or its part frozen)."""
        wanted = set(agents)
        return any(
            (t.owner in wanted or t.agent in wanted or t.owner == UNKNOWN)
            and t.state not in STOPPED_OR_GONE
            and t.owner not in self._frozen_parts
            for t in self.tracked.values()
        )

    def signal(self, pid: int, sig: int) -> bool:
        """Signal the process the census holds under `pid` (through its pidfd); False if it is not ours or gone."""
        tracked = self.tracked.get(pid)
        if tracked is None:
            return False
        try:
            if tracked.pidfd is not None:
                signal.pidfd_send_signal(tracked.pidfd, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True

    def frozen(self, pid: int) -> bool:
        """Stopped by a signal, or in a frozen cgroup: it cannot run until someone resumes it."""
        tracked = self.tracked.get(pid)
        if tracked is None:
            return False
        return tracked.state in ("T", "t") or _cgroup_frozen(pid)

    def record(self) -> None:
        """Bring the ledger up to date (every scan does); notice a stopped process running again; hold every agent
        to its bound.

        Where the run has a cgroup, this reads the cgroup's list and the held pidfds instead of walking /proc, as
        long as that accounts for every tracked process; every FULL_SCAN_EVERY-th time, and whenever a tracked
        process is alive outside the list (it left the cgroup: only a privileged process can), /proc is walked
        from the platform down as before, which also finds a process that left the cgroup before it was seen."""
        self._scans += 1
        seen = (self._unchanged() or self._scan_listed()) if self._scans % FULL_SCAN_EVERY else None
        if seen is None:
            seen = self._scan()
        now = self.clock()
        self._notice_resumed(seen, now)
        if self.max_processes is not None:
            self._hold_to_bound(seen, now)

    def see(self, pids: Iterable[int], now: float | None = None) -> None:
        """Track (and ledger) the processes among `pids` not seen yet, their /proc/<pid>/stat read once: a kill
        switch's list may hold a fork born since the last scan."""
        fresh = _stats(set(pids) - self.tracked.keys())
        at = self.clock() if now is None else now
        for pid, info in sorted(fresh.items(), key=lambda item: (item[1].start_ticks, item[0])):
            if pid not in self.tracked and info.state not in ("Z", "X"):
                self._resolve(pid, fresh, at)

    def exits_fd(self) -> int:
        """A descriptor that turns readable when a tracked process ends: `notice_exits` then ledgers it."""
        return self._exits.fileno()

    def notice_exits(self) -> None:
        """Forget (and ledger the exits of) every tracked process whose pidfd says it ended, each stamped with the
        time just after the poll that said so: never before the exit it records."""
        ended = self._exits.poll(0)
        now = self.clock()
        for fd, _ in ended:
            pid = self._pid_of_fd.get(fd)
            if pid is not None:
                self._forget(pid, now)

    def close(self) -> None:
        for t in self.tracked.values():
            if t.pidfd is not None:
                self._exits.unregister(t.pidfd)
                os.close(t.pidfd)
        self.tracked.clear()
        self._pid_of_fd.clear()
        self._exits.close()

    # -- the kernel's view ---------------------------------------------------------------------

    def _unchanged(self) -> dict[int, Tracked] | None:
        """The books as they stand, without reading the lists, when that is sound: the run's task count is what it was
        just before the last clean read, and no process of the run started or ended since (its pidfd would have said
        so). A process born since would have raised the count, unless a thread ended meanwhile (the count cannot tell
        a fork from a thread): that one is found by the next pass that reads, at the latest the /proc walk every
        FULL_SCAN_EVERY passes. None when a read is due."""
        if not self.trust_task_count or self._listed_count is None:
            return None
        self.notice_exits()
        if self._changed or self.owner.task_count() != self._listed_count:
            return None
        self._refresh_stopped()
        self.skipped += 1
        return self.tracked

    def _scan_listed(self) -> dict[int, Tracked] | None:
        """`_scan` from the run cgroup's list and the held pidfds, without walking /proc: ended processes from one
        poll of their pidfds, new ones from the list (their /proc/<pid>/stat read once, at first sight). None when
        the list does not account for every tracked process (one is alive outside it, or is held without a pidfd)."""
        count = self.owner.task_count() if self.trust_task_count else None  # before the read: a fork after it shows
        self._listed_count, self._changed = None, False
        listed = self.owner.listed_pids()
        if listed is None:
            return None
        self.notice_exits()
        now = self.clock()
        tracked = self.tracked
        # Alive outside the list: it left the cgroup. A process that is exiting has left the list, not the cgroup; one
        # a kill switch sent SIGKILL is exiting, whatever cgroup it is in now.
        if any(pid not in listed and pid not in self.killed and not self.owner.in_run_cgroup(pid) for pid in tracked):
            return None
        self.see(listed, now)
        self._refresh_stopped()
        self._listed_count = count
        return self.tracked

    def _refresh_stopped(self) -> None:
        for pid in self._stopped:  # the only states a scan needs fresh (members() walks /proc for the rest)
            info = proc_info(pid)
            if info is not None and pid in self.tracked:
                self.tracked[pid].state = info.state

    def _scan(self) -> dict[int, Tracked]:
        """Bring `tracked` and the ledger up to date with /proc: a process the platform did not start gets a spawn
        entry when first seen and an exit entry when gone. Parents are resolved before children (older first)."""
        self.walks += 1
        snapshot = self.owner.processes()
        now = self._walked_at = self.clock()
        gone = [
            pid for pid, t in self.tracked.items()
            if pid not in snapshot or snapshot[pid].start_ticks != t.start_ticks or snapshot[pid].state in ("Z", "X")
        ]  # fmt: skip
        for pid in gone:
            self._forget(pid, now)
        for pid, info in sorted(snapshot.items(), key=lambda item: (item[1].start_ticks, item[0])):
            tracked = self.tracked.get(pid)
            if tracked is not None:
                tracked.state = info.state
            elif info.state not in ("Z", "X"):  # a zombie is gone already; orphans it left are resolved by cgroup
                self._resolve(pid, snapshot, now)
        return self.tracked

    def _resolve(self, pid: int, snapshot: dict[int, ProcInfo], now: float, depth: int = 0) -> None:
        """Track `pid`, its parent first when the parent is new too (same clock tick, so not sorted before it)."""
        info = snapshot[pid]
        parent = snapshot.get(info.parent)
        if parent is not None and info.parent not in self.tracked and parent.state not in ("Z", "X") and depth < 64:
            self._resolve(info.parent, snapshot, now, depth + 1)
        if pid not in self.tracked:
            self.tracked[pid] = self._first_sight(pid, info, now)

    def _first_sight(self, pid: int, info: ProcInfo, now: float) -> Tracked:
        listed = self._pending.pop(pid, None)
        parent = self.tracked.get(info.parent)
        if parent is not None and parent.start_ticks > info.start_ticks:
            parent = None  # that pid names a younger process now: not the parent this one was forked by
        if listed is not None:
            owner = listed
        elif parent is not None:
            owner = parent.owner  # descent: the parent was seen first, so its owner is known
        else:
            owner = self._owner_by_cgroup(pid)  # orphaned before we saw it (re-parented to us)
        claim = agent_of_process(pid)
        agent = listed or (claim if claim in self.agents else owner)
        tracked = Tracked(pid, info.start_ticks, owner, agent, _hold(pid, info.start_ticks), info.state, bool(listed))
        if tracked.pidfd is not None:
            self._exits.register(tracked.pidfd, select.EPOLLIN)
            self._pid_of_fd[tracked.pidfd] = pid
        identity = (pid, info.start_ticks)
        self.known[pid] = agent
        if listed is None and identity not in self._ledgered:
            actor = parent.agent if parent is not None else owner
            self.ledger.append(now, EntryKind.spawn, agent, actor, pid=pid, authority="direct", cause="fork",
                               owner=owner, pgid=group_of(pid), sid=session_of(pid),
                               frozen=info.state in ("T", "t") or _cgroup_frozen(pid))  # fmt: skip
        self._ledgered.add(identity)
        return tracked

    def _owner_by_cgroup(self, pid: int) -> str:
        part = self.owner.part_of_cgroup(pid)
        for agent in self.agents:
            if part is not None and part == part_name(agent):
                return agent
        return UNKNOWN

    def _forget(self, pid: int, now: float) -> None:
        tracked = self.tracked.pop(pid)
        self._stopped.pop(pid, None)
        self.killed.discard(pid)
        self._changed = True
        if tracked.pidfd is not None:
            self._exits.unregister(tracked.pidfd)
            del self._pid_of_fd[tracked.pidfd]
            os.close(tracked.pidfd)
        if not tracked.listed:  # the platform ledgers the exits of the processes it started itself
            self.ledger.append(now, EntryKind.exit, tracked.agent, "platform", pid=pid, signal=None, code=None,
                               cause="gone", owner=tracked.owner)  # fmt: skip

    def _notice_resumed(self, seen: dict[int, Tracked], now: float) -> None:
        for pid, since in list(self._stopped.items()):
            tracked = seen.get(pid)
            if tracked is None:
                continue
            if (
                tracked.state in RUNNING_STATES
                and now - since > 2 * CENSUS_S
                and not _cgroup_frozen(pid)
                and not _dying(pid)  # a kill woke it to exit: it runs no code of its own again
            ):
                del self._stopped[pid]
                self.resumed.append((now, pid))
                self.ledger.append(now, EntryKind.signal, tracked.agent, "unknown", pid=pid, sig=SIGCONT,
                                   observed=True, owner=tracked.owner)  # fmt: skip
        for agent in list(self._frozen_parts):
            if self.owner.cgroup is None:
                continue
            freeze = self.owner.cgroup / part_name(agent) / "cgroup.freeze"
            with contextlib.suppress(OSError):
                if freeze.read_text().strip() == "0":  # someone thawed what a kill switch froze
                    self._frozen_parts.discard(agent)
                    for pid, t in seen.items():
                        if t.owner == agent and t.state in RUNNING_STATES and not _dying(pid):
                            self.resumed.append((now, pid))
                            self.ledger.append(now, EntryKind.signal, t.agent, "unknown", pid=pid, sig=SIGCONT,
                                               observed=True, via="cgroup", owner=t.owner)  # fmt: skip

    def _hold_to_bound(self, seen: dict[int, Tracked], now: float) -> None:
        by_owner: dict[str, list[Tracked]] = {}
        for t in seen.values():
            if t.state not in ("Z", "X"):
                by_owner.setdefault(t.owner, []).append(t)
        for owner, processes in by_owner.items():
            if owner == UNKNOWN or self.max_processes is None or len(processes) <= self.max_processes:
                continue
            newest_first = sorted(processes, key=lambda t: t.start_ticks, reverse=True)
            for t in newest_first[: len(processes) - self.max_processes]:
                if not t.listed and self.signal(t.pid, SIGKILL):
                    self.over_budget += 1
                    self.ledger.append(now, EntryKind.signal, t.agent, "platform", pid=t.pid, sig=SIGKILL,
                                       cause="over bound", bound=self.max_processes, owner=owner)  # fmt: skip


def _stats(pids: set[int]) -> dict[int, ProcInfo]:
    found = {pid: proc_info(pid) for pid in pids}
    return {pid: info for pid, info in found.items() if info is not None}


def _hold(pid: int, start_ticks: int) -> int | None:
    """A pidfd for `pid`, if it still names the process started at `start_ticks`."""
    try:
        pidfd = os.pidfd_open(pid)
    except (ProcessLookupError, AttributeError, OSError):
        return None
    now = proc_info(pid)
    if now is not None and now.start_ticks == start_ticks:
        return pidfd
    os.close(pidfd)
    return None


def _dying(pid: int) -> bool:
    """Whether `pid` is on its way out: exiting (PF_EXITING in its /proc flags) or with SIGKILL pending. A stopped
    process sent SIGKILL shows R while the kernel takes its memory back, yet it never runs its own code again."""
    info = proc_info(pid)
    if info is None:
        return True  # gone already
    if info.flags & PF_EXITING:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    pending = (line.split(":", 1) for line in status.splitlines() if line.startswith(("SigPnd:", "ShdPnd:")))
    return any(int(mask, 16) & SIGKILL_BIT for _, mask in pending)


def _cgroup_frozen(pid: int) -> bool:
    """Whether `pid` sits in a frozen cgroup v2 (its state letter does not show it)."""
    mount = _cgroup2_mount()
    if mount is None:
        return False
    try:
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return "frozen 1" in (mount / line[3:].lstrip("/") / "cgroup.events").read_text()
    except OSError:
        return False
    return False


@functools.cache
def _cgroup2_mount() -> Path | None:
    with contextlib.suppress(OSError):
        return find_cgroup2_mount(PROC_MOUNTS.read_text())
    return None


def agent_of_process(pid: int) -> str | None:
    """The agent a process claims to be, from its environment: a claim, never its identity."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    for item in environ.split(b"\0"):
        if item.startswith(AGENT_ENV):
            return item[len(AGENT_ENV) :].decode(errors="replace")
    return None


def process_state(pid: int) -> str:
    """One letter from /proc (R, S, T for stopped, Z, ...), or "" when the process is gone."""
    info = proc_info(pid)
    return info.state if info is not None else ""


def parent_of(pid: int) -> int:
    info = proc_info(pid)
    return info.parent if info is not None else 0


def group_of(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return -1


def session_of(pid: int) -> int:
    try:
        return os.getsid(pid)
    except ProcessLookupError:
        return -1
