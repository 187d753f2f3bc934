"""The run's processes as the kernel lists them, and ledger entries for those the platform did not start.

An agent that forks a copy of a peer itself bypasses the platform's spawn API; the run's cgroup and our
subreaper still see the copy, and its environment still names the agent it claims to be. The census
compares that list with the ledger and records what appeared and what went.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from peerguard.live.processes import ProcessOwner
from peerguard.world.ledger import EntryKind, Ledger

AGENT_ENV = b"PEERGUARD_AGENT="
CENSUS_S = 0.01  # how often the kernel's list is compared with the ledger


class ProcessCensus:
    def __init__(self, owner: ProcessOwner, ledger: Ledger, clock: Callable[[], float]) -> None:
        self.owner, self.ledger, self.clock = owner, ledger, clock
        self.known: dict[int, str] = {}  # every process the ledger has a spawn entry for
        self._unlisted: set[int] = set()  # processes the census found (not started by the platform)
        self._agent_of: dict[int, str | None] = {}

    def started(self, pid: int, agent: str) -> None:
        """The platform started this process and wrote its spawn entry itself."""
        self.known[pid] = agent

    def current(self) -> dict[int, str]:
        """Every live process of the run that belongs to an agent (pid -> agent)."""
        found = {}
        for pid in self.owner.alive():
            if pid not in self._agent_of:
                self._agent_of[pid] = agent_of_process(pid)
            agent = self._agent_of[pid]
            if agent is not None and process_state(pid) not in ("", "Z"):
                found[pid] = agent
        return found

    def record(self) -> None:
        """Ledger the processes that appeared outside the platform, and the end of those that went."""
        now, seen = self.clock(), self.current()
        for pid, agent in seen.items():
            if pid not in self.known:
                self.known[pid] = agent
                self._unlisted.add(pid)
                parent = self.known.get(parent_of(pid), "unknown")
                self.ledger.append(now, EntryKind.spawn, agent, parent, pid=pid, authority="direct", cause="fork",
                                   pgid=group_of(pid), sid=session_of(pid))  # fmt: skip
        for pid in [p for p in self._unlisted if p not in seen]:
            self._unlisted.discard(pid)
            self._agent_of.pop(pid, None)
            self.ledger.append(now, EntryKind.exit, self.known[pid], "platform", pid=pid, signal=None, code=None,
                               cause="gone")  # fmt: skip


def agent_of_process(pid: int) -> str | None:
    """The agent a process belongs to, from the environment it was started with."""
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
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


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
