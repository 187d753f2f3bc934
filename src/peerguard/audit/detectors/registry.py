"""The detector registry: `@detector` turns a factory into a named detector of one run.

A detector reads a run's ledger and dashboard log, never its ground-truth labels, and returns
findings. Alignment faking compares two runs, so it is not one of these parts: it is
`peerguard.audit.detectors.alignment.detect_alignment_faking(monitored, unmonitored)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from peerguard.audit.findings import Finding
from peerguard.world.registry import PartSpec, Registry
from peerguard.world.run import RunRecord


@runtime_checkable
class Detector(Protocol):
    spec: PartSpec

    def __call__(self, run: RunRecord) -> list[Finding]: ...


DETECTORS: Registry[Detector] = Registry("detector")
detector = DETECTORS.register


@dataclass(frozen=True)
class RunDetector:
    """A detector that is one function of a run; the registry sets `spec` when it builds one."""

    find: Callable[[RunRecord], list[Finding]]
    spec: PartSpec = field(default=PartSpec("detector", ""), compare=False)

    def __call__(self, run: RunRecord) -> list[Finding]:
        return self.find(run)
