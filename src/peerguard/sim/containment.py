"""The simulator's side of `world.containment`: what a kill switch may do, with the costs a kernel has.

Signalling a list of processes takes `signal_cost_s` per process, so guardians that react faster than
the list is worked through can win the race, as they do on a real host. Cgroup freeze and kill act on
all of an agent's processes at once, new forks included, but not on those that moved themselves out of
the agent's cgroup (a privileged escaper). Members are every process of the agents, helpers included:
the simulator knows each process's descent, as the live census does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from peerguard.world.containment import SIGKILL, SIGSTOP, Unavailable
from peerguard.world.ledger import EntryKind

if TYPE_CHECKING:
    from peerguard.sim.substrate import SimulatedPlatform


class SimContainment:
    def __init__(self, platform: SimulatedPlatform) -> None:
        self.platform = platform
        self.cost_s = platform.settings.signal_cost_s

    @property
    def now(self) -> float:
        return self.platform.now

    def members(self, agents: Sequence[str]) -> list[int]:
        wanted = set(agents)
        return sorted(pid for pid, proc in self.platform.procs.items() if proc.agent in wanted)

    def platform_groups(self, agents: Sequence[str]) -> list[int]:
        return [group for agent in agents for group in self.platform.platform_groups[agent]]

    def signal(self, pids: Sequence[int], sig: int) -> float:
        for index, pid in enumerate(pids):
            self.platform.loop.after(index * self.cost_s, self.platform.deliver, pid, sig)
        return len(pids) * self.cost_s

    def signal_groups(self, pgids: Sequence[int], sig: int) -> float:
        for index, group in enumerate(pgids):
            self.platform.loop.after(index * self.cost_s, self._signal_group, group, sig)
        return len(pgids) * self.cost_s

    def _signal_group(self, group: int, sig: int) -> None:
        for pid in [pid for pid, proc in self.platform.procs.items() if proc.pgid == group]:
            self.platform.deliver(pid, sig)

    def cgroup_freeze(self, agents: Sequence[str]) -> float:
        self._need_cgroups("cgroup freeze")
        self.platform.frozen_agents.update(agents)
        for pid in self._in_cgroups(agents):
            self.platform.deliver(pid, SIGSTOP)
        return self.cost_s

    def cgroup_kill(self, agents: Sequence[str]) -> float:
        self._need_cgroups("cgroup kill")
        for pid in self._in_cgroups(agents):
            self.platform.deliver(pid, SIGKILL)
        return self.cost_s

    def revoke_leases(self, agents: Sequence[str]) -> float:
        platform = self.platform
        for agent in agents:
            if agent not in platform.revoked:
                platform.revoked.add(agent)
                platform.ledger.append(platform.now, EntryKind.revoke, agent, "operator", epoch=len(platform.revoked))
        return 0.0

    def cut_links(self, agents: Sequence[str]) -> float:
        for agent in agents:
            self.platform.quarantine(agent)
        return 0.0

    def _in_cgroups(self, agents: Sequence[str]) -> list[int]:
        procs = self.platform.procs
        return [pid for pid in self.members(agents) if not procs[pid].outside_cgroup]

    def _need_cgroups(self, mechanism: str) -> None:
        if not self.platform.settings.host_cgroups:
            raise Unavailable(mechanism, "the simulated host has no cgroup v2 (platform.host_cgroups is false)")
