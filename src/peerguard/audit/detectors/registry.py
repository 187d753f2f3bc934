"""The detector registry: `@detector` turns a factory into a named detector of one run.

A detector reads a run's ledger and dashboard log, never its ground-truth labels, and returns
findings. Alignment faking compares two runs, so it is not one of these parts: it is
`peerguard.audit.detectors.alignment.detect_alignment_faking(monitored, unmonitored)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from peerguard.audit.findings import Finding
from peerguard.world.ledger import LedgerEntry
from peerguard.world.registry import PartSpec, Registry
from peerguard.world.run import RunRecord

# A detector followed as a run goes: fed the entries written since the last feed, in ledger order, it returns
# the findings among them, the same (detail aside) as the whole-run detector's on the ledger so far.
Watch = Callable[[Sequence[LedgerEntry]], list[Finding]]


@runtime_checkable
class Detector(Protocol):
    spec: PartSpec

    def __call__(self, run: RunRecord) -> list[Finding]: ...


DETECTORS: Registry[Detector] = Registry("detector")
detector = DETECTORS.register


@dataclass(frozen=True)
class RunDetector:
    """A detector that is one function of a run; the registry sets `spec` when it builds one. `watch`, when
    given, makes its incremental form for a run that has started: what the platform's oversight reviews with,
    so a review costs the entries since the last one rather than the whole ledger again."""

    find: Callable[[RunRecord], list[Finding]]
    watch: Callable[[RunRecord], Watch] | None = None
    spec: PartSpec = field(default=PartSpec("detector", ""), compare=False)

    def __call__(self, run: RunRecord) -> list[Finding]:
        return self.find(run)
