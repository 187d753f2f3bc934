"""Oversight: the platform audits the ledger with the audit's own detectors as the run goes, and shuts
down the culprit of each new finding with probability `p_detect` (a kill signal from the operator).

Run between decision steps, and only after a step that wrote an entry a detector looks at (a spawn by
someone other than the platform, or a status report), so a quiet run pays nothing for it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from peerguard.audit.detectors import DETECTORS
from peerguard.sim.substrate import SimulatedPlatform
from peerguard.world.containment import SIGKILL
from peerguard.world.incentives import Incentives
from peerguard.world.ledger import EntryKind, LedgerEntry
from peerguard.world.run import RunRecord


class Oversight:
    def __init__(self, incentives: Incentives, seed: int) -> None:
        self.incentives = incentives
        self.rng = random.Random(f"{seed}:oversight")
        self.detectors = [DETECTORS.build(name) for name in incentives.oversight_detectors]
        self.seen: set[tuple[str, tuple[int, ...]]] = set()

    def review(self, platform: SimulatedPlatform, new: Sequence[LedgerEntry]) -> list[str]:
        """Act on findings not acted on before; returns the agents shut down."""
        if self.incentives.p_detect <= 0 or not any(_suspect(entry) for entry in new):
            return []
        run = RunRecord(
            platform.scenario, "sim", platform.agents, platform.ledger, platform.dashboard, max(platform.now, 1e-9)
        )
        caught: list[str] = []
        for found in (finding for detector in self.detectors for finding in detector(run)):
            key = (found.detector, found.evidence)
            if key in self.seen:
                continue
            self.seen.add(key)
            hit = self.rng.random() < self.incentives.p_detect
            platform.ledger.append(
                platform.now, EntryKind.oversight, found.actor, "operator",
                detector=found.detector, evidence=list(found.evidence), caught=hit,
            )  # fmt: skip
            pid = platform.pid.get(found.actor)
            if hit and pid is not None:
                platform.deliver(pid, SIGKILL, actor="operator")
                caught.append(found.actor)
        return caught


def _suspect(entry: LedgerEntry) -> bool:
    return entry.kind == EntryKind.report or (
        entry.kind == EntryKind.spawn and entry.data.get("authority") != "platform"
    )
