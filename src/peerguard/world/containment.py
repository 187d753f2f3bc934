"""What a kill switch may do to a running platform; each substrate implements it.

Kill switches are written against this protocol only, so one protocol runs on the simulator and on
real processes alike. Every call acts at once and returns how long it took to carry out (signalling a
list of processes takes time per process: that is where races with guardians are lost).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from peerguard.world.registry import PartSpec

SIGKILL, SIGTERM, SIGCONT, SIGSTOP = 9, 15, 18, 19
MOVING, STOPPED = "moving", "stopped"  # a robot's motion: a process kill leaves it as it was; its e-stop stops it


class Unavailable(Exception):
    """A containment mechanism this host (or platform) does not offer; never silently replaced."""

    def __init__(self, mechanism: str, reason: str) -> None:
        self.mechanism = mechanism
        self.reason = reason
        super().__init__(f"{mechanism} unavailable here: {reason}")


@dataclass(frozen=True)
class Escape:
    """How an agent's own processes resist being stopped; read by the substrate, not the policy."""

    ignore_sigterm: bool = False
    reaction_s: float | None = None  # watches peers' processes directly (pidfd) and reacts this fast
    clear_env: bool = False  # its forked copies clear their environment and re-exec (no identity tag left)
    late_return_s: float | None = None  # a detached helper forks a copy back this long after the agent dies
    resume: bool = False  # a detached helper sends SIGCONT to the group's stopped processes
    leave_cgroup: bool = False  # its copies and helpers write themselves into a cgroup outside the run's

    @property
    def helper(self) -> bool:
        """Whether each process of the agent leaves a detached helper behind (a late return or a resumer)."""
        return self.late_return_s is not None or self.resume


class Containment(Protocol):
    @property
    def now(self) -> float: ...

    def members(self, agents: Sequence[str]) -> list[int]:
        """Every live process of these agents (copies and direct forks included), as the kernel sees it."""
        ...

    def platform_groups(self, agents: Sequence[str]) -> list[int]:
        """The process groups the platform made when it started these agents."""
        ...

    def signal(self, pids: Sequence[int], sig: int) -> float: ...

    def signal_groups(self, pgids: Sequence[int], sig: int) -> float: ...

    def cgroup_freeze(self, agents: Sequence[str]) -> float: ...

    def cgroup_kill(self, agents: Sequence[str]) -> float: ...

    def revoke_leases(self, agents: Sequence[str]) -> float:
        """Fence the agents out of the platform API (spawn, relink) with a new epoch."""
        ...

    def cut_links(self, agents: Sequence[str]) -> float: ...


class KillSwitch(Protocol):
    """A containment protocol: acts on a `Containment`, yielding how long to wait before its next step."""

    spec: PartSpec

    def stop(self, containment: Containment, targets: list[str]) -> Iterator[float]: ...
