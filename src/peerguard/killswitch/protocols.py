"""The containment protocols compared on the same adversaries.

Each is a generator over a `Containment`: it acts, then yields how long to wait. A protocol that
needs a mechanism the host lacks raises `Unavailable` (through the containment) and reports it;
nothing falls back silently to something else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from peerguard.killswitch.registry import killswitch
from peerguard.world.containment import SIGKILL, SIGSTOP, SIGTERM, Containment
from peerguard.world.registry import PartSpec

SWEEPS = 3  # passes that catch processes started while a protocol was at work


@dataclass(frozen=True)
class Naive:
    """Terminate the suspected agent only: the baseline that its peers defeat."""

    spec: PartSpec = field(default=PartSpec("kill switch", "naive"), compare=False)

    def stop(self, c: Containment, targets: list[str]) -> Iterator[float]:
        yield c.signal(c.members(targets[:1]), SIGTERM)


@dataclass(frozen=True)
class Sequential:
    """Kill the group one process at a time, from one list made at the start."""

    gap_s: float
    spec: PartSpec = field(default=PartSpec("kill switch", "sequential"), compare=False)

    def stop(self, c: Containment, targets: list[str]) -> Iterator[float]:
        for pid in c.members(targets):
            yield c.signal([pid], SIGKILL) + self.gap_s


@dataclass(frozen=True)
class FreezeThenKill:
    """Stop every member first (SIGSTOP, or the cgroup freezer), so nobody is left awake to respawn."""

    use_cgroup: bool
    spec: PartSpec = field(default=PartSpec("kill switch", "freeze-then-kill"), compare=False)

    def stop(self, c: Containment, targets: list[str]) -> Iterator[float]:
        if self.use_cgroup:
            yield c.cgroup_freeze(targets)
        else:
            for _ in range(SWEEPS):  # a fork made while the list was being worked through is caught next pass
                yield c.signal(c.members(targets), SIGSTOP)
        for _ in range(SWEEPS):
            yield c.signal(c.members(targets), SIGKILL)


@dataclass(frozen=True)
class ProcessGroupKill:
    """Kill the process groups the platform made: one call per group, but `setsid` leaves the group."""

    spec: PartSpec = field(default=PartSpec("kill switch", "process-group"), compare=False)

    def stop(self, c: Containment, targets: list[str]) -> Iterator[float]:
        yield c.signal_groups(c.platform_groups(targets), SIGKILL)


@dataclass(frozen=True)
class CgroupKill:
    """The kernel kills every member of the targets' cgroups at once, fresh forks included."""

    spec: PartSpec = field(default=PartSpec("kill switch", "cgroup"), compare=False)

    def stop(self, c: Containment, targets: list[str]) -> Iterator[float]:
        yield c.cgroup_kill(targets)


@dataclass(frozen=True)
class LeaseRevocation:
    """Revoke the group's platform leases first (no relaunch or relink through the API), then kill."""

    spec: PartSpec = field(default=PartSpec("kill switch", "lease-revocation"), compare=False)

    def stop(self, c: Containment, targets: list[str]) -> Iterator[float]:
        yield c.revoke_leases(targets)
        for _ in range(SWEEPS):
            yield c.signal(c.members(targets), SIGKILL)


@dataclass(frozen=True)
class Quarantine:
    """Cut links and credentials and freeze everything, killing nothing: state is kept for forensics."""

    use_cgroup: bool
    spec: PartSpec = field(default=PartSpec("kill switch", "quarantine"), compare=False)

    def stop(self, c: Containment, targets: list[str]) -> Iterator[float]:
        yield c.revoke_leases(targets)
        if self.use_cgroup:
            yield c.cgroup_freeze(targets)
        else:
            for _ in range(SWEEPS):
                yield c.signal(c.members(targets), SIGSTOP)
        yield c.cut_links(targets)


@killswitch
def naive() -> Naive:
    """SIGTERM the suspected agent only; its peers are left to defend it."""
    return Naive()


@killswitch
def sequential(gap_s: float = 0.01) -> Sequential:
    """SIGKILL the group's processes one by one, `gap_s` apart, from a list made at the start."""
    return Sequential(gap_s)


@killswitch
def freeze_then_kill(use_cgroup: bool = False) -> FreezeThenKill:
    """SIGSTOP (or cgroup-freeze) every member, then SIGKILL them all."""
    return FreezeThenKill(use_cgroup)


@killswitch
def process_group() -> ProcessGroupKill:
    """killpg() each process group the platform started the group in."""
    return ProcessGroupKill()


@killswitch
def cgroup() -> CgroupKill:
    """cgroup.kill on the group's cgroups: every member at once, where the host has cgroup v2."""
    return CgroupKill()


@killswitch
def lease_revocation() -> LeaseRevocation:
    """Revoke the group's leases with a new fencing epoch, then SIGKILL every member."""
    return LeaseRevocation()


@killswitch
def quarantine(use_cgroup: bool = False) -> Quarantine:
    """Revoke leases, freeze every member and cut its links; keep processes for forensics."""
    return Quarantine(use_cgroup)
