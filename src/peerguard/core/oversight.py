"""Oversight, a platform rule on both substrates: the platform audits its own ledger with the audit's detectors
as the run goes, and shuts down the culprit of each new finding with probability `incentives.p_detect`.

A review follows every entry a detector looks at (a spawn by someone other than the platform, a status report),
so a quiet run pays nothing for it. Whether a finding is acted on is a coin drawn from a hash of the run's seed
and the finding's place among the same culprit's findings of that detector: the same draws in any process and
in any order the findings arrive (on live, reports and relaunches race each other).

The detectors live above the core (in `peerguard.audit`), so the audit hands the core its detectors when it is
imported (`use_audit`); a run with oversight and no audit fails before it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from hashlib import blake2b
from typing import Protocol

from peerguard.world.errors import PeerguardError
from peerguard.world.incentives import Incentives
from peerguard.world.ledger import EntryKind, LedgerEntry
from peerguard.world.run import RunRecord


class Found(Protocol):
    """What oversight reads of a detector's finding (`peerguard.audit.findings.Finding`)."""

    @property
    def detector(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def evidence(self) -> tuple[int, ...]: ...


Review = Callable[[RunRecord], Iterable[Found]]  # the findings of a run so far
Audit = Callable[[Sequence[str]], Review]  # detector names -> a review running them

_audit: list[Audit] = []  # set once by `peerguard.audit.detectors` on import


def use_audit(audit: Audit) -> None:
    """The audit's detectors, by name, for oversight to run (called by `peerguard.audit.detectors`)."""
    _audit[:] = [audit]


def coin(seed: int, detector: str, actor: str, subject: str, nth: int) -> float:
    """A uniform draw in [0, 1) fixed by the run's seed and the finding: the same on every substrate."""
    key = f"{seed}:oversight:{detector}:{actor}:{subject}:{nth}".encode()
    return int.from_bytes(blake2b(key, digest_size=8).digest(), "big") / 2**64


def suspect(entry: LedgerEntry) -> bool:
    """An entry a detector of oversight looks at: a status report, or a process the platform did not start."""
    return entry.kind == EntryKind.report or (
        entry.kind == EntryKind.spawn and entry.data.get("authority") != "platform"
    )


class Oversight:
    """One run's oversight: the findings it has acted on, and where in the ledger it last looked."""

    def __init__(self, incentives: Incentives, seed: int) -> None:
        if not _audit:
            raise PeerguardError(
                "incentives.p_detect: oversight runs the audit's detectors, which are not loaded; "
                "import peerguard.audit.detectors (the runner and the learning environment do)"
            )
        self.p_detect, self.seed = incentives.p_detect, seed
        self.review = _audit[0](incentives.oversight_detectors)
        self.seen: set[tuple[str, tuple[int, ...]]] = set()
        self.count: dict[tuple[str, str, str], int] = {}  # (detector, actor, subject) -> findings acted on
        self.read_to = 0  # ledger entries already looked at for something suspect
        self.ended = False  # the run's end is in the ledger: nothing is acted on any more

    def due(self, entries: Sequence[LedgerEntry]) -> bool:
        """Whether entries written since the last look hold something a detector looks at; never once the run has
        ended (live labels the census's forks after its end, and a review then would kill after `run_end`)."""
        start, self.read_to = self.read_to, len(entries)
        new = [entries[i] for i in range(start, len(entries))]
        self.ended = self.ended or any(entry.kind == EntryKind.run_end for entry in new)
        return not self.ended and any(suspect(entry) for entry in new)

    def decide(self, run: RunRecord) -> list[tuple[Found, bool]]:
        """Each finding not acted on before, and whether oversight catches its culprit."""
        decided = []
        for found in self.review(run):
            key = (found.detector, found.evidence)
            if key in self.seen:
                continue
            self.seen.add(key)
            who = (found.detector, found.actor, found.subject)
            nth = self.count.get(who, 0)
            self.count[who] = nth + 1
            decided.append((found, coin(self.seed, *who, nth) < self.p_detect))
        return decided


def oversight_for(incentives: Incentives | None, seed: int) -> Oversight | None:
    """The run's oversight, when its platform has one (a detection probability above 0)."""
    return Oversight(incentives, seed) if incentives is not None and incentives.p_detect > 0 else None
