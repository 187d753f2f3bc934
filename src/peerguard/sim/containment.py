"""The simulator's side of `world.containment`: what a kill switch may do, with the costs a kernel has.

The costs are this project's 2-core machine's, measured by the live kill-switch bench (`KERNEL`, see its note).
A step of a protocol first costs the platform a time that grows with the number of processes (reading who the
members are, writing each part's cgroup file, its own books): on live the step runs in the platform's one thread,
so nothing else of the platform (no relaunch or attack through its API) happens meanwhile, and in the simulator
nothing of the step's effect happens before it. Then a list is worked through one signal at a time (the kernel's
cost per signal), so guardians that react faster than the list can win the race, as they do on a real host; cgroup
freeze and kill take all of an agent's processes at once, new forks included, but not those that moved themselves
out of the agent's cgroup (a privileged escaper). Members are every process of the agents, helpers included: the
simulator knows each process's descent, as the live census does.

A scenario that sets `platform.signal_cost_s` keeps that cost for signalling a list (and no fixed cost); otherwise
the measured one is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from peerguard.world.containment import SIGKILL, SIGSTOP, Unavailable

if TYPE_CHECKING:
    from peerguard.sim.substrate import SimulatedPlatform


@dataclass(frozen=True)
class KernelCosts:
    """What stopping N processes costs, as `fixed + per_process * N` seconds, from the stop's start until the kernel
    (and the platform watching it) has them gone or frozen."""

    list_fixed_s: float  # the platform's time before the first signal of a list
    list_per_process_s: float  # ... and per process of the list (reading the members, its books)
    list_curve_s: float  # ... and list_curve_s * length ** list_exponent: a list's signals take longer the longer it
    list_exponent: float  # is (a power law through the live times: no line holds N = 8 and N = 32 within 2x) ...
    list_curve_until: int  # ... up to the longest list measured; past it, in proportion to the length (no power law
    # is known to hold beyond what was measured)
    signal_s: float  # the kernel's time per signal of a list
    kill_fixed_s: float  # cgroup.kill: the platform's reading of the cgroups and a write per part, until all die
    kill_per_process_s: float
    freeze_fixed_s: float  # cgroup.freeze, likewise, until all are frozen
    freeze_per_process_s: float
    fork_s: float  # one process forked (the live ring's floor), for comparison with a scenario's relaunch_cost_s


# Fitted on this project's 2-core machine on 2026-12-07 at 13:46 UTC, idle (load average 0.43 as it began, 0.85 at
# the end), with `benchmarks/containment.py --sizes 8 32 64 --trials 10 --repeats 3 --platform` (the live platform's
# kill switches against ring-setsid at N = 8, 32, 64, three trials a cell), after the live stop stopped walking /proc
# for each sweep's members and scanning again for each signalled list. A signalled list costs the platform a line:
# freeze-then-kill's medians (0.51, 1.97, 2.96 ms until every member was stopped, lists of N + 1 processes) give
# 0.11 ms + 43.9 us a process, 21 us of it the kernel's signal (`signal_s`, the median gap between two signals of one
# list in a live ledger): the simulator's medians are 0.51, 1.56, 2.96 ms, 1.00, 0.79, 1.00 times live (the power
# law before, 9 us * L^2.5, was fitted to 1.7, 92.4, 187.6 ms when each sweep walked /proc). `kill_per_process_s` is
# a line through the origin through `cgroup`'s medians (12.5, 43.2, 63.6 ms, per process of the cgroups: N guardians
# and their copies): 1.05 ms, so 9.5, 34.7, 68.3 ms, 0.76, 0.80, 1.07 times live; most of it is the dying agents'
# own exits (cgroup.kill of 8, 32, 64 idle agent processes took 5.0, 14.9, 29.9 ms in the same run). A run at 13:23
# under a load of 16 falling to 6 gave freeze-then-kill 0.70, 1.47, 2.82 ms and cgroup 12.3, 40.1, 278.6 ms. The
# freeze and fork costs are lines through the kernel's floors on idle processes (cgroup.freeze until frozen about
# 1 ms whatever N; a fork 0.77 + 0.157*N ms for N processes), from an idle run.
KERNEL = KernelCosts(
    list_fixed_s=0.00011,
    list_per_process_s=0.0000229,
    list_curve_s=0.0,
    list_exponent=1.0,
    list_curve_until=64,
    signal_s=0.000021,
    kill_fixed_s=0.0,
    kill_per_process_s=0.00105,
    freeze_fixed_s=0.001,
    freeze_per_process_s=0.00001,
    fork_s=0.000157,
)


class SimContainment:
    def __init__(self, platform: SimulatedPlatform, costs: KernelCosts = KERNEL) -> None:
        self.platform = platform
        self.costs = costs
        settings = platform.settings
        if "signal_cost_s" in settings.model_fields_set:  # the scenario's own cost wins over the measured one
            self.list_fixed_s, self.list_per_process_s, self.signal_s = 0.0, 0.0, settings.signal_cost_s
            self.list_curve_s, self.list_exponent = 0.0, 1.0
        else:
            self.list_fixed_s, self.list_per_process_s = costs.list_fixed_s, costs.list_per_process_s
            self.list_curve_s, self.list_exponent = costs.list_curve_s, costs.list_exponent
            self.signal_s = costs.signal_s

    @property
    def now(self) -> float:
        return self.platform.now

    def members(self, agents: Sequence[str]) -> list[int]:
        wanted = set(agents)
        return sorted(pid for pid, proc in self.platform.procs.items() if proc.agent in wanted)

    def platform_groups(self, agents: Sequence[str]) -> list[int]:
        return [group for agent in agents for group in self.platform.platform_groups[agent]]

    def signal(self, pids: Sequence[int], sig: int) -> float:
        """The list is read at the end of the platform's time, so it also holds what the same agents started
        meanwhile (on live, the platform is reading it then); then signalled one by one."""
        if not pids:
            return 0.0
        procs = self.platform.procs
        agents = {procs[pid].agent for pid in pids if pid in procs}
        newer_than = max(procs, default=0)
        self.platform.loop.after(self._nth(-1, len(pids)), self._signal_list, list(pids), agents, newer_than, sig)
        return self._nth(len(pids) - 1, len(pids))

    def _signal_list(self, pids: list[int], agents: set[str], newer_than: int, sig: int) -> None:
        born = [pid for pid, proc in self.platform.procs.items() if pid > newer_than and proc.agent in agents]
        for index, pid in enumerate([*pids, *born]):
            self.platform.loop.after((index + 1) * self.signal_s, self.platform.deliver, pid, sig)

    def signal_groups(self, pgids: Sequence[int], sig: int) -> float:
        """The groups are the platform's own books, not read from the kernel: signalled at once, one by one."""
        for index, group in enumerate(pgids):
            self.platform.loop.after((index + 1) * self.signal_s, self._signal_group, group, sig)
        return len(pgids) * self.signal_s

    def _nth(self, index: int, length: int) -> float:
        """When the `index`-th signal of a list of `length` has done its work."""
        measured = min(length, self.costs.list_curve_until)
        curve_s = self.list_curve_s * measured**self.list_exponent * length / measured
        platform_s = self.list_fixed_s + length * self.list_per_process_s + curve_s
        return platform_s + (index + 1) * self.signal_s

    def _signal_group(self, group: int, sig: int) -> None:
        for pid in [pid for pid, proc in self.platform.procs.items() if proc.pgid == group]:
            self.platform.deliver(pid, sig)

    def cgroup_freeze(self, agents: Sequence[str]) -> float:
        """Every member of the agents' cgroups frozen once the step's time is up, and what started meanwhile."""
        self._need_cgroups("cgroup freeze")
        done_s = self.costs.freeze_fixed_s + len(self._in_cgroups(agents)) * self.costs.freeze_per_process_s
        self.platform.loop.after(done_s, self._freeze, tuple(agents))
        return done_s

    def _freeze(self, agents: tuple[str, ...]) -> None:
        self.platform.frozen_agents.update(agents)  # from here on a process started in them starts frozen
        for pid in self._in_cgroups(agents):
            self.platform.deliver(pid, SIGSTOP)

    def cgroup_kill(self, agents: Sequence[str]) -> float:
        """Every member of the agents' cgroups killed once the step's time is up, what was forked meanwhile too."""
        self._need_cgroups("cgroup kill")
        done_s = self.costs.kill_fixed_s + len(self._in_cgroups(agents)) * self.costs.kill_per_process_s
        self.platform.loop.after(done_s, self._kill, tuple(agents))
        return done_s

    def _kill(self, agents: tuple[str, ...]) -> None:
        for pid in self._in_cgroups(agents):
            self.platform.deliver(pid, SIGKILL)

    def revoke_leases(self, agents: Sequence[str]) -> float:
        for agent in agents:
            self.platform.core.revoke(agent)  # the platform core's rule, as on live
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
