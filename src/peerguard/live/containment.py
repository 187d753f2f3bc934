"""The live platform's side of `world.containment`: kill switches acting on real processes.

Members are found from the kernel, not from the platform's books or what processes say of themselves: every
process of the run that descends from one of the agents (the census), so copies that agents forked themselves are
found too, whatever they did to their environment, session or group. Only processes of this run are ever signalled,
each through the pidfd the census has held since it first saw it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from peerguard.live.census import group_of
from peerguard.world.containment import SIGKILL, SIGSTOP, Unavailable
from peerguard.world.ledger import EntryKind

if TYPE_CHECKING:
    from peerguard.live.platform import LivePlatform


class LiveContainment:
    def __init__(self, platform: LivePlatform) -> None:
        self.platform = platform
        self.owner = platform.owner

    @property
    def now(self) -> float:
        return self.platform.now()

    def members(self, agents: Sequence[str]) -> list[int]:
        return self.platform.processes.members(agents, walk=False)  # a sweep: /proc walked only when needed

    def platform_groups(self, agents: Sequence[str]) -> list[int]:
        # The platform starts every agent process in a group of its own: its pid is the group id.
        return [pid for agent in agents for pid in self.platform.agents[agent].pids]

    def signal(self, pids: Sequence[int], sig: int) -> float:
        started = time.monotonic()
        tracked = self.platform.processes.tracked  # the census's books, as the list's scan just left them
        for pid in pids:
            member = tracked.get(pid)
            self._signal_one(pid, sig, member.owner if member is not None and member.state not in "ZX" else None)
        return time.monotonic() - started

    def _signal_one(self, pid: int, sig: int, agent: str | None) -> None:
        if agent is None:
            return  # not (or no longer) a process of this run: never signal anything else
        census = self.platform.processes
        if pid in census.killed:
            return  # sent SIGKILL already (a sweep before this one): it can only end, and nothing else can reach it
        child = self.platform.child_by_pid(pid)
        if child is not None:
            self.owner.signal(child, sig)
        else:
            census.signal(pid, sig)  # through the pidfd held since first sight: never a recycled pid
        if sig == SIGSTOP:
            census.was_stopped([pid])
        elif sig == SIGKILL:
            census.was_killed([pid])
        self.platform.ledger.append(self.now, EntryKind.signal, census.known.get(pid, agent), "operator", pid=pid,
                                    sig=sig, owner=agent)  # fmt: skip

    def signal_groups(self, pgids: Sequence[int], sig: int) -> float:
        started = time.monotonic()
        census = self.platform.processes.current()
        for group in pgids:
            members = [pid for pid in census if group_of(pid) == group]
            if not members:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)  # a group the platform made for an agent of this run
            if sig == SIGSTOP:
                self.platform.processes.was_stopped(members)
            for pid in members:
                agent = self.platform.processes.known.get(pid, census[pid])
                self.platform.ledger.append(self.now, EntryKind.signal, agent, "operator", pid=pid, sig=sig,
                                            owner=census[pid])  # fmt: skip
        return time.monotonic() - started

    def cgroup_freeze(self, agents: Sequence[str]) -> float:
        return self._cgroup("cgroup freeze", agents, SIGSTOP)

    def cgroup_kill(self, agents: Sequence[str]) -> float:
        return self._cgroup("cgroup kill", agents, SIGKILL)

    def _cgroup(self, mechanism: str, agents: Sequence[str], as_signal: int) -> float:
        if self.owner.cgroup is None:
            raise Unavailable(mechanism, self.owner.support.cgroup.reason)
        started = time.monotonic()
        pids = self.owner.part_pids(agents)  # what the kernel is about to reach, for the ledger: one read a cgroup
        if as_signal == SIGSTOP:
            self.owner.freeze_cgroups(agents)
            self.platform.processes.was_frozen(agents)
        else:
            self.owner.kill_cgroups(agents)
        # Ledgered after the kill, from the census's books (no scan: the dying members would only slow it down);
        # one it had not seen yet (a fork born since its last scan) is tracked and ledgered first, if still there.
        census = self.platform.processes
        at = self.now
        census.see(pids, at)
        tracked = census.tracked
        for pid in sorted(pids):
            member = tracked.get(pid)
            if member is not None:
                self.platform.ledger.append(at, EntryKind.signal, member.agent, "operator", pid=pid, sig=as_signal,
                                            via="cgroup", owner=member.owner)  # fmt: skip
        return time.monotonic() - started

    def revoke_leases(self, agents: Sequence[str]) -> float:
        for agent in agents:
            self.platform.revoke(agent)
        return 0.0

    def cut_links(self, agents: Sequence[str]) -> float:
        started = time.monotonic()
        for agent in agents:
            self.platform.quarantine(agent)
        return time.monotonic() - started
